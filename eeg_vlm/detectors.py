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

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import signal
from scipy.ndimage import uniform_filter1d

from eeg_vlm.io.record import CHANNEL_ALIASES, normalize_channel_name

logger = logging.getLogger(__name__)

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


# ----------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Spindle:
    """One sleep spindle.

    Attributes
    ----------
    start_s, duration_s : float
        Onset from the start of the epoch and length, in seconds.
    frequency_hz : float
        Mean oscillation frequency (zero crossings of the sigma-band signal), in Hz.
    amplitude_uv : float
        Peak-to-peak amplitude of the sigma-band signal within the event, in µV.
    """

    start_s: float
    duration_s: float
    frequency_hz: float
    amplitude_uv: float


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


# ----------------------------------------------------------------------------- helpers


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


def _runs(mask: np.ndarray) -> np.ndarray:
    """Start/stop index pairs ``(n_runs, 2)`` of the True runs of a 1-D mask (stop exclusive)."""
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return np.stack([np.flatnonzero(d == 1), np.flatnonzero(d == -1)], axis=1)


def _fill_gaps(mask: np.ndarray, max_gap: int) -> np.ndarray:
    """Join True runs separated by at most ``max_gap`` False samples."""
    runs = _runs(mask)
    out = mask.copy()
    for (_, stop), (start, _) in zip(runs[:-1], runs[1:]):
        if start - stop <= max_gap:
            out[stop:start] = True
    return out


def _moving_mean(x: np.ndarray, n: int) -> np.ndarray:
    return uniform_filter1d(x, size=max(int(n), 1), axis=-1, mode="reflect")


