"""The project's record files: one reader (and writer) each, one set of required fields each.

==================  =============================  ==========================================
file                required fields                what else is checked
==================  =============================  ==========================================
``eeg_eval.jsonl``  ``question_id``, ``text``       unique ``question_id``; ``image`` a path or
                                                   a non-empty list of paths
``eeg_ft.json``     ``id``, ``conversations``      a JSON list; unique ``id``; ``image`` a path
                                                   or a list of 1-2 paths
answers lines       ``question_id``, ``text``      unique ``question_id``; ``metadata`` an
                                                   object (upstream fields: ANSWER_FIELDS)
``manifest.csv``    the columns MANIFEST_COLUMNS   exact header; unique, non-empty
                    in order                       ``sample_id``; ``image`` passes the path rule
==================  =============================  ==========================================

Every error is one line naming the file and the line (or list entry). A file that is not
UTF-8 text (a binary file given by mistake) is a one-line error naming the file. Field
values beyond these checks (stages, numbers) are the callers' business.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from ondisk.atomic import write_text_atomic
from ondisk.paths import check_relative

logger = logging.getLogger(__name__)

__all__ = [
    "EVAL_JSONL", "FT_JSON", "ANSWERS_JSONL", "MANIFEST_CSV",
    "EVAL_REQUIRED", "FT_REQUIRED", "ANSWER_REQUIRED", "ANSWER_FIELDS", "MANIFEST_COLUMNS",
    "read_text", "read_jsonl", "parse_json_line", "eval_sample_id", "read_eval_questions", "read_ft_json", "read_answers",
    "check_answer", "write_answers_line", "write_jsonl_atomic", "read_manifest_rows", "write_manifest_rows",
    "manifest_csv_text",
]

EVAL_JSONL = "eeg_eval.jsonl"
FT_JSON = "eeg_ft.json"
ANSWERS_JSONL = "answers.jsonl"
MANIFEST_CSV = "manifest.csv"

EVAL_REQUIRED: tuple[str, ...] = ("question_id", "text")
FT_REQUIRED: tuple[str, ...] = ("id", "conversations")
ANSWER_REQUIRED: tuple[str, ...] = ("question_id", "text")
#: The fields upstream ``model_vqa`` writes on every answer line.
ANSWER_FIELDS: tuple[str, ...] = ("question_id", "prompt", "text", "answer_id", "model_id", "metadata")
MANIFEST_COLUMNS: tuple[str, ...] = (
    "sample_id", "dataset", "subject", "night", "epoch", "onset_s", "stage", "image", "split",
)


def read_text(path: str | Path, what: str = "file") -> str:
    """The UTF-8 text of ``path``; a missing or binary file is a one-line error naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {str(path)!r}: not found")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what} {str(path)!r}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                         f"{exc.start}); is it a binary file?") from None


def parse_json_line(line: str | bytes, where: str) -> dict:
    """One JSON object from one line; ``ValueError`` naming ``where`` otherwise."""
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{where}: not UTF-8 text; is it a binary file?") from None
    if not isinstance(rec, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(rec).__name__}")
    return rec


def read_jsonl(path: str | Path, what: str) -> list[tuple[int, dict]]:
    """The JSON objects of a ``.jsonl`` file with their 1-based line numbers (blank lines skipped)."""
    out: list[tuple[int, dict]] = []
    for line_no, line in enumerate(read_text(path, what).splitlines(), start=1):
        if line.strip():
            out.append((line_no, parse_json_line(line, f"{what} {str(path)!r}, line {line_no}")))
    return out


def _require(rec: dict, fields: Sequence[str], where: str) -> None:
    missing = [k for k in fields if k not in rec]
    if missing:
        raise ValueError(f"{where}: missing field(s) {', '.join(map(repr, missing))}; present: {sorted(rec)}")


def _check_images(value: Any, where: str, most: int | None = None) -> None:
    ok = value is None or isinstance(value, str) or (
        isinstance(value, list) and value and all(isinstance(v, str) for v in value)
        and (most is None or len(value) <= most))
    if not ok:
        size = "a non-empty list of paths" if most is None else f"a list of 1-{most} paths"
        raise ValueError(f"{where}: 'image' must be a path or {size}, got {value!r}")


def _unique(key: str, seen: dict[str, Any], value: Any, where: str, at: Any) -> None:
    k = str(value)
    if k in seen:
        raise ValueError(f"{where}: duplicate {key} {value!r} (first at {seen[k]})")
    seen[k] = at


def eval_sample_id(rec: dict) -> str:
    """A question's sample id: its ``sample_id`` when it has one, else its ``question_id``."""
    sid = rec.get("sample_id")
    return str(rec["question_id"] if sid in (None, "") else sid)


