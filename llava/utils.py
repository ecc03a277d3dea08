"""Small helpers the whole ``llava`` package shares: option checks, optional dependencies,
and the way a command-line entry point ends on an input error.

- :func:`check_option`: one wording for "this value is not one of the allowed ones"
  (``<where>: invalid value for the 'p' parameter. Allowed values are ..., but got 'v'
  instead (did you mean ...?)``).
- :func:`require`: import an optional dependency, or raise one line naming it and the pip
  command that adds it.
- :func:`keep_bitsandbytes_unloaded`: make ``bitsandbytes`` invisible to transformers and
  peft for a process that quantises nothing (importing it on CPU logs kernel-loading
  failures and costs about a second).
- :func:`run_cli`: run a ``main`` and turn an input error into one line on stderr and an
  exit status (1; 2 for usage errors), without a traceback.

Standard library only: this module is imported before torch and transformers.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

logger = logging.getLogger(__name__)

__all__ = [
    "suggest", "check_option", "OPTIONAL_DEPENDENCIES", "MissingDependency", "require",
    "keep_bitsandbytes_unloaded", "peft_quietly", "name_cpu_accelerator", "UsageError", "run_cli",
]


def suggest(value: Any, choices: Iterable[Any]) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``choices`` to ``value``, or ``""``."""
    names = [str(c) for c in choices]
    close = difflib.get_close_matches(str(value), names, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_option(name: str, value: Any, allowed: Iterable[Any], where: str = "") -> Any:
    """Return ``value`` when it is one of ``allowed``, else raise ``ValueError``.

    >>> check_option("eeg_fusion", "add", ("none", "raw", "add"))
    'add'
    """
    allowed = list(allowed)
    if value in allowed:
        return value
    prefix = f"{where}: " if where else ""
    listed = ", ".join(repr(a) for a in allowed)
    hint = suggest(value, allowed) if isinstance(value, str) else ""
    raise ValueError(f"{prefix}invalid value for the {name!r} parameter. Allowed values are {listed}, "
                     f"but got {value!r} instead{hint}")


#: import name -> (pip requirement, extra of this project that installs it)
OPTIONAL_DEPENDENCIES: dict[str, tuple[str, str]] = {
    "deepspeed": ("deepspeed", "train"),
    "wandb": ("wandb", "train"),
    "bitsandbytes": ("bitsandbytes", "quant"),
    "flash_attn": ("flash-attn --no-build-isolation", ""),
}


class MissingDependency(ImportError):
    """An optional dependency a requested feature needs is not installed."""


def require(module: str, purpose: str) -> Any:
    """Import optional ``module`` for ``purpose`` or raise :class:`MissingDependency` in one line."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pip_name, extra = OPTIONAL_DEPENDENCIES.get(module, (module, ""))
        how = f"pip install {pip_name}" + (f"  (or: pip install -e '.[{extra}]')" if extra else "")
        raise MissingDependency(f"{purpose} needs {module}, which is not installed ({exc}); {how}") from None


def keep_bitsandbytes_unloaded() -> bool:
    """Hide ``bitsandbytes`` from this process unless something already imported it.

    transformers and peft import it whenever it is installed; a process that loads no
    4/8-bit weights has no use for it. Afterwards ``importlib.util.find_spec`` reports it
    absent and ``import bitsandbytes`` raises ``ImportError``. Returns whether it was hidden.
    """
    if "bitsandbytes" in sys.modules:
        return sys.modules["bitsandbytes"] is None
    sys.modules["bitsandbytes"] = None  # type: ignore[assignment]
    return True


@contextlib.contextmanager
def peft_quietly() -> Iterator[None]:
    """Hide the FutureWarning peft raises by reading transformers' deprecated
    ``is_gradient_checkpointing`` (not ours to fix, and shown on every run)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def name_cpu_accelerator() -> None:
    """Tell DeepSpeed it runs on the CPU when no CUDA device exists.

    Left to detect it, DeepSpeed warns "Setting accelerator to CPU" on every run that
    imports it (transformers does, to check for ZeRO-3), which means nothing to a CPU user.
    A ``DS_ACCELERATOR`` the user set is kept.
    """
    import os

    if "DS_ACCELERATOR" not in os.environ:
        import torch

        if not torch.cuda.is_available():
            os.environ["DS_ACCELERATOR"] = "cpu"


class UsageError(ValueError):
    """A command line that cannot be run as given (exit status 2)."""


def run_cli(main: Callable[[Sequence[str] | None], int], prog: str, argv: Sequence[str] | None = None,
            errors: tuple[type[BaseException], ...] = (OSError, ValueError, TypeError)) -> int:
    """Run ``main(argv)``; an input error ends it with ``prog: error: <message>`` and a status.

    :class:`UsageError` gives status 2, every other error of ``errors`` (missing or unreadable
    files, bad values, a missing optional dependency) status 1. Anything else is a bug and
    keeps its traceback. Set ``LLAVA_TRACEBACK=1`` to see the traceback of input errors too.
    """
    import os

    name_cpu_accelerator()
    try:
        return int(main(argv) or 0)
    except errors + (MissingDependency,) as exc:
        if os.environ.get("LLAVA_TRACEBACK"):
            raise
        message = " ".join(str(exc).split())
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1

