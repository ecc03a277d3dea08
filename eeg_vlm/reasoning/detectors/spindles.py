"""Sleep spindle detection: sigma-band envelope with relative-power and correlation checks.

In the spirit of Lacourse et al. (2019), A sleep spindle detection algorithm that emulates
human expert spindle scoring, J Neurosci Methods 316:3-11 (as in YASA).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import signal

from eeg_vlm.reasoning.detectors._common import _as_2d, _check_sfreq, _moving_mean
from eeg_vlm.reasoning.detectors.filters import bandpass

logger = logging.getLogger(__name__)

__all__ = [
    "Spindle",
    "detect_spindles",
]


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


def _moving_corr(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Pearson correlation of ``a`` and ``b`` in centred windows of ``n`` samples."""
    ma, mb = _moving_mean(a, n), _moving_mean(b, n)
    cov = _moving_mean(a * b, n) - ma * mb
    va = np.maximum(_moving_mean(a * a, n) - ma * ma, 0.0)
    vb = np.maximum(_moving_mean(b * b, n) - mb * mb, 0.0)
    den = np.sqrt(va * vb)
    return np.where(den > 0, cov / np.where(den > 0, den, 1.0), 0.0)


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