def read_eval_questions(path: str | Path, what: str = "question file") -> list[tuple[int, dict]]:
    """The questions of an ``eeg_eval.jsonl`` with their line numbers, checked (see module table)."""
    out: list[tuple[int, dict]] = []
    seen: dict[str, Any] = {}
    for line_no, rec in read_jsonl(path, what):
        where = f"{what} {str(path)!r}, line {line_no}"
        _require(rec, EVAL_REQUIRED, where)
        if not isinstance(rec["text"], str):
            raise ValueError(f"{where}: 'text' must be a string, got {type(rec['text']).__name__}")
        _check_images(rec.get("image"), where)
        _unique("question_id", seen, rec["question_id"], where, f"line {line_no}")
        out.append((line_no, rec))
    return out


def read_ft_json(path: str | Path, what: str = "data file") -> list[dict]:
    """The entries of an ``eeg_ft.json`` (upstream LLaVA conversations), checked (see module table)."""
    where = f"{what} {str(path)!r}"
    try:
        data = json.loads(read_text(path, what))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(data, list):
        raise ValueError(f"{where}: expected a list of samples, got {type(data).__name__}")
    seen: dict[str, Any] = {}
    for i, rec in enumerate(data):
        at = f"{where}, entry {i}"
        if not isinstance(rec, dict):
            raise ValueError(f"{at}: expected a JSON object, got {type(rec).__name__}")
        _require(rec, FT_REQUIRED, at)
        if not isinstance(rec["conversations"], list):
            raise ValueError(f"{at}: 'conversations' must be a list, got {type(rec['conversations']).__name__}")
        _check_images(rec.get("image"), at, most=2)
        _unique("id", seen, rec["id"], at, f"entry {i}")
    return data


def check_answer(rec: dict, where: str) -> dict:
    """Raise ``ValueError`` unless ``rec`` has the required answer fields and a dict ``metadata``."""
    _require(rec, ANSWER_REQUIRED, where)
    meta = rec.get("metadata", {})
    if meta is not None and not isinstance(meta, dict):
        raise ValueError(f"{where}: 'metadata' must be an object, got {type(meta).__name__}")
    return rec


def read_answers(path: str | Path, what: str = "answers file") -> list[tuple[int, dict]]:
    """The lines of an ``answers.jsonl`` with their line numbers, checked (see module table)."""
    out: list[tuple[int, dict]] = []
    seen: dict[str, Any] = {}
    for line_no, rec in read_jsonl(path, what):
        where = f"{what} {str(path)!r}, line {line_no}"
        check_answer(rec, where)
        _unique("question_id", seen, rec["question_id"], where, f"line {line_no}")
        out.append((line_no, rec))
    return out


def write_answers_line(fh: IO[str], record: dict) -> None:
    """Append one answer line to an open text file and flush it (resumable runs)."""
    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    fh.flush()


def write_jsonl_atomic(path: str | Path, records: Iterable[dict]) -> None:
    """Write ``records`` one JSON object a line (UTF-8) atomically."""
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def read_manifest_rows(path: str | Path, what: str = "manifest") -> list[tuple[int, dict[str, str]]]:
    """The rows of a ``manifest.csv`` as ``(line, {column: text})``, header and ids checked.

    ``image`` passes :func:`ondisk.paths.check_relative`; field values are otherwise text.
    """
    path = Path(path)
    reader = csv.reader(io.StringIO(read_text(path, what), newline=""))
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != MANIFEST_COLUMNS:
        raise ValueError(f"{what} {str(path)!r}, line 1: header is {','.join(header or [])!r}; "
                         f"expected {','.join(MANIFEST_COLUMNS)!r}")
    rows: list[tuple[int, dict[str, str]]] = []
    seen: dict[str, int] = {}
    for values in reader:
        line = reader.line_num
        if not values:
            continue
        where = f"{what} {str(path)!r}, line {line}"
        if len(values) != len(MANIFEST_COLUMNS):
            raise ValueError(f"{where}: {len(values)} fields; expected {len(MANIFEST_COLUMNS)} "
                             f"({','.join(MANIFEST_COLUMNS)})")
        row = dict(zip(MANIFEST_COLUMNS, values))
        sid = row["sample_id"]
        if not sid:
            raise ValueError(f"{where}: field 'sample_id' is empty")
        if sid in seen:
            raise ValueError(f"{where}: field 'sample_id' {sid!r} repeats line {seen[sid]}")
        seen[sid] = line
        check_relative(row["image"], where, "field 'image'")
        rows.append((line, row))
    return rows


def manifest_csv_text(rows: Iterable[Sequence[Any]]) -> str:
    """CSV text (header + ``\\n`` line ends) of rows given in :data:`MANIFEST_COLUMNS` order."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(MANIFEST_COLUMNS)
    w.writerows(rows)
    return buf.getvalue()


def write_manifest_rows(path: str | Path, rows: Iterable[Sequence[Any]]) -> Path:
    """Write a ``manifest.csv`` atomically from rows in :data:`MANIFEST_COLUMNS` order."""
    write_text_atomic(path, manifest_csv_text(rows))
    return Path(path)
