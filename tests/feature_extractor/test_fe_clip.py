"""The PSG-LLaVA Fig. 3 baseline: LLaVA's CLIP vision tower + classification head, from a local folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from feature_extractor.finetune import apply_unfreeze
from feature_extractor.registry import build_backbone, list_backbones

TINY = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
        "image_size": 56, "patch_size": 14}
ARCH = {k: v for k, v in TINY.items() if k != "image_size"}  # config fields besides the image side
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory) -> Path:
    """A tiny CLIPVisionModel checkpoint folder (2 layers, 32 wide, 56 px, patch 14)."""
    from transformers import CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("clip") / "tiny-clip-vision"
    CLIPVisionModel(CLIPVisionConfig(**TINY)).save_pretrained(folder)
    return folder


def test_loads_the_checkpoint_through_the_registry(clip_folder):
    from safetensors.torch import load_file

    assert "clip_vit_l14_336" in list_backbones()
    model = build_backbone("clip_vit_l14_336", image_size=56, path=str(clip_folder))
    saved = load_file(str(next(clip_folder.glob("*.safetensors"))))
    key = "encoder.layers.1.mlp.fc2.weight"
    ours = {k.removeprefix("vision_model."): v for k, v in model.backbone.model.state_dict().items()}
    saved = {k.removeprefix("vision_model."): v for k, v in saved.items()}
    assert torch.equal(ours[key], saved[key])  # the folder's weights, not random ones
    model.eval()
    logits, feats = model(torch.randn(2, 3, 56, 56))
    assert logits.shape == (2, 5) and feats.shape == (2, 1024)
    assert model.backbone_dim == 32 and isinstance(model.proj, torch.nn.Linear)  # 32 -> 1024 exported


def test_full_clipmodel_folder_and_other_image_size(tmp_path):
    from safetensors.torch import load_file

    from transformers import CLIPConfig, CLIPModel

    text = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}
    CLIPModel(CLIPConfig(text_config=text, vision_config=TINY, projection_dim=8)).save_pretrained(tmp_path / "full")
    model = build_backbone("clip_vit_l14_336", image_size=84, path=str(tmp_path / "full")).eval()
    saved = load_file(str(tmp_path / "full" / "model.safetensors"))
    key = "encoder.layers.0.self_attn.q_proj.weight"
    ours = {k.removeprefix("vision_model."): v for k, v in model.backbone.model.state_dict().items()}
    assert torch.equal(ours[key], saved[f"vision_model.{key}"])  # the vision half of the full model
    assert model(torch.randn(1, 3, 84, 84))[1].shape == (1, 1024)  # position embeddings interpolated


def test_default_is_vit_l14_336_wide_1024():
    from feature_extractor.models.clip import VIT_L14_336

    assert VIT_L14_336["hidden_size"] == 1024 and VIT_L14_336["patch_size"] == 14
    model = build_backbone("clip_vit_l14_336", image_size=28, **ARCH).eval()
    assert model(torch.randn(1, 3, 28, 28))[1].shape == (1, 1024)


def test_unfreeze_table3_is_last_three_blocks_post_layernorm_and_head(clip_folder):
    cfg = {**ARCH, "num_hidden_layers": 4}
    model = build_backbone("clip_vit_l14_336", image_size=56, **cfg)
    trainable = apply_unfreeze(model, "table3")
    blocks = {n.split(".encoder.layers.")[1].split(".")[0] for n in trainable if ".encoder.layers." in n}
    assert blocks == {"1", "2", "3"}
    assert any("post_layernorm" in n for n in trainable)
    assert {"proj.weight", "head.weight"} <= set(trainable)
    assert not any("embeddings" in n or "pre_layrnorm" in n for n in trainable)
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert any(".encoder.layers.0." in n for n in frozen)


def test_missing_or_wrong_folder_is_one_line(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match=rf"clip_vit_l14_336: checkpoint folder {missing} does not exist;"):
        build_backbone("clip_vit_l14_336", image_size=56, path=str(missing))
    vit = tmp_path / "vit"
    vit.mkdir()
    (vit / "config.json").write_text(json.dumps({"model_type": "vit"}))
    with pytest.raises(ValueError, match=rf"checkpoint folder {vit} is not a CLIP vision checkpoint; config.json "
                                         r"model_type is 'vit'"):
        build_backbone("clip_vit_l14_336", image_size=56, path=str(vit))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=rf"{empty} is not a CLIP vision checkpoint; config.json unreadable"):
        build_backbone("clip_vit_l14_336", image_size=56, path=str(empty))


def test_tiny_training_run_from_the_folder(small_manifest, clip_folder, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "feature_extractor.train", "--manifest", str(small_manifest), "--out", str(out),
            "--model", "clip_vit_l14_336", "--model-kwargs", json.dumps({"path": str(clip_folder)}),
            "--image-size", "56", "--preset", "table3", "--epochs", "1", "--batch-size", "8", "--workers", "0",
            "--progress", "off"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val"]["n"] > 0
    from safetensors.torch import load_file

    trained = load_file(str(out / "best" / "model.safetensors"))
    folder = load_file(str(clip_folder / "model.safetensors"))
    emb = "embeddings.patch_embedding.weight"  # frozen by table3: bit-identical to the folder's
    assert torch.equal(next(v for k, v in trained.items() if k.endswith(emb)), folder[emb])
    fc = "encoder.layers.1.mlp.fc1.weight"  # a last block: trained
    assert not torch.equal(next(v for k, v in trained.items() if k.endswith(fc)), folder[fc])
    bad = subprocess.run([*argv[:7], "--model", "clip_vit_l14_336", "--model-kwargs",
                          json.dumps({"path": str(tmp_path / "gone")}), "--image-size", "56", "--epochs", "1",
                          "--workers", "0", "--progress", "off"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert f"checkpoint folder {tmp_path / 'gone'} does not exist" in bad.stderr.strip().splitlines()[-1]
