"""Stage of each 30-s epoch from scoring segments of any granularity.

DREAMS scores 5-s segments and some MASS subsets 20-s epochs; Sleep-EDF annotations each
cover many epochs. :func:`label_epochs` lays a grid of ``epoch_length`` from the first
onset and gives each epoch a stage by one of two rules (:data:`EPOCH_RULES`):

- ``'unanimous'``: the overlapping segments must cover the epoch and agree;
- ``'majority'``: AASM's rule, the stage that fills most of the epoch. Unscored, movement
  and uncovered seconds together are one more contender; equal top shares are a tie and
  the epoch is ``'ambiguous'`` (dropped and counted, never resolved by order).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from eeg_vlm.checks import check_option
from eeg_vlm.io.record import Scoring

__all__ = ["AMBIGUOUS", "EPOCH_RULES", "UNSCORED_GAP", "EpochLabels", "label_epochs"]

_EPS = 1e-3  # seconds: tolerance for onsets written with rounding
#: Label of an epoch whose segments the rule cannot combine.
AMBIGUOUS = "ambiguous"
#: Label of an epoch (or part) no segment covers.
UNSCORED_GAP = "unscored"
#: Rules that combine finer scoring segments into one epoch (see :func:`label_epochs`).
EPOCH_RULES: tuple[str, ...] = ("unanimous", "majority")


@dataclass
class EpochLabels:
    """Stage of every epoch of a scoring grid (before signal and trimming checks).

    Attributes
    ----------
    epoch : np.ndarray of int
        Index from the scoring start.
    onset_s : np.ndarray of float
        Seconds from the signal file start.
    stages : list of (str or None)
        AASM stage, ``None`` where unscored, movement, ambiguous or not covered.
    labels : list of str
        The raw label for a uniform epoch, else ``'ambiguous'`` (sub-epochs disagree) or
        ``'unscored'`` (not fully covered by any segment).
    """

    epoch: np.ndarray
    onset_s: np.ndarray
    stages: list[str | None]
    labels: list[str]


def label_epochs(scoring: Scoring, epoch_length: float = 30.0, rule: str = "unanimous") -> EpochLabels:
    """Cut a scoring into epochs of ``epoch_length`` seconds from its first onset.

    Parameters
    ----------
    scoring : Scoring
        Segments with onsets and durations in seconds (any granularity).
    epoch_length : float
        Seconds per epoch.
    rule : {'unanimous', 'majority'}
        How finer segments (DREAMS 5-s lists, MASS 20-s epochs) make one epoch.
        ``'unanimous'``: the segments that overlap the epoch must cover it and agree on the
        AASM stage. ``'majority'`` (AASM: the stage that fills most of the epoch): the
        stage with the most seconds in the epoch wins, where unscored, movement and
        uncovered time count together as one more contender; a tie for the most seconds
        gives ``'ambiguous'``, and a winning unscored share gives an unscored epoch.

    Returns
    -------
    EpochLabels
        One entry per epoch from the first onset to the end of the last segment.
    """
    check_option("rule", rule, EPOCH_RULES, where="label_epochs")
    order = np.argsort(scoring.onsets, kind="stable")
    onsets = scoring.onsets[order]
    ends = onsets + scoring.durations[order]
    stages = [scoring.stages[i] for i in order]
    raws = [scoring.raw_labels[i] for i in order]
    if len(onsets) == 0:
        return EpochLabels(np.zeros(0, int), np.zeros(0), [], [])
    start = float(onsets[0])
    n = int(math.floor((float(ends.max()) - start) / epoch_length + _EPS / epoch_length))
    decide = _unanimous if rule == "unanimous" else _majority
    out_stage: list[str | None] = []
    out_label: list[str] = []
    lo = 0
    for k in range(n):
        t0 = start + k * epoch_length
        t1 = t0 + epoch_length
        while lo < len(onsets) and ends[lo] <= t0 + _EPS:
            lo += 1
        parts: list[tuple[float, str | None, str]] = []  # (seconds in the epoch, stage, raw label)
        j = lo
        while j < len(onsets) and onsets[j] < t1 - _EPS:
            if ends[j] > t0 + _EPS:
                parts.append((min(ends[j], t1) - max(onsets[j], t0), stages[j], raws[j]))
            j += 1
        stage, label = decide(parts, epoch_length)
        out_stage.append(stage)
        out_label.append(label)
    epoch = np.arange(n)
    return EpochLabels(epoch, start + epoch * epoch_length, out_stage, out_label)


def _unanimous(parts: list[tuple[float, str | None, str]], epoch_length: float) -> tuple[str | None, str]:
    """Every overlapping segment agrees and together they cover the epoch."""
    found = {p[1] for p in parts}
    covered = sum(p[0] for p in parts)
    if not parts or covered < epoch_length - _EPS:
        return None, UNSCORED_GAP if not parts or len(found) == 1 else AMBIGUOUS
    if len(found) > 1:
        return None, AMBIGUOUS
    stage = next(iter(found))
    raw = {p[2] for p in parts}
    return stage, AMBIGUOUS if stage is None and len(raw) > 1 else parts[0][2]


def _majority(parts: list[tuple[float, str | None, str]], epoch_length: float) -> tuple[str | None, str]:
    """The stage with the most seconds; unscored and uncovered time form one contender."""
    seconds: Counter = Counter()
    raw_unscored: Counter = Counter()
    for sec, stage, raw in parts:
        seconds[stage] += sec
        if stage is None:
            raw_unscored[raw] += sec
    uncovered = epoch_length - sum(seconds.values())
    if uncovered > _EPS:
        seconds[None] += uncovered
        raw_unscored[UNSCORED_GAP] += uncovered
    ranked = seconds.most_common()
    if len(ranked) > 1 and ranked[0][1] - ranked[1][1] <= _EPS:
        return None, AMBIGUOUS
    stage = ranked[0][0]
    if stage is not None:
        return stage, next(raw for _, s, raw in parts if s == stage)
    top = raw_unscored.most_common()
    return None, top[0][0] if len(top) == 1 or top[0][1] - top[1][1] > _EPS else AMBIGUOUS
