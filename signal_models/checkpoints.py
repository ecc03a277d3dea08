"""Released foundation-model checkpoints, read from a local file with their published key names.

A released file is read without unpickling code (``torch.load(weights_only=True)`` or
safetensors, by :func:`feature_extractor.weights.read_state_dict`), unwrapped from its
``model`` / ``state_dict`` entry, and its keys are mapped
onto the encoder by a fixed rule per model (e.g. LaBraM's ``student.`` prefix). Every key
the encoder needs must be there with its shape, and every other key must be one the
release is known to carry for its pre-training heads; anything else is refused with the
missing and unexpected keys named, so a checkpoint of another model or version never
loads half-way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from feature_extractor.weights import read_state_dict

logger = logging.getLogger(__name__)

__all__ = ["load_published"]


def _shorten(keys: Sequence[str], n: int = 8) -> str:
    shown = ", ".join(keys[:n])
    return shown + (f" (+{len(keys) - n} more)" if len(keys) > n else "")


def load_published(module: nn.Module, path: str | Path, model_name: str, rename: Callable[[str], str | None],
                   ignorable: Callable[[str], bool], new: tuple[str, ...] = ()) -> list[str]:
    """Load a released checkpoint into ``module`` by its published key names.

    Parameters
    ----------
    module : nn.Module
        The encoder whose ``state_dict`` keys are the published ones.
    path : path
        The released file.
    model_name : str
        For messages ("LaBraM", "CBraMod").
    rename : callable
        File key -> encoder key, or ``None`` for a key of another part of the release.
    ignorable : callable
        True for an encoder-space key the release carries for pre-training only.
    new : tuple of str
        Prefixes of ``module``'s keys that the release does not hold (the fine-tuning head).

    Returns
    -------
    list of str
        The keys loaded (all of ``module``'s but the ``new`` ones).
    """
    state = read_state_dict(path)  # weights-only; unwraps 'model' / 'state_dict'
    own = {k: v for k, v in module.state_dict().items() if not (new and k.startswith(new))}
    mapped: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    for key, tensor in state.items():
        name = rename(key)
        if name is None or (name not in own and ignorable(name)):
            continue
        if name not in own:
            unexpected.append(key)
            continue
        mapped[name] = tensor
    missing = [k for k in own if k not in mapped]
    if missing or unexpected:
        raise ValueError(f"checkpoint {str(path)!r}: not a {model_name} release with this configuration; "
                         f"missing keys: {_shorten(missing) or 'none'}; unexpected keys: {_shorten(unexpected) or 'none'}")
    wrong = [f"{k} {list(v.shape)} vs model {list(own[k].shape)}" for k, v in mapped.items() if v.shape != own[k].shape]
    if wrong:
        raise ValueError(f"checkpoint {str(path)!r}: {model_name} tensors of another shape (another size of the "
                         f"model?): {_shorten(wrong, 5)}")
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in mapped.items()}, strict=not new)
    logger.info("%s: loaded %d tensors from %s", model_name, len(mapped), path)
    return sorted(mapped)
