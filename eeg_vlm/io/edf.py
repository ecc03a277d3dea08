"""EDF, EDF+ and BDF files: signals in µV, embedded stage annotations, clear errors.

pyedflib reads compliant files. Files it refuses for header details that do not affect
the samples (an EDF+ recording field written the old way, a digital minimum outside the
16-bit range, non-ASCII signal labels) go through a tolerant reader in this module that
parses the header field by field and memory-maps the data records. A file that neither
can read raises ``ValueError("file '<path>': <what is wrong>")`` naming the header field
at fault; no library traceback reaches the user.

Voltages are converted to µV from each signal's physical dimension (``uV``, ``µV``,
``mV``, ``V``, ``nV``, any case); other signals keep their unit.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import numpy as np

from eeg_vlm.checks import check_file
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

_ANNOTATION_LABELS = ("edf annotations", "bdf annotations")
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


class _FieldError(ValueError):
    """A header problem, worded without the file name (the caller adds it)."""


@dataclass
class _Source:
    """What both backends offer: header facts, a signal loader and the annotations."""

    labels: list[str]
    units: list[str]
    sfreqs: list[float]
    start: datetime | None
    annotations: list[tuple[float, float, str]]
    read: Callable[[int], np.ndarray]
    backend: str
    ranges: list[tuple[float, float]] = field(default_factory=list)  # physical (min, max) per signal
    filetype: str = ""
    close: Callable[[], None] = field(default=lambda: None)


# --------------------------------------------------------------------------- pyedflib


class _NeedsRawReader(Exception):
    """The tolerant reader must handle this file (pyedflib would misplace its records)."""


def _open_pyedflib(path: Path) -> _Source:
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
    return _Source(
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


# --------------------------------------------------------------------------- tolerant reader


def _text(raw: bytes) -> str:
    """Decode a header field: UTF-8 if valid, else Latin-1 (keeps 'µ'); trimmed."""
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return raw.decode("latin-1").strip()


def _number(raw: bytes, name: str, integer: bool = False) -> float:
    text = raw.decode("ascii", "replace").strip()
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        raise _FieldError(f"header field {name} is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise _FieldError(f"header field {name} is not finite: {text!r}")
    if integer and value != int(value):
        raise _FieldError(f"header field {name} is not an integer: {text!r}")
    return int(value) if integer else value


def _start_time(date: bytes, time: bytes) -> datetime | None:
    try:
        dd, mm, yy = (int(p) for p in date.decode("ascii").strip().split("."))
        hh, mi, ss = (int(p) for p in time.decode("ascii").strip().split("."))
        year = 1900 + yy if yy >= 85 else 2000 + yy
        return datetime(year, mm, dd, hh, mi, ss)
    except (ValueError, UnicodeDecodeError):
        logger.warning("header start date/time %r %r is unreadable; start time unknown", date, time)
        return None


def _parse_tals(raw: bytes) -> tuple[float | None, list[tuple[float, float, str]]]:
    """Time-stamped annotation lists of one data record.

    Returns the record's time-keeping onset (first TAL) and its annotations.
    """
    keeping: float | None = None
    out: list[tuple[float, float, str]] = []
    for tal in raw.split(b"\x00"):
        if not tal:
            continue
        parts = tal.split(b"\x14")
        stamp = parts[0].split(b"\x15", 1)
        try:
            onset = float(stamp[0])
            duration = float(stamp[1]) if len(stamp) > 1 and stamp[1] else 0.0
        except ValueError:
            raise _FieldError(f"annotation time stamp {parts[0][:30]!r} is not a number") from None
        if keeping is None:
            keeping = onset
        for text in parts[1:]:
            text_s = text.decode("utf-8", "replace").strip()
            if text_s:
                out.append((onset, duration, text_s))
    return keeping, out


class _Signal(NamedTuple):
    """One signal's header entry, checked."""

    label: str
    unit: str
    pmin: float
    pmax: float
    dmin: int
    dmax: int
    n_samples: int  # per data record
    annotation: bool


@dataclass
class _Header:
    width: int  # bytes per sample: 2 (EDF) or 3 (BDF)
    kind: str
    start: datetime | None
    header_bytes: int
    reserved: bytes
    n_records: int
    record_duration: float
    signals: list[_Signal]


_SIGNAL_FIELDS = (("label", 16), ("transducer", 80), ("dimension", 8), ("pmin", 8), ("pmax", 8), ("dmin", 8),
                  ("dmax", 8), ("prefilter", 80), ("n_samples", 8), ("reserved", 32))


def _signal_fields(block: bytes, ns: int) -> dict[str, list[bytes]]:
    """Split the signal header block: each field is stored for all signals in turn."""
    fields: dict[str, list[bytes]] = {}
    base = 0
    for name, w in _SIGNAL_FIELDS:
        fields[name] = [block[base + i * w: base + (i + 1) * w] for i in range(ns)]
        base += w * ns
    return fields


