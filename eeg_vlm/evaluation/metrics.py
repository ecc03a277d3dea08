"""Sleep-staging scores: pooled, per night, and with subject-bootstrap confidence intervals.

Everything is computed from one count matrix per group of epochs, shape ``(5, 6)``: rows
are the true stages ``W N1 N2 N3 REM``, columns the predicted stages plus a last column
for unparseable predictions. From it:

- accuracy, Cohen's kappa (``p_o = trace / n``, ``p_e = sum_k row_k * col_k / n^2``),
- per-class F1 (``2 TP / (true_k + predicted_k)``), macro-F1 (mean over the stages that
  occur in the truth or the predictions, as scikit-learn does by default), weighted F1
  (weights = support), balanced accuracy (mean recall over stages present in the truth).

Unparseable predictions (``None``) are either scored as wrong (``unparseable="wrong"``,
the default: they stay in ``n``, count against the recall of their true stage and never
agree in kappa) or left out (``"drop"``); they are counted separately either way.

Two protocols: ``pooled`` scores all epochs together (EEG-VLM Table I, PSG-LLaVA Table 1);
``per night`` scores each night and reports the median and the mean across nights (YASA
reports the per-night median). Confidence intervals resample SUBJECTS with replacement
(seeded), never epochs: epochs of one night are not independent.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from eeg_vlm.checks import check_option
from eeg_vlm.evaluation.predictions import PredictionRow, read_predictions_csv, yasa_available, yasa_predictions
from eeg_vlm.stages import STAGE_INDEX, STAGES

logger = logging.getLogger(__name__)

# The classifier-prediction readers live in eeg_vlm.evaluation.predictions; re-exported here.
__all__ = [
    "METRICS", "UNPARSEABLE_POLICIES", "Scores", "NightSummary", "count_matrix", "scores_from_counts",
    "score", "metric_arrays", "per_night", "bootstrap_ci", "MIN_CI_SUBJECTS", "PredictionRow", "read_predictions_csv",
    "yasa_available", "yasa_predictions",
]

#: Metric names, in table order.
METRICS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "kappa")
UNPARSEABLE_POLICIES: tuple[str, ...] = ("wrong", "drop")
_K = len(STAGES)


@dataclass(frozen=True)
class Scores:
    """Scores of one group of epochs.

    Attributes
    ----------
    n : int
        Epochs scored (includes unparseable ones under the ``"wrong"`` policy).
    n_unparseable : int
        Epochs whose prediction could not be read (counted under either policy).
    accuracy, balanced_accuracy, macro_f1, weighted_f1, kappa : float
        ``nan`` where undefined (no epochs; kappa when chance agreement is 1).
    per_class_f1 : dict
        Stage -> F1, ``nan`` for a stage neither true nor predicted.
    support : dict
        Stage -> number of true epochs.
    confusion : np.ndarray
        ``(5, 5)`` int counts, rows truth, columns prediction, order ``W N1 N2 N3 REM``.
    unparseable_by_stage : np.ndarray
        ``(5,)`` int: unparseable predictions per true stage.
    """

    n: int
    n_unparseable: int
    accuracy: float
    balanced_accuracy: float
    macro_f1: float
    weighted_f1: float
    kappa: float
    per_class_f1: dict[str, float]
    support: dict[str, int]
    confusion: np.ndarray = field(repr=False)
    unparseable_by_stage: np.ndarray = field(repr=False)

    def as_dict(self) -> dict:
        """Plain-JSON form (lists for arrays)."""
        return {
            "n": self.n, "n_unparseable": self.n_unparseable,
            **{m: getattr(self, m) for m in METRICS},
            "per_class_f1": dict(self.per_class_f1), "support": dict(self.support),
            "confusion": self.confusion.tolist(), "unparseable_by_stage": self.unparseable_by_stage.tolist(),
        }


def _stage_index(stage: str, where: str) -> int:
    if stage not in STAGE_INDEX:
        allowed = ", ".join(STAGES)
        raise ValueError(f"{where}: stage {stage!r} is not one of {allowed}")
    return STAGE_INDEX[stage]


def count_matrix(truth: Sequence[str], pred: Sequence[str | None]) -> np.ndarray:
    """Count matrix ``(5, 6)``: true stage x (predicted stage, or last column: unparseable).

    Parameters
    ----------
    truth : sequence of str
        True stages, each one of ``W N1 N2 N3 REM``.
    pred : sequence of str or None
        Predicted stages; ``None`` marks an unparseable prediction.
    """
    if len(truth) != len(pred):
        raise ValueError(f"count_matrix: truth has {len(truth)} epochs but pred has {len(pred)}")
    out = np.zeros((_K, _K + 1), dtype=np.int64)
    for i, (t, p) in enumerate(zip(truth, pred)):
        r = _stage_index(t, f"truth[{i}]")
        c = _K if p is None else _stage_index(p, f"pred[{i}]")
        out[r, c] += 1
    return out


def metric_arrays(counts: np.ndarray, unparseable: str = "wrong") -> dict[str, np.ndarray]:
    """All metrics for a stack of count matrices.

    Parameters
    ----------
    counts : np.ndarray
        ``(..., 5, 6)`` counts from :func:`count_matrix` (summed over any groups).
    unparseable : {'wrong', 'drop'}
        Score unparseable predictions as wrong, or leave them out.

    Returns
    -------
    dict
        ``accuracy``, ``balanced_accuracy``, ``macro_f1``, ``weighted_f1``, ``kappa`` of
        shape ``(...)`` and ``f1`` of shape ``(..., 5)``; ``nan`` where undefined.
    """
    check_option("unparseable", unparseable, UNPARSEABLE_POLICIES, "metrics")
    c = np.asarray(counts, dtype=np.float64)
    if c.shape[-2:] != (_K, _K + 1):
        raise ValueError(f"metrics: count matrices must have shape (..., 5, 6), got {c.shape}")
    if unparseable == "drop":
        c = c.copy()
        c[..., _K] = 0.0
    tp = np.diagonal(c[..., :_K], axis1=-2, axis2=-1)
    rows = c.sum(-1)  # true per stage, incl. unparseable predictions
    cols = c[..., :_K].sum(-2)  # predicted per stage
    n = rows.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(rows + cols > 0, 2.0 * tp / (rows + cols), np.nan)
        present = (rows + cols) > 0
        n_present = present.sum(-1)
        macro = np.where(n_present > 0, np.where(present, f1, 0.0).sum(-1) / n_present, np.nan)
        weighted = np.where(n > 0, (rows * np.nan_to_num(f1)).sum(-1) / n, np.nan)
        has_true = rows > 0
        recall = np.where(has_true, tp / rows, 0.0)
        balanced = np.where(has_true.sum(-1) > 0, recall.sum(-1) / has_true.sum(-1), np.nan)
        acc = np.where(n > 0, tp.sum(-1) / n, np.nan)
        pe = np.where(n > 0, (rows * cols).sum(-1) / n**2, np.nan)
        kappa = np.where(pe < 1.0, (acc - pe) / (1.0 - pe), np.nan)
    return {"accuracy": acc, "balanced_accuracy": balanced, "macro_f1": macro,
            "weighted_f1": weighted, "kappa": kappa, "f1": f1}


def scores_from_counts(counts: np.ndarray, unparseable: str = "wrong") -> Scores:
    """:class:`Scores` from one ``(5, 6)`` count matrix."""
    counts = np.asarray(counts, dtype=np.int64)
    m = metric_arrays(counts, unparseable)
    n_unp = int(counts[:, _K].sum())
    n = int(counts.sum()) - (n_unp if unparseable == "drop" else 0)
    return Scores(
        n=n, n_unparseable=n_unp,
        **{k: float(m[k]) for k in METRICS},
        per_class_f1={s: float(m["f1"][i]) for i, s in enumerate(STAGES)},
        support={s: int(counts[i].sum()) - (int(counts[i, _K]) if unparseable == "drop" else 0)
                 for i, s in enumerate(STAGES)},
        confusion=counts[:, :_K].copy(), unparseable_by_stage=counts[:, _K].copy(),
    )


def score(truth: Sequence[str], pred: Sequence[str | None], unparseable: str = "wrong") -> Scores:
    """Pooled scores of predictions against the truth (``None`` = unparseable)."""
    return scores_from_counts(count_matrix(truth, pred), unparseable)


def _group_counts(truth, pred, groups) -> tuple[list[str], np.ndarray]:
    if not (len(truth) == len(pred) == len(groups)):
        raise ValueError(f"metrics: truth, pred and groups differ in length "
                         f"({len(truth)}, {len(pred)}, {len(groups)})")
    keys = sorted(set(groups))
    pos = {k: i for i, k in enumerate(keys)}
    out = np.zeros((len(keys), _K, _K + 1), dtype=np.int64)
    for i, (t, p, g) in enumerate(zip(truth, pred, groups)):
        out[pos[g], _stage_index(t, f"truth[{i}]"), _K if p is None else _stage_index(p, f"pred[{i}]")] += 1
    return keys, out


@dataclass(frozen=True)
class NightSummary:
    """Per-night scores and their median and mean across nights.

    Attributes
    ----------
    nights : dict
        Night id -> :class:`Scores`, sorted by night id.
    median, mean : dict
        Metric -> median / mean across nights (nights where the metric is undefined, e.g.
        kappa of a one-stage night, are skipped).
    """

    nights: dict[str, Scores]
    median: dict[str, float]
    mean: dict[str, float]

    @property
    def n_nights(self) -> int:
        return len(self.nights)


def per_night(truth: Sequence[str], pred: Sequence[str | None], nights: Sequence[str],
              unparseable: str = "wrong") -> NightSummary:
    """Score each night separately; summarise by the median and the mean across nights."""
    keys, counts = _group_counts(truth, pred, nights)
    scores = {k: scores_from_counts(c, unparseable) for k, c in zip(keys, counts)}
    med, mean = {}, {}
    for m in METRICS:
        vals = np.array([getattr(s, m) for s in scores.values()], dtype=np.float64)
        vals = vals[np.isfinite(vals)]
        med[m] = float(np.median(vals)) if vals.size else math.nan
        mean[m] = float(np.mean(vals)) if vals.size else math.nan
    return NightSummary(scores, med, mean)


#: Fewest subjects a subject bootstrap is reported for: with 3 subjects there are only 10
#: distinct resamples, with one the "interval" is the estimate itself.
MIN_CI_SUBJECTS = 5


def bootstrap_ci(truth: Sequence[str], pred: Sequence[str | None], subjects: Sequence[str],
                 n_boot: int = 1000, seed: int = 0, level: float = 0.95,
                 unparseable: str = "wrong", min_subjects: int = MIN_CI_SUBJECTS) -> dict[str, tuple[float, float]]:
    """Percentile confidence intervals of the pooled metrics, resampling subjects.

    Each replicate draws as many subjects as there are, with replacement, and pools all
    epochs of the drawn subjects (a subject drawn twice counts twice). With fewer than
    ``min_subjects`` subjects no interval can be estimated and every bound is ``nan``.

    Parameters
    ----------
    truth, pred : sequence
        Per-epoch true and predicted stages (``None`` = unparseable).
    subjects : sequence of str
        Per-epoch subject id.
    n_boot : int
        Number of bootstrap replicates (default 1000).
    seed : int
        Seed of ``numpy.random.default_rng``: same inputs and seed give the same interval.
    level : float
        Coverage, e.g. 0.95 for the 2.5th-97.5th percentiles.
    min_subjects : int
        Fewest subjects for which an interval is estimated (default :data:`MIN_CI_SUBJECTS`).

    Returns
    -------
    dict
        Metric -> ``(low, high)``, including ``f1_<stage>`` per stage; ``(nan, nan)`` with
        fewer than ``min_subjects`` subjects.
    """
    if n_boot < 1:
        raise ValueError(f"bootstrap_ci: n_boot must be >= 1, got {n_boot}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"bootstrap_ci: level must be in (0, 1), got {level}")
    _, counts = _group_counts(truth, pred, subjects)
    s = counts.shape[0]
    if s == 0 or s < min_subjects:
        return {m: (math.nan, math.nan) for m in (*METRICS, *(f"f1_{x}" for x in STAGES))}
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, s, size=(n_boot, s))
    weights = np.zeros((n_boot, s), dtype=np.float64)
    np.add.at(weights, (np.arange(n_boot)[:, None], draws), 1.0)
    boot = np.einsum("bs,sij->bij", weights, counts.astype(np.float64))
    m = metric_arrays(boot, unparseable)
    lo_q, hi_q = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    out: dict[str, tuple[float, float]] = {}

    def _ci(values: np.ndarray) -> tuple[float, float]:
        v = values[np.isfinite(values)]
        if v.size == 0:
            return (math.nan, math.nan)
        return (float(np.percentile(v, lo_q)), float(np.percentile(v, hi_q)))

    for name in METRICS:
        out[name] = _ci(m[name])
    for i, st in enumerate(STAGES):
        out[f"f1_{st}"] = _ci(m["f1"][:, i])
    return out
