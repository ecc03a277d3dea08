"""Hypnogram files: a per-epoch CSV with stage probabilities, and an EDF+ annotations file.

The CSV has one row per 30-s epoch::

    epoch,onset_s,stage,prob_W,prob_N1,prob_N2,prob_N3,prob_REM

The EDF+ file holds no signal, only one annotation per run of equal consecutive stages,
in the Sleep-EDF vocabulary (``Sleep stage W/1/2/3/R``), so that EDFbrowser shows it over
the PSG and :func:`eeg_vlm.io.read_edf_scoring` reads it back like a Sleep-EDF hypnogram.
Both files are written atomically (a temporary file in the same folder, then renamed).
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eeg_vlm.checks import check_file
from ondisk import atomic_path, write_text_atomic
from eeg_vlm.stages import STAGES, to_aasm

logger = logging.getLogger(__name__)

__all__ = [
    "CSV_COLUMNS",
    "SLEEP_EDF_LABELS",
    "Hypnogram",
    "stage_runs",
    "write_hypnogram_csv",
    "read_hypnogram_csv",
    "write_hypnogram_edf",
]

#: Columns of ``hypnogram.csv``.
CSV_COLUMNS: tuple[str, ...] = ("epoch", "onset_s", "stage", *(f"prob_{s}" for s in STAGES))
#: AASM stage -> the Sleep-EDF annotation text.
SLEEP_EDF_LABELS: dict[str, str] = {"W": "Sleep stage W", "N1": "Sleep stage 1", "N2": "Sleep stage 2",
                                    "N3": "Sleep stage 3", "REM": "Sleep stage R"}
_EPS = 1e-3  # seconds: onsets closer than this are contiguous


@dataclass
class Hypnogram:
    """Stages of consecutive epochs of one night.

    Attributes
    ----------
    epoch : np.ndarray of int, shape (n_epochs,)
        Epoch index (from the start of the staged part of the file).
    onset_s : np.ndarray of float, shape (n_epochs,)
        Seconds from the signal file start.
    stages : list of str
        AASM stage per epoch (:data:`eeg_vlm.stages.STAGES`).
    probs : np.ndarray or None, shape (n_epochs, 5)
        Stage probabilities in STAGES order, rows summing to 1.
    epoch_length : float
        Seconds per epoch.
    """

    epoch: np.ndarray
    onset_s: np.ndarray
    stages: list[str]
    probs: np.ndarray | None = None
    epoch_length: float = 30.0

    def __post_init__(self) -> None:
        self.epoch = np.asarray(self.epoch, dtype=np.int64)
        self.onset_s = np.asarray(self.onset_s, dtype=float)
        self.stages = list(self.stages)
        n = len(self.stages)
        if len(self.epoch) != n or len(self.onset_s) != n:
            raise ValueError(f"hypnogram: {len(self.epoch)} epoch numbers, {len(self.onset_s)} onsets and "
                             f"{n} stages differ in length")
        bad = [s for s in self.stages if s not in STAGES]
        if bad:
            raise ValueError(f"hypnogram: stage {bad[0]!r} is not one of {', '.join(STAGES)}")
        if self.probs is not None:
            self.probs = np.asarray(self.probs, dtype=np.float64)
            if self.probs.shape != (n, len(STAGES)):
                raise ValueError(f"hypnogram: probs must have shape ({n}, {len(STAGES)}), got {self.probs.shape}")
        if not self.epoch_length > 0:
            raise ValueError(f"hypnogram: epoch_length must be > 0 s, got {self.epoch_length!r}")

    def __len__(self) -> int:
        return len(self.stages)


def stage_runs(onset_s: Sequence[float], stages: Sequence[str], epoch_length: float = 30.0
               ) -> list[tuple[float, float, str]]:
    """Merge consecutive epochs of equal stage into ``(onset_s, duration_s, stage)`` runs.

    Parameters
    ----------
    onset_s : sequence of float
        Epoch onsets in seconds, increasing.
    stages : sequence of str
        Stage per epoch.
    epoch_length : float
        Seconds per epoch; an epoch that does not start where the previous one ends
        starts a new run (a gap is never covered).

    Returns
    -------
    list of (float, float, str)
    """
    runs: list[tuple[float, float, str]] = []
    for t, s in zip(onset_s, stages):
        t = float(t)
        if runs:
            start, dur, prev = runs[-1]
            if prev == s and abs(start + dur - t) < _EPS:
                runs[-1] = (start, dur + epoch_length, s)
                continue
        runs.append((t, float(epoch_length), s))
    return runs


def write_hypnogram_csv(path: str | Path, hypnogram: Hypnogram) -> Path:
    """Write ``hypnogram.csv`` (:data:`CSV_COLUMNS`; probabilities empty when unknown)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for i, (k, t, s) in enumerate(zip(hypnogram.epoch, hypnogram.onset_s, hypnogram.stages)):
        probs = [""] * len(STAGES) if hypnogram.probs is None else [f"{p:.6f}" for p in hypnogram.probs[i]]
        w.writerow([int(k), f"{t:.3f}", s, *probs])
    path = Path(path)
    write_text_atomic(path, buf.getvalue())
    return path


