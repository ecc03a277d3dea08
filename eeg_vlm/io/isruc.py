"""ISRUC-Sleep: ``<n>.rec`` (an EDF file) plus per-epoch stage lists ``<n>_1.txt``/``<n>_2.txt``.

Each stage list holds one integer per 30-s epoch from the file start (two scorers):
0=W, 1=N1, 2=N2, 3=N3, 5=REM. Any other value is kept as an unscored epoch (stage
``None``) and counted when epochs are made.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eeg_vlm.checks import check_file
from eeg_vlm.io.edf import read_edf
from eeg_vlm.io.record import Recording, Scoring

logger = logging.getLogger(__name__)

__all__ = ["read_isruc", "read_isruc_stages", "ISRUC_CODES", "isruc_stage_path"]

#: ISRUC stage codes (AASM).
ISRUC_CODES: dict[str, str] = {"0": "W", "1": "N1", "2": "N2", "3": "N3", "5": "REM"}


def isruc_stage_path(rec_path: str | Path, scorer: int = 1) -> Path:
    """``<folder>/<n>_<scorer>.txt`` for ``<folder>/<n>.rec``."""
    if scorer not in (1, 2):
        raise ValueError(f"invalid value for the 'scorer' parameter. Allowed values are 1, 2, but got {scorer!r} instead")
    rec_path = Path(rec_path)
    return rec_path.with_name(f"{rec_path.stem}_{scorer}.txt")


def read_isruc_stages(path: str | Path, epoch_length: float = 30.0) -> Scoring:
    """One stage code per line -> :class:`Scoring` of 30-s segments from time 0.

    Blank lines are skipped; a line that is not an integer raises ``ValueError`` naming
    the file and line.
    """
    path = check_file(path, "ISRUC stage file")
    labels: list[str] = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        text = line.strip()
        if not text:
            continue
        try:
            int(text)
        except ValueError:
            raise ValueError(f"file {str(path)!r}: line {n} is not a stage code: {text!r}") from None
        labels.append(str(int(text)))
    if not labels:
        raise ValueError(f"file {str(path)!r}: no stage codes")
    stages = [ISRUC_CODES.get(lab) for lab in labels]
    k = np.arange(len(labels), dtype=float)
    return Scoring(onsets=k * epoch_length, durations=np.full(len(labels), epoch_length), stages=stages,
                   raw_labels=labels, epoch_length=epoch_length)


def read_isruc(
    rec_path: str | Path,
    stages_txt_path: str | Path | None = None,
    channels: Sequence[str] | None = None,
    scorer: int = 1,
    strict: bool = False,
) -> Recording:
    """Read an ISRUC-Sleep night.

    Parameters
    ----------
    rec_path : str or Path
        ``<n>.rec`` (EDF; EEG F3/C3/O1/F4/C4/O2 against A1/A2, EOG LOC/ROC, EMG X1 at 200 Hz).
    stages_txt_path : str or Path, optional
        The stage list; by default ``<n>_<scorer>.txt`` beside the ``.rec``.
    channels : sequence of str, optional
        Names or aliases to load; ``None`` loads all.
    scorer : {1, 2}
        Which expert's list to use when ``stages_txt_path`` is not given.
    strict : bool
        Refuse an EDF whose data holds more records than its header says (by default
        they are read, with a warning).

    Returns
    -------
    Recording
        ``dataset='isruc'``, ``record_id`` and ``subject`` = the file stem.
    """
    rec_path = check_file(rec_path, "ISRUC .rec file")
    txt = Path(stages_txt_path) if stages_txt_path is not None else isruc_stage_path(rec_path, scorer)
    scoring = read_isruc_stages(txt)
    recording = read_edf(rec_path, channels=channels, dataset="isruc", subject=rec_path.stem,
                         record_id=rec_path.stem, strict=strict)
    recording.scoring = scoring
    recording.meta["hypnogram"] = txt
    return recording
