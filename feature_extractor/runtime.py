"""Device, precision, determinism and data-loader settings shared by training and extraction."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sys
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from feature_extractor.checks import check_option

logger = logging.getLogger(__name__)

__all__ = [
    "resolve_device",
    "amp_dtype",
    "autocast",
    "reproducible",
    "seed_worker",
    "make_loader",
    "progress_enabled",
]


def resolve_device(name: str = "auto") -> torch.device:
    """``'auto'`` -> CUDA when available, else CPU; ``'cpu'`` / ``'cuda'`` / ``'cuda:1'`` as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: CUDA is not available on this machine; use 'cpu' or 'auto'")
    return dev


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """bf16 autocast on CUDA only (``amp`` 'auto' or 'bf16'); ``None`` means full precision."""
    check_option("amp", amp, ("auto", "bf16", "none"))
    if amp == "none" or device.type != "cuda":
        if amp == "bf16" and device.type != "cuda":
            logger.warning("bf16 mixed precision is used on CUDA only; running in float32 on %s", device)
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else None


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    """``torch.autocast`` when ``dtype`` is set, else nothing."""
    if dtype is None:
        yield
    else:
        with torch.autocast(device_type=device.type, dtype=dtype):
            yield


@contextlib.contextmanager
def reproducible(seed: int, deterministic: bool = True) -> Iterator[None]:
    """Seed python, numpy and torch; inside, torch uses deterministic kernels where it has them.

    torch's process-wide deterministic settings are put back on exit, so code running
    later in the same process is unaffected.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
    )
    if deterministic:
        if torch.cuda.is_available():
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.benchmark = before[2]


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: derive python/numpy seeds from the worker's torch seed."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    workers: int = 0,
    shuffle: bool = False,
    seed: int | None = None,
    drop_last: bool = False,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader with a seeded generator (order depends only on ``seed``) and seeded workers."""
    generator = torch.Generator()
    generator.manual_seed(0 if seed is None else int(seed))
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=workers,
        worker_init_fn=seed_worker,
        generator=generator,
        drop_last=drop_last,
        pin_memory=pin_memory,
        persistent_workers=False,
    )


def progress_enabled(flag: str = "auto") -> bool:
    """tqdm on for ``'on'``, off for ``'off'``, and for ``'auto'`` only when stderr is a TTY."""
    check_option("progress", flag, ("auto", "on", "off"))
    return flag == "on" or (flag == "auto" and sys.stderr.isatty())
