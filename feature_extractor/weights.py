"""Initialise a model from a local state-dict file, loading every shape-compatible tensor.

Accepted files: ``.safetensors``; ``.pt`` / ``.pth`` / ``.bin`` read with
``torch.load(weights_only=True)`` (no arbitrary objects are unpickled). A checkpoint that
nests its weights under ``state_dict`` / ``model`` is unwrapped, and a ``module.`` prefix
(DataParallel) is dropped. A file key matches a model key directly, or under the wrapper's
``backbone.`` prefix (a bare backbone's weights: ``conv1.weight``, ``layer1.0...``), or under
``backbone.model.`` for the transformers-based ViT/Swin (their ``ViTModel``/``SwinModel``
keys, with or without a leading ``vit.``/``swin.`` of the classification models).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

logger = logging.getLogger(__name__)

__all__ = ["InitReport", "read_state_dict", "load_compatible"]


@dataclass
class InitReport:
    """What :func:`load_compatible` did: loaded keys and the three kinds of skipped ones."""

    loaded: list[str] = field(default_factory=list)
    shape_mismatch: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"loaded {len(self.loaded)} tensors"]
        if self.shape_mismatch:
            shown = ", ".join(f"{k} {list(a)} vs model {list(b)}" for k, a, b in self.shape_mismatch[:5])
            more = f" (+{len(self.shape_mismatch) - 5} more)" if len(self.shape_mismatch) > 5 else ""
            parts.append(f"skipped {len(self.shape_mismatch)} with another shape: {shown}{more}")
        if self.unexpected:
            parts.append(f"skipped {len(self.unexpected)} not in the model: {', '.join(self.unexpected[:5])}")
        if self.missing:
            parts.append(f"{len(self.missing)} model tensors keep their initial values: {', '.join(self.missing[:5])}")
        return "; ".join(parts)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` or a weights-only torch file, flattened to name -> tensor."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"init weights {str(path)!r}: not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling refused or a damaged file
        raise ValueError(f"init weights {str(path)!r}: cannot be read as a weights-only torch file ({exc})") from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise ValueError(f"init weights {str(path)!r}: holds a {type(obj).__name__}, not a state dict")
    out = {}
    for k, v in obj.items():
        if isinstance(v, torch.Tensor):
            out[k[len("module."):] if k.startswith("module.") else k] = v
    return out


_PREFIXES = ("", "backbone.", "backbone.model.")
_STRIP = ("vit.", "swin.")


def _match(key: str, own: dict[str, torch.Tensor]) -> str | None:
    """The model key a file key belongs to, or ``None``."""
    names = [key] + [key[len(p):] for p in _STRIP if key.startswith(p)]
    for name in names:
        for prefix in _PREFIXES:
            if prefix + name in own:
                return prefix + name
    return None


def load_compatible(model: nn.Module, state: dict[str, torch.Tensor] | str | Path) -> InitReport:
    """Copy every tensor of ``state`` whose name and shape fit ``model``; report the rest.

    Parameters
    ----------
    model : nn.Module
        Usually a :class:`~feature_extractor.registry.FeatureClassifier`.
    state : dict or path
        A state dict, or a file read with :func:`read_state_dict`.

    Returns
    -------
    InitReport
        Loaded keys, and skipped ones (shape mismatch / unexpected / missing); also logged.
    """
    if not isinstance(state, dict):
        state = read_state_dict(state)
    own = model.state_dict()
    report = InitReport()
    updates: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        target = _match(key, own)
        if target is None:
            report.unexpected.append(key)
        elif tuple(own[target].shape) != tuple(tensor.shape):
            report.shape_mismatch.append((key, tuple(tensor.shape), tuple(own[target].shape)))
        else:
            updates[target] = tensor.to(dtype=own[target].dtype)
            report.loaded.append(target)
    report.missing = [k for k in own if k not in updates]
    model.load_state_dict(updates, strict=False)
    logger.info("init weights: %s", report.summary())
    return report
