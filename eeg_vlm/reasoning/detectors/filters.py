"""Zero-phase Butterworth filtering of EEG, EOG and EMG along the last axis."""

from __future__ import annotations

import numpy as np
from scipy import signal

from eeg_vlm.reasoning.detectors._common import _as_2d, _check_sfreq

__all__ = [
    "bandpass",
]


def bandpass(x: np.ndarray, sfreq: float, low: float | None, high: float | None, order: int = 2) -> np.ndarray:
    """Zero-phase Butterworth filter along the last axis.

    Parameters
    ----------
    x : np.ndarray
        Signal(s), shape ``(..., n_samples)``, any unit (kept).
    sfreq : float
        Sampling rate in Hz.
    low, high : float or None
        Pass band edges in Hz; ``None`` for a low-pass (``low``) or high-pass (``high``).
        A ``high`` at or above Nyquist is dropped.
    order : int
        Butterworth order (applied forward and backward, so the effective order doubles).

    Returns
    -------
    np.ndarray
        Filtered signal, same shape, float64.
    """
    sfreq = _check_sfreq(sfreq, "bandpass")
    nyq = sfreq / 2.0
    if high is not None and high >= nyq * 0.98:
        high = None
    if low is None and high is None:
        return np.asarray(x, dtype=np.float64).copy()
    if low is None:
        sos = signal.butter(order, high, btype="lowpass", fs=sfreq, output="sos")
    elif high is None:
        sos = signal.butter(order, low, btype="highpass", fs=sfreq, output="sos")
    else:
        sos = signal.butter(order, [low, high], btype="bandpass", fs=sfreq, output="sos")
    x = np.asarray(x, dtype=np.float64)
    padlen = min(x.shape[-1] - 1, int(round(3 * sfreq)))
    return signal.sosfiltfilt(sos, x, axis=-1, padlen=max(padlen, 0))


def _filter_one(x: np.ndarray, sfreq: float, band: tuple[float, float], where: str) -> tuple[np.ndarray, float]:
    """Check and band-pass (order 2) one epoch ``(n_samples,)``: the filtered epoch and ``sfreq``."""
    sfreq = _check_sfreq(sfreq, where)
    return bandpass(_as_2d(x, where), sfreq, band[0], band[1], order=2)[0], sfreq
