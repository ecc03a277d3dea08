"""Display filters: what a scorer's screen applies before a trace is drawn.

AASM's recommended display filters (AASM Manual, technical specifications): EEG and EOG
0.3-35 Hz, EMG 10-100 Hz. A DC-coupled recorder (BioSemi BDF) stores a baseline that
drifts by hundreds of µV over an epoch; min-max scaled, that drift fills the image and the
waveform becomes a diagonal line. The filters are off by default because the papers'
images are drawn from the signals as the public datasets ship them (PSG-LLaVA, appendix:
"we did not apply any additional processing"); ``eeg-vlm convert --display-filter aasm``
turns them on and records it in ``convert.json``. Only the images are filtered:
``signals/*.npy`` keeps the unfiltered µV that the rationale detectors measure.

Each epoch is filtered on its own (zero-phase, 2nd-order Butterworth sections run forward
and backward, odd extension at the ends), so an image depends on its epoch's samples only,
as without the filter. An upper edge at or above the Nyquist frequency is left out (EMG at
100 Hz sampling becomes a 10-Hz high-pass).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import numpy as np
from scipy.signal import butter, sosfiltfilt

from eeg_vlm.checks import check_option

logger = logging.getLogger(__name__)

__all__ = ["AASM_BANDS", "DISPLAY_FILTERS", "channel_kind", "display_filter"]

#: Values of ``display_filter``.
DISPLAY_FILTERS: tuple[str, ...] = ("none", "aasm")
#: AASM display filter band (Hz) per channel kind.
AASM_BANDS: dict[str, tuple[float, float]] = {"eeg": (0.3, 35.0), "eog": (0.3, 35.0), "emg": (10.0, 100.0)}
_EOG = re.compile(r"eog|\bloc\b|\broc\b|^e[12][-\s]", re.IGNORECASE)
_EMG = re.compile(r"emg|chin|submental", re.IGNORECASE)


def channel_kind(name: str) -> str:
    """``'emg'``, ``'eog'`` or ``'eeg'`` from a channel label (EEG when nothing else matches)."""
    if _EMG.search(name):
        return "emg"
    if _EOG.search(name.strip()):
        return "eog"
    return "eeg"


def _sos(band: tuple[float, float], sfreq: float) -> np.ndarray:
    low, high = band
    nyquist = sfreq / 2
    if high < nyquist * 0.95:
        return butter(2, [low, high], btype="bandpass", fs=sfreq, output="sos")
    return butter(2, low, btype="highpass", fs=sfreq, output="sos")


def display_filter(data: np.ndarray, sfreq: float, channels: Sequence[str], kind: str = "aasm") -> np.ndarray:
    """Filter epochs for display.

    Parameters
    ----------
    data : np.ndarray, shape (n_epochs, n_channels, n_times)
        Epochs in µV.
    sfreq : float
        Sampling rate in Hz.
    channels : sequence of str
        Channel labels, one per ``data`` channel (they choose the band, :func:`channel_kind`).
    kind : {'none', 'aasm'}
        ``'none'`` returns ``data`` unchanged.

    Returns
    -------
    np.ndarray, same shape, float32
    """
    check_option("display_filter", kind, DISPLAY_FILTERS, where="display_filter")
    x = np.asarray(data, dtype=np.float32)
    if kind == "none" or x.size == 0:
        return x
    if x.ndim != 3 or x.shape[1] != len(channels):
        raise ValueError(f"display_filter: data must be (n_epochs, {len(channels)} channels, n_times), got {x.shape}")
    out = np.empty_like(x)
    for c, name in enumerate(channels):
        sos = _sos(AASM_BANDS[channel_kind(name)], float(sfreq))
        out[:, c, :] = sosfiltfilt(sos, x[:, c, :].astype(np.float64), axis=-1)
    return out
