"""This project's LLaVA-1.5 fork, with the EEG-VLM feature slot.

``from llava import LlavaLlamaForCausalLM`` works as upstream; the model (and torch) is
imported on first use only, so ``llava.constants`` and ``llava.eeg_features`` stay light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LlavaLlamaForCausalLM", "LlavaConfig"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import model

        return getattr(model, name)
    raise AttributeError(f"module 'llava' has no attribute {name!r}")
