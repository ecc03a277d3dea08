"""Sample lists read from the project's data files: who, which image, which stage.

Formats
-------
``manifest.csv``
    Columns ``sample_id, ..., stage, image, split``; ``image`` is relative to the manifest's
    folder. Rows are filtered by ``split``.
labels CSV + image folder
    Columns ``stage`` and ``image`` and/or ``sample_id`` (optional ``split``); ``image`` is
    relative to the image folder; with only ``sample_id`` the image is ``<sample_id>.png``;
    with only ``image`` the id is the image path without its suffix.
``eeg_ft.json``
    A list of ``{"id", "image": [img, img] | img, ...}``; the first image is used.
``eeg_eval.jsonl``
    One object a line with ``sample_id`` (or ``question_id``), ``image`` (list or string) and
    optionally ``stage``.

Every image path is resolved inside its folder: a path that escapes it is an error naming
the file and row.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feature_extractor.files import resolve_inside
from feature_extractor.stages import parse_stage

logger = logging.getLogger(__name__)

__all__ = ["Sample", "read_manifest", "read_labels_csv", "read_data_file", "read_sample_ids", "data_kind"]


@dataclass(frozen=True)
class Sample:
    """One 30-s epoch image: ``label`` is the stage's class index, or -1 when unknown."""

    sample_id: str
    image: Path
    label: int = -1
    split: str = ""


def data_kind(path: str | Path) -> str:
    """``'json'``, ``'jsonl'`` or ``'csv'`` from the file name; anything else is an error."""
    suffix = Path(path).suffix.lower()
    kinds = {".json": "json", ".jsonl": "jsonl", ".csv": "csv"}
    if suffix not in kinds:
        raise ValueError(f"data file {str(path)!r}: unknown format {suffix!r}; expected .json, .jsonl or .csv")
    return kinds[suffix]


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) pairs; the header is line 1."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None:
            raise ValueError(f"file {str(path)!r}: empty, no header row")
        for row in reader:
            yield reader.line_num, {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}


def _require_columns(path: Path, present: list[str], needed: tuple[str, ...]) -> None:
    missing = [c for c in needed if c not in present]
    if missing:
        raise ValueError(f"file {str(path)!r}: missing column(s) {', '.join(missing)}; present: {', '.join(present)}")


def _header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as fh:
        first = next(csv.reader(fh), None)
    if first is None:
        raise ValueError(f"file {str(path)!r}: empty, no header row")
    return [c.strip() for c in first]


def _splits(split: str | list[str] | tuple[str, ...] | None) -> set[str] | None:
    if split is None:
        return None
    return {split} if isinstance(split, str) else set(split)


def read_manifest(
    path: str | Path,
    split: str | list[str] | tuple[str, ...] | None = None,
    image_folder: str | Path | None = None,
    need_labels: bool = True,
) -> list[Sample]:
    """Samples of a ``manifest.csv`` (rows of ``split`` only, when given), in file order.

    ``image`` paths are resolved inside ``image_folder`` (default: the manifest's folder).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest {str(path)!r}: not found")
    needed = ("sample_id", "image") + (("stage",) if need_labels else ()) + (("split",) if split is not None else ())
    _require_columns(path, _header(path), needed)
    root = Path(image_folder) if image_folder is not None else path.parent
    wanted = _splits(split)
    out = []
    for line, row in _csv_rows(path):
        if wanted is not None and row.get("split", "") not in wanted:
            continue
        where = f"manifest {str(path)!r} row {line}"
        label = parse_stage(row["stage"], where) if (need_labels or row.get("stage")) else -1
        out.append(Sample(row["sample_id"], resolve_inside(root, row["image"], where), label, row.get("split", "")))
    return out


def read_labels_csv(
    path: str | Path,
    image_folder: str | Path,
    split: str | list[str] | tuple[str, ...] | None = None,
    image_suffix: str = ".png",
) -> list[Sample]:
    """Samples of a labels CSV whose images live in ``image_folder`` (see module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"labels file {str(path)!r}: not found")
    header = _header(path)
    _require_columns(path, header, ("stage",))
    if "image" not in header and "sample_id" not in header:
        raise ValueError(f"labels file {str(path)!r}: needs an 'image' or a 'sample_id' column; present: {', '.join(header)}")
    if split is not None and "split" not in header:
        raise ValueError(f"labels file {str(path)!r}: no 'split' column to select {split!r} from")
    wanted = _splits(split)
    out = []
    for line, row in _csv_rows(path):
        if wanted is not None and row.get("split", "") not in wanted:
            continue
        where = f"labels file {str(path)!r} row {line}"
        image = row.get("image") or f"{row['sample_id']}{image_suffix}"
        sample_id = row.get("sample_id") or str(Path(image).with_suffix("").as_posix())
        out.append(Sample(sample_id, resolve_inside(image_folder, image, where), parse_stage(row["stage"], where), row.get("split", "")))
    return out


