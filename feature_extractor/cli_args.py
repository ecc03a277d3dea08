"""argparse options generated from a dataclass whose fields carry ``help`` metadata."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import types
import typing
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["add_dataclass_arguments", "dataclass_from_args"]


def _kind(tp: Any) -> tuple[str, Any]:
    """('bool'|'list'|'dict'|'scalar', element type) for a field annotation."""
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if origin in (typing.Union, types.UnionType) and args:
        return _kind(args[0])
    if tp is bool:
        return "bool", bool
    if origin in (list, tuple):
        return "list", (args[0] if args else str)
    if origin is dict or tp is dict:
        return "dict", dict
    return "scalar", tp


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One ``--field-name`` option per field of ``cls`` (``--x/--no-x`` for booleans)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        kind, elem = _kind(hints[f.name])
        help_text = f.metadata.get("help", "")
        if kind == "bool":
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=help_text)
        elif kind == "list":
            parser.add_argument(flag, dest=f.name, nargs="+", type=elem, default=argparse.SUPPRESS, help=help_text)
        elif kind == "dict":
            parser.add_argument(flag, dest=f.name, type=json.loads, default=argparse.SUPPRESS, help=help_text + " (JSON object)")
        else:
            parser.add_argument(flag, dest=f.name, type=elem, default=argparse.SUPPRESS, help=help_text)


def dataclass_from_args(cls: type, args: argparse.Namespace, **overrides: Any):
    """Build ``cls`` from the parsed options that were given (others keep their defaults)."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in vars(args).items() if k in names}
    values.update(overrides)
    return cls(**values)
