"""Checks and moving-window arithmetic shared by the detectors (private)."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter1d

__all__: list[str] = []


def _as_2d(x: np.ndarray, where: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        return x[None, :]
    if x.ndim != 2:
        raise ValueError(f"{where}: data must be 1-D (n_samples,) or 2-D (n_epochs, n_samples), got shape {x.shape}")
    return x


def _check_sfreq(sfreq: float, where: str) -> float:
    sfreq = float(sfreq)
    if not (np.isfinite(sfreq) and sfreq > 0):
        raise ValueError(f"{where}: sampling rate must be > 0 Hz, got {sfreq!r}")
    return sfreq


def _moving_mean(x: np.ndarray, n: int) -> np.ndarray:
    return uniform_filter1d(x, size=max(int(n), 1), axis=-1, mode="reflect")
