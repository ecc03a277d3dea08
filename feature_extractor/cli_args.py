"""argparse options generated from a dataclass whose fields carry ``help`` metadata."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import types
import typing
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["add_dataclass_arguments", "dataclass_from_args", "add_verbosity", "configure_logging"]


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


def add_verbosity(parser: argparse.ArgumentParser, what: str = "each step") -> None:
    """``-v`` / ``-q``, as every ``eeg-vlm`` subcommand takes them."""
    parser.add_argument("-v", "--verbose", action="count", default=0, help=f"log {what} (-vv: also debug messages)")
    parser.add_argument("-q", "--quiet", action="store_true", help="errors only")


def configure_logging(args: argparse.Namespace) -> None:
    """Warnings by default, ``-v`` info, ``-vv`` debug, ``-q`` errors only; only rank 0 logs below errors."""
    quiet = getattr(args, "quiet", False) or os.environ.get("RANK", "0") != "0" or os.environ.get("LOCAL_RANK", "0") != "0"
    verbose = int(getattr(args, "verbose", 0))
    level = logging.ERROR if quiet else {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
