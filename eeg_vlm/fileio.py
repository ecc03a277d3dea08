"""Atomic writes: a file is either its old content or its complete new content, never half.

Every writer in :mod:`eeg_vlm` that produces a file people keep goes through here, so that
a killed job leaves nothing corrupt behind and a rerun can trust what exists.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "write_bytes_atomic", "write_text_atomic", "read_jsonl"]


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", durable: bool = True, **kwargs) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched.
    ``durable=True`` also fsyncs before the rename (survives power loss); bulk writers of
    many small regenerable files (epoch images) pass ``False`` — the rename alone already
    guarantees no half-written file is ever visible.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes_atomic(path: str | Path, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path, "wb", durable=durable) as fh:
        fh.write(data)


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_write(path, "w", encoding=encoding, newline="") as fh:
        fh.write(text)


def read_jsonl(path: str | Path, what: str) -> list[tuple[int, dict]]:
    """The JSON objects of a ``.jsonl`` file with their 1-based line numbers.

    Blank lines are skipped. A line that is not valid JSON, or not an object, raises
    ``ValueError`` naming ``what``, the file and the line.
    """
    out: list[tuple[int, dict]] = []
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{what} {str(path)!r}, line {line_no}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: not valid JSON ({exc.msg})") from None
            if not isinstance(rec, dict):
                raise ValueError(f"{where}: expected a JSON object, got {type(rec).__name__}")
            out.append((line_no, rec))
    return out
