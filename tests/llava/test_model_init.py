"""Building the multimodal parts from training arguments (initialize_vision_modules / _tokenizer)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from llava.constants import DEFAULT_IM_END_TOKEN, DEFAULT_IM_START_TOKEN
from llava.model import LlavaConfig, LlavaLlamaForCausalLM, load_llava_config
from llava.model.builder import load_tokenizer
from llava.model.multimodal_projector.builder import build_vision_projector


@dataclass
class ModelArgs:
    vision_tower: str | None = None
    mm_vision_select_layer: int = -2
    mm_vision_select_feature: str = "patch"
    pretrain_mm_mlp_adapter: str | None = None
    mm_projector_type: str = "mlp2x_gelu"
    mm_patch_merge_type: str = "flat"
    mm_use_im_start_end: bool = False
    mm_use_im_patch_token: bool = False
    tune_mm_mlp_adapter: bool = False


def _text_only_model(vocab=512):
    cfg = LlavaConfig(hidden_size=64, num_attention_heads=4, num_hidden_layers=2, intermediate_size=128,
                      vocab_size=vocab)
    return LlavaLlamaForCausalLM(cfg)


def test_initialize_vision_modules_on_a_text_only_model(tiny_base, tmp_path):
    model = _text_only_model()
    assert model.get_vision_tower() is None
    tower_dir = str(tiny_base / "clip_vision_tower")
    adapter = {"model.mm_projector.0.weight": torch.full((64, 1024), 0.01),
               "model.mm_projector.0.bias": torch.zeros(64),
               "model.mm_projector.2.weight": torch.eye(64), "model.mm_projector.2.bias": torch.ones(64)}
    torch.save(adapter, tmp_path / "mm_projector.bin")
    args = ModelArgs(vision_tower=tower_dir, pretrain_mm_mlp_adapter=str(tmp_path / "mm_projector.bin"))
    model.get_model().initialize_vision_modules(args)
    tower = model.get_vision_tower()
    assert tower.is_loaded and tower.num_patches == 576 and tower.hidden_size == 1024
    assert not any(p.requires_grad for p in tower.parameters())
    cfg = model.config
    assert (cfg.mm_vision_tower, cfg.mm_hidden_size, cfg.mm_projector_type, cfg.use_mm_proj) == (
        tower_dir, 1024, "mlp2x_gelu", True)
    proj = model.get_model().mm_projector
    torch.testing.assert_close(proj[2].bias, torch.ones(64))
    assert all(p.requires_grad for p in proj.parameters())
    # the tower stays in eval mode and is left out of saved weights
    model.train()
    assert not tower.vision_tower.training
    model.save_pretrained(tmp_path / "saved")
    from safetensors import safe_open

    with safe_open(str(tmp_path / "saved" / "model.safetensors"), "pt") as f:
        assert not any("vision_tower" in k for k in f.keys())
    assert load_llava_config(tmp_path / "saved").mm_vision_tower == tower_dir


def test_initialize_vision_modules_reuses_the_base_projector(tiny_base):
    from llava.model.builder import load_pretrained_model

    _, model, _, _ = load_pretrained_model(str(tiny_base), None, None, device="cpu")
    before = model.get_model().mm_projector[0].weight.clone()
    model.get_model().mm_projector.requires_grad_(False)
    model.get_model().initialize_vision_modules(ModelArgs(vision_tower=load_llava_config(tiny_base).mm_vision_tower))
    proj = model.get_model().mm_projector
    assert torch.equal(proj[0].weight, before) and all(p.requires_grad for p in proj.parameters())


def test_initialize_vision_tokenizer_start_end_tokens(tiny_base):
    model = _text_only_model()
    tok = load_tokenizer(tiny_base)
    n = len(tok)
    old_mean = model.get_input_embeddings().weight[:n].mean(0).detach().clone()
    model.initialize_vision_tokenizer(ModelArgs(mm_use_im_start_end=True, tune_mm_mlp_adapter=True), tok)
    assert len(tok) == n + 2
    assert tok.convert_tokens_to_ids([DEFAULT_IM_START_TOKEN, DEFAULT_IM_END_TOKEN]) == [n, n + 1]
    emb = model.get_input_embeddings().weight
    assert emb.shape[0] == n + 2
    torch.testing.assert_close(emb[n].detach(), old_mean)
    assert emb.requires_grad and not model.get_output_embeddings().weight.requires_grad


@pytest.mark.parametrize("kind,expected", [("linear", nn.Linear), ("mlp3x_gelu", nn.Sequential),
                                           ("identity", nn.Identity)])
def test_projector_types(kind, expected):
    class Cfg:
        mm_projector_type = kind
        mm_hidden_size = 32
        hidden_size = 32

    proj = build_vision_projector(Cfg())
    assert isinstance(proj, expected)
    assert proj(torch.randn(2, 5, 32)).shape == (2, 5, 32)
    if kind == "mlp3x_gelu":
        assert [type(m).__name__ for m in proj] == ["Linear", "GELU", "Linear", "GELU", "Linear"]


def test_projector_type_errors():
    class Cfg:
        mm_projector_type = "resampler"
        mm_hidden_size = 32
        hidden_size = 16

    with pytest.raises(ValueError, match=r"'mm_projector_type'.*'resampler'"):
        build_vision_projector(Cfg())
    Cfg.mm_projector_type = "identity"
    with pytest.raises(ValueError, match=r"mm_hidden_size 32 differs from hidden_size 16"):
        build_vision_projector(Cfg())


def test_initialize_vision_modules_fsdp_keeps_tower_outside_module_tree(tiny_base):
    from llava.model.builder import load_pretrained_model

    _, model, _, _ = load_pretrained_model(str(tiny_base), None, None, device="cpu")
    tower_dir = load_llava_config(tiny_base).mm_vision_tower
    model.get_model().initialize_vision_modules(ModelArgs(vision_tower=tower_dir, mm_vision_select_layer=None),
                                                fsdp=["full_shard"])
    assert isinstance(model.get_model().vision_tower, list)
    assert not any(k.startswith("model.vision_tower.") for k in model.state_dict())
    assert model.get_vision_tower().is_loaded and model.config.mm_vision_select_layer == -2