def read_hypnogram_csv(path: str | Path, epoch_length: float = 30.0) -> Hypnogram:
    """Read a file written by :func:`write_hypnogram_csv`.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        ``hypnogram file '<path>' line <n>: ...`` for a missing column or a bad value.
    """
    path = check_file(path, "hypnogram file")
    epochs, onsets, stages, probs = [], [], [], []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("epoch", "onset_s", "stage") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"hypnogram file {str(path)!r}: column {missing[0]!r} missing; "
                             f"columns: {', '.join(reader.fieldnames or [])}")
        prob_cols = [f"prob_{s}" for s in STAGES]
        has_probs = all(c in (reader.fieldnames or []) for c in prob_cols)
        for line, row in enumerate(reader, start=2):
            where = f"hypnogram file {str(path)!r} line {line}"
            try:
                stage = to_aasm(row["stage"])
                epochs.append(int(row["epoch"]))
                onsets.append(float(row["onset_s"]))
                if has_probs and row[prob_cols[0]] != "":
                    probs.append([float(row[c]) for c in prob_cols])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{where}: {exc}") from None
            if stage is None:
                raise ValueError(f"{where}: stage {row['stage']!r} is not one of {', '.join(STAGES)}")
            stages.append(stage)
    if probs and len(probs) != len(stages):
        raise ValueError(f"hypnogram file {str(path)!r}: probabilities on {len(probs)} of {len(stages)} rows")
    return Hypnogram(np.array(epochs, dtype=np.int64), np.array(onsets), stages,
                     np.array(probs) if probs else None, epoch_length)


def write_hypnogram_edf(path: str | Path, hypnogram: Hypnogram, start: _dt.datetime | None = None,
                        patient: str = "X") -> Path:
    """Write the hypnogram as an EDF+ annotations file (one annotation per run of equal stages).

    Parameters
    ----------
    path : path
        Output ``.edf``.
    hypnogram : Hypnogram
        Stages and onsets (seconds from the PSG file start).
    start : datetime, optional
        Start of the PSG file, so that the annotations line up with it in a viewer and
        :func:`eeg_vlm.io.read_edf_scoring` needs no shift; default 1985-01-01 00:00:00
        (EDF's "unknown" date).
    patient : str
        Patient code written into the header.

    Returns
    -------
    Path
    """
    import pyedflib

    path = Path(path)
    runs = stage_runs(hypnogram.onset_s, hypnogram.stages, hypnogram.epoch_length)
    with atomic_path(path, suffix=".edf") as tmp:
        writer = pyedflib.EdfWriter(str(tmp), 0, file_type=pyedflib.FILETYPE_EDFPLUS)
        try:
            writer.setStartdatetime(start if start is not None else _dt.datetime(1985, 1, 1))
            writer.setPatientCode(patient)
            writer.setEquipment("eeg-vlm_stage")
            for onset, duration, stage in runs:
                writer.writeAnnotation(onset, duration, SLEEP_EDF_LABELS[stage])
        finally:
            writer.close()
    logger.debug("wrote %s: %d annotations", path, len(runs))
    return path
