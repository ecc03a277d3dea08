"""Atomic writes: modes follow the umask, failures leave the old file and no temporary."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from ondisk.atomic import atomic_path, atomic_write, replace_with_link, save_npy_atomic, write_bytes_atomic
from ondisk.atomic import write_json_atomic, write_text_atomic
from ondisk.features import write_sidecar
from ondisk.records import write_jsonl_atomic, write_manifest_rows

WRITERS = {
    "text": lambda p: write_text_atomic(p, "a\n"),
    "bytes": lambda p: write_bytes_atomic(p, b"\x00\x01", durable=False),
    "json": lambda p: write_json_atomic(p, {"a": 1}),
    "npy": lambda p: save_npy_atomic(p, np.zeros((2, 1, 3), np.float32)),
    "jsonl": lambda p: write_jsonl_atomic(p, [{"a": 1}]),
    "manifest": lambda p: write_manifest_rows(p, [["R/000000", "d", "s", "1", 0, 0.0, "W", "a.png", ""]]),
    "sidecar": lambda p: write_sidecar(p.with_suffix(".npy"), ["a"]),
}


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o002])
@pytest.mark.parametrize("kind", ["text", "bytes", "json", "npy", "jsonl", "manifest", "sidecar"])
def test_modes_are_those_of_plain_open(tmp_path, umask, kind):
    old = os.umask(umask)
    try:
        plain = tmp_path / "plain.txt"
        with open(plain, "w"):
            pass
        target = tmp_path / "sub" / f"out.{kind}"
        WRITERS[kind](target)
        written = target if kind != "sidecar" else tmp_path / "sub" / "out.ids.json"
        assert _mode(written) == _mode(plain) == 0o666 & ~umask
    finally:
        os.umask(old)
    assert [p.name for p in (tmp_path / "sub").iterdir() if p.name.startswith(".")] == []


def test_failure_keeps_old_content_and_removes_temporary(tmp_path):
    path = tmp_path / "a.json"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(path) as fh:
            fh.write("new")
            raise RuntimeError("boom")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_failing_encoder_leaves_nothing(tmp_path):
    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / "x.json", {"a": object()})
    with pytest.raises(ValueError):
        save_npy_atomic(tmp_path / "x.npy", np.array([{"a": 1}], dtype=object))
    assert list(tmp_path.iterdir()) == []


def test_text_round_trip_keeps_line_ends_and_unicode(tmp_path):
    write_text_atomic(tmp_path / "t.txt", "µV\r\nb\n")
    assert (tmp_path / "t.txt").read_bytes() == "µV\r\nb\n".encode()
    write_json_atomic(tmp_path / "j.json", {"b": "µ", "a": 1})
    assert (tmp_path / "j.json").read_text(encoding="utf-8") == '{\n  "a": 1,\n  "b": "\\u00b5"\n}\n'


def test_mode_must_be_write(tmp_path):
    with pytest.raises(ValueError, match=r"Allowed values are 'w', 'wb', but got 'a' instead"):
        with atomic_write(tmp_path / "x", "a"):
            pass


def test_replace_with_link_survives_source_replacement(tmp_path):
    src, dst = tmp_path / "a.bin", tmp_path / "b" / "a.bin"
    write_bytes_atomic(src, b"one")
    replace_with_link(src, dst)
    write_bytes_atomic(src, b"two")
    assert dst.read_bytes() == b"one"


def test_atomic_path_for_writers_that_want_a_name(tmp_path):
    target = tmp_path / "h.edf"
    with atomic_path(target, suffix=".edf") as tmp:
        assert tmp.name.endswith(".tmp.edf") and tmp.parent == tmp_path
        tmp.write_bytes(b"edf")
    assert target.read_bytes() == b"edf"
    with pytest.raises(OSError, match="disk full"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise OSError("disk full")
    assert target.read_bytes() == b"edf" and sorted(p.name for p in tmp_path.iterdir()) == ["h.edf"]
