"""The one rule for a path read from a data file: it must stay inside its folder.

A path written in a manifest, a json or a jsonl is refused, the same way by every caller,
when it is empty, absolute (POSIX ``/x`` or Windows ``\\x``), carries a Windows drive
(``C:\\x``, ``C:x``, ``\\\\server\\share``), has a ``..`` component anywhere (also
``a/../b.png``, which would stay inside but is never written by this project), or resolves
through a symbolic link to somewhere outside the folder. The check is the same on every
operating system: ``\\`` counts as a separator.
"""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath, PureWindowsPath

logger = logging.getLogger(__name__)

__all__ = ["UnsafePathError", "PROBLEMS", "check_relative", "join_inside"]

#: The problem wording of each refusal (tests match on these).
PROBLEMS = {
    "empty": "is empty",
    "absolute": "is absolute",
    "drive": "has a drive",
    "dotdot": "has a '..' component",
    "outside": "resolves outside its folder",
    "folder": "names the folder itself",
}


class UnsafePathError(ValueError):
    """A path from a data file that would leave (or does not name anything in) its folder."""


def _problem(text: str) -> str | None:
    if not text.strip():
        return "empty"
    win = PureWindowsPath(text)
    if win.drive:
        return "drive"
    if PurePosixPath(text).is_absolute() or win.root:
        return "absolute"
    if ".." in PurePosixPath(text.replace("\\", "/")).parts:
        return "dotdot"
    return None


def check_relative(relative: str | Path, source: str, what: str = "path") -> str:
    """Return ``relative`` as text when it is a safe relative path, else raise.

    Parameters
    ----------
    relative : str or Path
        The path as written in the data file.
    source : str
        Where it came from, named in the error, e.g. ``"manifest 'a/manifest.csv', line 3"``.
    what : str
        What the path is, e.g. ``"image path"``.

    Raises
    ------
    UnsafePathError
        One line: ``<source>: <what> '<path>' <problem>; expected a path relative to its folder``.
    """
    text = str(relative)
    problem = _problem(text)
    if problem is not None:
        raise UnsafePathError(f"{source}: {what} {text!r} {PROBLEMS[problem]}; "
                              "expected a path relative to its folder, without '..'")
    return text


def join_inside(root: str | Path, relative: str | Path, source: str, what: str = "path") -> Path:
    """``root / relative`` resolved, after :func:`check_relative`; refuses symlink escapes.

    The file need not exist. ``\\`` in ``relative`` is read as a separator.
    """
    text = check_relative(relative, source, what)
    root_p = Path(root).resolve()
    full = (root_p / text.replace("\\", "/")).resolve()
    if full == root_p:
        raise UnsafePathError(f"{source}: {what} {text!r} {PROBLEMS['folder']} {str(root_p)!r}; expected a file in it")
    if root_p not in full.parents:
        raise UnsafePathError(f"{source}: {what} {text!r} {PROBLEMS['outside']} {str(root_p)!r} "
                              f"(to {str(full)!r}: symbolic link?)")
    return full
