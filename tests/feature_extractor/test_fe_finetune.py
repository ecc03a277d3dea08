"""Table 3 partial fine-tuning (--unfreeze) and presets (--preset)."""

from __future__ import annotations

import argparse
import json

import pytest
import torch
from fe_synthetic import tiny_train_args

from feature_extractor.finetune import apply_unfreeze, unfreeze_prefixes
from feature_extractor.presets import TABLE3, fill_from_preset, preset_for_model
from feature_extractor.registry import build_backbone
from feature_extractor.train import main as train_main

TINY = {
    "resnet101": {"widths": [4, 8, 8, 16], "layers": [1, 1, 2, 1]},
    "convnext_base": {"depths": [1, 1, 2, 1], "dims": [8, 16, 32, 64]},
    "maxvit_base": {"depths": [1, 1, 1, 2], "channels": [32, 32, 32, 64], "stem_channels": 8, "window": 2},
    "vim_base": {"embed_dim": 16, "depth": 8, "patch_size": 8},
    "vit_base": {"hidden_size": 32, "num_hidden_layers": 5, "num_attention_heads": 2, "intermediate_size": 64},
    "swin_tiny": {"embed_dim": 16, "depths": [1, 1, 1, 2], "num_heads": [1, 2, 2, 4], "window_size": 2},
}


def trainable_tops(model) -> set[str]:
    """Names of trainable parameters cut after the block index (e.g. 'backbone.layers.6')."""
    out = set()
    for name, p in model.named_parameters():
        if p.requires_grad:
            parts = name.split(".")
            if parts[0] in ("proj", "head") or parts[1].startswith("layer") and parts[1][5:].isdigit():
                cut = 1 if parts[0] in ("proj", "head") else 2  # ResNet stages are named layer1..layer4
            else:
                cut = next((i + 1 for i, s in enumerate(parts) if s.isdigit()), len(parts) - 1)
            out.add(".".join(parts[:cut]))
    return out


EXPECTED = {
    "resnet101": {"backbone.layer3", "backbone.layer4", "proj", "head"},
    "convnext_base": {"backbone.downsample_layers.3", "backbone.stages.3", "backbone.norm", "proj", "head"},
    "maxvit_base": {"backbone.stages.3", "backbone.norm", "proj", "head"},
    "vim_base": {"backbone.layers.6", "backbone.layers.7", "backbone.norm_f", "proj", "head"},
    "vit_base": {"backbone.model.layers.2", "backbone.model.layers.3", "backbone.model.layers.4",
                 "backbone.model.layernorm", "proj", "head"},
    "swin_tiny": {"backbone.model.encoder.layers.3", "backbone.model.encoder.layers.2", "backbone.model.layernorm",
                  "proj", "head"},
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_table3_unfreezes_what_the_paper_names(name):
    model = build_backbone(name, image_size=64, **TINY[name])
    apply_unfreeze(model, "table3")
    assert trainable_tops(model) == EXPECTED[name]
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen and any(n.startswith("backbone.") for n in frozen)
    if name == "swin_tiny":  # of stage 3 only the patch merging into the last stage trains
        assert {n for n, p in model.named_parameters() if p.requires_grad and "layers.2." in n} == {
            n for n, _ in model.named_parameters() if "layers.2.downsample" in n}
    logits, _ = model(torch.randn(2, 3, 64, 64))
    logits.sum().backward()
    assert all(p.grad is None for p in model.parameters() if not p.requires_grad)


def test_other_unfreeze_values_and_a_bad_prefix():
    model = build_backbone("resnet18", image_size=32, widths=[4, 8, 8, 16], layers=[1, 1, 1, 1])
    assert unfreeze_prefixes(model, "all") == []
    apply_unfreeze(model, "head")
    assert trainable_tops(model) == {"proj", "head"}
    apply_unfreeze(model, "all")
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match=r"--unfreeze: prefix 'backbone.layer9' matches no parameter; top-level"):
        apply_unfreeze(model, "backbone.layer9,head")


def test_presets_fill_only_what_the_command_did_not_give():
    args = argparse.Namespace(model="vit_base", preset="table3", lr=5e-4)
    filled = vars(fill_from_preset(args))
    assert filled["lr"] == 5e-4  # given on the command line
    assert (filled["batch_size"], filled["weight_decay"], filled["epochs"]) == (64, 1e-4, 50)  # Table 3 ViT row
    assert filled["unfreeze"] == "table3"
    assert preset_for_model("tinysleepnet", "x").options() == {"batch_size": 32, "lr": 1e-4, "weight_decay": 1e-3,
                                                               "epochs": 200}
    assert len(TABLE3) == 11
    with pytest.raises(ValueError, match="unknown preset 'resnett'; available: table3, convnext"):
        preset_for_model("resnett", "resnet18")
    with pytest.raises(ValueError, match="model 'my_net' has no row in PSG-LLaVA Table 3"):
        preset_for_model("table3", "my_net")


def test_training_with_a_preset_from_local_weights_keeps_the_frozen_layers(small_manifest, tmp_path):
    from feature_extractor.checkpoint import load_model, save_model
    from feature_extractor.config import ModelConfig

    kw = {"widths": [8, 16, 32, 64], "layers": [1, 1, 1, 1]}
    init = ModelConfig(model="resnet18", model_kwargs=kw, image_size=32).build()
    save_model(tmp_path / "init", init, ModelConfig(model="resnet18", model_kwargs=kw, image_size=32))
    weights = tmp_path / "init" / "model.safetensors"
    out = tmp_path / "run"
    argv = tiny_train_args(small_manifest, out, "--preset", "table3", "--init-weights", str(weights), "--epochs", "1")
    assert train_main(argv) == 0
    trained, _, _ = load_model(out / "best")
    before, after = init.state_dict(), trained.state_dict()
    assert torch.equal(before["backbone.layer1.0.conv1.weight"], after["backbone.layer1.0.conv1.weight"])
    assert not torch.equal(before["backbone.layer4.0.conv1.weight"], after["backbone.layer4.0.conv1.weight"])
    args = json.loads((out / "best" / "config.json").read_text())["train_args"]
    assert (args["batch_size"], args["unfreeze"], args["preset"]) == (8, "table3", "table3")  # --batch-size given
