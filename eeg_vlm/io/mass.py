"""MASS (Montreal Archive of Sleep Studies): ``<id> PSG.edf`` plus ``<id> Base.edf``.

The Base file holds EDF+ annotations ``Sleep stage W/1/2/3/4/R/?`` with onset and
duration. Subsets differ: SS1 and SS3 are scored in 30-s epochs, SS2, SS4 and SS5 in
20-s epochs; the scorer's epoch length is kept in :attr:`Scoring.epoch_length` and
:func:`eeg_vlm.signals.epochs.make_epochs` combines 20-s epochs into 30-s ones where they agree.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eeg_vlm.checks import check_file
from eeg_vlm.io.edf import read_edf, read_edf_scoring
from eeg_vlm.io.record import Recording

logger = logging.getLogger(__name__)

__all__ = ["read_mass", "mass_record_id"]


def mass_record_id(psg_path: str | Path) -> str:
    """``'01-03-0001'`` from ``'01-03-0001 PSG.edf'``."""
    stem = Path(psg_path).stem
    return stem[: -len(" PSG")] if stem.endswith(" PSG") else stem


def read_mass(psg_path: str | Path, base_path: str | Path, channels: Sequence[str] | None = None,
              strict: bool = False) -> Recording:
    """Read a MASS night.

    Parameters
    ----------
    psg_path : str or Path
        ``<id> PSG.edf``.
    base_path : str or Path
        ``<id> Base.edf`` with the stage annotations.
    channels : sequence of str, optional
        Names or aliases to load; ``None`` loads all.
    strict : bool
        Refuse an EDF whose data holds more records than its header says (by default
        they are read, with a warning).

    Returns
    -------
    Recording
        ``dataset='mass'``, ``record_id`` and ``subject`` = ``'01-03-0001'``; the scoring's
        ``epoch_length`` is the annotations' common duration (20 or 30 s).
    """
    psg_path = check_file(psg_path, "MASS PSG file")
    base_path = check_file(base_path, "MASS Base file")
    record_id = mass_record_id(psg_path)
    recording = read_edf(psg_path, channels=channels, dataset="mass", subject=record_id,
                         record_id=record_id, strict=strict)
    scoring = read_edf_scoring(base_path, reference_start=recording.meta.get("start"))
    durations = np.unique(np.round(scoring.durations, 3))
    if len(durations) == 1:
        scoring.epoch_length = float(durations[0])
    else:
        scoring.epoch_length = float(np.min(durations))
        logger.warning("file %r: stage annotations of several durations %s; epoch length %g s",
                       str(base_path), durations.tolist(), scoring.epoch_length)
    recording.scoring = scoring
    recording.meta["hypnogram"] = base_path
    return recording
