"""Input validation with one wording for every error in the project.

Errors read ``<where>: <what> <problem>; <context>``. ``ValueError`` for bad values,
``TypeError`` for bad types, ``FileNotFoundError`` for missing paths. No ``assert`` on user
input: ``python -O`` would remove it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["check_option", "validate_type", "suggest", "check_file"]


def suggest(value: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""``.

    Matching is case-insensitive and also tries containment, so ``'Fpz-Cz'`` suggests
    ``'EEG Fpz-Cz'``.
    """
    choices = [str(c) for c in choices]
    low = {c.lower(): c for c in choices}
    v = str(value).lower()
    contained = [c for c in choices if v and (v in c.lower() or c.lower() in v)]
    if contained:
        return f" (did you mean {contained[0]!r}?)"
    close = difflib.get_close_matches(v, list(low), n=1, cutoff=0.6)
    return f" (did you mean {low[close[0]]!r}?)" if close else ""


def check_option(name: str, value: Any, allowed: Iterable[Any], where: str = "") -> Any:
    """Raise ``ValueError`` unless ``value`` is one of ``allowed``; return ``value``.

    >>> check_option("fusion", "add", ("none", "raw", "add"))
    'add'
    """
    allowed = list(allowed)
    if value in allowed:
        return value
    prefix = f"{where}: " if where else ""
    listed = ", ".join(repr(a) for a in allowed)
    hint = suggest(str(value), [str(a) for a in allowed]) if isinstance(value, str) else ""
    raise ValueError(
        f"{prefix}invalid value for the {name!r} parameter. Allowed values are {listed}, "
        f"but got {value!r} instead{hint}"
    )


def validate_type(name: str, value: Any, types: type | tuple[type, ...], where: str = "") -> Any:
    """Raise ``TypeError`` unless ``value`` is an instance of ``types``; return ``value``."""
    if isinstance(value, types):
        return value
    tup = types if isinstance(types, tuple) else (types,)
    names = " or ".join(t.__name__ for t in tup)
    prefix = f"{where}: " if where else ""
    raise TypeError(f"{prefix}{name} must be an instance of {names}, got {type(value).__name__} instead")


def check_file(path: str | Path, what: str = "file") -> Path:
    """Return ``path`` as a ``Path`` or raise ``FileNotFoundError`` naming it."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} {str(p)!r}: not found")
    return p

