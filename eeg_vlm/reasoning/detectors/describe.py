"""Everything measured on an epoch: channel roles, :class:`EpochDescription`, batched description.

:func:`describe_epochs` filters all epochs of a night at once along the last axis and then
extracts events epoch by epoch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from eeg_vlm.reasoning.detectors._common import _check_sfreq
from eeg_vlm.reasoning.detectors.bands import band_powers
from eeg_vlm.reasoning.detectors.emg import emg_tone
from eeg_vlm.reasoning.detectors.eye_movements import EyeMovement, _rems_one
from eeg_vlm.reasoning.detectors.filters import bandpass
from eeg_vlm.reasoning.detectors.slow_waves import KComplex, SlowWave, _k_complexes_one, _slow_waves_one, slow_wave_fraction
from eeg_vlm.reasoning.detectors.spindles import Spindle, _spindles_batch
from eeg_vlm.io.record import CHANNEL_ALIASES, normalize_channel_name

__all__ = [
    "EpochDescription",
    "channel_role",
    "describe_epochs",
    "describe_epoch",
]


@dataclass
class EpochDescription:
    """Everything measured on one epoch.

    Attributes
    ----------
    duration_s : float
        Epoch length in seconds.
    eeg, eog, emg : str or None
        The channels the measures were taken on (``None``: not available).
    relative_power : dict of str to float
        Share of 0.5-30 Hz power per band of :data:`BANDS` (sums to 1).
    amplitude_uv : float
        RMS of the EEG around its mean, in µV.
    spindles, k_complexes, slow_waves : list
        Events on the EEG channel.
    slow_wave_fraction : float
        Share of the epoch covered by slow waves of at least 75 µV (AASM N3: >= 0.20).
    max_slow_wave_uv : float
        Largest peak-to-peak amplitude of any 0.5-2 Hz wave, in µV (0 when none).
    eye_movements : list of EyeMovement or None
        ``None`` when no EOG channel exists.
    emg_rms_uv : float or None
        Chin EMG tone (see :func:`emg_tone`), in µV; ``None`` without EMG.
    emg_relative : float or None
        ``emg_rms_uv`` over the night's median tone, when a reference was available.
    """

    duration_s: float
    eeg: str | None
    relative_power: dict[str, float]
    amplitude_uv: float
    spindles: list[Spindle] = field(default_factory=list)
    k_complexes: list[KComplex] = field(default_factory=list)
    slow_waves: list[SlowWave] = field(default_factory=list)
    slow_wave_fraction: float = 0.0
    max_slow_wave_uv: float = 0.0
    eog: str | None = None
    eye_movements: list[EyeMovement] | None = None
    emg: str | None = None
    emg_rms_uv: float | None = None
    emg_relative: float | None = None

    @property
    def n_spindles(self) -> int:
        return len(self.spindles)

    @property
    def n_k_complexes(self) -> int:
        return len(self.k_complexes)

    @property
    def n_eye_movements(self) -> int | None:
        return None if self.eye_movements is None else len(self.eye_movements)


def channel_role(name: str) -> str:
    """``'eog'``, ``'emg'`` or ``'eeg'`` for a channel name (alias table and keywords)."""
    key = normalize_channel_name(name)
    for role in ("EOG", "EMG"):
        names = {normalize_channel_name(a) for a in (role, *CHANNEL_ALIASES[role])}
        if key in names or role.lower() in key:
            return role.lower()
    if "chin" in key:
        return "emg"
    return "eeg"


def _pick(channels: Sequence[str], wanted: str | None, role: str, required: bool) -> int | None:
    if wanted is not None:
        if wanted in channels:
            return list(channels).index(wanted)
        norm = [normalize_channel_name(c) for c in channels]
        if normalize_channel_name(wanted) in norm:
            return norm.index(normalize_channel_name(wanted))
        from eeg_vlm.checks import suggest

        listed = ", ".join(repr(c) for c in channels)
        raise ValueError(f"describe_epochs: {role.upper()} channel {wanted!r} not found; present: {listed}{suggest(wanted, channels)}")
    for i, c in enumerate(channels):
        if channel_role(c) == role:
            return i
    if required:
        raise ValueError(f"describe_epochs: no EEG channel among {', '.join(repr(c) for c in channels)}")
    return None


def describe_epochs(
    data: np.ndarray,
    channels: Sequence[str],
    sfreq: float,
    eeg: str | None = None,
    eog: str | None = None,
    emg: str | None = None,
    emg_reference: float | None = None,
) -> list[EpochDescription]:
    """Describe many epochs of one night at once.

    Parameters
    ----------
    data : np.ndarray
        Signals in µV, shape ``(n_epochs, n_channels, n_samples)``.
    channels : sequence of str
        Channel names, in ``data``'s channel order.
    sfreq : float
        Sampling rate in Hz (all channels).
    eeg, eog, emg : str, optional
        Channels to use. By default the first channel whose name reads as EEG, EOG or EMG
        (:func:`channel_role`); EOG and EMG measures are skipped when none exists.
    emg_reference : float, optional
        The night's typical EMG tone in µV. By default the median tone over ``data``
        when it holds at least 10 epochs; otherwise relative tone is not given.

    Returns
    -------
    list of EpochDescription
        One per epoch, in order.
    """
    sfreq = _check_sfreq(sfreq, "describe_epochs")
    data = np.asarray(data)
    if data.ndim != 3 or data.shape[1] != len(channels):
        raise ValueError(
            f"describe_epochs: data must have shape (n_epochs, {len(channels)} channels, n_samples), got {data.shape}"
        )
    n, _, t = data.shape
    duration = t / sfreq
    i_eeg = _pick(channels, eeg, "eeg", required=True)
    i_eog = _pick(channels, eog, "eog", required=False)
    i_emg = _pick(channels, emg, "emg", required=False)
    x = data[:, i_eeg, :].astype(np.float64)
    x = x - x.mean(axis=-1, keepdims=True)
    rel = band_powers(x, sfreq)
    amp = np.sqrt(np.mean(x**2, axis=-1))
    spindles = (
        _spindles_batch(x, sfreq, (12.0, 15.0), (1.0, 30.0), (0.5, 2.0), 3.0, 1.5, 0.2, 0.65, 0.1)
        if sfreq >= 2.2 * 15.0
        else [[] for _ in range(n)]
    )
    slow = bandpass(x, sfreq, 0.3, 2.0, order=2)
    kband = bandpass(x, sfreq, 0.3, 3.0, order=2)
    eog_f = bandpass(data[:, i_eog, :].astype(np.float64), sfreq, 0.5, 5.0, order=2) if i_eog is not None else None
    tones = emg_tone(data[:, i_emg, :].astype(np.float64), sfreq) if i_emg is not None else None
    ref = emg_reference
    if tones is not None and ref is None and n >= 10:
        ref = float(np.median(tones))
    out: list[EpochDescription] = []
    for i in range(n):
        sw, max_sw = _slow_waves_one(slow[i], sfreq, (0.5, 2.0), 75.0)
        d = EpochDescription(
            duration_s=duration,
            eeg=channels[i_eeg],
            relative_power={k: float(v[i]) for k, v in rel.items()},
            amplitude_uv=float(amp[i]),
            spindles=spindles[i],
            k_complexes=_k_complexes_one(kband[i], sfreq, (0.5, 1.5), 75.0, 3.0),
            slow_waves=sw,
            slow_wave_fraction=slow_wave_fraction(sw, duration),
            max_slow_wave_uv=max_sw,
        )
        if eog_f is not None:
            d.eog = channels[i_eog]
            d.eye_movements = _rems_one(eog_f[i], sfreq, 50.0, 0.5, 400.0, 9.0)
        if tones is not None:
            d.emg = channels[i_emg]
            d.emg_rms_uv = float(tones[i])
            d.emg_relative = float(tones[i] / ref) if ref else None
        out.append(d)
    return out


def describe_epoch(
    signals: Mapping[str, np.ndarray],
    sfreq: float,
    eeg: str | None = None,
    eog: str | None = None,
    emg: str | None = None,
    emg_reference: float | None = None,
) -> EpochDescription:
    """Describe one epoch.

    Parameters
    ----------
    signals : mapping of str to np.ndarray
        Channel name -> samples in µV, each shape ``(n_samples,)``, all at ``sfreq``.
    sfreq : float
        Sampling rate in Hz.
    eeg, eog, emg : str, optional
        Channels to use (see :func:`describe_epochs`).
    emg_reference : float, optional
        The night's median EMG tone in µV, for a relative tone.

    Returns
    -------
    EpochDescription
    """
    names = list(signals)
    arrays = [np.asarray(signals[c], dtype=np.float64) for c in names]
    lengths = {a.shape for a in arrays}
    if len(lengths) != 1 or len(arrays[0].shape) != 1:
        raise ValueError(f"describe_epoch: channels must be 1-D and of one length, got shapes {sorted(lengths)}")
    return describe_epochs(np.stack(arrays)[None], names, sfreq, eeg, eog, emg, emg_reference)[0]
