"""Measures of one sleep epoch against the AASM criteria: band powers and graphoelements.

Every detector works on signals in µV at one sampling rate and returns plain numbers or
small event dataclasses. The algorithms follow the published descriptions (Welch band
powers; spindles by sigma-band envelope with relative-power and correlation checks, in the
spirit of Lacourse et al. 2019 / YASA; slow waves by zero crossings, Massimini et al. 2004;
K-complexes as isolated large biphasic waves; rapid eye movements as steep, large EOG
deflections) and are written here on numpy/scipy alone.

The batched entry point :func:`describe_epochs` filters all epochs of a night at once
along the last axis and then extracts events epoch by epoch.

References
----------
Berry RB et al. The AASM Manual for the Scoring of Sleep and Associated Events, v2.6.
Lacourse K et al. (2019). A sleep spindle detection algorithm that emulates human expert
spindle scoring. J Neurosci Methods 316:3-11.
Massimini M et al. (2004). The sleep slow oscillation as a traveling wave. J Neurosci 24.
"""

from __future__ import annotations

from eeg_vlm.reasoning.detectors.bands import BANDS, TOTAL_BAND, band_powers
from eeg_vlm.reasoning.detectors.describe import EpochDescription, channel_role, describe_epoch, describe_epochs
from eeg_vlm.reasoning.detectors.emg import emg_tone
from eeg_vlm.reasoning.detectors.eye_movements import EyeMovement, detect_rems
from eeg_vlm.reasoning.detectors.filters import bandpass
from eeg_vlm.reasoning.detectors.slow_waves import KComplex, SlowWave, detect_k_complexes, detect_slow_waves, slow_wave_fraction
from eeg_vlm.reasoning.detectors.spindles import Spindle, detect_spindles

__all__ = [
    "BANDS",
    "TOTAL_BAND",
    "Spindle",
    "KComplex",
    "SlowWave",
    "EyeMovement",
    "EpochDescription",
    "bandpass",
    "band_powers",
    "detect_spindles",
    "detect_slow_waves",
    "slow_wave_fraction",
    "detect_k_complexes",
    "detect_rems",
    "emg_tone",
    "channel_role",
    "describe_epoch",
    "describe_epochs",
]
