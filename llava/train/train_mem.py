"""Entry point: ``deepspeed llava/train/train_mem.py ...`` or ``python llava/train/train_mem.py ...``.

Picks the attention kernel (flash-attention 2 when installed and a CUDA device is present,
PyTorch SDPA otherwise), then runs :func:`llava.train.train.train` with the command line.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["attention_implementation", "main"]


def attention_implementation() -> str:
    """``'flash_attention_2'`` when flash-attn is importable and CUDA is available, else ``'sdpa'``."""
    import torch

    if torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def main(argv: list[str] | None = None) -> int:
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
    raise SystemExit(main())
