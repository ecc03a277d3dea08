"""Stage-transition probabilities from expert hypnograms: ``eeg-vlm transitions``.

    eeg-vlm transitions ../shared/data/sleep-edf-197 --out eeg_vlm/context/data/sleep_edf_197_transitions.json

Reads every hypnogram of a folder — one JSON list of integers per night (0 = W, 1 = N1,
2 = N2, 3 = N3, 4 = REM, -1 = unscored; the layout of ``sleep-edf-197``), or EDF+
hypnograms (``*Hypnogram.edf``, through :func:`eeg_vlm.io.read_edf_scoring`) — and counts,
over consecutive pairs of scored 30-s epochs of the same night, how often each stage
follows each other stage. An unscored epoch breaks the chain: the pairs across it are not
counted. The transition matrix is the counts plus an additive pseudo-count, row-normalised.

The file it writes is small, sorted, indented JSON with its provenance (the source folder's
name, every file name, the sha256 digest of the ``"<sha256>  <name>"`` list, the counts and
the smoothing), so the same folder always gives the same bytes: the shipped
``data/sleep_edf_197_transitions.json`` is rebuilt bit for bit by a test.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from eeg_vlm.checks import check_file
from ondisk import write_text_atomic
from eeg_vlm.stages import STAGES

logger = logging.getLogger(__name__)

__all__ = ["TransitionModel", "SHIPPED", "FORMAT", "read_stage_lists", "count_transitions", "build_transitions",
           "load_transitions", "build_parser", "main"]

FORMAT = "eeg-vlm stage transitions 1"
#: File name of the shipped matrix inside ``eeg_vlm/context/data``.
SHIPPED = "sleep_edf_197_transitions.json"
_CODES = {0: "W", 1: "N1", 2: "N2", 3: "N3", 4: "REM"}


@dataclass(frozen=True)
class TransitionModel:
    """Transition probabilities between the five stages (:data:`eeg_vlm.stages.STAGES` order).

    Attributes
    ----------
    transition : np.ndarray, shape (5, 5)
        ``transition[i, j] = P(stage j | previous stage i)``; rows sum to 1.
    initial : np.ndarray, shape (5,)
        Probabilities of the first staged epoch: the stage frequencies of the source
        hypnograms (a recording may start anywhere in the night).
    frequency : np.ndarray, shape (5,)
        Stage frequencies of the source hypnograms.
    source : str
        File the model was read from.
    """

    transition: np.ndarray
    initial: np.ndarray
    frequency: np.ndarray
    source: str


def _read_json_list(path: Path) -> list[str | None]:
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"hypnogram file {str(path)!r}: not readable as JSON ({exc})") from None
    if not isinstance(values, list):
        raise ValueError(f"hypnogram file {str(path)!r}: expected a JSON list of stage codes, got "
                         f"{type(values).__name__}")
    out: list[str | None] = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int) or not (v == -1 or v in _CODES):
            raise ValueError(f"hypnogram file {str(path)!r}: epoch {i} has code {v!r}, not one of -1, 0, 1, 2, 3, 4 "
                             f"(-1 unscored, 0 W, 1 N1, 2 N2, 3 N3, 4 REM)")
        out.append(_CODES.get(v))
    return out


def read_stage_lists(folder: str | Path) -> list[tuple[Path, list[str | None]]]:
    """Every night's 30-s stages (``None``: unscored) from the hypnograms in ``folder``.

    Parameters
    ----------
    folder : path
        Holds ``*.json`` epoch lists (the ``sleep-edf-197`` layout) or ``*Hypnogram.edf``
        EDF+ hypnograms (not both).

    Returns
    -------
    list of (path, stages)
        Sorted by file name.
    """
    from eeg_vlm.io import read_edf_scoring
    from eeg_vlm.signals.epochs import label_epochs

    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"hypnogram folder {str(root)!r}: not found")
    lists = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() == ".json")
    edfs = sorted(p for p in root.iterdir() if p.is_file() and p.name.lower().endswith("hypnogram.edf"))
    if lists and edfs:
        raise ValueError(f"hypnogram folder {str(root)!r}: holds both JSON lists ({len(lists)}) and EDF+ "
                         f"hypnograms ({len(edfs)}); keep one kind per folder")
    if lists:
        return [(p, _read_json_list(p)) for p in lists]
    if edfs:
        return [(p, list(label_epochs(read_edf_scoring(p)).stages)) for p in edfs]
    raise ValueError(f"hypnogram folder {str(root)!r}: no *.json epoch lists or *Hypnogram.edf files")


def count_transitions(nights: Sequence[Sequence[str | None]]) -> dict:
    """Counts over nights: ``transitions`` (5x5), ``stages`` (5), ``first_stage`` (5), totals."""
    index = {s: i for i, s in enumerate(STAGES)}
    trans = np.zeros((len(STAGES), len(STAGES)), dtype=np.int64)
    stages = np.zeros(len(STAGES), dtype=np.int64)
    first = np.zeros(len(STAGES), dtype=np.int64)
    unscored = epochs = 0
    for night in nights:
        codes = np.array([index[s] if s is not None else -1 for s in night], dtype=np.int64)
        epochs += len(codes)
        unscored += int(np.sum(codes < 0))
        scored = codes[codes >= 0]
        if len(scored):
            first[scored[0]] += 1
        stages += np.bincount(scored, minlength=len(STAGES))
        ok = (codes[:-1] >= 0) & (codes[1:] >= 0)
        np.add.at(trans, (codes[:-1][ok], codes[1:][ok]), 1)
    return {"transitions": trans.tolist(), "stages": stages.tolist(), "first_stage": first.tolist(),
            "nights": len(nights), "epochs": epochs, "unscored": unscored}


def _digest(paths: Sequence[Path]) -> str:
    lines = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in paths)
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def build_transitions(folder: str | Path, pseudo_count: float = 1.0) -> dict:
    """The transitions file's content for the hypnograms in ``folder`` (see the module docstring)."""
    if not (pseudo_count >= 0):
        raise ValueError(f"transitions: pseudo_count must be >= 0, got {pseudo_count!r}")
    nights = read_stage_lists(folder)
    counts = count_transitions([s for _, s in nights])
    c = np.asarray(counts["transitions"], dtype=np.float64) + float(pseudo_count)
    rows = c.sum(axis=1, keepdims=True)
    if np.any(rows == 0):
        raise ValueError(f"hypnogram folder {str(folder)!r}: a stage is never followed by a scored epoch and "
                         f"pseudo_count is 0; use a pseudo-count > 0")
    freq = np.asarray(counts["stages"], dtype=np.float64)
    freq = freq / freq.sum()
    return {
        "format": FORMAT,
        "stages": list(STAGES),
        "transition": (c / rows).tolist(),
        "initial": freq.tolist(),
        "frequency": freq.tolist(),
        "counts": counts,
        "smoothing": {"method": "additive", "pseudo_count": float(pseudo_count),
                      "note": "transition = (count + pseudo_count) / row total; pairs across an unscored epoch "
                              "are not counted"},
        "provenance": {"source": Path(folder).resolve().name, "files": [p.name for p, _ in nights],
                       "sha256_of_list": _digest([p for p, _ in nights]),
                       "list_format": "sha256 of the lines '<sha256 of file>  <file name>\\n' in file-name order",
                       "command": f"eeg-vlm transitions <{Path(folder).resolve().name}> --pseudo-count "
                                  f"{float(pseudo_count):g}"},
    }