def _moving_corr(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Pearson correlation of ``a`` and ``b`` in centred windows of ``n`` samples."""
    ma, mb = _moving_mean(a, n), _moving_mean(b, n)
    cov = _moving_mean(a * b, n) - ma * mb
    va = np.maximum(_moving_mean(a * a, n) - ma * ma, 0.0)
    vb = np.maximum(_moving_mean(b * b, n) - mb * mb, 0.0)
    den = np.sqrt(va * vb)
    return np.where(den > 0, cov / np.where(den > 0, den, 1.0), 0.0)


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


# ----------------------------------------------------------------------------- spindles


def _spindles_batch(
    x: np.ndarray,
    sfreq: float,
    freq: tuple[float, float],
    broad: tuple[float, float],
    duration: tuple[float, float],
    threshold: float,
    extent: float,
    rel_power: float,
    corr: float,
    min_core: float,
) -> list[list[Spindle]]:
    sig = bandpass(x, sfreq, freq[0], freq[1], order=4)
    bb = bandpass(x, sfreq, broad[0], broad[1], order=4)
    env = np.abs(signal.hilbert(sig, axis=-1))
    env = _moving_mean(env, round(0.1 * sfreq))
    relp = _moving_mean(sig**2, round(1.0 * sfreq)) / np.maximum(_moving_mean(bb**2, round(1.0 * sfreq)), 1e-12)
    mcorr = _moving_corr(sig, bb, round(0.3 * sfreq))
    med = np.median(env, axis=-1, keepdims=True)
    out: list[list[Spindle]] = []
    for i in range(x.shape[0]):
        if not med[i, 0] > 0:
            out.append([])
            continue
        core = (env[i] > threshold * med[i, 0]) & (relp[i] >= rel_power) & (mcorr[i] >= corr)
        core = _fill_gaps(core, int(round(0.1 * sfreq)))
        w_runs = _runs(env[i] > extent * med[i, 0])
        events: list[Spindle] = []
        last_stop = -1
        for start, stop in _runs(core):
            if stop - start < min_core * sfreq:
                continue
            # widen the core to where the envelope falls below the lower threshold
            hit = w_runs[(w_runs[:, 0] <= start) & (w_runs[:, 1] >= stop)]
            a, b = (int(hit[0, 0]), int(hit[0, 1])) if len(hit) else (int(start), int(stop))
            if a < last_stop:  # two cores inside one wide run: one spindle
                continue
            last_stop = b
            dur = (b - a) / sfreq
            if not (duration[0] <= dur <= duration[1]):
                continue
            seg = sig[i, a:b]
            zc = np.flatnonzero(np.signbit(seg[:-1]) != np.signbit(seg[1:]))
            f_hz = (len(zc) - 1) / (2.0 * (zc[-1] - zc[0]) / sfreq) if len(zc) >= 3 else float("nan")
            events.append(Spindle(a / sfreq, dur, float(f_hz), float(np.ptp(seg))))
        out.append(events)
    return out


def detect_spindles(
    x: np.ndarray,
    sfreq: float,
    freq: tuple[float, float] = (12.0, 15.0),
    broad: tuple[float, float] = (1.0, 30.0),
    duration: tuple[float, float] = (0.5, 2.0),
    threshold: float = 3.0,
    extent: float = 1.5,
    rel_power: float = 0.2,
    corr: float = 0.65,
    min_core: float = 0.1,
) -> list[Spindle]:
    """Detect sleep spindles on one EEG epoch.

    A sample belongs to a spindle core when three conditions hold together: the
    sigma-band envelope (Hilbert, smoothed over 0.1 s) exceeds ``threshold`` times its
    median over the epoch; the sigma band carries at least ``rel_power`` of the
    broadband power in a moving 1-s window; and the sigma-band signal correlates with
    the broadband signal at ``corr`` or more in a moving 0.3-s window (the last two as in
    Lacourse et al.). The three must hold together for ``min_core`` seconds (more than
    one sigma cycle). A core is widened to where the envelope falls below ``extent`` times the median;
    events of ``duration`` are kept.

    Parameters
    ----------
    x : np.ndarray
        EEG in µV, shape ``(n_samples,)``.
    sfreq : float
        Sampling rate in Hz (at least 2.2x ``freq[1]``).
    freq : (float, float)
        Spindle band in Hz (default 12-15).
    broad : (float, float)
        Broadband reference in Hz (default 1-30).
    duration : (float, float)
        Allowed spindle length in seconds (default 0.5-2).
    threshold, extent : float
        Envelope thresholds as multiples of the epoch's median envelope.
    rel_power, corr : float
        Relative sigma power and sigma/broadband correlation thresholds.
    min_core : float
        Minimum time in seconds all three conditions hold (default 0.1).

    Returns
    -------
    list of Spindle
        In time order.
    """
    sfreq = _check_sfreq(sfreq, "detect_spindles")
    x2 = _as_2d(x, "detect_spindles")
    if sfreq < 2.2 * freq[1]:
        logger.debug("detect_spindles: %.0f Hz is too low for a %.0f Hz band; none detected", sfreq, freq[1])
        return []
    return _spindles_batch(x2, sfreq, freq, broad, duration, threshold, extent, rel_power, corr, min_core)[0]


# ----------------------------------------------------------------------------- slow waves


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
    sfreq = _check_sfreq(sfreq, "detect_slow_waves")
    y = bandpass(_as_2d(x, "detect_slow_waves"), sfreq, band[0], band[1], order=2)[0]
    return _slow_waves_one(y, sfreq, freq, min_ptp)[0]


def slow_wave_fraction(waves: Sequence[SlowWave], duration_s: float) -> float:
    """Share of an epoch of ``duration_s`` seconds covered by ``waves`` (0..1)."""
    if duration_s <= 0:
        raise ValueError(f"slow_wave_fraction: duration must be > 0 s, got {duration_s!r}")
    return float(min(sum(w.duration_s for w in waves) / duration_s, 1.0))


# ----------------------------------------------------------------------------- K-complexes


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
    sfreq = _check_sfreq(sfreq, "detect_k_complexes")
    y = bandpass(_as_2d(x, "detect_k_complexes"), sfreq, band[0], band[1], order=2)[0]
    return _k_complexes_one(y, sfreq, duration, min_ptp, standout)


# ----------------------------------------------------------------------------- eye movements


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
    sfreq = _check_sfreq(sfreq, "detect_rems")
    y = bandpass(_as_2d(x, "detect_rems"), sfreq, band[0], band[1], order=2)[0]
    return _rems_one(y, sfreq, min_amplitude, max_rise, min_slope, standout)


# ----------------------------------------------------------------------------- EMG


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


# ----------------------------------------------------------------------------- description


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
