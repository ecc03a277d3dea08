"""Rapid eye movements: steep, large deflections of the EOG."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from eeg_vlm.reasoning.detectors._common import _moving_mean
from eeg_vlm.reasoning.detectors.filters import _filter_one

__all__ = [
    "EyeMovement",
    "detect_rems",
]


@dataclass(frozen=True)
class EyeMovement:
    """One rapid eye movement: a steep, large deflection of the EOG.

    Attributes
    ----------
    time_s : float
        Time of the deflection's extremum, in seconds.
    amplitude_uv : float
        Size of the deflection (from the preceding opposite extremum), in µV.
    rise_s : float
        Time from the preceding extremum to this one, in seconds.
    slope_uv_s : float
        Steepest slope during the rise, in µV/s.
    """

    time_s: float
    amplitude_uv: float
    rise_s: float
    slope_uv_s: float


def _rems_one(
    y: np.ndarray, sfreq: float, min_amplitude: float, max_rise: float, min_slope: float, standout: float
) -> list[EyeMovement]:
    background = float(np.percentile(np.sqrt(_moving_mean(y**2, round(sfreq))), 20))
    min_amplitude = max(min_amplitude, standout * background)
    slope = np.abs(np.gradient(y)) * sfreq
    peaks, _ = signal.find_peaks(y)
    troughs, _ = signal.find_peaks(-y)
    ext = np.sort(np.concatenate([peaks, troughs]))
    if len(ext) < 2:
        return []
    prev, cur = ext[:-1], ext[1:]
    amp = np.abs(y[cur] - y[prev])
    rise = (cur - prev) / sfreq
    events: list[EyeMovement] = []
    for i in np.flatnonzero((amp >= min_amplitude) & (rise <= max_rise)):
        steep = float(slope[prev[i] : cur[i] + 1].max())
        if steep >= min_slope:
            events.append(EyeMovement(float(cur[i] / sfreq), float(amp[i]), float(rise[i]), steep))
    return events


def detect_rems(
    x: np.ndarray,
    sfreq: float,
    band: tuple[float, float] = (0.5, 5.0),
    min_amplitude: float = 50.0,
    max_rise: float = 0.5,
    min_slope: float = 400.0,
    standout: float = 9.0,
) -> list[EyeMovement]:
    """Detect rapid eye movements on one EOG epoch.

    The EOG is band-passed to ``band``; between consecutive extrema, a deflection of at
    least ``min_amplitude`` µV and ``standout`` times the EOG background, reached within
    ``max_rise`` seconds (AASM: initial deflection usually under 500 ms) with a steepest
    slope of ``min_slope`` µV/s counts as a rapid eye movement. The background is the
    20th percentile of the filtered EOG's RMS in moving 1-s windows: quiet stretches
    between movements, so dense bursts of movements do not raise it. Slow eye movements
    (rise over 0.5 s) and 1-Hz delta of 100 µV (steepest slope about 314 µV/s) do not
    count; in 1/f noise of 20 µV RMS about 1 epoch in 300 shows a chance detection.

    Parameters
    ----------
    x : np.ndarray
        EOG in µV, shape ``(n_samples,)``.
    sfreq : float
        Sampling rate in Hz.
    band : (float, float)
        Filter pass band in Hz (default 0.5-5).
    min_amplitude : float
        Minimum deflection in µV (default 50).
    max_rise : float
        Maximum rise time in seconds (default 0.5).
    min_slope : float
        Minimum steepest slope in µV/s (default 400).
    standout : float
        Minimum ratio of the deflection to the EOG background (default 9).

    Returns
    -------
    list of EyeMovement
        In time order.
    """
    y, sfreq = _filter_one(x, sfreq, band, "detect_rems")
    return _rems_one(y, sfreq, min_amplitude, max_rise, min_slope, standout)
