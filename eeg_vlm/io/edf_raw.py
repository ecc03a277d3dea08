"""The tolerant EDF/BDF reader: header checked field by field, data records memory-mapped.

It reads files pyedflib refuses for header details that do not affect the samples (an
EDF+ recording field written the old way, a digital minimum outside the 16-bit range,
non-ASCII labels) and files whose data section disagrees with the header's record count.
What it cannot read safely it refuses with a :class:`FieldError` worded without the file
name (:mod:`eeg_vlm.io.edf` adds it): a truncated data section, EDF+ time-keeping stamps
that contradict the header's record duration, EDF+D records with gaps.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["ANNOTATION_LABELS", "FieldError", "Header", "Source", "available_records", "open_raw",
           "parse_header"]

ANNOTATION_LABELS = ("edf annotations", "bdf annotations")


class FieldError(ValueError):
    """A header problem, worded without the file name (the caller adds it)."""


@dataclass
class Source:
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
        raise FieldError(f"header field {name} is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise FieldError(f"header field {name} is not finite: {text!r}")
    if integer and value != int(value):
        raise FieldError(f"header field {name} is not an integer: {text!r}")
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
            raise FieldError(f"annotation time stamp {parts[0][:30]!r} is not a number") from None
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
class Header:
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
            raise FieldError(f"header field 'number of samples in each data record' {where} is {n}; must be > 0")
        if label.lower() in ANNOTATION_LABELS:
            signals.append(_Signal(label, "", 0.0, 1.0, 0, 1, n, True))
            continue
        pmin = _number(fields["pmin"][i], f"'physical minimum' {where}")
        pmax = _number(fields["pmax"][i], f"'physical maximum' {where}")
        dmin = _number(fields["dmin"][i], f"'digital minimum' {where}", integer=True)
        dmax = _number(fields["dmax"][i], f"'digital maximum' {where}", integer=True)
        if dmax <= dmin:
            raise FieldError(f"header field 'digital maximum' {where} ({dmax}) must exceed 'digital minimum' ({dmin})")
        if pmax == pmin:
            raise FieldError(f"header field 'physical maximum' {where} equals 'physical minimum' ({pmin})")
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


def parse_header(path: Path) -> Header:
    """Read and check an EDF/BDF header field by field (tolerant where samples are safe)."""
    with open(path, "rb") as fh:
        head = fh.read(256)
        if len(head) < 256:
            raise FieldError(f"header is incomplete ({len(head)} bytes; an EDF header has at least 256)")
        version = head[:8]
        if version == b"\xffBIOSEMI":
            width, kind = 3, "BDF"
        elif version.strip() == b"0":
            width, kind = 2, "EDF"
        else:
            raise FieldError(f"header field 'version' is {version!r}; this is not an EDF or BDF file")
        header_bytes = _number(head[184:192], "'number of bytes in header record'", integer=True)
        n_records = _number(head[236:244], "'number of data records'", integer=True)
        record_duration = _number(head[244:252], "'duration of a data record'")
        ns = _number(head[252:256], "'number of signals'", integer=True)
        if ns < 0:
            raise FieldError(f"header field 'number of signals' is negative ({ns})")
        block = fh.read(256 * ns)
    if len(block) < 256 * ns:
        raise FieldError(f"signal headers are incomplete: {len(block)} of {256 * ns} bytes for {ns} signals")
    if header_bytes != 256 * (ns + 1):
        logger.warning(
            "file %r: header field 'number of bytes in header record' is %d, expected %d for %d "
            "signals; using %d", str(path), header_bytes, 256 * (ns + 1), ns, 256 * (ns + 1),
        )
        header_bytes = 256 * (ns + 1)
    signals = _parse_signals(_signal_fields(block, ns), width, path)
    if record_duration <= 0 and any(not s.annotation for s in signals):
        raise FieldError(f"header field 'duration of a data record' is {record_duration}; must be > 0")
    if n_records < -1:
        raise FieldError(f"header field 'number of data records' is {n_records}")
    return Header(width, kind, _start_time(head[168:176], head[176:184]), header_bytes, head[192:236],
                   n_records, record_duration, signals)


def available_records(header: Header, path: Path) -> int:
    """Complete data records the file holds."""
    record_bytes = sum(s.n_samples for s in header.signals) * header.width
    return max(path.stat().st_size - header.header_bytes, 0) // record_bytes if record_bytes else 0


def _check_size(header: Header, path: Path, strict: bool = False) -> int:
    """Number of data records to read: what the file holds.

    A truncated file (fewer complete records than the header says) raises. A file holding
    more records than the header says is read whole, with a warning naming both counts
    (``strict`` refuses it instead): pyedflib would read only the header's count.
    """
    record_bytes = sum(s.n_samples for s in header.signals) * header.width
    data_bytes = max(path.stat().st_size - header.header_bytes, 0)
    available = available_records(header, path)
    if header.n_records == -1:
        return available
    if header.n_records > available:
        missing = header.n_records * record_bytes - data_bytes
        raise FieldError(
            f"data section is truncated: header field 'number of data records' says {header.n_records}, "
            f"the file holds {available} complete records ({missing} bytes missing)"
        )
    if available > header.n_records:
        what = (f"header field 'number of data records' says {header.n_records}, the file holds {available} "
                f"complete records ({available * header.record_duration:g} s)")
        if strict:
            raise FieldError(f"{what}; refused (strict)")
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
        raise FieldError(
            f"EDF+ time-stamps contradict the header: data records are {spacing:g} s apart by their "
            f"time-keeping annotations, header field 'duration of a data record' says {record_duration:g} s"
        )
    rec, stamp = bad[0]
    kind = "EDF+D (discontinuous) data records with gaps are not supported" if discontinuous else \
        "EDF+C data records are not contiguous"
    raise FieldError(f"{kind}: data record {rec + 1} starts at {stamp:g} s, "
                      f"{first + rec * record_duration:g} s expected")


def open_raw(path: Path, strict: bool = False) -> Source:
    header = parse_header(path)
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
    return Source(
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
