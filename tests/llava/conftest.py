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


@pytest.fixture(scope="session")
def tiny_next(tmp_path_factory: pytest.TempPathFactory):
    """``tiny_next(lm)``: path of a tiny LLaVA-NeXT base (read-only), built once per session.

    ``lm`` is ``'mistral'`` (model type ``llava_mistral``) or ``'llama3'``; anyres with the
    llava-v1.6 grid in tiles, ``spatial_unpad``; CLIP 64 wide (EEG features are (B, 1, 64))
    with 112 px tiles (8 x 8 = 64 patches per tile, to keep sequences short).
    ``tiny_next.spec(lm)`` is the :class:`~llava.model.tiny.TinySpec` it was built from.
    """
    from llava.model.tiny import TinySpec, build_tiny_base

    built: dict[str, Path] = {}

    def spec(lm: str = "mistral") -> TinySpec:
        return TinySpec.next(lm, clip_hidden_size=64, clip_intermediate_size=128, image_size=112)

    def make(lm: str = "mistral") -> Path:
        if lm not in built:
            built[lm] = build_tiny_base(tmp_path_factory.mktemp(f"tiny_next_{lm}") / "base", seed=0, spec=spec(lm))
        return built[lm]

    make.spec = spec
    return make
