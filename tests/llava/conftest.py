"""Fixtures for the LLaVA fork's tests.

``tiny_base`` (session scope): a tiny upstream-format LLaVA-1.5 base folder written once per
test session by :func:`llava.model.tiny.build_tiny_base` (seed 0; about 1-2 s): Llama 64
wide / 2 layers, vocabulary 512 (sentencepiece BPE), CLIP tower 336 px / patch 14 / width
1024 in ``<base>/clip_vision_tower``, projector ``mlp2x_gelu``, ``eeg_fusion='add'``.
Load it with ``llava.model.builder.load_pretrained_model(str(tiny_base), None, None,
device="cpu")`` (about 0.2 s). Treat the folder as read-only; write derived checkpoints
under your own ``tmp_path``.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of the session's tiny LLaVA-1.5 base folder (read-only)."""
    from llava.model.tiny import build_tiny_base

    return build_tiny_base(tmp_path_factory.mktemp("tiny_base") / "base", seed=0)
