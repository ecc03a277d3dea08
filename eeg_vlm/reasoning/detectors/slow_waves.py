"""Slow waves and K-complexes: negative-positive waves between downward zero crossings.

Slow waves follow Massimini et al. (2004), The sleep slow oscillation as a traveling wave,
J Neurosci 24; K-complexes are the waves of that kind that stand out from the epoch's
background.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from eeg_vlm.reasoning.detectors.filters import _filter_one

__all__ = [
    "SlowWave",
    "KComplex",
    "detect_slow_waves",
    "slow_wave_fraction",
    "detect_k_complexes",
]


@dataclass(frozen=True)
class SlowWave:
    """One slow wave: a negative half-wave followed by a positive one.

    Attributes
    ----------
    start_s, duration_s : float
        From the downward zero crossing that opens the negative half-wave to the next
        downward zero crossing, in seconds.
    ptp_uv : float
        Peak-to-peak amplitude of the slow-band signal, in µV.
    frequency_hz : float
        ``1 / duration_s``.
    """

    start_s: float
    duration_s: float
    ptp_uv: float
    frequency_hz: float


@dataclass(frozen=True)
class KComplex:
    """One K-complex: a large negative-positive wave standing out from the background.

    Attributes
    ----------
    start_s, duration_s : float
        Onset (downward zero crossing) and length of the biphasic wave, in seconds.
    negative_uv, positive_uv : float
        The negative and the following positive peak, in µV.
    ptp_uv : float
        ``positive_uv - negative_uv``, in µV.
    background_ratio : float
        ``ptp_uv`` over the median peak-to-peak amplitude of the epoch's waves.
    """

    start_s: float
    duration_s: float
    negative_uv: float
    positive_uv: float
    ptp_uv: float
    background_ratio: float


def _waves(y: np.ndarray) -> np.ndarray:
    """Negative-then-positive waves of a zero-mean 1-D signal: rows (start, stop).

    A wave runs from a downward zero crossing to the next downward zero crossing, so it
    holds one negative half-wave followed by one positive half-wave.
    """
    neg = np.signbit(y)
    down = np.flatnonzero(~neg[:-1] & neg[1:]) + 1
    if len(down) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    return np.stack([down[:-1], down[1:]], axis=1)


def _wave_ptp(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Peak-to-peak amplitude of each consecutive wave ``(start, stop)`` of ``y``."""
    seg = y[w[0, 0] : w[-1, 1]]
    starts = w[:, 0] - w[0, 0]
    # waves are consecutive (each stops where the next starts), so reduceat spans them exactly
    return np.maximum.reduceat(seg, starts) - np.minimum.reduceat(seg, starts)


def _slow_waves_one(y: np.ndarray, sfreq: float, freq: tuple[float, float], min_ptp: float) -> tuple[list[SlowWave], float]:
    """Qualifying waves and the largest in-band ptp of one filtered epoch."""
    w = _waves(y)
    if len(w) == 0:
        return [], 0.0
    ptp = _wave_ptp(y, w)
    dur = (w[:, 1] - w[:, 0]) / sfreq
    in_band = (dur >= 1.0 / freq[1]) & (dur <= 1.0 / freq[0])
    max_ptp = float(ptp[in_band].max()) if in_band.any() else 0.0
    keep = in_band & (ptp >= min_ptp)
    events = [SlowWave(float(s / sfreq), float(d), float(p), float(1.0 / d)) for (s, _), d, p in zip(w[keep], dur[keep], ptp[keep])]
    return events, max_ptp


def detect_slow_waves(
    x: np.ndarray,
    sfreq: float,
    band: tuple[float, float] = (0.3, 2.0),
    freq: tuple[float, float] = (0.5, 2.0),
    min_ptp: float = 75.0,
) -> list[SlowWave]:
    """Detect slow waves of at least ``min_ptp`` µV peak to peak (AASM N3 waves).

    The EEG is band-passed to ``band`` (Butterworth, zero phase); each wave runs from a
    downward zero crossing to the next one; waves whose frequency lies in ``freq`` and
    whose peak-to-peak amplitude reaches ``min_ptp`` are kept. Amplitudes are measured on
    the filtered signal, which is the conservative reading of the criterion.

    Parameters
    ----------
    x : np.ndarray
        EEG in µV, shape ``(n_samples,)``.
    sfreq : float
        Sampling rate in Hz.
    band : (float, float)
        Filter pass band in Hz (default 0.3-2).
    freq : (float, float)
        Allowed wave frequency in Hz (default 0.5-2, the AASM definition).
    min_ptp : float
        Minimum peak-to-peak amplitude in µV (default 75).

    Returns
    -------
    list of SlowWave
        In time order.
    """
    y, sfreq = _filter_one(x, sfreq, band, "detect_slow_waves")
    return _slow_waves_one(y, sfreq, freq, min_ptp)[0]


def slow_wave_fraction(waves: Sequence[SlowWave], duration_s: float) -> float:
    """Share of an epoch of ``duration_s`` seconds covered by ``waves`` (0..1)."""
    if duration_s <= 0:
        raise ValueError(f"slow_wave_fraction: duration must be > 0 s, got {duration_s!r}")
    return float(min(sum(w.duration_s for w in waves) / duration_s, 1.0))


def _k_complexes_one(
    y: np.ndarray, sfreq: float, duration: tuple[float, float], min_ptp: float, standout: float
) -> list[KComplex]:
    w = _waves(y)
    if len(w) < 3:
        return []
    ptp = _wave_ptp(y, w)
    background = float(np.median(ptp))
    if not background > 0:
        return []
    dur = (w[:, 1] - w[:, 0]) / sfreq
    events: list[KComplex] = []
    for (a, b), d, p in zip(w, dur, ptp):
        if not (duration[0] <= d <= duration[1] and p >= min_ptp and p >= standout * background):
            continue
        seg = y[a:b]
        i_neg = int(np.argmin(seg))
        neg, pos = float(seg[i_neg]), float(seg[i_neg:].max())
        events.append(KComplex(float(a / sfreq), float(d), neg, pos, pos - neg, float(p / background)))
    return events


def detect_k_complexes(
    x: np.ndarray,
    sfreq: float,
    band: tuple[float, float] = (0.3, 3.0),
    duration: tuple[float, float] = (0.5, 1.5),
    min_ptp: float = 75.0,
    standout: float = 3.0,
) -> list[KComplex]:
    """Detect K-complexes: isolated large negative-positive waves.

    The EEG is band-passed to ``band``; each wave (a negative half-wave then a positive
    one, between downward zero crossings) of ``duration`` whose peak-to-peak amplitude
    reaches ``min_ptp`` µV and ``standout`` times the median amplitude of the epoch's
    waves is a K-complex. In an epoch full of slow waves none stands out, so N3 slow
    waves are not counted as K-complexes.

    Parameters
    ----------
    x : np.ndarray
        EEG in µV, shape ``(n_samples,)``.
    sfreq : float
        Sampling rate in Hz.
    band : (float, float)
        Filter pass band in Hz (default 0.3-3).
    duration : (float, float)
        Allowed length of the biphasic wave in seconds (default 0.5-1.5).
    min_ptp : float
        Minimum peak-to-peak amplitude in µV (default 75).
    standout : float
        Minimum ratio to the median wave amplitude of the epoch (default 3).

    Returns
    -------
    list of KComplex
        In time order.
    """
    y, sfreq = _filter_one(x, sfreq, band, "detect_k_complexes")
    return _k_complexes_one(y, sfreq, duration, min_ptp, standout)