def _parse_signals(fields: dict[str, list[bytes]], width: int, path: Path) -> list[_Signal]:
    digital_limit = 2 ** (8 * width - 1)
    signals: list[_Signal] = []
    out_of_range: list[str] = []
    for i, raw_label in enumerate(fields["label"]):
        label = _text(raw_label)
        where = f"of signal {i + 1} ({label!r})"
        n = _number(fields["n_samples"][i], f"'number of samples in each data record' {where}", integer=True)
        if n <= 0:
            raise _FieldError(f"header field 'number of samples in each data record' {where} is {n}; must be > 0")
        if label.lower() in _ANNOTATION_LABELS:
            signals.append(_Signal(label, "", 0.0, 1.0, 0, 1, n, True))
            continue
        pmin = _number(fields["pmin"][i], f"'physical minimum' {where}")
        pmax = _number(fields["pmax"][i], f"'physical maximum' {where}")
        dmin = _number(fields["dmin"][i], f"'digital minimum' {where}", integer=True)
        dmax = _number(fields["dmax"][i], f"'digital maximum' {where}", integer=True)
        if dmax <= dmin:
            raise _FieldError(f"header field 'digital maximum' {where} ({dmax}) must exceed 'digital minimum' ({dmin})")
        if pmax == pmin:
            raise _FieldError(f"header field 'physical maximum' {where} equals 'physical minimum' ({pmin})")
        for name, value in (("digital minimum", dmin), ("digital maximum", dmax)):
            if not -digital_limit <= value < digital_limit:
                out_of_range.append(f"'{name}' {where} = {value}")
        signals.append(_Signal(label, _text(fields["dimension"][i]), pmin, pmax, dmin, dmax, n, False))
    if out_of_range:
        logger.warning(
            "file %r: header field(s) outside the %d-bit range: %s; samples are scaled with the "
            "header's figures", str(path), 8 * width, "; ".join(out_of_range),
        )
    return signals


def _parse_header(path: Path) -> _Header:
    """Read and check an EDF/BDF header field by field (tolerant where samples are safe)."""
    with open(path, "rb") as fh:
        head = fh.read(256)
        if len(head) < 256:
            raise _FieldError(f"header is incomplete ({len(head)} bytes; an EDF header has at least 256)")
        version = head[:8]
        if version == b"\xffBIOSEMI":
            width, kind = 3, "BDF"
        elif version.strip() == b"0":
            width, kind = 2, "EDF"
        else:
            raise _FieldError(f"header field 'version' is {version!r}; this is not an EDF or BDF file")
        header_bytes = _number(head[184:192], "'number of bytes in header record'", integer=True)
        n_records = _number(head[236:244], "'number of data records'", integer=True)
        record_duration = _number(head[244:252], "'duration of a data record'")
        ns = _number(head[252:256], "'number of signals'", integer=True)
        if ns < 0:
            raise _FieldError(f"header field 'number of signals' is negative ({ns})")
        block = fh.read(256 * ns)
    if len(block) < 256 * ns:
        raise _FieldError(f"signal headers are incomplete: {len(block)} of {256 * ns} bytes for {ns} signals")
    if header_bytes != 256 * (ns + 1):
        logger.warning(
            "file %r: header field 'number of bytes in header record' is %d, expected %d for %d "
            "signals; using %d", str(path), header_bytes, 256 * (ns + 1), ns, 256 * (ns + 1),
        )
        header_bytes = 256 * (ns + 1)
    signals = _parse_signals(_signal_fields(block, ns), width, path)
    if record_duration <= 0 and any(not s.annotation for s in signals):
        raise _FieldError(f"header field 'duration of a data record' is {record_duration}; must be > 0")
    if n_records < -1:
        raise _FieldError(f"header field 'number of data records' is {n_records}")
    return _Header(width, kind, _start_time(head[168:176], head[176:184]), header_bytes, head[192:236],
                   n_records, record_duration, signals)


def _available(header: _Header, path: Path) -> int:
    """Complete data records the file holds."""
    record_bytes = sum(s.n_samples for s in header.signals) * header.width
    return max(path.stat().st_size - header.header_bytes, 0) // record_bytes if record_bytes else 0


def _check_size(header: _Header, path: Path, strict: bool = False) -> int:
    """Number of data records to read: what the file holds.

    A truncated file (fewer complete records than the header says) raises. A file holding
    more records than the header says is read whole, with a warning naming both counts
    (``strict`` refuses it instead): pyedflib would read only the header's count.
    """
    record_bytes = sum(s.n_samples for s in header.signals) * header.width
    data_bytes = max(path.stat().st_size - header.header_bytes, 0)
    available = _available(header, path)
    if header.n_records == -1:
        return available
    if header.n_records > available:
        missing = header.n_records * record_bytes - data_bytes
        raise _FieldError(
            f"data section is truncated: header field 'number of data records' says {header.n_records}, "
            f"the file holds {available} complete records ({missing} bytes missing)"
        )
    if available > header.n_records:
        what = (f"header field 'number of data records' says {header.n_records}, the file holds {available} "
                f"complete records ({available * header.record_duration:g} s)")
        if strict:
            raise _FieldError(f"{what}; refused (strict)")
        logger.warning("file %r: %s; reading all %d", str(path), what, available)
    extra = data_bytes - available * record_bytes
    if extra:
        logger.warning("file %r: %d bytes after the last data record are ignored", str(path), extra)
    return available


