"""The template generator's signals: textbook stage signatures on a 1/f background.

Split from :mod:`eeg_vlm.dataset.synthetic` (which assembles nights and writes the files):
band-limited and pink noise, per-stage amplitude envelopes with per-epoch jitter, and the
transient events of each stage (blinks and saccades, vertex waves, spindles, K-complexes,
slow waves, sawtooth waves, rapid eye movements, EMG twitches).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
from scipy import signal as _sig
from scipy.special import expit

if TYPE_CHECKING:
    from eeg_vlm.dataset.synthetic import SubjectParams

logger = logging.getLogger(__name__)

__all__ = ["CHANNELS", "EPOCH_S"]

#: Channel labels written to the PSG files, in file order (Sleep-EDF spellings).
CHANNELS: tuple[str, ...] = ("EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal", "EMG submental")

EPOCH_S = 30.0
#: Physical range written to the EDF header per channel (µV); samples are clipped to it.
_PHYS_RANGE = {"EEG Fpz-Cz": 500.0, "EEG Pz-Oz": 500.0, "EOG horizontal": 1000.0, "EMG submental": 250.0}

# Per-stage standard deviations (µV) of the continuous components on Fpz-Cz before
# subject scaling. Raw R&K labels: '3' and '4' are both N3, '4' has more delta.
_STAGE_AMPS: dict[str, dict[str, float]] = {
    #        alpha  theta  delta  beta  emg
    "W": dict(alpha=11.0, theta=3.0, delta=4.0, beta=4.0, emg=18.0),
    "1": dict(alpha=3.0, theta=9.0, delta=7.0, beta=2.5, emg=10.0),
    "2": dict(alpha=1.5, theta=6.0, delta=12.0, beta=2.0, emg=7.0),
    "3": dict(alpha=1.0, theta=5.0, delta=40.0, beta=1.5, emg=5.5),
    "4": dict(alpha=1.0, theta=5.0, delta=55.0, beta=1.5, emg=5.0),
    "R": dict(alpha=2.0, theta=8.5, delta=5.0, beta=3.0, emg=2.2),
    "?": dict(alpha=6.0, theta=4.0, delta=5.0, beta=4.0, emg=15.0),
}
#: How strongly each component shows on Pz-Oz relative to Fpz-Cz (alpha is posterior).
_PZ_GAIN = dict(alpha=1.8, theta=0.9, delta=0.65, beta=0.8)



# ----------------------------------------------------------------------------- signals
def _band_noise(n: int, sfreq: float, lo: float, hi: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance Gaussian noise band-limited to ``[lo, hi]`` Hz (smooth edges)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sfreq)
    width = max(0.15, 0.1 * (hi - lo))
    gain = expit((f - lo) / (0.25 * width)) * expit((hi - f) / (0.25 * width))
    x = np.fft.irfft(spec * gain, n)
    return x / (x.std() + 1e-12)


def _pink_noise(n: int, sfreq: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance 1/f noise between 0.3 Hz and 40 Hz."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sfreq)
    gain = np.where((f > 0.3) & (f < 40.0), 1.0 / np.sqrt(np.maximum(f, 0.3)), 0.0)
    x = np.fft.irfft(spec * gain, n)
    return x / (x.std() + 1e-12)


def _envelope(per_epoch: np.ndarray, n_per_epoch: int, smooth: int) -> np.ndarray:
    """Repeat per-epoch amplitudes to samples and smooth transitions (moving average)."""
    x = np.repeat(per_epoch.astype(float), n_per_epoch)
    if smooth <= 1:
        return x
    c = np.cumsum(np.concatenate([np.full(smooth // 2, x[0]), x, np.full(smooth - smooth // 2, x[-1])]))
    return (c[smooth:] - c[:-smooth])[: len(x)] / smooth


def _add(x: np.ndarray, start: int, wave: np.ndarray) -> None:
    """Add ``wave`` into ``x`` at ``start`` (clipped to the array)."""
    end = min(len(x), start + len(wave))
    if start < end:
        x[start:end] += wave[: end - start]


def _events(labels: list[str], sfreq: float, p: SubjectParams, rng: np.random.Generator,
            fpz: np.ndarray, pz: np.ndarray, eog: np.ndarray, emg: np.ndarray, tone: np.ndarray,
            open_eyes: np.ndarray) -> None:
    """Place transient events (spindles, K-complexes, vertex waves, sawtooth waves, eye
    movements, blinks, twitches) epoch by epoch, in place."""
    n_ep = int(round(EPOCH_S * sfreq))
    g = p.eeg_gain
    for i, lab in enumerate(labels):
        base = i * n_ep

        def at() -> int:
            return base + int(rng.integers(0, n_ep))

        if lab in ("2", "3", "4"):
            for _ in range(int(rng.poisson(2.6 if lab == "2" else 0.7))):  # spindles
                dur = rng.uniform(0.5, 2.0)
                t = np.arange(int(dur * sfreq)) / sfreq
                f = float(np.clip(p.spindle_hz + rng.normal(0, 0.6), 11.0, 16.0))
                w = g * rng.uniform(12, 30) * np.hanning(len(t)) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3))
                s = at()
                _add(fpz, s, 0.8 * w)
                _add(pz, s, w)
        if lab == "2":
            for _ in range(int(rng.poisson(0.9))):  # K-complexes
                t = np.arange(int(1.5 * sfreq)) / sfreq
                a = g * rng.uniform(70, 150)
                w = -a * np.exp(-((t - 0.3) / 0.09) ** 2) + 0.6 * a * np.exp(-((t - 0.75) / 0.2) ** 2)
                s = at()
                _add(fpz, s, w)
                _add(pz, s, 0.55 * w)
        if lab == "1":
            for _ in range(int(rng.poisson(0.9))):  # vertex sharp waves
                t = np.arange(int(0.6 * sfreq)) / sfreq
                w = -g * rng.uniform(35, 75) * np.exp(-((t - 0.2) / 0.07) ** 2)
                s = at()
                _add(fpz, s, 0.7 * w)
                _add(pz, s, 0.45 * w)
            if rng.random() < 0.7:  # slow rolling eye movements
                t = np.arange(n_ep) / sfreq
                w = p.eog_gain * rng.uniform(40, 100) * np.sin(2 * np.pi * rng.uniform(0.15, 0.4) * t + rng.uniform(0, 6.3))
                _add(eog, base, w)
                _add(fpz, base, 0.15 * w)
        if lab == "R":
            for _ in range(int(rng.poisson(1.0))):  # sawtooth wave trains
                dur = rng.uniform(1.0, 3.0)
                t = np.arange(int(dur * sfreq)) / sfreq
                w = g * rng.uniform(20, 40) * _sig.sawtooth(2 * np.pi * rng.uniform(2.0, 5.0) * t, width=0.85)
                w *= np.hanning(len(t)) ** 0.3
                s = at()
                _add(fpz, s, w)
                _add(pz, s, 0.6 * w)
            if rng.random() < 0.65:  # phasic REM: a burst of rapid eye movements
                start = at()
                for _ in range(int(rng.integers(2, 8))):
                    _add_saccade(eog, fpz, start + int(rng.integers(0, int(4 * sfreq))), sfreq, p, rng)
            for _ in range(int(rng.poisson(0.8))):  # muscle twitches on an atonic chin
                m = int(rng.uniform(0.1, 0.3) * sfreq)
                s = at()
                _add(emg, s, rng.standard_normal(m) * 6.0 * tone[min(s, len(tone) - 1)])
        if lab == "W":
            eyes_open = bool(open_eyes[i])
            for _ in range(int(rng.poisson(4.0 if eyes_open else 1.2))):  # blinks
                t = np.arange(int(0.6 * sfreq)) / sfreq
                w = p.eog_gain * rng.uniform(120, 280) * np.exp(-((t - 0.25) / 0.08) ** 2)
                s = at()
                _add(eog, s, w)
                _add(fpz, s, 0.45 * w)
            for _ in range(int(rng.poisson(5.0 if eyes_open else 1.0))):  # saccades
                _add_saccade(eog, fpz, at(), sfreq, p, rng)


def _add_saccade(eog: np.ndarray, fpz: np.ndarray, start: int, sfreq: float, p: SubjectParams,
                 rng: np.random.Generator) -> None:
    """A fast eye movement: a steep step decaying with the 0.5-Hz high-pass of PSG amplifiers."""
    t = np.arange(int(1.5 * sfreq)) / sfreq
    a = p.eog_gain * rng.uniform(60, 160) * rng.choice((-1.0, 1.0))
    w = a / (1.0 + np.exp(-(t - 0.05) / 0.012)) * np.exp(-t / 0.45)
    _add(eog, start, w)
    _add(fpz, start, 0.25 * w)


def _render_night(labels: list[str], sfreq: float, p: SubjectParams, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Build the four channels (µV, float32) for a hypnogram of R&K labels."""
    n_ep = int(round(EPOCH_S * sfreq))
    n = len(labels) * n_ep
    jit = {k: np.exp(rng.normal(0, 0.35, len(labels))) for k in ("alpha", "theta", "delta", "beta", "emg")}
    amps = {k: np.array([_STAGE_AMPS[lab][k] for lab in labels]) * jit[k] for k in jit}
    drowsy = rng.random(len(labels))
    # N1 often keeps wake's alpha (drowsy, eyes closed) and drowsy wake gains theta and
    # loses alpha: the two overlap, as they do for human scorers
    amps["alpha"] *= np.array([rng.uniform(1.5, 3.5) if lab == "1" and d < 0.5 else 1.0
                               for lab, d in zip(labels, drowsy)])
    is_drowsy_w = np.array([lab == "W" and d < 0.25 for lab, d in zip(labels, drowsy)])
    amps["theta"] *= np.where(is_drowsy_w, 2.5, 1.0)
    amps["alpha"] *= np.where(is_drowsy_w, 0.5, 1.0)
    # light N3 ('3') ranges from barely above N2 to deep; N2 sometimes carries some delta
    amps["delta"] *= np.array([rng.uniform(0.7, 1.1) if lab == "3" else rng.uniform(1.0, 1.8) if lab == "2" and d < 0.2
                               else 1.0 for lab, d in zip(labels, drowsy)])
    # eyes-open wake has little alpha (and more blinks and saccades, see _events)
    open_eyes = np.array([lab == "W" and not dw and rng.random() < 0.35 for lab, dw in zip(labels, is_drowsy_w)])
    amps["alpha"] *= np.where(open_eyes, 0.25, 1.0)
    smooth = int(2 * sfreq)
    env = {k: _envelope(v, n_ep, smooth) for k, v in amps.items()}
    nyq = sfreq / 2.0

    def eeg(gain: dict[str, float] | None) -> np.ndarray:
        gain = gain or {}
        x = p.noise_uv * _pink_noise(n, sfreq, rng)
        bands = dict(alpha=(p.alpha_hz - 1.0, p.alpha_hz + 1.0), theta=(4.0, 7.0), delta=(0.5, 2.0),
                     beta=(15.0, min(25.0, 0.9 * nyq)))
        for k, (lo, hi) in bands.items():
            x += p.eeg_gain * gain.get(k, 1.0) * env[k] * _band_noise(n, sfreq, lo, hi, rng)
        return x

    fpz = eeg(None)
    pz = eeg(_PZ_GAIN)
    eog = 8.0 * _pink_noise(n, sfreq, rng) + 0.35 * env["delta"] * _band_noise(n, sfreq, 0.5, 2.0, rng)
    tone = p.emg_gain * env["emg"]
    emg = tone * _band_noise(n, sfreq, 10.0, min(45.0, 0.95 * nyq), rng)
    _events(labels, sfreq, p, rng, fpz, pz, eog, emg, tone, open_eyes)
    out = {}
    for name, x in zip(CHANNELS, (fpz, pz, eog, emg)):
        r = _PHYS_RANGE[name]
        out[name] = np.clip(x, -r, r).astype(np.float32)
    return out
