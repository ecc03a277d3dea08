"""Relative EEG band powers (Welch's method) over the AASM frequency bands."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import signal

from eeg_vlm.reasoning.detectors._common import _as_2d, _check_sfreq

__all__ = [
    "BANDS",
    "TOTAL_BAND",
    "band_powers",
]

#: Frequency bands in Hz, ``[low, high)``; together they tile :data:`TOTAL_BAND`.
BANDS: dict[str, tuple[float, float]] = {
    "delta": (0.5, 4.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 12.0),
    "sigma": (12.0, 16.0),
    "beta": (16.0, 30.0),
}
#: The band relative powers are taken against, in Hz.
TOTAL_BAND: tuple[float, float] = (0.5, 30.0)


def band_powers(
    x: np.ndarray,
    sfreq: float,
    bands: Mapping[str, tuple[float, float]] = BANDS,
    total: tuple[float, float] = TOTAL_BAND,
    window_s: float = 4.0,
) -> dict[str, np.ndarray]:
    """Relative band powers by Welch's method.

    Parameters
    ----------
    x : np.ndarray
        EEG in µV, shape ``(n_samples,)`` or ``(n_epochs, n_samples)``.
    sfreq : float
        Sampling rate in Hz.
    bands : mapping of str to (float, float)
        Bands ``[low, high)`` in Hz. Default :data:`BANDS`.
    total : (float, float)
        The reference band ``[low, high)`` in Hz (default 0.5-30 Hz). Above Nyquist it
        ends at Nyquist.
    window_s : float
        Welch segment length in seconds (50 % overlap, Hann window); shortened to the
        signal's length.

    Returns
    -------
    dict of str to np.ndarray
        Per band, the share of ``total`` power: shape ``()`` for 1-D input, else
        ``(n_epochs,)``. Zero for a flat signal.
    """
    sfreq = _check_sfreq(sfreq, "band_powers")
    x2 = _as_2d(x, "band_powers")
    nperseg = int(min(round(window_s * sfreq), x2.shape[-1]))
    f, p = signal.welch(x2, fs=sfreq, nperseg=nperseg, axis=-1)
    tot_mask = (f >= total[0]) & (f < total[1])
    tot = p[:, tot_mask].sum(axis=-1)
    safe = np.where(tot > 0, tot, 1.0)
    out: dict[str, np.ndarray] = {}
    for name, (lo, hi) in bands.items():
        m = (f >= lo) & (f < hi) & tot_mask
        rel = np.where(tot > 0, p[:, m].sum(axis=-1) / safe, 0.0)
        out[name] = rel[0] if np.ndim(x) == 1 else rel
    return out
