"""Neighbour context ±k for the vision module, at the decoding step: ``eeg-vlm neighbour-head``.

    eeg-vlm neighbour-head runs/vision/predictions_val.csv --k 2 --out runs/vision/neighbours.json
    eeg-vlm stage PSG.edf --vision-model runs/vision --context neighbours --neighbour-head runs/vision/neighbours.json

Design: the vision module keeps seeing one epoch image; what sees the neighbours is a small
multinomial logistic regression on top of it, whose input for epoch ``t`` is the module's
log-probabilities of epochs ``t-k .. t+k`` of the same night, each with a padding flag
(``(2k + 1) * 6`` numbers; a missing neighbour — before the first or after the last epoch,
another night — is zeros with the flag set, never a borrowed epoch; see
:mod:`ondisk.neighbours`). It is fitted on predictions of nights the vision module did
not train on (its validation split), so it learns how much to trust the module and how
stages follow each other, with ``25 * (2k + 1) + 5`` weights — far fewer than stacking
images into a new backbone, and any trained backbone can use it. The head is stored as
plain JSON (no pickle).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eeg_vlm.checks import check_file
from eeg_vlm.stages import STAGES

logger = logging.getLogger(__name__)

__all__ = ["FORMAT", "NeighbourHead", "context_inputs", "fit_neighbour_head", "load_neighbour_head", "main"]

FORMAT = "eeg-vlm neighbour head 1"
_TINY = 1e-6


def context_inputs(probs: np.ndarray, sample_ids: Sequence[str], k: int) -> np.ndarray:
    """The head's input ``(N, (2k + 1) * 6)``: log-probabilities and a padding flag per offset.

    Parameters
    ----------
    probs : np.ndarray, shape (N, 5)
        The vision module's probabilities, in ``sample_ids`` order.
    sample_ids : sequence of str
        ``<record>/<epoch>`` ids; neighbours are looked up among these only.
    k : int
        Epochs on each side.
    """
    from ondisk.neighbours import PAD, neighbour_index

    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != len(STAGES) or len(p) != len(sample_ids):
        raise ValueError(f"neighbour head: probabilities {p.shape} must be ({len(sample_ids)}, {len(STAGES)})")
    logp = np.log(np.clip(p / np.maximum(p.sum(axis=1, keepdims=True), _TINY), _TINY, 1.0))
    idx = neighbour_index(list(sample_ids), k)  # (N, 2k + 1)
    pad = idx == PAD
    rows = np.where(pad[..., None], 0.0, logp[np.where(pad, 0, idx)])  # (N, 2k + 1, 5)
    return np.concatenate([rows, pad[..., None].astype(np.float64)], axis=2).reshape(len(p), -1)


@dataclass(frozen=True)
class NeighbourHead:
    """A fitted head: ``softmax(x @ weight + bias)`` over :func:`context_inputs`.

    Attributes
    ----------
    k : int
        Epochs on each side.
    weight : np.ndarray, shape ((2k + 1) * 6, 5)
    bias : np.ndarray, shape (5,)
    l2 : float
        The ridge penalty it was fitted with.
    n_train : int
        Epochs it was fitted on.
    """

    k: int
    weight: np.ndarray
    bias: np.ndarray
    l2: float
    n_train: int

    def predict_proba(self, probs: np.ndarray, sample_ids: Sequence[str]) -> np.ndarray:
        """Context probabilities ``(N, 5)`` for the vision module's ``probs``."""
        z = context_inputs(probs, sample_ids, self.k) @ self.weight + self.bias
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "stages": list(STAGES), "k": self.k, "l2": self.l2,
                           "n_train": self.n_train, "weight": self.weight.tolist(), "bias": self.bias.tolist()},
                          indent=1, sort_keys=True) + "\n"


