"""Converter to/from transformers' llava-hf layout: identical logits both ways."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import LlavaForConditionalGeneration

from llava.constants import IMAGE_TOKEN_INDEX
from llava.mm_utils import tokenizer_image_token
from llava.model.builder import load_pretrained_model
from llava.model.convert_hf import from_llava_hf, main, to_llava_hf

PROMPT = "USER: <image>\nWhich sleep stage is this? ASSISTANT: The sleep stage is N2."


@pytest.fixture(scope="module")
def hf_dir(tiny_base, tmp_path_factory):
    return to_llava_hf(tiny_base, tmp_path_factory.mktemp("hf") / "llava_hf")


def _ours(path, images):
    tok, model, _, _ = load_pretrained_model(str(path), None, None, device="cpu")
    ids = tokenizer_image_token(PROMPT, tok, return_tensors="pt")[None]
    with torch.no_grad():
        return ids, model(input_ids=ids, images=images).logits


def test_to_hf_matches_native_llava(tiny_base, hf_dir):
    images = torch.randn(1, 3, 336, 336, generator=torch.Generator().manual_seed(0))
    ids, ours = _ours(tiny_base, images)
    hf = LlavaForConditionalGeneration.from_pretrained(str(hf_dir))
    cfg = json.loads((hf_dir / "config.json").read_text())
    assert cfg["model_type"] == "llava" and cfg["vision_feature_layer"] == -2
    assert cfg["vision_feature_select_strategy"] == "default" and cfg["image_seq_length"] == 576
    pos = int((ids[0] == IMAGE_TOKEN_INDEX).nonzero()[0, 0])
    expanded = torch.cat([ids[0, :pos], torch.full((576,), hf.config.image_token_id), ids[0, pos + 1:]])[None]
    with torch.no_grad():
        theirs = hf(input_ids=expanded, pixel_values=images).logits
    assert theirs.shape[:2] == ours.shape[:2] and theirs.shape[-1] == ours.shape[-1] + 1  # '<image>' added
    torch.testing.assert_close(theirs[..., :ours.shape[-1]], ours, rtol=1e-5, atol=1e-5)


def test_round_trip_back_to_upstream_format(tiny_base, hf_dir, tmp_path):
    back = from_llava_hf(hf_dir, tmp_path / "back")
    cfg = json.loads((back / "config.json").read_text())
    assert cfg["model_type"] == "llava" and cfg["mm_projector_type"] == "mlp2x_gelu" and cfg["mm_hidden_size"] == 1024
    assert (back / "clip_vision_tower" / "preprocessor_config.json").is_file()
    images = torch.randn(1, 3, 336, 336, generator=torch.Generator().manual_seed(1))
    ids, ours = _ours(tiny_base, images)
    ids2, again = _ours(back, images)
    assert torch.equal(ids, ids2)
    torch.testing.assert_close(again[..., :ours.shape[-1]], ours, rtol=1e-5, atol=1e-5)


def test_cli_rejects_model_base_for_from_hf(tmp_path):
    with pytest.raises(SystemExit):
        main(["from-hf", str(tmp_path), str(tmp_path / "o"), "--model-base", "x"])
