"""Cut a recording into scored 30-s epochs at one sampling rate; per-epoch min-max scaling.

Epochs are aligned to the hypnogram's onsets (epoch ``k`` starts ``k * 30`` s after the
first scored segment), not to the file start. Scoring in finer steps (MASS 20-s epochs,
DREAMS 5-s lists) is combined into 30-s epochs by a rule (:mod:`eeg_vlm.signals.labels`):
all overlapping sub-epochs agree, or the stage that fills most of the epoch; epochs the rule
cannot decide are dropped and counted as ``'ambiguous'``. Unscored and movement epochs are dropped and counted by their raw label,
parts of the night that no segment covers as ``'unscored'``. Each channel is resampled
from its own rate with a polyphase filter, one channel at a time, in float32.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

from eeg_vlm.io.record import Recording
from eeg_vlm.signals.quality import QualityLimits, check_epochs
from eeg_vlm.signals.labels import (AMBIGUOUS, EPOCH_RULES, UNSCORED_GAP, EpochLabels,
                                          label_epochs)

logger = logging.getLogger(__name__)

__all__ = ["EPOCH_RULES", "Epochs", "EpochLabels", "label_epochs", "make_epochs", "minmax_scale", "resample"]

_SLEEP = frozenset({"N1", "N2", "N3", "REM"})
_EPS = 1e-3  # seconds: tolerance for onsets written with rounding


@dataclass
class Epochs:
    """Epochs of one recording, ready for imaging.

    Attributes
    ----------
    data : np.ndarray, shape (n_epochs, n_channels, n_times), float32
        Signals in µV at ``sfreq``, unscaled.
    stages : list of (str or None)
        AASM stage per epoch; ``None`` only for unscored recordings or ``keep_unscored``.
    epoch : np.ndarray of int, shape (n_epochs,)
        Index of the epoch counted from the scoring start (from the file start for unscored
        recordings); stable across trimming, so it keys ``sample_id``.
    onset_s : np.ndarray of float, shape (n_epochs,)
        Seconds from the signal file start.
    channels : list of str
        Requested channels as the file labels them, in ``data`` order.
    sfreq : float
        Sampling rate of ``data`` in Hz.
    record_id, subject, night, dataset : str
        Identity of the recording.
    dropped : dict of str to int
        Epochs within the signal dropped for their label: raw label (``'Sleep stage ?'``,
        ``'Movement time'``), ``'ambiguous'`` or ``'unscored'`` -> count.
    trimmed : int
        Epochs removed by wake trimming.
    coverage : dict of str to int
        Whole epochs where signal and scoring do not overlap: ``'unscored_head'`` and
        ``'unscored_tail'`` (signal before the first / after the last scored segment),
        ``'scored_past_signal'`` (scoring epochs before the start or past the end of the
        signal; a warning names them).
    rule : str
        How finer scoring made each epoch (:func:`label_epochs`).
    flags : list of str
        Per epoch: ``''``, ``'flat'`` or ``'clipped'`` (kept with ``bad_epochs='keep'``;
        :mod:`eeg_vlm.signals.quality`).
    quality : dict of str to int
        Epochs found ``'nonfinite'``, ``'flat'``, ``'clipped'`` (kept or dropped), and
        ``'filled_samples'`` (non-finite samples interpolated).
    """

    data: np.ndarray
    stages: list[str | None]
    epoch: np.ndarray
    onset_s: np.ndarray
    channels: list[str]
    sfreq: float
    record_id: str
    subject: str
    night: str = ""
    dataset: str = ""
    dropped: dict[str, int] = field(default_factory=dict)
    trimmed: int = 0
    coverage: dict[str, int] = field(default_factory=dict)
    rule: str = "unanimous"
    flags: list[str] = field(default_factory=list)
    quality: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.stages)

    @property
    def sample_ids(self) -> list[str]:
        """``f"{record_id}/{epoch:06d}"`` per epoch (the manifest's ``sample_id``)."""
        return [f"{self.record_id}/{int(k):06d}" for k in self.epoch]


def _ratio(from_hz: float, to_hz: float) -> tuple[int, int]:
    if not (from_hz > 0 and to_hz > 0):
        raise ValueError(f"resample: rates must be > 0 Hz, got {from_hz!r} -> {to_hz!r}")
    ratio = (Fraction(str(float(to_hz))) / Fraction(str(float(from_hz)))).limit_denominator(1000)
    return ratio.numerator, ratio.denominator


def resample(x: np.ndarray, from_hz: float, to_hz: float) -> np.ndarray:
    """Resample along the last axis with a polyphase anti-aliasing filter.

    Parameters
    ----------
    x : np.ndarray, shape (..., n_samples)
        Signal(s) at ``from_hz``.
    from_hz, to_hz : float
        Rates in Hz; their ratio is taken as a fraction with denominator <= 1000.

    Returns
    -------
    np.ndarray, shape (..., ceil(n_samples * up / down)), float32
        ``x`` itself (as float32) when the rates are equal.

    Notes
    -----
    Upsampling by 10x or more (a 1-Hz channel to 100 Hz) is allowed and logged as a
    warning: the result carries nothing above the original Nyquist frequency. The signal
    is extended past its ends along its linear trend (``padtype='line'``), not with
    zeros: a DC-coupled recording (a BDF at +3 mV) would otherwise start and end with a
    filter ramp from 0 µV to its offset.
    """
    up, down = _ratio(from_hz, to_hz)
    x = np.asarray(x, dtype=np.float32)
    if up == down:
        return x
    if to_hz / from_hz >= 10:
        logger.warning("upsampling a %g Hz signal to %g Hz: it holds nothing above %g Hz",
                       from_hz, to_hz, from_hz / 2)
    return resample_poly(x, up, down, axis=-1, padtype="line").astype(np.float32, copy=False)


def _resampled_length(n: int, from_hz: float, to_hz: float) -> int:
    up, down = _ratio(from_hz, to_hz)
    return n if up == down else -(-n * up // down)


def minmax_scale(data: np.ndarray) -> np.ndarray:
    """Scale each epoch of each channel to [-1, 1] over the last axis.

    Parameters
    ----------
    data : np.ndarray, shape (n_channels, n_times) or (n_epochs, n_channels, n_times)
        Any shape works; the last axis is time.

    Returns
    -------
    np.ndarray, same shape, float32
        ``2 * (x - min) / (max - min) - 1``; a flat channel (max == min) maps to 0.

    Raises
    ------
    ValueError
        If ``data`` has no time axis or holds NaN/inf.
    """
    x = np.asarray(data, dtype=np.float32)
    if x.ndim < 1 or x.shape[-1] == 0:
        raise ValueError(f"minmax_scale: data needs a non-empty last (time) axis, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("minmax_scale: data holds NaN or infinite values")
    low = x.min(axis=-1, keepdims=True)
    span = x.max(axis=-1, keepdims=True) - low
    out = np.zeros_like(x)
    np.divide(x - low, span, out=out, where=span > 0)
    out *= 2
    out -= 1
    out[np.broadcast_to(span <= 0, x.shape)] = 0.0
    return out


def _sleep_window(labels: EpochLabels, epoch_length: float, trim_wake: float | None,
                  where: str) -> np.ndarray:
    """Mask of epochs within ``trim_wake`` minutes of the first/last sleep epoch."""
    n = len(labels.stages)
    if trim_wake is None:
        return np.ones(n, bool)
    sleep = np.flatnonzero([s in _SLEEP for s in labels.stages])
    if len(sleep) == 0:
        logger.warning("%s: no sleep epoch in the scoring; wake trimming skipped", where)
        return np.ones(n, bool)
    margin = trim_wake * 60.0
    lo = labels.onset_s[sleep[0]] - margin
    hi = labels.onset_s[sleep[-1]] + epoch_length + margin
    return (labels.onset_s >= lo - _EPS) & (labels.onset_s + epoch_length <= hi + _EPS)


def make_epochs(
    recording: Recording,
    channels: str | Sequence[str],
    sfreq: float = 100.0,
    epoch_length: float = 30.0,
    trim_wake: float | None = 30.0,
    keep_unscored: bool = False,
    rule: str = "unanimous",
    quality: QualityLimits | None = None,
) -> Epochs:
    """Cut a recording into epochs of ``epoch_length`` s at ``sfreq`` Hz.

    Parameters
    ----------
    recording : Recording
        From any reader; channels in µV at their own rates.
    channels : str or sequence of str
        Channel names or aliases, in the order wanted in ``data``.
    sfreq : float
        Target rate in Hz (``epoch_length * sfreq`` must be a whole number of samples).
    epoch_length : float
        Seconds per epoch (30).
    trim_wake : float or None
        Minutes of wake kept before the first and after the last sleep epoch of the
        scoring (Sleep-EDF protocol: 30); ``None`` keeps every epoch. The window comes
        from the whole hypnogram, so an excerpt of a night yields the excerpt's share of
        the full night's epochs. A scoring without sleep is not trimmed (warning).
    keep_unscored : bool
        Keep unscored/movement/ambiguous epochs (stage ``None``) instead of dropping them.
    rule : {'unanimous', 'majority'}
        How finer scoring segments make one epoch (:func:`label_epochs`).
    quality : QualityLimits, optional
        Non-finite, flat and clipped epoch checks (:mod:`eeg_vlm.signals.quality`);
        default: NaN/inf raise, flat and clipped epochs are kept and flagged. Dropped
        epochs are counted in ``dropped`` under ``'nonfinite'``, ``'flat'``, ``'clipped'``.

    Returns
    -------
    Epochs
        Epochs that lie fully inside every requested channel; scoring past the signal
        end (or before its start) and signal that no scoring covers are counted in
        ``coverage``.

    Raises
    ------
    ValueError
        For unknown channels (listing those present), bad rates or epoch lengths, and a
        signal shorter than one epoch.
    """
    names = [channels] if isinstance(channels, str) else list(channels)
    if not names:
        raise ValueError(f"{recording.where}: no channels requested")
    if not (sfreq > 0 and epoch_length > 0):
        raise ValueError(f"{recording.where}: sfreq and epoch_length must be > 0, got {sfreq!r}, {epoch_length!r}")
    n_times = round(epoch_length * sfreq)
    if abs(n_times - epoch_length * sfreq) > 1e-6:
        raise ValueError(f"{recording.where}: epoch_length {epoch_length:g} s x sfreq {sfreq:g} Hz is not a whole "
                         "number of samples")
    if trim_wake is not None and trim_wake < 0:
        raise ValueError(f"{recording.where}: trim_wake must be >= 0 minutes or None, got {trim_wake!r}")
    labels_in_file = list(dict.fromkeys(recording.resolve_channel(c) for c in names))
    chans = [recording.channels[lab] for lab in labels_in_file]
    lengths = [_resampled_length(len(c.data), c.sfreq, sfreq) for c in chans]
    n_available = min(lengths)
    if n_available < n_times:
        shortest = min(chans, key=lambda c: c.duration)
        raise ValueError(f"{recording.where}: shorter than one {epoch_length:g}-s epoch ({shortest.duration:g} s of "
                         f"{shortest.name!r})")

    if recording.scoring is None:
        n = int(n_available // n_times)
        k = np.arange(n)
        grid = EpochLabels(k, k * epoch_length, [None] * n, [UNSCORED_GAP] * n)
        keep_unscored, trim_wake = True, None
    else:
        grid = label_epochs(recording.scoring, epoch_length, rule)
    first = np.round(grid.onset_s * sfreq).astype(np.int64)
    inside = (first >= 0) & (first + n_times <= n_available)
    coverage = _coverage(grid, inside, n_available / sfreq, epoch_length, recording)
    unscored = np.array([s is None for s in grid.stages], bool)
    window = _sleep_window(grid, epoch_length, trim_wake, recording.where)
    candidate = inside & (~unscored | keep_unscored)
    keep = candidate & window
    dropped = Counter(lab for lab, d in zip(grid.labels, inside & unscored & (not keep_unscored)) if d)
    trimmed = int((candidate & ~window).sum())
    idx = np.flatnonzero(keep)
    limits = quality or QualityLimits()
    checked = check_epochs(chans, grid.onset_s[idx], epoch_length, limits, recording.where, grid.epoch[idx])
    flag = np.where(checked.flat, "flat", np.where(checked.clipped, "clipped", ""))
    bad = (checked.nonfinite & (limits.nonfinite == "drop")) | ((flag != "") & (limits.bad_epochs == "drop"))
    reason = np.where(checked.nonfinite & (limits.nonfinite == "drop"), "nonfinite", flag)
    dropped.update(str(r) for r in reason[bad])
    counts = {"nonfinite": int(checked.nonfinite.sum()), "flat": int(checked.flat.sum()),
              "clipped": int((checked.clipped & ~checked.flat).sum()), "filled_samples": checked.filled}
    idx, flag = idx[~bad], flag[~bad]

    data = np.empty((len(idx), len(chans), n_times), dtype=np.float32)
    starts = first[idx]
    for c, channel in enumerate(chans):
        signal = resample(checked.data[c], channel.sfreq, sfreq)
        for i, s in enumerate(starts):
            data[i, c, :] = signal[s: s + n_times]
        del signal
    logger.info("%s: %d epochs of %s at %g Hz; dropped %s; trimmed %d", recording.where, len(idx),
                ", ".join(labels_in_file), sfreq, dict(dropped) or "none", trimmed)
    return Epochs(
        data=data,
        stages=[grid.stages[i] for i in idx],
        epoch=grid.epoch[idx].astype(np.int64),
        onset_s=grid.onset_s[idx].astype(float),
        channels=labels_in_file,
        sfreq=float(sfreq),
        record_id=recording.record_id,
        subject=recording.subject,
        night=recording.night,
        dataset=recording.dataset,
        dropped=dict(dropped),
        trimmed=trimmed,
        coverage=coverage,
        rule=rule,
        flags=[str(f) for f in flag],
        quality=counts,
    )


def _coverage(grid: EpochLabels, inside: np.ndarray, signal_s: float, epoch_length: float,
              recording: Recording) -> dict[str, int]:
    """Whole epochs of signal without scoring, and of scoring without signal (warned)."""
    if recording.scoring is None or len(grid.stages) == 0:
        return {"unscored_head": 0, "unscored_tail": 0, "scored_past_signal": 0}
    start = float(grid.onset_s[0])
    end = start + len(grid.stages) * epoch_length
    head = int(math.floor(max(start, 0.0) / epoch_length + _EPS))
    tail = int(math.floor(max(signal_s - end, 0.0) / epoch_length + _EPS))
    past = int((~inside).sum())
    if past:
        scored = int(sum(1 for s, i in zip(grid.stages, inside) if s is not None and not i))
        logger.warning("%s: the scoring runs past the signal (%.1f s of signal, scoring %.1f-%.1f s): %d epochs "
                       "(%d of them scored) have no signal and are left out", recording.where, signal_s, start,
                       end, past, scored)
    if not inside.any():
        logger.warning("%s: no scored epoch lies inside the signal", recording.where)
    return {"unscored_head": head, "unscored_tail": tail, "scored_past_signal": past}
