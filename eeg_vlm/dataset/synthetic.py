"""Synthetic polysomnography: plausible nights, written as Sleep-EDF-style EDF+ files.

The project's demo and tests run on these nights, so they are built to be *learnable but not
trivial*: each stage has its textbook signature (alpha and blinks in W, theta, vertex waves
and slow eye movements in N1, spindles and K-complexes in N2, high-amplitude delta in N3,
sawtooth waves, rapid eye movements and atonia in REM) on top of 1/f background noise, with
per-subject differences in amplitude and alpha frequency and per-epoch jitter, and N1 is
built to overlap with W (residual alpha) and with tonic REM (theta, low tone). The signals
are drawn in :mod:`eeg_vlm.dataset.template_signals`; ``generator='calibrated'`` takes the
night structure and EEG statistics from real data instead (:mod:`eeg_vlm.dataset.calibrated`).

Files follow the Sleep-EDF Expanded cassette layout: ``SC4{ss}{n}E0-PSG.edf`` holding
``'EEG Fpz-Cz'``, ``'EEG Pz-Oz'``, ``'EOG horizontal'`` and ``'EMG submental'`` and
``SC4{ss}{n}EC-Hypnogram.edf``, an EDF+ file of annotations ``'Sleep stage W/1/2/3/4/R/?'``,
one per run of equal stages. Unlike the real files, the EMG channel is the raw 100-Hz
signal rather than Sleep-EDF's 1-Hz envelope: images and signal descriptors need the tone
itself, and a reader resampling a 1-Hz envelope would only smear it.

Everything is deterministic given the seed.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eeg_vlm.checks import check_option
from eeg_vlm.dataset.template_signals import _PHYS_RANGE, CHANNELS, EPOCH_S, _render_night
from eeg_vlm.stages import to_aasm

logger = logging.getLogger(__name__)

__all__ = [
    "CHANNELS",
    "SubjectParams",
    "draw_subject",
    "synth_hypnogram",
    "synth_night",
    "dataset_night",
    "write_night_edf",
    "write_synthetic_dataset",
    "main",
]

_START = _dt.datetime(1989, 4, 24, 22, 0, 0)

@dataclass(frozen=True)
class SubjectParams:
    """Per-subject traits that make nights of different people look different.

    Attributes
    ----------
    eeg_gain : float
        Multiplies every EEG component (skull thickness, age), 0.75-1.3.
    alpha_hz : float
        Posterior dominant rhythm in Hz, 8.5-11.5.
    spindle_hz : float
        Mean sleep-spindle frequency in Hz, 12-14.5.
    emg_gain, eog_gain : float
        Multiply chin EMG tone and eye-movement amplitudes.
    noise_uv : float
        Standard deviation of the 1/f background in µV.
    """

    eeg_gain: float
    alpha_hz: float
    spindle_hz: float
    emg_gain: float
    eog_gain: float
    noise_uv: float


def draw_subject(rng: np.random.Generator) -> SubjectParams:
    """Draw :class:`SubjectParams` from ``rng``."""
    return SubjectParams(
        eeg_gain=float(rng.uniform(0.75, 1.3)),
        alpha_hz=float(rng.uniform(8.5, 11.5)),
        spindle_hz=float(rng.uniform(12.0, 14.5)),
        emg_gain=float(rng.uniform(0.6, 1.5)),
        eog_gain=float(rng.uniform(0.7, 1.3)),
        noise_uv=float(rng.uniform(7.0, 12.0)),
    )


# ----------------------------------------------------------------------------- hypnogram
def synth_hypnogram(n_epochs: int, rng: np.random.Generator) -> list[str]:
    """Draw a night's hypnogram as Sleep-EDF R&K labels, one per 30-s epoch.

    Wake at the start and the end, ~90-min cycles (shorter nights get one shorter cycle) of
    N1 -> N2 -> N3 -> N2 -> REM with N3 (partly stage 4) early and REM growing later, brief
    awakenings, and a few unscored ``'?'`` epochs at the very end.

    Parameters
    ----------
    n_epochs : int
        Number of 30-s epochs (>= 30, i.e. 15 minutes).
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    list of str
        Labels among ``'W', '1', '2', '3', '4', 'R', '?'``.
    """
    if n_epochs < 30:
        raise ValueError(f"synthetic night: n_epochs must be >= 30 (15 min) for a sleep cycle, got {n_epochs}")
    n_unscored = int(rng.integers(1, 4))
    wake_start = max(3, round(n_epochs * rng.uniform(0.06, 0.12)))
    wake_end = max(2, round(n_epochs * rng.uniform(0.03, 0.07)))
    n_sleep = n_epochs - n_unscored - wake_start - wake_end
    n_cycles = max(1, round(n_sleep / 180))
    bounds = np.linspace(0, n_sleep, n_cycles + 1)
    jitter = rng.uniform(-0.08, 0.08, n_cycles + 1) * (n_sleep / n_cycles)
    jitter[0] = jitter[-1] = 0
    edges = np.round(bounds + jitter).astype(int)

    n3_frac = (0.33, 0.24, 0.12, 0.04)
    rem_frac = (0.13, 0.2, 0.27, 0.32)
    sleep: list[str] = []
    for k in range(n_cycles):
        length = int(edges[k + 1] - edges[k])
        f3 = (n3_frac[k] if k < len(n3_frac) else 0.0) * rng.uniform(0.8, 1.2)
        fr = (rem_frac[k] if k < len(rem_frac) else 0.34) * rng.uniform(0.85, 1.15)
        n1 = max(1, round(length * rng.uniform(0.03, 0.08)))
        n3 = round(length * f3)
        rem = max(1, round(length * fr))
        n2 = max(2, length - n1 - n3 - rem)
        n2a = max(1, round(n2 * rng.uniform(0.45, 0.65)))
        n2b = n2 - n2a
        deep = round(n3 * (0.5 if k == 0 else 0.25 if k == 1 else 0.0))
        n3_lab = ["3"] * ((n3 - deep) // 2) + ["4"] * deep + ["3"] * (n3 - deep - (n3 - deep) // 2)
        cycle = ["1"] * n1 + ["2"] * n2a + n3_lab + ["2"] * n2b + ["R"] * rem
        sleep += cycle[:length] if len(cycle) >= length else cycle + ["2"] * (length - len(cycle))
    sleep = sleep[:n_sleep]
    # brief awakenings (1-2 epochs of W, then N1), about one per 45 minutes of sleep
    for _ in range(int(rng.poisson(max(0.5, n_sleep / 90)))):
        pos = int(rng.integers(n_sleep // 6, max(n_sleep // 6 + 1, n_sleep - 3)))
        w = int(rng.integers(1, 3))
        for j in range(pos, min(n_sleep, pos + w)):
            sleep[j] = "W"
        if pos + w < n_sleep and sleep[pos + w] in ("2", "R"):
            sleep[pos + w] = "1"
    # short N1 intrusions in N2 and REM
    for _ in range(int(rng.poisson(n_sleep / 120))):
        pos = int(rng.integers(0, n_sleep))
        if sleep[pos] in ("2", "R"):
            sleep[pos] = "1"
    return ["W"] * wake_start + sleep + ["W"] * wake_end + ["?"] * n_unscored


def _night(n_epochs: int, seed: int | np.random.Generator | list, sfreq: float, params: SubjectParams | None,
           generator: str = "template"):
    from eeg_vlm.dataset.calibrated import GENERATORS, calibrated_eeg, calibrated_hypnogram

    check_option("generator", generator, GENERATORS, "synthetic night")
    rng = np.random.default_rng(seed)
    p = params if params is not None else draw_subject(rng)
    if generator == "template":
        labels = synth_hypnogram(n_epochs, rng)
        return _render_night(labels, sfreq, p, rng), labels
    labels = calibrated_hypnogram(n_epochs, rng)  # structure and EEG statistics of real nights
    signals = _render_night(labels, sfreq, p, rng)
    gain = float(np.exp(rng.normal(0.0, 0.25)))
    for name, scale in (("EEG Fpz-Cz", 1.0), ("EEG Pz-Oz", 0.8)):
        x = calibrated_eeg(labels, sfreq, rng, gain=scale * gain, alpha_hz=p.alpha_hz)
        signals[name] = np.clip(x, -_PHYS_RANGE[name], _PHYS_RANGE[name]).astype(np.float32)
    return signals, labels


def _n_epochs(n_epochs: int | None, hours: float | None) -> int:
    if n_epochs is not None and hours is not None:
        raise ValueError("synthetic night: give n_epochs or hours, not both")
    if n_epochs is None:
        hours = 8.0 if hours is None else float(hours)
        if not hours > 0:
            raise ValueError(f"synthetic night: hours must be > 0, got {hours!r}")
        n_epochs = int(round(hours * 3600 / EPOCH_S))
    return int(n_epochs)


def synth_night(n_epochs: int | None = None, hours: float | None = None, seed: int = 0,
                sfreq: float = 100.0, params: SubjectParams | None = None, generator: str = "template",
                ) -> tuple[dict[str, np.ndarray], list[str | None]]:
    """Generate one synthetic night.

    Parameters
    ----------
    n_epochs : int, optional
        Length in 30-s epochs (>= 30). Give this or ``hours``.
    hours : float, optional
        Length in hours (default 8 when neither is given).
    seed : int
        Seed; the same seed gives the same night, sample for sample.
    sfreq : float
        Sampling rate of every channel in Hz (default 100).
    params : SubjectParams, optional
        The subject's traits; drawn from the seed when omitted.
    generator : {'template', 'calibrated'}
        Hand-written night (default) or one calibrated to real data
        (:mod:`eeg_vlm.dataset.calibrated`).

    Returns
    -------
    signals : dict of str to numpy.ndarray
        :data:`CHANNELS` -> float32 samples in µV, shape ``(n_epochs * 30 * sfreq,)``.
    stages : list of (str or None)
        AASM stage per 30-s epoch (:data:`eeg_vlm.stages.STAGES`); ``None`` for the unscored
        epochs at the end of the night.
    """
    n = _n_epochs(n_epochs, hours)
    signals, labels = _night(n, seed, float(sfreq), params, generator)
    return signals, [to_aasm(f"Sleep stage {lab}") for lab in labels]


# ----------------------------------------------------------------------------- EDF output
def _runs(labels: list[str]) -> list[tuple[int, int, str]]:
    """(first epoch, n epochs, label) for each run of equal labels."""
    runs: list[tuple[int, int, str]] = []
    for i, lab in enumerate(labels):
        if runs and runs[-1][2] == lab:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1, lab)
        else:
            runs.append((i, 1, lab))
    return runs


def write_night_edf(psg_path: str | Path, hypnogram_path: str | Path, signals: dict[str, np.ndarray],
                    labels: list[str], sfreq: float = 100.0, patient: str = "X",
                    start: _dt.datetime = _START) -> None:
    """Write one night as a Sleep-EDF pair of files.

    Parameters
    ----------
    psg_path : path
        EDF+ signal file; one 30-s data record per epoch, 16-bit samples, each channel
        clipped to its physical range (EEG ±500 µV, EOG ±1000 µV, EMG ±250 µV).
    hypnogram_path : path
        EDF+ file without signals holding one annotation ``'Sleep stage <label>'`` per run of
        equal labels, with onset and duration in seconds.
    signals : dict of str to numpy.ndarray
        Channel label -> samples in µV at ``sfreq``.
    labels : list of str
        R&K labels per 30-s epoch (``'W', '1', '2', '3', '4', 'R', '?'``).
    """
    import pyedflib

    names = list(signals)
    headers = []
    for name in names:
        r = _PHYS_RANGE.get(name, float(np.max(np.abs(signals[name]))) or 1.0)
        headers.append(dict(label=name, dimension="uV", sample_frequency=float(sfreq),
                            physical_max=r, physical_min=-r, digital_max=32767, digital_min=-32768,
                            prefilter="", transducer="synthetic"))
    psg_path, hypnogram_path = Path(psg_path), Path(hypnogram_path)
    psg_path.parent.mkdir(parents=True, exist_ok=True)
    w = pyedflib.EdfWriter(str(psg_path), len(names), file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        w.setSignalHeaders(headers)
        w.setStartdatetime(start)
        w.setPatientCode(patient)
        w.setEquipment("eeg-vlm_synthetic")
        with warnings.catch_warnings():  # 30-s records, like Sleep-EDF; exact at 100 Hz
            warnings.simplefilter("ignore", UserWarning)
            w.setDatarecordDuration(EPOCH_S)
        w.writeSamples([np.clip(signals[nm].astype(np.float64), -h["physical_max"], h["physical_max"])
                        for nm, h in zip(names, headers)])
    finally:
        w.close()
    h = pyedflib.EdfWriter(str(hypnogram_path), 0, file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        h.setStartdatetime(start)
        h.setPatientCode(patient)
        for first, count, lab in _runs(labels):
            h.writeAnnotation(first * EPOCH_S, count * EPOCH_S, f"Sleep stage {lab}")
    finally:
        h.close()


def dataset_night(seed: int, subject: int, night: int = 1, hours: float = 8.0,
                  sfreq: float = 100.0, generator: str = "template") -> tuple[dict[str, np.ndarray], list[str]]:
    """The night :func:`write_synthetic_dataset` writes for one subject and night.

    Returns
    -------
    signals : dict of str to numpy.ndarray
        As :func:`synth_night`.
    labels : list of str
        Sleep-EDF R&K labels per 30-s epoch (``'W', '1', '2', '3', '4', 'R', '?'``), as
        written to the hypnogram file.
    """
    params = draw_subject(np.random.default_rng([seed, 1, subject]))
    return _night(_n_epochs(None, hours), [seed, 2, subject, night], float(sfreq), params, generator)


def write_synthetic_dataset(folder: str | Path, n_subjects: int = 4, hours: float = 8.0, seed: int = 0,
                            nights: int = 1, sfreq: float = 100.0, generator: str = "template") -> list[Path]:
    """Write synthetic nights in the Sleep-EDF Expanded cassette layout.

    Parameters
    ----------
    folder : path
        Output folder (created).
    n_subjects : int
        Number of subjects, 1-100; subject ``ss`` gets files ``SC4{ss:02d}{night}E0-PSG.edf``
        and ``SC4{ss:02d}{night}EC-Hypnogram.edf``.
    hours : float
        Length of every night in hours.
    seed : int
        Seed; subjects' traits and nights derive from it deterministically.
    nights : int
        Nights per subject (1 or 2 in Sleep-EDF; any number here, up to 9).
    sfreq : float
        Sampling rate of every channel in Hz.
    generator : {'template', 'calibrated'}
        Hand-written nights (default) or nights calibrated to real data.

    Returns
    -------
    list of Path
        The files written, ``[psg, hypnogram, psg, hypnogram, ...]`` in record order.
    """
    if not 1 <= int(n_subjects) <= 100:
        raise ValueError(f"synthetic dataset: n_subjects must be between 1 and 100, got {n_subjects!r}")
    if not 1 <= int(nights) <= 9:
        raise ValueError(f"synthetic dataset: nights must be between 1 and 9, got {nights!r}")
    folder = Path(folder)
    out: list[Path] = []
    for s in range(int(n_subjects)):
        for night in range(1, int(nights) + 1):
            signals, labels = dataset_night(seed, s, night, hours, sfreq, generator)
            psg = folder / f"SC4{s:02d}{night}E0-PSG.edf"
            hyp = folder / f"SC4{s:02d}{night}EC-Hypnogram.edf"
            write_night_edf(psg, hyp, signals, labels, sfreq=sfreq, patient=f"SC4{s:02d}",
                            start=_START + _dt.timedelta(days=night - 1))
            logger.info("wrote %s (%d epochs)", psg.name, len(labels))
            out += [psg, hyp]
    return out


def main(argv: list[str] | None = None) -> int:
    """``eeg-vlm synth``: write synthetic PSG nights as Sleep-EDF-style EDF+ files."""
    ap = argparse.ArgumentParser(
        prog="eeg-vlm synth",
        description="Write synthetic PSG nights as Sleep-EDF-style EDF+ files (SC4ssnE0-PSG.edf + "
                    "SC4ssnEC-Hypnogram.edf; Fpz-Cz, Pz-Oz, EOG, EMG at 100 Hz).")
    ap.add_argument("--out", default="sleep_data/synthetic_psg", help="output folder (default: %(default)s)")
    ap.add_argument("--subjects", type=int, default=4, help="number of subjects (default: %(default)s)")
    ap.add_argument("--hours", type=float, default=8.0, help="hours per night (default: %(default)s)")
    ap.add_argument("--nights", type=int, default=1, help="nights per subject (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    ap.add_argument("--sfreq", type=float, default=100.0, help="sampling rate in Hz (default: %(default)s)")
    ap.add_argument("--generator", choices=("template", "calibrated"), default="template",
                    help="template: hand-written textbook nights; calibrated: night structure from 197 expert "
                         "hypnograms and EEG spectra/amplitudes of real recordings (default: %(default)s)")
    from eeg_vlm.cli import add_verbosity, configure_logging

    add_verbosity(ap, "each step")
    args = ap.parse_args(argv)
    configure_logging(args)
    try:
        files = write_synthetic_dataset(args.out, args.subjects, args.hours, args.seed, args.nights, args.sfreq,
                                        args.generator)
    except ValueError as exc:
        ap.exit(2, f"eeg-vlm synth: error: {exc}\n")
    print(f"wrote {len(files) // 2} nights ({len(files)} files) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
