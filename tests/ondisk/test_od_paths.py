"""The path rule: one set of refusals, one wording."""

from __future__ import annotations

import os

import pytest

from ondisk.paths import PROBLEMS, UnsafePathError, check_relative, join_inside

#: path -> the problem every caller must report for it
REFUSED = {
    "": PROBLEMS["empty"],
    "  ": PROBLEMS["empty"],
    "/etc/passwd": PROBLEMS["absolute"],
    "\\etc\\passwd": PROBLEMS["absolute"],
    "C:\\x.png": PROBLEMS["drive"],
    "C:x.png": PROBLEMS["drive"],
    "c:/x.png": PROBLEMS["drive"],
    "\\\\server\\share\\x.png": PROBLEMS["drive"],
    "../x.png": PROBLEMS["dotdot"],
    "a/../b.png": PROBLEMS["dotdot"],
    "a\\..\\b.png": PROBLEMS["dotdot"],
    "a/..": PROBLEMS["dotdot"],
}


@pytest.mark.parametrize("path", sorted(REFUSED))
def test_refused_with_source_and_problem(tmp_path, path):
    for call in (lambda: check_relative(path, "manifest 'm.csv', line 3", "image path"),
                 lambda: join_inside(tmp_path, path, "manifest 'm.csv', line 3", "image path")):
        with pytest.raises(UnsafePathError, match=r"^manifest 'm\.csv', line 3: image path .* " + REFUSED[path]) as exc:
            call()
        assert "\n" not in str(exc.value)


def test_accepted_paths_resolve_inside(tmp_path):
    assert join_inside(tmp_path, "a/b.png", "f") == (tmp_path / "a" / "b.png").resolve()
    assert join_inside(tmp_path, "a\\b.png", "f") == (tmp_path / "a" / "b.png").resolve()
    assert join_inside(tmp_path, "./a.png", "f") == (tmp_path / "a.png").resolve()
    assert check_relative("x..y.png", "f") == "x..y.png"


def test_folder_itself_and_symlink_escape(tmp_path):
    with pytest.raises(UnsafePathError, match=r"f: path '\.' " + PROBLEMS["folder"]):
        join_inside(tmp_path, ".", "f")
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(outside, root / "link")
    with pytest.raises(UnsafePathError, match=r"f: path 'link/x\.png' " + PROBLEMS["outside"]):
        join_inside(root, "link/x.png", "f")


def test_is_a_value_error():
    assert issubclass(UnsafePathError, ValueError)
