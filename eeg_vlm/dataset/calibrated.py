"""Synthetic nights calibrated to real ones (``eeg-vlm synth --generator calibrated``).

The template generator (:mod:`eeg_vlm.dataset.synthetic`) writes textbook nights from a
hand-written cycle and hand-set amplitudes. This one takes both from real data, through a
small shipped file (``data/calibration.json``) built by

    python -m eeg_vlm.dataset.calibrated ../shared/data --out eeg_vlm/dataset/data/calibration.json

- **Night structure** (``structure``): a semi-Markov chain fitted on the 197 Sleep-EDF
  expert hypnograms. For each quarter of the night, how often a run of one stage is
  followed by a run of another, and the run lengths of each stage (30-s epochs); a night
  starts awake and draws run after run. Transitions, run durations and time-of-night
  effects (N3 early, REM late) are the hypnograms'.
- **Signal** (``spectra``): per stage, the power spectrum (0.5-45 Hz, Welch, 4-s windows)
  of every real scored 30-s epoch — so both spectral shape and amplitude distribution are
  the real ones: DREAMS
  excerpts 1-3 (central EEG), the Sleep-EDF excerpt (Fpz-Cz, wake) and the YASA N3 epoch.
  Excerpts 4 and 5 are left out so that a benchmark can test on them. The EEG of each
  epoch is Gaussian noise shaped to the spectrum of a real epoch of its stage drawn at
  random (the 1/f background comes with it), times a per-epoch factor (log-normal, sd
  0.15), cross-faded over 2 s between epochs. No REM epoch is in these recordings: REM takes N1's spectrum and amplitude
  (both are low-voltage mixed-frequency EEG); this is recorded in the file.
- **Subjects**: a log-normal amplitude gain (sd 0.25) and an alpha frequency between 8.5
  and 11.5 Hz (the 7-14 Hz part of the spectrum is shifted accordingly).
- **Artefacts**: movement (1-6 s of large slow drift plus broadband bursts, mostly in wake),
  electrode pops (a step decaying over ~0.3 s, about 2 per hour) and 50-Hz line noise
  (where the rate allows it).

The EOG and EMG channels are the template's (drawn for the same hypnogram); the two EEG
channels are replaced whole, so the images of Fpz-Cz (the one the vision module sees)
carry the real-data statistics: spindles and slow waves enter as the band power real
N2 and N3 epochs have, not as drawn events.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from importlib import resources
from pathlib import Path

import numpy as np

from eeg_vlm.stages import STAGES

logger = logging.getLogger(__name__)

__all__ = ["GENERATORS", "load_calibration", "calibrated_hypnogram", "calibrated_eeg", "build_calibration",
           "band_powers", "BANDS", "main"]

#: ``--generator`` choices of ``eeg-vlm synth``.
GENERATORS: tuple[str, ...] = ("template", "calibrated")
FORMAT = "eeg-vlm synthetic calibration 1"
CALIBRATION = "calibration.json"
_F_LO, _F_HI, _DF = 0.5, 45.0, 0.5
#: Bands of the calibration check, Hz.
BANDS: dict[str, tuple[float, float]] = {"delta": (0.5, 4.0), "theta": (4.0, 8.0), "alpha": (8.0, 12.0),
                                         "sigma": (12.0, 15.0), "beta": (15.0, 30.0)}
_RK = {"W": "W", "N1": "1", "N2": "2", "N3": "3", "REM": "R"}
_MAX_RUN = 240


def band_powers(x: np.ndarray, sfreq: float) -> dict[str, float]:
    """Absolute band powers (µV²) of one epoch by Welch (4-s windows)."""
    from scipy.signal import welch

    f, p = welch(np.asarray(x, dtype=np.float64), fs=sfreq, nperseg=int(4 * sfreq))
    df = f[1] - f[0]
    return {b: float(p[(f >= lo) & (f < hi)].sum() * df) for b, (lo, hi) in BANDS.items()}


# ----------------------------------------------------------------------------- building
def _structure(folder: Path) -> dict:
    from eeg_vlm.context.transitions import read_stage_lists

    trans = np.zeros((4, 5, 5), dtype=np.int64)
    runs = np.zeros((4, 5, _MAX_RUN), dtype=np.int64)
    for _, night in read_stage_lists(folder):
        codes = [STAGES.index(s) if s is not None else -1 for s in night]
        n = len(codes)
        i = 0
        prev = None
        while i < n:
            j = i
            while j < n and codes[j] == codes[i]:
                j += 1
            q = min(3, 4 * i // max(n, 1))
            if codes[i] >= 0:
                runs[q, codes[i], min(j - i, _MAX_RUN) - 1] += 1
                if prev is not None:
                    trans[q, prev, codes[i]] += 1
                prev = codes[i]
            i = j
    return {"source": folder.resolve().name, "quarters": 4, "run_transitions": trans.tolist(),
            "run_lengths": runs.tolist(), "max_run": _MAX_RUN}


def _real_epochs(data: Path) -> list[tuple[str, np.ndarray, str]]:
    """(stage, 30-s epoch at 100 Hz in µV, source) of the calibration recordings."""
    from eeg_vlm.io import read_dreams, read_edf, read_edf_scoring
    from eeg_vlm.signals.epochs import make_epochs

    out = []
    for i in (1, 2, 3):
        rec = read_dreams(data / "dreams" / f"excerpt{i}.txt", data / "dreams" / f"Hypnogram_excerpt{i}.txt")
        ep = make_epochs(rec, list(rec.channels), sfreq=100.0, trim_wake=None)
        out += [(s, x[0], f"dreams/excerpt{i}.txt") for s, x in zip(ep.stages, ep.data) if s]
    rec = read_edf(data / "sleep-edf" / "short_psg.edf", channels=["Fpz-Cz"])
    rec = type(rec)(**{**rec.__dict__, "scoring": read_edf_scoring(data / "sleep-edf" / "SC4001EC-Hypnogram.edf",
                                                                   reference_start=rec.meta.get("start"))})
    ep = make_epochs(rec, ["Fpz-Cz"], sfreq=100.0, trim_wake=None)
    out += [(s, x[0], "sleep-edf/short_psg.edf") for s, x in zip(ep.stages, ep.data) if s]
    n3 = np.loadtxt(data / "yasa" / "data_N3_no-spindles_30sec_100Hz.txt")
    out.append(("N3", n3[:3000], "yasa/data_N3_no-spindles_30sec_100Hz.txt"))
    return out


def build_calibration(data: str | Path) -> dict:
    """The calibration file's content from ``data`` (the ``../shared/data`` layout)."""
    from scipy.signal import welch

    data = Path(data)
    epochs = _real_epochs(data)
    grid = np.arange(_F_LO, _F_HI + 1e-9, _DF)
    spectra: dict[str, dict] = {}
    for stage in STAGES:
        xs = [x - x.mean() for s, x, _ in epochs if s == stage]
        if not xs:
            continue
        f, p = welch(np.array(xs), fs=100.0, nperseg=400, axis=-1)
        logp = np.log10(np.maximum(np.array([np.interp(grid, f, row) for row in p]), 1e-6))  # (n, F)
        spectra[stage] = {"log10_psd_epochs": np.round(logp, 4).tolist(), "n_epochs": len(xs)}
    if "REM" not in spectra:
        spectra["REM"] = {**spectra["N1"], "n_epochs": 0, "borrowed_from": "N1"}
    sources = sorted({src for _, _, src in epochs})
    return {"format": FORMAT, "freqs_hz": {"start": _F_LO, "stop": _F_HI, "step": _DF}, "spectra": spectra,
            "structure": _structure(data / "sleep-edf-197"),
            "provenance": {"signals": sources, "hypnograms": "sleep-edf-197 (197 nights)",
                           "left_out": ["dreams/excerpt4.txt", "dreams/excerpt5.txt"],
                           "command": "python -m eeg_vlm.dataset.calibrated <shared/data> --out <file>"}}


