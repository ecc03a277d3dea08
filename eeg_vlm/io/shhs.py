"""SHHS and other NSRR studies: EDF plus NSRR XML annotations.

Stages are ``ScoredEvent`` elements with ``EventType`` ``Stages|Stages`` and an
``EventConcept`` such as ``Wake|0``, ``Stage 2 sleep|2`` or ``REM sleep|5``, with ``Start``
and ``Duration`` in seconds from the recording start. The XML is parsed only after
checking that it declares no DTD or entity (no entity expansion from data files).
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eeg_vlm.checks import check_file
from eeg_vlm.io.edf import read_edf
from eeg_vlm.io.record import Recording, Scoring
from eeg_vlm.stages import to_aasm

logger = logging.getLogger(__name__)

__all__ = ["read_shhs", "read_nsrr_scoring", "shhs_identity"]


def shhs_identity(edf_path: str | Path) -> tuple[str, str, str]:
    """``(record_id, subject, night)``: ``shhs1-200001`` -> ``('shhs1-200001', '200001', '1')``."""
    stem = Path(edf_path).stem
    match = re.fullmatch(r"([a-z]+)(\d*)-(\w+)", stem, flags=re.IGNORECASE)
    if match:
        return stem, match.group(3), match.group(2)
    return stem, stem, ""


def _parse_xml(path: Path) -> ET.Element:
    raw = path.read_bytes()
    head = raw.lower()
    if b"<!doctype" in head or b"<!entity" in head:
        raise ValueError(f"file {str(path)!r}: XML with a DTD or entity declaration is refused")
    try:
        return ET.fromstring(raw)
    except ET.ParseError as exc:
        raise ValueError(f"file {str(path)!r}: malformed XML ({exc})") from exc


def read_nsrr_scoring(xml_path: str | Path) -> Scoring:
    """Stages from an NSRR XML annotation file.

    Returns
    -------
    Scoring
        Onsets/durations in seconds; ``epoch_length`` from ``<EpochLength>`` (30 when
        absent); unscored/movement concepts map to ``None``.

    Raises
    ------
    ValueError
        If the file is not safe/valid XML, an event lacks ``Start``/``Duration``, a stage
        concept is unknown, or there is no stage event.
    """
    path = check_file(xml_path, "NSRR XML file")
    root = _parse_xml(path)
    epoch_text = root.findtext(".//EpochLength")
    epoch_length = float(epoch_text) if epoch_text and epoch_text.strip() else 30.0
    rows = []
    for n, event in enumerate(root.iter("ScoredEvent")):
        kind = (event.findtext("EventType") or "").strip()
        if not kind.lower().startswith("stages"):
            continue
        concept = (event.findtext("EventConcept") or "").strip()
        try:
            onset = float(event.findtext("Start") or "")
            duration = float(event.findtext("Duration") or "")
        except ValueError:
            raise ValueError(f"file {str(path)!r}: ScoredEvent {n + 1} ({concept!r}) lacks a numeric "
                             "Start or Duration") from None
        try:
            stage = to_aasm(concept)
        except ValueError as exc:
            raise ValueError(f"file {str(path)!r}: ScoredEvent {n + 1}: {exc}") from None
        rows.append((onset, duration, stage, concept))
    if not rows:
        raise ValueError(f"file {str(path)!r}: no ScoredEvent with EventType 'Stages|Stages'")
    rows.sort(key=lambda r: r[0])
    return Scoring(
        onsets=np.array([r[0] for r in rows]),
        durations=np.array([r[1] for r in rows]),
        stages=[r[2] for r in rows],
        raw_labels=[r[3] for r in rows],
        epoch_length=epoch_length,
    )


def read_shhs(edf_path: str | Path, xml_path: str | Path, channels: Sequence[str] | None = None,
              strict: bool = False) -> Recording:
    """Read an SHHS (or other NSRR) night.

    Parameters
    ----------
    edf_path : str or Path
        The EDF (SHHS: EEG C4-A1 as ``'EEG'``, C3-A2 as ``'EEG(sec)'``, 125 Hz).
    xml_path : str or Path
        The NSRR XML (``<stem>-nsrr.xml`` or ``<stem>.xml``).
    channels : sequence of str, optional
        Names or aliases to load; ``None`` loads all.
    strict : bool
        Refuse an EDF whose data holds more records than its header says (by default
        they are read, with a warning).

    Returns
    -------
    Recording
        ``dataset='shhs'``, ``record_id`` = EDF stem, ``subject`` = the participant number,
        ``night`` = the visit digit.
    """
    record_id, subject, night = shhs_identity(edf_path)
    scoring = read_nsrr_scoring(xml_path)
    recording = read_edf(edf_path, channels=channels, dataset="shhs", subject=subject, night=night,
                         record_id=record_id, strict=strict)
    recording.scoring = scoring
    recording.meta["hypnogram"] = Path(xml_path)
    return recording
