"""Small EDF/EDF+/BDF files (and dataset folders) written with pyedflib for the reader tests."""

from __future__ import annotations

import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
import pyedflib


def write_edf(
    path: Path,
    signals: dict[str, tuple[np.ndarray, float]],
    annotations: list[tuple[float, float, str]] = (),
    dimension: str | dict[str, str] = "uV",
    record_duration: float = 1.0,
    bdf: bool = False,
    plus: bool = True,
    start: datetime = datetime(2020, 1, 1, 22, 0, 0),
) -> Path:
    """Write ``{label: (data, sfreq)}`` (+ EDF+ annotations) and return ``path``.

    Physical limits are +-the power of ten above the data (short enough for the 8-character
    header fields), so values survive the 16-bit (24-bit for BDF) quantisation to about
    1e-4 of that bound.
    """
    if bdf:
        file_type = pyedflib.FILETYPE_BDFPLUS if plus else pyedflib.FILETYPE_BDF
    else:
        file_type = pyedflib.FILETYPE_EDFPLUS if plus else pyedflib.FILETYPE_EDF
    writer = pyedflib.EdfWriter(str(path), len(signals), file_type=file_type)
    try:
        headers = []
        for label, (data, sfreq) in signals.items():
            dim = dimension[label] if isinstance(dimension, dict) else dimension
            bound = 10.0 ** np.ceil(np.log10(max(float(np.abs(data).max()), 1e-3) * 1.01))
            lo, hi = -bound, bound
            headers.append({
                "label": label, "dimension": dim, "sample_frequency": sfreq,
                "physical_min": lo, "physical_max": hi,
                "digital_min": -(2 ** 23) if bdf else -32768, "digital_max": 2 ** 23 - 1 if bdf else 32767,
                "transducer": "", "prefilter": "",
            })
        writer.setSignalHeaders(headers)
        writer.setStartdatetime(start)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Forcing a specific record_duration", UserWarning)
            writer.setDatarecordDuration(record_duration)
        writer.writeSamples([np.asarray(d, dtype=np.float64) for d, _ in signals.values()])
        for onset, duration, text in annotations:
            writer.writeAnnotation(onset, duration, text)
    finally:
        writer.close()
    return path


def patch_header(path: Path, offset: int, text: bytes) -> None:
    """Overwrite bytes of a file's header in place."""
    raw = bytearray(path.read_bytes())
    raw[offset: offset + len(text)] = text
    path.write_bytes(bytes(raw))


def signal_field_offset(n_signals: int, field: str, index: int) -> int:
    """Byte offset of one signal's header field."""
    widths = [("label", 16), ("transducer", 80), ("dimension", 8), ("physical_min", 8),
              ("physical_max", 8), ("digital_min", 8), ("digital_max", 8), ("prefilter", 80),
              ("n_samples", 8), ("reserved", 32)]
    offset = 256
    for name, width in widths:
        if name == field:
            return offset + index * width
        offset += n_signals * width
    raise KeyError(field)


SLEEP_NOTES = [(0.0, 60.0, "Sleep stage W"), (60.0, 60.0, "Sleep stage 2")]


