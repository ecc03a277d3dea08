"""Checkpoints on disk: weights in safetensors, everything else in JSON (no pickle on load).

A model checkpoint folder holds ``model.safetensors`` and ``config.json`` (the
:class:`~feature_extractor.config.ModelConfig` fields plus ``epoch``, ``metrics`` and the
training arguments). The resumable ``last`` checkpoint adds ``optimizer.safetensors`` (the
optimizer's tensors) and ``train_state.json`` (optimizer hyper-parameters, step, epoch,
history, python/numpy random states); the torch random state is stored as a tensor.
"""

from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from feature_extractor.config import ModelConfig
from ondisk import replace_with_link, write_bytes_atomic, write_json_atomic

logger = logging.getLogger(__name__)

__all__ = [
    "WEIGHTS_NAME",
    "CONFIG_NAME",
    "find_checkpoint",
    "save_model",
    "copy_model",
    "load_model",
    "save_train_state",
    "load_train_state",
    "save_resumable",
    "resumable_folder",
]

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
OPTIMIZER_NAME = "optimizer.safetensors"
STATE_NAME = "train_state.json"


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """safetensors file written beside ``path`` and renamed over it (a killed run leaves the old one)."""
    from safetensors.torch import save

    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    write_bytes_atomic(path, save(flat, metadata=metadata))


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path), device="cpu")


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder: ``path`` itself, or ``path/best`` for a training output folder."""
    p = Path(path)
    for cand in (p, p / "best", p / "last"):
        if (cand / WEIGHTS_NAME).is_file() and (cand / CONFIG_NAME).is_file():
            return cand
    raise FileNotFoundError(f"checkpoint {str(p)!r}: no {WEIGHTS_NAME} + {CONFIG_NAME} in it or in its best/ or last/")


def save_model(folder: str | Path, model: nn.Module, config: ModelConfig, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model.safetensors`` and ``config.json`` (config fields + ``extra``) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _save_tensors(folder / WEIGHTS_NAME, model.state_dict(), metadata={"format": "pt"})
    write_json_atomic(folder / CONFIG_NAME, {**config.to_dict(), **(extra or {})})
    return folder


def copy_model(source: str | Path, target: str | Path) -> Path:
    """Make ``target`` a copy of the checkpoint folder ``source`` (weights hard-linked)."""
    source, target = Path(source), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    replace_with_link(source / WEIGHTS_NAME, target / WEIGHTS_NAME)
    replace_with_link(source / CONFIG_NAME, target / CONFIG_NAME)
    return target


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, ModelConfig, dict[str, Any]]:
    """Rebuild a saved model in eval mode: ``(model, model config, full config.json dict)``."""
    folder = find_checkpoint(path)
    meta = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
    config = ModelConfig.from_dict(meta, source=str(folder / CONFIG_NAME))
    model = config.build()
    state = _load_tensors(folder / WEIGHTS_NAME)
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"checkpoint {str(folder)!r}: weights do not fit model {config.model!r}; "
            f"missing {result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}"
        )
    return model.to(device).eval(), config, meta


def save_train_state(folder: str | Path, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Write the optimizer (tensors + JSON) and the loop ``state`` with the random states."""
    folder = Path(folder)
    opt = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    scalars: dict[str, dict[str, Any]] = {}
    for idx, pstate in opt["state"].items():
        for key, value in pstate.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{idx}.{key}"] = value
            else:
                scalars.setdefault(str(idx), {})[key] = value
    _save_tensors(folder / OPTIMIZER_NAME, tensors)
    np_state = np.random.get_state()
    py_state = random.getstate()
    write_json_atomic(
        folder / STATE_NAME,
        {
            **state,
            "optimizer": {"param_groups": opt["param_groups"], "scalars": scalars},
            "rng": {
                "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
                "python": [py_state[0], list(py_state[1]), py_state[2]],
            },
        },
    )


def load_train_state(folder: str | Path, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore the optimizer and the random states saved by :func:`save_train_state`.

    Returns the loop state dict (epoch, step, history, ...).
    """
    folder = Path(folder)
    for name in (OPTIMIZER_NAME, STATE_NAME):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"checkpoint {str(folder)!r}: {name} missing; cannot resume from it")
    state = json.loads((folder / STATE_NAME).read_text(encoding="utf-8"))
    tensors = _load_tensors(folder / OPTIMIZER_NAME)
    groups = state["optimizer"]["param_groups"]
    for g in groups:
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
    per_param: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("state."):
            _, idx, name = key.split(".", 2)
            per_param.setdefault(int(idx), {})[name] = value
    for idx, values in state["optimizer"].get("scalars", {}).items():
        per_param.setdefault(int(idx), {}).update(values)
    optimizer.load_state_dict({"state": per_param, "param_groups": groups})
    torch.set_rng_state(tensors["rng.torch"])
    cuda_states = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_states)
    np_s = state["rng"]["numpy"]
    np.random.set_state((np_s[0], np.asarray(np_s[1], dtype=np.uint32), np_s[2], np_s[3], np_s[4]))
    py_s = state["rng"]["python"]
    random.setstate((py_s[0], tuple(py_s[1]), py_s[2]))
    return {k: v for k, v in state.items() if k not in ("optimizer", "rng")}


def save_resumable(
    folder: str | Path,
    model: nn.Module,
    config: ModelConfig,
    extra: dict[str, Any],
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
) -> Path:
    """Write model + optimizer + loop state as one unit, replacing ``folder`` only when complete.

    Files go to ``<folder>.new``; then ``folder`` becomes ``<folder>.old`` and ``<folder>.new``
    becomes ``folder``. A run killed at any point leaves a complete ``folder`` or
    ``<folder>.old`` (see :func:`resumable_folder`), never weights of one epoch with the
    optimizer of another.
    """
    import shutil

    folder = Path(folder)
    new, old = folder.with_name(folder.name + ".new"), folder.with_name(folder.name + ".old")
    shutil.rmtree(new, ignore_errors=True)
    save_model(new, model, config, extra)
    save_train_state(new, optimizer, state)
    if folder.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(folder, old)
    os.replace(new, folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


def resumable_folder(folder: str | Path) -> Path | None:
    """The complete checkpoint written by :func:`save_resumable` (``folder`` or ``<folder>.old``)."""
    folder = Path(folder)
    for cand in (folder, folder.with_name(folder.name + ".old")):
        if all((cand / n).is_file() for n in (WEIGHTS_NAME, CONFIG_NAME, OPTIMIZER_NAME, STATE_NAME)):
            return cand
    return None
