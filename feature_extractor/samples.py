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
    A list of ``{"id", "image": [img, img] | img, "conversations"}``; the first image is used.
``eeg_eval.jsonl``
    One question a line (``question_id``, ``text``, ``image``; the sample id is ``sample_id``
    when present, else ``question_id``), optionally ``stage``.

The record files are read by :mod:`ondisk.records` (one set of required fields each).

Every image path is resolved inside its folder: a path that escapes it is an error naming
the file and row.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feature_extractor.stages import parse_stage
from ondisk import join_inside, read_eval_questions, read_ft_json, read_manifest_rows, read_text
from ondisk.records import eval_sample_id

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


def _csv_rows(path: Path, what: str) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header and the (line number, row) pairs of a labels CSV; the header is line 1."""
    reader = csv.DictReader(io.StringIO(read_text(path, what), newline=""))
    if reader.fieldnames is None:
        raise ValueError(f"{what} {str(path)!r}: empty, no header row")
    header = [c.strip() for c in reader.fieldnames]

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        for row in reader:
            yield reader.line_num, {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}

    return header, rows()


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
    root = Path(image_folder) if image_folder is not None else path.parent
    wanted = _splits(split)
    out = []
    for line, row in read_manifest_rows(path):
        if wanted is not None and row["split"] not in wanted:
            continue
        where = f"manifest {str(path)!r}, line {line}"
        label = parse_stage(row["stage"], where) if (need_labels or row["stage"]) else -1
        out.append(Sample(row["sample_id"], join_inside(root, row["image"], where, "image path"), label, row["split"]))
    return out


def read_labels_csv(
    path: str | Path,
    image_folder: str | Path,
    split: str | list[str] | tuple[str, ...] | None = None,
    image_suffix: str = ".png",
) -> list[Sample]:
    """Samples of a labels CSV whose images live in ``image_folder`` (see module docstring)."""
    path = Path(path)
    header, rows = _csv_rows(path, "labels file")
    if "stage" not in header:
        raise ValueError(f"labels file {str(path)!r}: missing column(s) stage; present: {', '.join(header)}")
    if "image" not in header and "sample_id" not in header:
        raise ValueError(f"labels file {str(path)!r}: needs an 'image' or a 'sample_id' column; present: {', '.join(header)}")
    if split is not None and "split" not in header:
        raise ValueError(f"labels file {str(path)!r}: no 'split' column to select {split!r} from")
    wanted = _splits(split)
    out = []
    for line, row in rows:
        if wanted is not None and row.get("split", "") not in wanted:
            continue
        where = f"labels file {str(path)!r}, line {line}"
        image = row["image"] if "image" in header else f"{row['sample_id']}{image_suffix}"
        full = join_inside(image_folder, image, where, "image path")
        sample_id = row.get("sample_id") or str(Path(image).with_suffix("").as_posix())
        out.append(Sample(sample_id, full, parse_stage(row["stage"], where), row.get("split", "")))
    return out


def _json_records(path: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(where, sample id, record) of an ``eeg_ft.json`` or an ``eeg_eval.jsonl``."""
    if data_kind(path) == "json":
        return [(f"data file {str(path)!r}, entry {i}", str(rec["id"]), rec)
                for i, rec in enumerate(read_ft_json(path))]
    return [(f"data file {str(path)!r}, line {n}", eval_sample_id(rec), rec)
            for n, rec in read_eval_questions(path, "data file")]


def read_sample_ids(path: str | Path, split: str | None = None) -> list[str]:
    """Sample ids of a data file in file order (no image is touched)."""
    path = Path(path)
    if data_kind(path) == "csv":
        return [row["sample_id"] for _, row in read_manifest_rows(path) if split is None or row["split"] == split]
    return [sid for _, sid, _ in _json_records(path)]


def read_data_file(
    path: str | Path,
    image_folder: str | Path | None = None,
    split: str | None = None,
) -> list[Sample]:
    """Samples of an ``eeg_ft.json``, ``eeg_eval.jsonl`` or ``manifest.csv``, in file order.

    Image paths are relative to ``image_folder`` (default: the data file's folder); the
    first entry of an image list is used. Labels are read where present (``stage``), else -1.
    """
    path = Path(path)
    if data_kind(path) == "csv":
        return read_manifest(path, split=split, image_folder=image_folder, need_labels=False)
    root = Path(image_folder) if image_folder is not None else path.parent
    out = []
    for where, sid, rec in _json_records(path):
        image = rec.get("image")
        if image is None:
            raise ValueError(f"{where}: no 'image' field")
        first = image if isinstance(image, str) else image[0]
        stage = rec.get("stage")
        out.append(Sample(sid, join_inside(root, first, where, "image path"), parse_stage(stage, where) if stage else -1))
    return out
