"""Settings dataclasses as the API: one JSON form and one command line per config.

A config is a ``@dataclass`` whose fields carry ``metadata={"help": ...}`` and whose
``__post_init__`` checks the values. :class:`Config` gives every such class

- :meth:`Config.to_dict` / :meth:`Config.to_json`: sorted, indented JSON (tuples as lists,
  paths as strings), the form saved beside every artefact;
- :meth:`Config.from_dict` / :meth:`Config.from_json`: the reverse; unknown keys are named
  in a warning and ignored, so an older reader can open a newer file;
- :meth:`Config.add_arguments` / :meth:`Config.from_args`: the argparse options built from
  the fields, so each default and help text is written once, in the dataclass.

Field metadata the command line reads: ``help`` (required for a flag), ``flag`` (the
option name; default ``--field-name``), ``type`` (a parser for one value), ``choices``,
``metavar``, ``action="append"`` (a repeatable option, one value each time),
``action="extend"`` (repeatable, several values each time) and ``cli=False`` (not on the
command line).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from ondisk import write_text_atomic

logger = logging.getLogger(__name__)

__all__ = ["Config", "minutes_or_none"]

C = TypeVar("C", bound="Config")


def minutes_or_none(value: str) -> float | None:
    """Command-line parser: minutes >= 0, or ``none`` for "no limit"."""
    if value.strip().lower() in ("none", "all", "off"):
        return None
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected minutes or 'none', got {value!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected minutes >= 0 or 'none', got {value!r}")
    return v


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


class Config:
    """Mixin for settings dataclasses (see the module docstring)."""

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready values."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def to_json(self, path: str | Path | None = None) -> str:
        """Sorted, indented JSON of :meth:`to_dict`; also written (atomically) to ``path``."""
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        if path is not None:
            write_text_atomic(Path(path), text)
        return text

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any], where: str = "") -> C:
        """Build from a dict; unknown keys are named in a warning and left out."""
        if not isinstance(data, dict):
            raise TypeError(f"{where or cls.__name__}: expected a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            logger.warning("%s: unknown %s key(s) ignored: %s", where or cls.__name__, cls.__name__,
                           ", ".join(unknown))
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def from_json(cls: type[C], path: str | Path) -> C:
        """Read a file written by :meth:`to_json`."""
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"config file {str(p)!r}: not found")
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"config file {str(p)!r}: not valid JSON ({exc.msg})") from None
        return cls.from_dict(data, where=f"config file {str(p)!r}")

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser | argparse._ArgumentGroup,
                      skip: Iterable[str] = ()) -> None:
        """Add one option per field with help text (defaults and help from the dataclass)."""
        skip = set(skip)
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name in skip or not f.metadata.get("cli", True) or "help" not in f.metadata:
                continue
            _add_option(parser, f, hints[f.name])

    @classmethod
    def from_args(cls: type[C], args: argparse.Namespace, **values: Any) -> C:
        """Build from parsed options (fields without an option keep their default); ``values`` win."""
        given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
        given.update(values)
        return cls(**given)


def _add_option(parser, f: dataclasses.Field, hint: Any) -> None:
    meta = f.metadata
    default = _default(f)
    flag = meta.get("flag", "--" + f.name.replace("_", "-"))
    kw: dict[str, Any] = {"dest": f.name, "help": meta["help"]}
    if "metavar" in meta:
        kw["metavar"] = meta["metavar"]
    if hint is bool:
        if default:  # on by default: the flag turns it off
            parser.add_argument(meta.get("flag", "--no-" + f.name.replace("_", "-")), action="store_false", **kw)
        else:
            parser.add_argument(flag, action="store_true", **kw)
        return
    base = hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None
        base = next(a for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(base) is tuple:
        kw["nargs"] = "+"
        base = typing.get_args(base)[0]
        default = None if default is None else list(default)
    kw["type"] = meta.get("type", base if base in (int, float, str, Path) else str)
    if meta.get("action") == "append":  # a repeatable option, one value each time
        kw.pop("nargs", None)
        parser.add_argument(flag, action="append", default=None, **kw)
        return
    if meta.get("action") == "extend":  # repeatable, and several values each time
        kw["nargs"] = "+"
        parser.add_argument(flag, action="extend", default=None, **kw)
        return
    if "choices" in meta:
        kw["choices"] = tuple(meta["choices"])
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
        kw["required"] = True
        kw["type"] = meta.get("type", base if base in (int, float, str, Path) else str)
        parser.add_argument(flag, **kw)
        return
    shown = "none" if default is None else " ".join(map(str, default)) if isinstance(default, list) else default
    kw["help"] = f"{kw['help']} (default: {shown})"
    parser.add_argument(flag, default=default, **kw)
