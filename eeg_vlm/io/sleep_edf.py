"""Sleep-EDF Expanded (cassette SC* and telemetry ST*): PSG plus EDF+ hypnogram.

``SC4001E0-PSG.edf`` pairs with ``SC4001EC-Hypnogram.edf``. The record id is the PSG
name before ``-PSG`` (``SC4001E0``); the subject is its first five characters (``SC400``,
``ST713``) and the night the sixth (``1``). R&K labels map to AASM through
:func:`eeg_vlm.stages.to_aasm` (S3 and S4 -> N3; ``Sleep stage ?`` and ``Movement time``
-> ``None``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from eeg_vlm.checks import check_file
from eeg_vlm.io.edf import read_edf, read_edf_scoring
from eeg_vlm.io.record import Recording

logger = logging.getLogger(__name__)

__all__ = ["read_sleep_edf", "sleep_edf_identity"]


def sleep_edf_identity(psg_path: str | Path) -> tuple[str, str, str]:
    """``(record_id, subject, night)`` from a Sleep-EDF PSG file name.

    >>> sleep_edf_identity("SC4001E0-PSG.edf")
    ('SC4001E0', 'SC400', '1')
    """
    name = Path(psg_path).name
    record_id = name.split("-PSG")[0] if "-PSG" in name else Path(name).stem
    if len(record_id) >= 6 and record_id[:2] in ("SC", "ST"):
        return record_id, record_id[:5], record_id[5]
    return record_id, record_id, ""


def read_sleep_edf(
    psg_path: str | Path, hypnogram_path: str | Path, channels: Sequence[str] | None = None, strict: bool = False
) -> Recording:
    """Read a Sleep-EDF Expanded night.

    Parameters
    ----------
    psg_path : str or Path
        ``*-PSG.edf``: Fpz-Cz, Pz-Oz, EOG horizontal at 100 Hz, other signals at 1 Hz.
    hypnogram_path : str or Path
        ``*-Hypnogram.edf``: EDF+ annotations ``Sleep stage W/1/2/3/4/R/?`` and
        ``Movement time``, each covering one or many 30-s epochs. Files that pyedflib
        refuses (ST7132JR: "EDF+ Recordingfield") are read by the tolerant reader.
    channels : sequence of str, optional
        Names or aliases to load; ``None`` loads all.
    strict : bool
        Refuse an EDF whose data holds more records than its header says (by default
        they are read, with a warning).

    Returns
    -------
    Recording
        ``dataset='sleep-edf'``; scoring onsets count from the PSG start (shifted if the
        hypnogram's start time differs), ``epoch_length=30``.
    """
    psg_path = check_file(psg_path, "Sleep-EDF PSG file")
    hypnogram_path = check_file(hypnogram_path, "Sleep-EDF hypnogram file")
    record_id, subject, night = sleep_edf_identity(psg_path)
    recording = read_edf(psg_path, channels=channels, dataset="sleep-edf", subject=subject,
                         night=night, record_id=record_id, strict=strict)
    recording.scoring = read_edf_scoring(hypnogram_path, reference_start=recording.meta.get("start"),
                                         epoch_length=30.0)
    recording.meta["hypnogram"] = hypnogram_path
    return recording
