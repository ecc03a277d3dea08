"""Question files, chunks and resumable answer files for ``model_vqa``.

A question file is JSON lines, one question per line, with at least ``question_id`` and
``text``; ``image`` is a path or a list of paths relative to the image folder (EEG-VLM
questions carry ``[img, img]``: the second entry is the placeholder whose slot receives the
sample's high-level features). Extra fields (``sample_id``, ``stage``, ...) are kept.

A question's ``index`` is its position among the question records of the WHOLE file
(blank lines do not count), before any chunking: it is the row of the features file that
belongs to it, whichever chunk or process answers it.

An answer file is JSON lines too, written one line at a time and flushed, so a run that is
killed can be resumed: answered questions are skipped, and a last line cut off mid-write is
dropped and redone.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ondisk.records import check_answer, eval_sample_id, parse_json_line, read_eval_questions, write_answers_line

logger = logging.getLogger(__name__)

__all__ = [
    "Question",
    "read_questions",
    "chunk_bounds",
    "select_chunk",
    "question_key",
    "new_answer_id",
    "answer_record",
    "read_answered",
    "AnswerWriter",
]

_ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"  # 57 symbols


@dataclass(frozen=True)
class Question:
    """One line of a question file.

    Attributes
    ----------
    index : int
        Position among the questions of the whole file (0-based), before chunking.
    question_id : str or int
        As written in the file (echoed unchanged in the answer).
    text : str
        The question, usually without ``<image>`` tags (``model_vqa`` adds them).
    images : tuple of str
        Image paths relative to the image folder; empty for a text-only question.
    record : dict
        The whole JSON object, extra fields included.
    """

    index: int
    question_id: Any
    text: str
    images: tuple[str, ...] = ()
    record: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> str:
        return question_key(self.question_id)

    @property
    def sample_id(self) -> str:
        """``sample_id`` when the question has one, else its ``question_id``."""
        return eval_sample_id(self.record)


def question_key(question_id: Any) -> str:
    """The string a question id is compared by (answer files may store ints or strings)."""
    return str(question_id)


def read_questions(path: str | Path) -> list[Question]:
    """Read every question of an ``eeg_eval.jsonl``, in file order (:func:`ondisk.read_eval_questions`).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        A line is not a JSON object, lacks ``question_id`` or ``text``, has a ``text`` that
        is not a string or an ``image`` that is neither a path nor a list of paths, or
        repeats an id (answers are matched to questions by id).
    """
    records = read_eval_questions(path, "question file")
    return [Question(index=i, question_id=rec["question_id"], text=rec["text"], record=rec,
                     images=() if rec.get("image") is None else (rec["image"],) if isinstance(rec["image"], str)
                     else tuple(rec["image"]))
            for i, (_, rec) in enumerate(records)]


def chunk_bounds(total: int, num_chunks: int, chunk_idx: int) -> tuple[int, int]:
    """``[start, stop)`` of chunk ``chunk_idx`` when ``total`` items are split in ``num_chunks``.

    Upstream's split: chunks of ``ceil(total / num_chunks)`` consecutive items. When that
    leaves fewer non-empty chunks than ``num_chunks``, the last ones are empty (upstream
    raised ``IndexError`` there).
    """
    if not isinstance(num_chunks, int) or num_chunks < 1:
        raise ValueError(f"chunks: num_chunks must be a positive integer, got {num_chunks!r}")
    if not isinstance(chunk_idx, int) or not 0 <= chunk_idx < num_chunks:
        raise ValueError(f"chunks: chunk_idx must be in 0..{num_chunks - 1}, got {chunk_idx!r}")
    size = math.ceil(total / num_chunks) if total else 0
    start = min(total, chunk_idx * size)
    return start, min(total, start + size)


def select_chunk(items: Sequence, num_chunks: int, chunk_idx: int) -> list:
    """The items of chunk ``chunk_idx`` (see :func:`chunk_bounds`)."""
    start, stop = chunk_bounds(len(items), num_chunks, chunk_idx)
    return list(items[start:stop])


def new_answer_id() -> str:
    """A fresh 22-character random id (about 128 bits), like upstream's ``shortuuid``."""
    n = secrets.randbits(128)
    chars = []
    for _ in range(22):
        n, r = divmod(n, len(_ID_ALPHABET))
        chars.append(_ID_ALPHABET[r])
    return "".join(chars)


def answer_record(question: Question, prompt: str, text: str, model_id: str, metadata: dict | None = None) -> dict:
    """One answer line: ``question_id, prompt, text, answer_id, model_id, metadata``.

    ``metadata`` starts with the question's ``sample_id`` and ground-truth ``stage`` when the
    question has them, then takes ``metadata`` (e.g. label-scoring ``probs`` and ``pred``).
    """
    meta: dict[str, Any] = {}
    for key in ("sample_id", "stage"):
        if key in question.record:
            meta[key] = question.record[key]
    meta.update(metadata or {})
    return {
        "question_id": question.question_id,
        "prompt": prompt,
        "text": text,
        "answer_id": new_answer_id(),
        "model_id": model_id,
        "metadata": meta,
    }


def read_answered(path: str | Path, repair: bool = True) -> set[str]:
    """Keys of the questions already answered in ``path`` (empty when it does not exist).

    A last line cut off mid-write (not valid JSON) is removed from the file when ``repair``
    is true, so that question is answered again; a complete last line missing only its
    newline gets one. A broken line anywhere else is an error: the file was not written by
    an append-only run and guessing would lose answers.
    """
    path = Path(path)
    if not path.exists():
        return set()
    data = path.read_bytes()
    keys: set[str] = set()
    good_end = 0  # byte offset just after the last good line
    pos = 0
    lines = data.split(b"\n")
    for i, raw in enumerate(lines):
        is_last = i == len(lines) - 1
        end = pos + len(raw) + (0 if is_last else 1)
        if raw.strip():
            try:
                rec = check_answer(parse_json_line(raw, "answer"), "answer")
            except ValueError as exc:
                rest_blank = all(not r.strip() for r in lines[i + 1 :])
                if not rest_blank:
                    raise ValueError(
                        f"answers file {str(path)!r}: line {i + 1} is not a complete answer ({exc}); "
                        "only the last line may be cut off by an interrupted run"
                    ) from None
                if not repair:
                    logger.warning("answers file %s: last line is cut off; it will be redone", path)
                    break
                logger.warning("answers file %s: dropping the cut-off last line (%d bytes); it will be redone", path, len(raw))
                _truncate(path, good_end)
                return keys
            keys.add(question_key(rec["question_id"]))
            good_end = end
        pos = end
    if repair and data and not data.endswith(b"\n"):
        with path.open("ab") as fh:
            fh.write(b"\n")
    return keys


def _truncate(path: Path, size: int) -> None:
    with path.open("r+b") as fh:
        fh.truncate(size)
        fh.flush()
        os.fsync(fh.fileno())


class AnswerWriter:
    """Append answers to a JSON-lines file, one flushed line per answer.

    Use as a context manager; ``overwrite=True`` starts the file afresh instead of
    appending to it.
    """

    def __init__(self, path: str | Path, overwrite: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("w" if overwrite else "a", encoding="utf-8")
        self.count = 0

    def write(self, record: dict) -> None:
        write_answers_line(self._fh, record)
        self.count += 1

    def write_all(self, records: Iterable[dict]) -> None:
        for rec in records:
            self.write(rec)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()

    def __enter__(self) -> AnswerWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