def _first_image(value: Any, where: str) -> str:
    if isinstance(value, list):
        if not value:
            raise ValueError(f"{where}: 'image' is an empty list")
        value = value[0]
    if not isinstance(value, str):
        raise ValueError(f"{where}: 'image' must be a path or a list of paths, got {type(value).__name__}")
    return value


def _json_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, record) pairs of a ``.json`` list or a ``.jsonl`` file."""
    if data_kind(path) == "json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"data file {str(path)!r}: not valid JSON ({exc})") from None
        if not isinstance(data, list):
            raise ValueError(f"data file {str(path)!r}: expected a list of samples, got {type(data).__name__}")
        for i, rec in enumerate(data):
            yield f"data file {str(path)!r} entry {i}", rec
        return
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"data file {str(path)!r} line {n}"
            try:
                yield where, json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: not valid JSON ({exc})") from None


def _record_id(rec: Any, where: str, kind: str) -> str:
    if not isinstance(rec, dict):
        raise ValueError(f"{where}: expected an object, got {type(rec).__name__}")
    keys = ("id",) if kind == "json" else ("sample_id", "question_id")
    for key in keys:
        if rec.get(key) not in (None, ""):
            return str(rec[key])
    raise ValueError(f"{where}: no {' or '.join(repr(k) for k in keys)} field")


def read_sample_ids(path: str | Path, split: str | None = None) -> list[str]:
    """Sample ids of a data file in file order (no image is touched)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file {str(path)!r}: not found")
    kind = data_kind(path)
    if kind == "csv":
        header = _header(path)
        _require_columns(path, header, ("sample_id",) + (("split",) if split is not None else ()))
        return [row["sample_id"] for _, row in _csv_rows(path) if split is None or row.get("split", "") == split]
    return [_record_id(rec, where, kind) for where, rec in _json_records(path)]


def read_data_file(
    path: str | Path,
    image_folder: str | Path | None = None,
    split: str | None = None,
) -> list[Sample]:
    """Samples of an ``eeg_ft.json``, ``eeg_eval.jsonl`` or ``manifest.csv``, in file order.

    Image paths are relative to ``image_folder`` (default: the data file's folder).
    Labels are read where present (``stage``), else -1.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file {str(path)!r}: not found")
    kind = data_kind(path)
    if kind == "csv":
        return read_manifest(path, split=split, image_folder=image_folder, need_labels=False)
    root = Path(image_folder) if image_folder is not None else path.parent
    out = []
    for where, rec in _json_records(path):
        sid = _record_id(rec, where, kind)
        if "image" not in rec:
            raise ValueError(f"{where}: no 'image' field")
        image = resolve_inside(root, _first_image(rec["image"], where), where)
        stage = rec.get("stage")
        out.append(Sample(sid, image, parse_stage(stage, where) if stage else -1))
    return out