def _shipped_path() -> Path:
    return Path(str(resources.files("eeg_vlm.context") / "data" / SHIPPED))


def load_transitions(path: str | Path | None = None) -> TransitionModel:
    """Read a transitions file (default: the shipped Sleep-EDF-197 one)."""
    p = _shipped_path() if path is None else check_file(path, "transitions file")
    try:
        data = json.loads(Path(p).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"transitions file {str(p)!r}: not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"transitions file {str(p)!r}: format is not {FORMAT!r}; build one with eeg-vlm transitions")
    if data.get("stages") != list(STAGES):
        raise ValueError(f"transitions file {str(p)!r}: stages {data.get('stages')} are not {list(STAGES)}")
    a = np.asarray(data["transition"], dtype=np.float64)
    init = np.asarray(data["initial"], dtype=np.float64)
    if a.shape != (5, 5) or init.shape != (5,) or not np.allclose(a.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError(f"transitions file {str(p)!r}: 'transition' must be 5x5 with rows summing to 1")
    return TransitionModel(a, init, np.asarray(data["frequency"], dtype=np.float64), str(p))


def build_parser() -> argparse.ArgumentParser:
    """The ``eeg-vlm transitions`` argument parser."""
    ap = argparse.ArgumentParser(prog="eeg-vlm transitions",
                                 description="Estimate stage-transition probabilities from a folder of expert "
                                             "hypnograms (JSON epoch lists or EDF+ *Hypnogram.edf).")
    ap.add_argument("folder", help="folder of hypnograms, e.g. ../shared/data/sleep-edf-197")
    ap.add_argument("--out", required=True, help="output JSON file")
    ap.add_argument("--pseudo-count", type=float, default=1.0,
                    help="additive smoothing added to every transition count (1)")
    from eeg_vlm.cli import add_verbosity

    add_verbosity(ap, "each step")
    return ap


def main(argv: list[str] | None = None) -> int:
    """``eeg-vlm transitions``."""
    from eeg_vlm.cli import configure_logging

    args = build_parser().parse_args(argv)
    configure_logging(args)
    try:
        data = build_transitions(args.folder, args.pseudo_count)
    except (ValueError, FileNotFoundError) as exc:
        print(f"eeg-vlm transitions: error: {exc}", file=sys.stderr)
        return 1
    write_text_atomic(args.out, json.dumps(data, indent=2, sort_keys=True) + "\n")
    c = data["counts"]
    print(f"{c['nights']} nights, {c['epochs']} epochs ({c['unscored']} unscored) -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