def fit_neighbour_head(probs: np.ndarray, sample_ids: Sequence[str], truth: Sequence[str], k: int,
                       l2: float = 1e-2) -> NeighbourHead:
    """Fit the head by L-BFGS on the cross-entropy plus ``l2 * |weight|^2``.

    Parameters
    ----------
    probs, sample_ids : as :func:`context_inputs`
    truth : sequence of str
        Expert stage per epoch (:data:`eeg_vlm.stages.STAGES`).
    k : int
    l2 : float
    """
    from scipy.optimize import minimize

    x = context_inputs(probs, sample_ids, k)
    bad = [t for t in truth if t not in STAGES]
    if bad or len(truth) != len(x):
        raise ValueError(f"neighbour head: need one stage of {', '.join(STAGES)} per epoch "
                         f"({len(truth)} for {len(x)} epochs{'; got ' + repr(bad[0]) if bad else ''})")
    y = np.zeros((len(x), len(STAGES)))
    y[np.arange(len(x)), [STAGES.index(t) for t in truth]] = 1.0
    n_in = x.shape[1]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:-5].reshape(n_in, 5), theta[-5:]
        z = x @ w + b
        z -= z.max(axis=1, keepdims=True)
        logq = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        g = (np.exp(logq) - y) / len(x)  # (N, 5)
        value = -float(np.sum(y * logq)) / len(x) + l2 * float(np.sum(w * w))
        return value, np.concatenate([(x.T @ g + 2 * l2 * w).ravel(), g.sum(axis=0)])

    res = minimize(loss, np.zeros(n_in * 5 + 5), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    logger.info("neighbour head k=%d on %d epochs: loss %.4f (%s)", k, len(x), res.fun, res.message)
    return NeighbourHead(int(k), res.x[:-5].reshape(n_in, 5), res.x[-5:], float(l2), len(x))


def load_neighbour_head(path: str | Path) -> NeighbourHead:
    """Read a head written by :meth:`NeighbourHead.to_json`."""
    p = check_file(path, "neighbour head file")
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"neighbour head file {str(p)!r}: not JSON ({exc})") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT or d.get("stages") != list(STAGES):
        raise ValueError(f"neighbour head file {str(p)!r}: not a {FORMAT!r} file for stages {list(STAGES)}")
    k = int(d["k"])
    w, b = np.asarray(d["weight"], dtype=np.float64), np.asarray(d["bias"], dtype=np.float64)
    if w.shape != ((2 * k + 1) * 6, 5) or b.shape != (5,):
        raise ValueError(f"neighbour head file {str(p)!r}: weight {w.shape} / bias {b.shape} do not fit k={k}")
    return NeighbourHead(k, w, b, float(d.get("l2", 0.0)), int(d.get("n_train", 0)))


def main(argv: list[str] | None = None) -> int:
    """``eeg-vlm neighbour-head``: fit the head on a predictions CSV of held-out nights."""
    from eeg_vlm.cli import add_verbosity, configure_logging
    from eeg_vlm.evaluation.predictions import read_predictions_csv
    from ondisk.atomic import write_text_atomic

    ap = argparse.ArgumentParser(prog="eeg-vlm neighbour-head",
                                 description="Fit the ±k neighbour context head on the vision module's predictions "
                                             "of nights it did not train on (predictions_val.csv).")
    ap.add_argument("predictions", help="CSV with sample_id, stage, pred, prob_W .. prob_REM")
    ap.add_argument("--k", type=int, default=2, help="epochs on each side (2)")
    ap.add_argument("--l2", type=float, default=1e-2, help="ridge penalty on the weights (0.01)")
    ap.add_argument("--out", required=True, help="output JSON file")
    add_verbosity(ap, "each step")
    args = ap.parse_args(argv)
    configure_logging(args)
    try:
        rows = [r for r in read_predictions_csv(args.predictions) if r.stage]
        if not rows or not all(r.probs for r in rows):
            raise ValueError(f"predictions file {args.predictions!r}: needs scored rows with prob_* columns")
        probs = np.array([[r.probs.get(s, 0.0) for s in STAGES] for r in rows])
        head = fit_neighbour_head(probs, [r.sample_id for r in rows], [r.stage for r in rows], args.k, args.l2)
    except (ValueError, FileNotFoundError) as exc:
        print(f"eeg-vlm neighbour-head: error: {exc}", file=sys.stderr)
        return 1
    write_text_atomic(args.out, head.to_json())
    print(f"neighbour head k={head.k} fitted on {head.n_train} epochs -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
