"""Chin EMG tone, for raw EMG and for stored low-rate envelopes alike."""

from __future__ import annotations

import numpy as np

from eeg_vlm.reasoning.detectors._common import _as_2d, _check_sfreq
from eeg_vlm.reasoning.detectors.filters import bandpass

__all__ = [
    "emg_tone",
]


def emg_tone(x: np.ndarray, sfreq: float, highpass: float = 10.0) -> np.ndarray:
    """Chin EMG tone: RMS in µV.

    Raw EMG (sampled fast enough, with power above ``highpass``) is high-passed at
    ``highpass`` Hz and its RMS returned. A channel without such power — an envelope
    stored at a low rate, as Sleep-EDF's 1-Hz "EMG submental", resampled — is already a
    tone level, and its plain RMS (mean not removed) is returned.

    Parameters
    ----------
    x : np.ndarray
        EMG in µV, shape ``(n_samples,)`` or ``(n_epochs, n_samples)``.
    sfreq : float
        Sampling rate in Hz.
    highpass : float
        High-pass edge in Hz for raw EMG (default 10).

    Returns
    -------
    np.ndarray
        Tone in µV, shape ``()`` or ``(n_epochs,)``.
    """
    sfreq = _check_sfreq(sfreq, "emg_tone")
    x2 = _as_2d(x, "emg_tone")
    plain = np.sqrt(np.mean(x2**2, axis=-1))
    tone = plain
    if sfreq > 2.5 * highpass:
        hp = bandpass(x2, sfreq, highpass, None, order=4)
        hp_rms = np.sqrt(np.mean(hp**2, axis=-1))
        ac_rms = np.std(x2, axis=-1)
        raw_like = hp_rms >= 0.05 * np.where(ac_rms > 0, ac_rms, np.inf)
        tone = np.where(raw_like, hp_rms, plain)
    return tone[0] if np.ndim(x) == 1 else tone
