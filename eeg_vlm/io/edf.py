"""EDF, EDF+ and BDF files: signals in µV, embedded stage annotations, clear errors.

pyedflib reads compliant files. Files it refuses for header details that do not affect
the samples (an EDF+ recording field written the old way, a digital minimum outside the
16-bit range, non-ASCII signal labels) go through the tolerant reader
(:mod:`eeg_vlm.io.edf_raw`), which parses the header field by field and memory-maps the
data records; so do files whose data section holds more records than the header says
(pyedflib would read only the header's count). A file that neither
can read raises ``ValueError("file '<path>': <what is wrong>")`` naming the header field
at fault; no library traceback reaches the user.

Voltages are converted to µV from each signal's physical dimension (``uV``, ``µV``,
``mV``, ``V``, ``nV``, any case); other signals keep their unit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from eeg_vlm.checks import check_file
from eeg_vlm.io.edf_raw import FieldError, Header, Source, available_records, open_raw, parse_header
from eeg_vlm.io.record import Channel, Recording, Scoring
from eeg_vlm.stages import to_aasm

logger = logging.getLogger(__name__)

__all__ = [
    "read_edf",
    "read_edf_annotations",
    "read_edf_scoring",
    "scoring_from_annotations",
    "unit_scale",
]

_VOLT_FACTORS = {"nv": 1e-3, "uv": 1.0, "mv": 1e3, "v": 1e6}


def unit_scale(dimension: str) -> tuple[float, str]:
    """Factor that converts a signal's physical dimension to µV, and the resulting unit.

    Parameters
    ----------
    dimension : str
        The EDF "physical dimension" field, e.g. ``'uV'``, ``'µV'``, ``'UV'``, ``'mV'``,
        ``'V'``.

    Returns
    -------
    factor : float
        Multiply the physical values by this (1.0 for non-voltage signals).
    unit : str
        ``'uV'`` for voltages, otherwise the dimension as written.
    """
    key = dimension.strip().replace("µ", "u").replace("μ", "u").lower()
    if key in _VOLT_FACTORS:
        return _VOLT_FACTORS[key], "uV"
    return 1.0, dimension.strip()


# --------------------------------------------------------------------------- pyedflib


class _NeedsRawReader(Exception):
    """The tolerant reader must handle this file (pyedflib would misplace its records)."""


def _open_pyedflib(path: Path) -> Source:
    import pyedflib

    with open(path, "rb") as fh:
        reserved = fh.read(236)[192:236]
    if reserved[:5] in (b"EDF+D", b"BDF+D"):
        raise _NeedsRawReader("discontinuous EDF+D file: data records are checked for gaps")
    reader = pyedflib.EdfReader(str(path))
    try:
        n = reader.signals_in_file
        labels = [reader.getLabel(i) for i in range(n)]
        units = [reader.getPhysicalDimension(i) for i in range(n)]
        sfreqs = [float(reader.getSampleFrequency(i)) for i in range(n)]
        ranges = [(float(reader.getPhysicalMinimum(i)), float(reader.getPhysicalMaximum(i))) for i in range(n)]
        try:
            start = reader.getStartdatetime()
        except Exception:  # noqa: BLE001 - an odd date must not block the samples
            start = None
        onsets, durations, texts = reader.readAnnotations()
        annotations = [
            (float(o), float(d) if d is not None and d > 0 else 0.0, str(t).strip())
            for o, d, t in zip(onsets, durations, texts)
        ]
        filetype = {0: "EDF", 1: "EDF+", 2: "BDF", 3: "BDF+"}.get(int(reader.filetype), "")
    except Exception:
        reader.close()
        raise
    return Source(
        labels=labels,
        units=units,
        sfreqs=sfreqs,
        start=start,
        annotations=annotations,
        read=lambda i: reader.readSignal(i),
        backend="pyedflib",
        ranges=ranges,
        filetype=filetype,
        close=reader.close,
    )


# --------------------------------------------------------------------------- public


def _open(path: Path, strict: bool = False) -> Source:
    """pyedflib first; the tolerant reader for what it refuses; one clean error otherwise.

    The data size is checked against the header before pyedflib sees the file: a
    truncated file is refused here (pyedflib would print to stdout), and a file holding
    more records than its header says goes to the tolerant reader, which reads them all.
    """
    try:
        header: Header | None = parse_header(path)
    except FieldError:
        header = None  # pyedflib may still read it; the tolerant reader will name the field
    if header is not None and header.n_records != -1 and available_records(header, path) != header.n_records:
        return _open_raw_named(path, strict)  # truncated: refused; longer: read whole
    try:
        return _open_pyedflib(path)
    except Exception as first:  # noqa: BLE001 - pyedflib raises OSError/ValueError/others
        reason = str(first).replace(str(path), "").strip(" :")
        source = _open_raw_named(path, strict, first)
        if not isinstance(first, _NeedsRawReader):
            logger.warning("file %r: pyedflib refused it (%s); read with the tolerant reader", str(path), reason)
        return source


def _open_raw_named(path: Path, strict: bool, cause: BaseException | None = None) -> Source:
    """The tolerant reader, its problems worded as ``file '<path>': ...``."""
    try:
        return open_raw(path, strict)
    except FieldError as exc:
        raise ValueError(f"file {str(path)!r}: {exc}") from cause
    except Exception as exc:  # noqa: BLE001 - never a raw traceback from deep inside
        raise ValueError(f"file {str(path)!r}: unreadable EDF/BDF ({type(exc).__name__}: {exc})") from exc


def _unique(labels: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        n = seen.get(label, 0)
        seen[label] = n + 1
        out.append(label if n == 0 else f"{label} ({n + 1})")
    return out


def _safe_id(text: str) -> str:
    return text.replace("/", "_").lstrip(".") or "recording"


def scoring_from_annotations(
    annotations: Sequence[tuple[float, float, str]],
    epoch_length: float | None = None,
    offset: float = 0.0,
) -> Scoring | None:
    """Keep the annotations that are sleep stage labels, as a :class:`Scoring`.

    Parameters
    ----------
    annotations : sequence of (onset_s, duration_s, text)
        As returned by :func:`read_edf_annotations`. Texts that are not stage labels
        (events, comments) are ignored.
    epoch_length : float, optional
        The scorer's epoch length in seconds. By default 30, or the common duration of
        all stage annotations when they share one shorter than 30 s (20-s MASS scoring).
    offset : float
        Seconds added to every onset (hypnogram file start minus signal file start).

    Returns
    -------
    Scoring or None
        ``None`` when no annotation is a stage label. Stage annotations without a
        duration cover one epoch.
    """
    rows = []
    for onset, duration, text in annotations:
        try:
            stage = to_aasm(text)
        except ValueError:
            continue
        rows.append((float(onset) + offset, float(duration), stage, text))
    if not rows:
        return None
    rows.sort(key=lambda r: r[0])
    durations = {r[1] for r in rows if r[1] > 0}
    if epoch_length is None:
        epoch_length = 30.0
        if len(durations) == 1 and 0 < next(iter(durations)) < 30.0:
            epoch_length = next(iter(durations))
    return Scoring(
        onsets=np.array([r[0] for r in rows]),
        durations=np.array([r[1] if r[1] > 0 else epoch_length for r in rows]),
        stages=[r[2] for r in rows],
        raw_labels=[r[3] for r in rows],
        epoch_length=float(epoch_length),
    )


def _read_annotations(path: str | Path) -> tuple[datetime | None, list[tuple[float, float, str]]]:
    path = check_file(path, "EDF file")
    source = _open(path)
    source.close()
    return source.start, source.annotations


def read_edf_annotations(path: str | Path) -> list[tuple[float, float, str]]:
    """Read the EDF+ annotations of a file (a hypnogram, or a PSG with embedded events).

    Parameters
    ----------
    path : str or Path
        EDF+/BDF+ file.

    Returns
    -------
    list of (onset, duration, text)
        Onset and duration in seconds (duration 0.0 when the file gives none), in file
        order.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        ``file '<path>': ...`` when the file cannot be read.
    """
    return _read_annotations(path)[1]


def read_edf_scoring(
    path: str | Path, reference_start: datetime | None = None, epoch_length: float | None = None
) -> Scoring:
    """Stage annotations of a hypnogram file, with onsets relative to the signal file.

    Parameters
    ----------
    path : str or Path
        EDF+ hypnogram (Sleep-EDF ``*-Hypnogram.edf``, MASS ``* Base.edf``).
    reference_start : datetime, optional
        Start of the signal file; when the hypnogram starts at another time, its onsets
        are shifted so that they count from the signal file's start.
    epoch_length : float, optional
        See :func:`scoring_from_annotations`.

    Raises
    ------
    ValueError
        If the file holds no stage annotation.
    """
    start, annotations = _read_annotations(path)
    offset = 0.0
    if reference_start is not None and start is not None and start != reference_start:
        offset = (start - reference_start) / timedelta(seconds=1)
        logger.info("hypnogram %r starts %+.1f s from its signal file; onsets shifted", str(path), offset)
    scoring = scoring_from_annotations(annotations, epoch_length=epoch_length, offset=offset)
    if scoring is None:
        texts = sorted({t for _, _, t in annotations})[:8]
        raise ValueError(
            f"file {str(path)!r}: no sleep stage annotation found ({len(annotations)} annotations"
            + (f"; texts include {', '.join(repr(t) for t in texts)}" if texts else "") + ")"
        )
    return scoring


def read_edf(
    path: str | Path,
    channels: Sequence[str] | None = None,
    dataset: str = "edf",
    subject: str | None = None,
    night: str = "",
    record_id: str | None = None,
    strict: bool = False,
) -> Recording:
    """Read an EDF, EDF+ or BDF file (any data-record length, per-channel rates).

    Parameters
    ----------
    path : str or Path
        The signal file (``.edf``, ``.bdf``, ISRUC ``.rec``).
    channels : sequence of str, optional
        Channel names or aliases to load (``'Fpz-Cz'`` finds ``'EEG Fpz-Cz'``); ``None``
        loads every signal. Only the requested signals are read from disk.
    dataset, subject, night, record_id : str
        Identity of the recording; ``subject`` and ``record_id`` default to the file stem.
    strict : bool
        Refuse a file whose data section holds more records than the header's 'number of
        data records' (by default all are read, with a warning naming both counts). A
        truncated file (fewer) is always refused.

    Returns
    -------
    Recording
        Voltage channels in µV (float32), each at its own rate; embedded EDF+ stage
        annotations become ``scoring`` (``None`` when there are none). ``meta`` holds
        ``start`` (datetime or None), ``reader`` ('pyedflib' or 'tolerant') and
        ``filetype``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        ``file '<path>': ...`` for unreadable files (naming the header field at fault) and
        for channels not in the file (listing those present).
    """
    path = check_file(path, "EDF file")
    source = _open(path, strict)
    try:
        labels = _unique(source.labels)
        stem = _safe_id(path.stem)
        header_only = Recording(
            subject=subject or stem,
            night=night,
            dataset=dataset,
            channels={lab: Channel(lab, np.empty(0, np.float32), sf, unit)
                      for lab, sf, unit in zip(labels, source.sfreqs, source.units)},
            source=path,
            record_id=record_id or stem,
        )
        if channels is None:
            wanted = list(labels)
        else:
            wanted = list(dict.fromkeys(header_only.resolve_channel(c) for c in channels))
        loaded: dict[str, Channel] = {}
        for label in wanted:
            i = labels.index(label)
            factor, unit = unit_scale(source.units[i])
            try:
                values = source.read(i)
            except Exception as exc:  # noqa: BLE001
                raise ValueError(f"file {str(path)!r}: signal {label!r} could not be read ({exc})") from exc
            data = np.asarray(values, dtype=np.float64)
            if factor != 1.0:
                data = data * factor
            limits = None
            if i < len(source.ranges):
                limits = tuple(sorted((source.ranges[i][0] * factor, source.ranges[i][1] * factor)))
            loaded[label] = Channel(label, data.astype(np.float32), source.sfreqs[i], unit, limits)
    finally:
        source.close()
    header_only.channels = loaded
    header_only.scoring = scoring_from_annotations(source.annotations)
    header_only.meta = {"start": source.start, "reader": source.backend, "filetype": source.filetype}
    return header_only
