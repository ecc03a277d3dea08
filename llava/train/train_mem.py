"""Entry point: ``deepspeed llava/train/train_mem.py ...`` or ``python llava/train/train_mem.py ...``.

Picks the attention kernel (flash-attention 2 when installed and a CUDA device is present,
PyTorch SDPA otherwise), then runs :func:`llava.train.train.train` with the command line.

An input error (a missing or unreadable file, a bad flag value, a bad sample, a missing
optional dependency) ends the run with one line ``train_mem.py: error: ...`` and exit
status 1 (2 for unknown flags), without a traceback; ``LLAVA_TRACEBACK=1`` shows it.
Unless ``--bits 4``/``8`` asks for quantised weights, bitsandbytes is kept unloaded.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["attention_implementation", "quantising", "quiet_environment", "main"]

PROG = "train_mem.py"


def attention_implementation() -> str:
    """``'flash_attention_2'`` when flash-attn is importable and CUDA is available, else ``'sdpa'``."""
    import torch

    if torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def quantising(argv: Sequence[str]) -> bool:
    """Whether the command line asks for 4/8-bit weights (``--bits 4``, ``--bits=8``)."""
    args = list(argv)
    for i, arg in enumerate(args):
        if arg == "--bits" and i + 1 < len(args):
            return args[i + 1].strip() in ("4", "8")
        if arg.startswith("--bits="):
            return arg.split("=", 1)[1].strip() in ("4", "8")
    return False


def quiet_environment() -> None:
    """Environment settings that silence notices a CPU run does not need.

    DeepSpeed warns "Setting accelerator to CPU" in every process that imports it when no
    GPU is found; naming the CPU accelerator up front is the same choice without the notice.
    Respects a ``DS_ACCELERATOR`` the user set.
    """
    if "DS_ACCELERATOR" not in os.environ:
        import torch

        if not torch.cuda.is_available():
            os.environ["DS_ACCELERATOR"] = "cpu"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not quantising(argv):
        from llava.utils import keep_bitsandbytes_unloaded

        keep_bitsandbytes_unloaded()
    quiet_environment()
    from llava.train.train import train

    impl = attention_implementation()
    logger.info("attention implementation: %s", impl)
    train(argv, attn_implementation=impl)
    return 0


if __name__ == "__main__":
    # Run as a file, Python puts llava/train/ first on sys.path, where train.py, dataset.py...
    # would shadow top-level modules of the same names: use the repository root instead.
    here = Path(__file__).resolve().parent
    if sys.path and Path(sys.path[0] or ".").resolve() == here:
        sys.path[0] = str(here.parents[1])
    from llava.utils import run_cli

    raise SystemExit(run_cli(main, PROG))