XML = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<PSGAnnotation><SoftwareVersion>Compumedics</SoftwareVersion><EpochLength>30</EpochLength>
<ScoredEvents>
<ScoredEvent><EventType/><EventConcept>Recording Start Time</EventConcept><Start>0</Start>
<Duration>300.0</Duration><ClockTime>00.00.00 22.00.00</ClockTime></ScoredEvent>
{events}
<ScoredEvent><EventType>Arousals|Arousals</EventType><EventConcept>Arousal|Arousal ()</EventConcept>
<Start>95.5</Start><Duration>4.0</Duration></ScoredEvent>
</ScoredEvents></PSGAnnotation>
"""
STAGE_EVENT = ("<ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>{}</EventConcept>"
               "<Start>{}</Start><Duration>{}</Duration></ScoredEvent>")
SHHS_STAGES = [("Wake|0", 0, 60), ("Stage 1 sleep|1", 60, 30), ("Stage 2 sleep|2", 90, 90),
               ("Stage 4 sleep|4", 180, 30), ("REM sleep|5", 210, 60), ("Unscored|9", 270, 30)]


def write_shhs(folder: Path, stem: str = "shhs1-200001") -> tuple[Path, Path]:
    """An SHHS night (5 min, 'EEG'/'EEG(sec)' at 125 Hz) and its NSRR XML."""
    rng = np.random.default_rng(1)
    edf = write_edf(folder / f"{stem}.edf", {"EEG": (rng.normal(0, 20, 300 * 125), 125.0),
                                              "EEG(sec)": (rng.normal(0, 20, 300 * 125), 125.0)}, plus=False)
    events = "\n".join(STAGE_EVENT.format(c, s, d) for c, s, d in SHHS_STAGES)
    xml = folder / f"{stem}-nsrr.xml"
    xml.write_text(XML.format(events=events))
    return edf, xml


def write_isruc(folder: Path, n: int = 1) -> Path:
    """ISRUC '<n>.rec' (4 min at 200 Hz) with two scorers' stage lists."""
    rng = np.random.default_rng(2)
    sig = {"C3-A2": (rng.normal(0, 30, 240 * 200), 200.0), "LOC-A2": (rng.normal(0, 30, 240 * 200), 200.0)}
    rec = write_edf(folder / f"{n}.rec", sig, plus=False)
    # scorer 1: 8 epochs listed, a code 7 (not a stage) and two more lines than the signal holds
    (folder / f"{n}_1.txt").write_text("0\n0\n1\n2\n7\n3\n5\n5\n2\n2\n\n")
    (folder / f"{n}_2.txt").write_text("0\n1\n1\n2\n2\n3\n5\n5\n")
    return rec


def write_mass(folder: Path, rid: str = "01-02-0001") -> tuple[Path, Path]:
    """MASS '<id> PSG.edf' (200 s at 256 Hz) and a 'Base.edf' scored in 20-s epochs."""
    rng = np.random.default_rng(3)
    psg = write_edf(folder / f"{rid} PSG.edf", {"EEG C3-CLE": (rng.normal(0, 25, 200 * 256), 256.0)}, plus=True)
    codes = ["W", "W", "2", "2", "2", "2", "R", "R", "R"]  # 20-s epochs
    notes = [(20.0 * i, 20.0, f"Sleep stage {c}") for i, c in enumerate(codes)]
    base = write_edf(folder / f"{rid} Base.edf", {"x": (np.zeros(200), 1.0)}, notes)
    return psg, base


def write_sleep_edf(folder: Path, psg: str = "SC4011E0", hyp: str = "SC4011EH") -> None:
    """A Sleep-EDF PSG (2 min, Fpz-Cz at 100 Hz) and its hypnogram."""
    rng = np.random.default_rng(4)
    write_edf(folder / f"{psg}-PSG.edf", {"EEG Fpz-Cz": (rng.normal(0, 20, 120 * 100), 100.0)}, plus=False)
    write_edf(folder / f"{hyp}-Hypnogram.edf", {"x": (np.zeros(120), 1.0)}, SLEEP_NOTES)


def write_dreams(folder: Path) -> None:
    """A DREAMS excerpt named as the 50-Hz excerpt3 (60 s) and its 5-s hypnogram."""
    values = np.random.default_rng(5).normal(0, 20, 60 * 50)  # 60 s at 50 Hz
    (folder / "excerpt3.txt").write_text("[C3-A1]\n" + "\n".join(f"{v:.4f}" for v in values) + "\n")
    (folder / "Hypnogram_excerpt3.txt").write_text("[Hypnogram]\n" + "5\n" * 6 + "2\n" * 6)