def load_calibration(path: str | Path | None = None) -> dict:
    """The shipped calibration (or ``path``)."""
    p = Path(str(resources.files("eeg_vlm.dataset") / "data" / CALIBRATION)) if path is None else Path(path)
    d = json.loads(p.read_text(encoding="utf-8"))
    if d.get("format") != FORMAT:
        raise ValueError(f"calibration file {str(p)!r}: format is not {FORMAT!r}")
    return d


# ----------------------------------------------------------------------------- generating
def calibrated_hypnogram(n_epochs: int, rng: np.random.Generator, calibration: dict | None = None) -> list[str]:
    """A night of R&K labels (``'W', '1', '2', '3', 'R'``) from the fitted semi-Markov chain.

    The night starts awake; each run's length comes from its stage's run lengths in the
    current quarter of the night, the next stage from that quarter's run transitions.
    """
    st = (calibration or load_calibration())["structure"]
    trans = np.asarray(st["run_transitions"], dtype=np.float64) + 0.5 * (1 - np.eye(5))[None]
    runs = np.asarray(st["run_lengths"], dtype=np.float64)
    labels: list[str] = []
    stage = 0
    while len(labels) < n_epochs:
        q = min(3, 4 * len(labels) // n_epochs)
        w = runs[q, stage] if runs[q, stage].sum() else runs[:, stage].sum(axis=0)
        length = int(rng.choice(len(w), p=w / w.sum())) + 1
        if stage == 0 and not labels:
            length = max(length, int(rng.integers(10, 40)))  # lights off to sleep onset
        labels += [_RK[STAGES[stage]]] * length
        row = trans[q, stage] * (1 - np.eye(5)[stage])
        stage = int(rng.choice(5, p=row / row.sum()))
    return labels[:n_epochs]


def _shaped_noise(n: int, sfreq: float, log10_psd: np.ndarray, grid: np.ndarray, alpha_shift: float,
                  rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with the one-sided PSD ``10 ** log10_psd`` (µV²/Hz on ``grid``)."""
    f = np.fft.rfftfreq(n, 1.0 / sfreq)
    src = f.copy()
    band = (f >= 7.0) & (f <= 14.0)
    src[band] = f[band] - alpha_shift  # the subject's alpha peak moves by alpha_shift Hz
    psd = 10.0 ** np.interp(src, grid, log10_psd, left=log10_psd[0], right=log10_psd[-1])
    psd[f < 0.3] = 0.0
    spec = (rng.standard_normal(len(f)) + 1j * rng.standard_normal(len(f))) * np.sqrt(psd * sfreq * n / 4.0)
    return np.fft.irfft(spec, n)


def _artefacts(x: np.ndarray, labels: list[str], sfreq: float, rng: np.random.Generator) -> None:
    """Movement, electrode pops and line noise, in place."""
    n_ep = int(30 * sfreq)
    t = np.arange(len(x)) / sfreq
    for e, lab in enumerate(labels):
        if rng.random() < (0.06 if lab == "W" else 0.01):  # movement: slow drift + broadband burst
            dur = int(rng.uniform(1.0, 6.0) * sfreq)
            a = e * n_ep + int(rng.integers(0, max(1, n_ep - dur)))
            win = np.hanning(dur)
            x[a:a + dur] += win * (rng.uniform(80, 300) * np.sin(2 * np.pi * rng.uniform(0.3, 1.0) * t[:dur])
                                   + rng.uniform(20, 60) * rng.standard_normal(dur))
    for _ in range(int(rng.poisson(len(labels) / 60))):  # electrode pops, ~2 per hour
        a = int(rng.integers(0, len(x)))
        tail = np.arange(len(x) - a) / sfreq
        x[a:] += rng.choice([-1, 1]) * rng.uniform(100, 300) * np.exp(-tail / 0.3)
    if sfreq > 110:  # 50-Hz mains, where the rate carries it
        x += rng.uniform(0.5, 4.0) * np.sin(2 * np.pi * 50.0 * t + rng.uniform(0, 2 * np.pi))


def calibrated_eeg(labels: list[str], sfreq: float, rng: np.random.Generator, gain: float = 1.0,
                   alpha_hz: float = 10.0, calibration: dict | None = None, artefacts: bool = True) -> np.ndarray:
    """One EEG channel (µV, float64) for R&K ``labels`` (``'?'`` epochs get wake's statistics).

    Parameters
    ----------
    labels : list of str
        One R&K label per 30-s epoch.
    sfreq : float
        Sampling rate in Hz.
    rng : numpy.random.Generator
    gain : float
        The subject's amplitude factor.
    alpha_hz : float
        The subject's alpha frequency (the calibration's is taken as 10 Hz).
    calibration : dict, optional
        Default: the shipped file.
    artefacts : bool
        Add movement, electrode pops and line noise.
    """
    from eeg_vlm.stages import to_aasm

    cal = calibration or load_calibration()
    fr = cal["freqs_hz"]
    grid = np.arange(fr["start"], fr["stop"] + 1e-9, fr["step"])
    n_ep, fade = int(round(30 * sfreq)), int(round(2 * sfreq))
    out = np.zeros(len(labels) * n_ep + fade)
    ramp = np.sin(np.linspace(0, np.pi / 2, fade)) ** 2
    for e, lab in enumerate(labels):
        stage = to_aasm(f"Sleep stage {lab}") or "W"
        bank = cal["spectra"][stage]["log10_psd_epochs"]
        psd = np.asarray(bank[int(rng.integers(0, len(bank)))])
        x = _shaped_noise(n_ep + fade, sfreq, psd, grid, alpha_hz - 10.0, rng)
        x *= gain * float(np.exp(rng.normal(0.0, 0.15)))
        x[:fade] *= ramp if e else 1.0
        x[-fade:] *= ramp[::-1]
        out[e * n_ep:e * n_ep + n_ep + fade] += x
    out = out[:len(labels) * n_ep]
    if artefacts:
        _artefacts(out, labels, sfreq, rng)
    return out


# ----------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    """Build the calibration file from the real recordings and hypnograms."""
    from ondisk.atomic import write_text_atomic

    ap = argparse.ArgumentParser(prog="python -m eeg_vlm.dataset.calibrated",
                                 description="Fit the calibrated synthetic generator on real data.")
    ap.add_argument("data", help="the shared real-data folder (dreams/, sleep-edf/, yasa/, sleep-edf-197/)")
    ap.add_argument("--out", required=True, help="output JSON")
    args = ap.parse_args(argv)
    try:
        cal = build_calibration(args.data)
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"calibrate: error: {exc}", file=sys.stderr)
        return 1
    write_text_atomic(args.out, json.dumps(cal, indent=1, sort_keys=True) + "\n")
    n = {s: v["n_epochs"] for s, v in cal["spectra"].items()}
    print(f"calibration from {n} real epochs -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
