"""Atomic writes: a file holds either its old content or its complete new content.

The new content goes to a temporary file beside the target, created with a plain
``open(..., "x")`` so it gets the mode any ``open()`` would give under the user's umask
(``tempfile.mkstemp`` would force 0600 and make outputs unreadable to the rest of a group),
then it is renamed over the target. On any failure the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "atomic_write",
    "atomic_path",
    "write_bytes_atomic",
    "write_text_atomic",
    "write_json_atomic",
    "save_npy_atomic",
    "replace_with_link",
    "temp_path",
]


def temp_path(path: str | Path) -> Path:
    """A fresh hidden name beside ``path``: ``.<name>.<pid>.<random>.tmp``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", durable: bool = True, **kwargs: Any) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    ``mode`` is ``"w"`` (text; ``kwargs`` go to ``open``, e.g. ``encoding``, ``newline``) or
    ``"wb"``. ``durable`` also fsyncs before the rename (survives power loss); bulk writers
    of many small regenerable files pass ``False``: the rename alone already guarantees no
    half-written file is ever visible. On any exception ``path`` is left untouched and the
    temporary file is removed.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: invalid value for the 'mode' parameter. Allowed values are 'w', 'wb', "
                         f"but got {mode!r} instead")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    if mode == "w":
        kwargs.setdefault("encoding", "utf-8")
    try:
        with open(tmp, mode.replace("w", "x"), **kwargs) as fh:
            yield fh
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that wants a file name (e.g. pyedflib).

    The writer creates the file itself (so it gets the umask's mode); on success it is
    renamed over ``path``, on any exception removed. ``suffix`` is appended to the temporary
    name for writers that check the extension (``".edf"``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    tmp = tmp.with_name(tmp.name + suffix)
    try:
        yield tmp
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
    """Write ``text`` to ``path`` atomically (line ends as given)."""
    with atomic_write(path, "w", encoding=encoding, newline="") as fh:
        fh.write(text)


def write_json_atomic(path: str | Path, obj: Any, sort_keys: bool = True, indent: int | None = 2,
                      ensure_ascii: bool = True) -> None:
    """Write ``obj`` as JSON atomically: sorted keys, indented by 2, ASCII (by default), a final newline."""
    write_text_atomic(path, json.dumps(obj, indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii) + "\n")


def save_npy_atomic(path: str | Path, array: np.ndarray, durable: bool = True) -> None:
    """Save ``array`` as a plain ``.npy`` (never pickled) atomically."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    write_bytes_atomic(path, buf.getvalue(), durable=durable)


def replace_with_link(source: str | Path, target: str | Path, link: bool = True) -> None:
    """Make ``target`` the same file as ``source`` (hard link, else a copy), atomically.

    Keeps a second name for a large file without writing it twice; the link survives
    ``source`` later being replaced by a rename. ``link=False`` always copies.
    """
    source, target = Path(source), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(target)
    try:
        try:
            if not link:
                raise OSError("copy asked for")
            os.link(source, tmp)
        except OSError:  # another file system, or links not allowed: copy
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