def _check_timing(keeping: list[float | None], record_duration: float, discontinuous: bool) -> None:
    """EDF+ time-keeping stamps must agree with the header's record duration.

    Records must follow each other without gaps (EDF+D gaps are not supported). Stamps
    spaced at another duration than the header's (the header was edited, the stamps not)
    are refused naming both: the sampling rates would be wrong.
    """
    stamps = [(rec, t) for rec, t in enumerate(keeping) if t is not None]
    if len(stamps) < 2:
        return
    first = stamps[0][1] - stamps[0][0] * record_duration
    bad = [(rec, t) for rec, t in stamps if abs(t - first - rec * record_duration) > 1e-3]
    if not bad:
        return
    spacing = float(np.median(np.diff([t for _, t in stamps]) / np.diff([r for r, _ in stamps])))
    if abs(spacing - record_duration) > 1e-3:
        raise _FieldError(
            f"EDF+ time-stamps contradict the header: data records are {spacing:g} s apart by their "
            f"time-keeping annotations, header field 'duration of a data record' says {record_duration:g} s"
        )
    rec, stamp = bad[0]
    kind = "EDF+D (discontinuous) data records with gaps are not supported" if discontinuous else \
        "EDF+C data records are not contiguous"
    raise _FieldError(f"{kind}: data record {rec + 1} starts at {stamp:g} s, "
                      f"{first + rec * record_duration:g} s expected")


def _open_raw(path: Path, strict: bool = False) -> _Source:
    header = _parse_header(path)
    n_records = _check_size(header, path, strict)
    width, specs = header.width, header.signals
    record_bytes = sum(s.n_samples for s in specs) * width
    data = (np.memmap(path, dtype=np.uint8, mode="r", offset=header.header_bytes, shape=(n_records, record_bytes))
            if n_records else np.zeros((0, record_bytes), np.uint8))
    starts = np.concatenate([[0], np.cumsum([s.n_samples for s in specs])]) * width

    annotations: list[tuple[float, float, str]] = []
    keeping: list[float | None] = []
    annotation_index = [i for i, s in enumerate(specs) if s.annotation]
    for rec in range(n_records):
        for k, i in enumerate(annotation_index):
            stamp, items = _parse_tals(bytes(data[rec, starts[i]: starts[i + 1]]))
            annotations.extend(items)
            if k == 0:
                keeping.append(stamp)
    if header.reserved[:4] in (b"EDF+", b"BDF+") and keeping:
        _check_timing(keeping, header.record_duration, header.reserved[:5] in (b"EDF+D", b"BDF+D"))

    index = [i for i, s in enumerate(specs) if not s.annotation]

    def read(k: int) -> np.ndarray:
        i = index[k]
        raw = np.ascontiguousarray(data[:, starts[i]: starts[i + 1]])
        if width == 2:
            digital = raw.view("<i2").reshape(-1).astype(np.float64)
        else:
            b = raw.reshape(-1, 3).astype(np.int32)
            digital = (((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) ^ 0x800000) - 0x800000).astype(np.float64)
        s = specs[i]
        return (digital - s.dmin) * ((s.pmax - s.pmin) / (s.dmax - s.dmin)) + s.pmin

    signals = [specs[i] for i in index]
    return _Source(
        labels=[s.label for s in signals],
        units=[s.unit for s in signals],
        sfreqs=[s.n_samples / header.record_duration for s in signals],
        start=header.start,
        annotations=annotations,
        read=read,
        backend="tolerant",
        ranges=[(s.pmin, s.pmax) for s in signals],
        filetype=header.kind + ("+" if header.reserved[:4] in (b"EDF+", b"BDF+") else ""),
    )


# --------------------------------------------------------------------------- public


def _open(path: Path, strict: bool = False) -> _Source:
    """pyedflib first; the tolerant reader for what it refuses; one clean error otherwise.

    The data size is checked against the header before pyedflib sees the file: a
    truncated file is refused here (pyedflib would print to stdout), and a file holding
    more records than its header says goes to the tolerant reader, which reads them all.
    """
    try:
        header: _Header | None = _parse_header(path)
    except _FieldError:
        header = None  # pyedflib may still read it; the tolerant reader will name the field
    if header is not None and header.n_records != -1 and _available(header, path) != header.n_records:
        return _open_raw_named(path, strict)  # truncated: refused; longer: read whole
    try:
        return _open_pyedflib(path)
    except Exception as first:  # noqa: BLE001 - pyedflib raises OSError/ValueError/others
        reason = str(first).replace(str(path), "").strip(" :")
        source = _open_raw_named(path, strict, first)
        if not isinstance(first, _NeedsRawReader):
            logger.warning("file %r: pyedflib refused it (%s); read with the tolerant reader", str(path), reason)
        return source


def _open_raw_named(path: Path, strict: bool, cause: BaseException | None = None) -> _Source:
    """The tolerant reader, its problems worded as ``file '<path>': ...``."""
    try:
        return _open_raw(path, strict)
    except _FieldError as exc:
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
