"""Small file helpers: atomic writes, paths that stay inside their folder, id sidecars.

A features file ``x/name.npy`` travels with ``x/name.ids.json`` =
``{"count": N, "sample_ids": [...]}`` (the format the LLaVA side reads), so a features file
and a data file that disagree are an error, never a silent misalignment.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = [
    "replace_with_link",
    "write_bytes_atomic",
    "write_text_atomic",
    "write_json_atomic",
    "resolve_inside",
    "sidecar_path",
    "write_sidecar",
    "read_sidecar",
]


def write_bytes_atomic(path: str | Path, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (never half-written).

    ``durable`` also fsyncs before the rename (survives power loss, not only a killed process).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as fh:  # default permissions (umask), unlike mkstemp's 0600
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def replace_with_link(source: str | Path, target: str | Path) -> None:
    """Make ``target`` the same file as ``source`` (hard link, else a copy), atomically.

    Used to keep a second name for a large file without writing it twice; the link survives
    ``source`` later being replaced by a rename.
    """
    import shutil

    source, target = Path(source), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, obj: object) -> None:
    """Write ``obj`` as sorted, indented JSON to ``path`` atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def resolve_inside(root: str | Path, relative: str | Path, where: str = "") -> Path:
    """Join a path read from a data file onto its folder; refuse anything that escapes it.

    Absolute paths, ``..`` and symlinks resolving outside ``root`` raise ``ValueError``
    naming ``where`` (e.g. ``"manifest.csv row 12"``).
    """
    prefix = f"{where}: " if where else ""
    text = str(relative)
    if not text.strip():
        raise ValueError(f"{prefix}image path is empty")
    root_p = Path(root).resolve()
    rel = Path(text)
    if rel.is_absolute():
        raise ValueError(f"{prefix}image path {text!r} is absolute; it must be relative to {str(root_p)!r}")
    full = (root_p / rel).resolve()
    if full != root_p and root_p not in full.parents:
        raise ValueError(f"{prefix}image path {text!r} escapes the folder {str(root_p)!r}")
    return full


def sidecar_path(features_path: str | Path) -> Path:
    """``x/name.npy`` -> ``x/name.ids.json``."""
    p = Path(features_path)
    stem = p.name[: -len(".npy")] if p.name.endswith(".npy") else p.name
    return p.with_name(stem + ".ids.json")


def write_sidecar(features_path: str | Path, sample_ids: Sequence[str]) -> Path:
    """Write ``{"count": N, "sample_ids": [...]}`` beside ``features_path``; return its path."""
    out = sidecar_path(features_path)
    ids = [str(s) for s in sample_ids]
    write_text_atomic(out, json.dumps({"count": len(ids), "sample_ids": ids}))
    return out


def read_sidecar(features_path: str | Path) -> list[str] | None:
    """The sample ids listed beside ``features_path``, or ``None`` when it has no sidecar."""
    side = sidecar_path(features_path)
    if not side.is_file():
        return None
    meta = json.loads(side.read_text(encoding="utf-8"))
    ids = [str(s) for s in meta.get("sample_ids", [])]
    if int(meta.get("count", len(ids))) != len(ids):
        raise ValueError(f"sidecar {str(side)!r}: count {meta.get('count')} but {len(ids)} sample ids listed")
    return ids
