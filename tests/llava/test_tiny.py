"""The tiny upstream-format base: files, determinism, tokenizer, CLIP tower shape, CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import CLIPVisionConfig, LlamaTokenizer

from llava.model.builder import load_tokenizer
from llava.model.tiny import build_tiny_base, main


def test_folder_layout_is_upstream_format(tiny_base):
    cfg = json.loads((tiny_base / "config.json").read_text())
    assert cfg["model_type"] == "llava" and cfg["architectures"] == ["LlavaLlamaForCausalLM"]
    for key in ("mm_vision_tower", "mm_hidden_size", "mm_projector_type", "mm_vision_select_layer",
                "mm_vision_select_feature", "image_aspect_ratio", "mm_use_im_start_end", "mm_use_im_patch_token",
                "tune_mm_mlp_adapter", "freeze_mm_mlp_adapter", "use_mm_proj"):
        assert key in cfg, key
    assert cfg["mm_vision_select_layer"] == -2 and cfg["mm_hidden_size"] == 1024
    weights = load_file(str(tiny_base / "model.safetensors"))
    assert "lm_head.weight" in weights and "model.embed_tokens.weight" in weights
    assert {"model.mm_projector.0.weight", "model.mm_projector.2.weight"} <= set(weights)
    assert weights["model.mm_projector.0.weight"].shape == (cfg["hidden_size"], 1024)
    assert all(k.startswith(("model.", "lm_head.")) for k in weights)
    assert not any("vision_tower" in k for k in weights)  # CLIP is not part of a base checkpoint
    tower = CLIPVisionConfig.from_pretrained(cfg["mm_vision_tower"])
    assert (tower.hidden_size, tower.image_size, tower.patch_size) == (1024, 336, 14)
    assert (tower.image_size // tower.patch_size) ** 2 == 576
    proc = json.loads((tiny_base / "clip_vision_tower" / "preprocessor_config.json").read_text())
    assert proc["crop_size"] == {"height": 336, "width": 336} and proc["size"] == {"shortest_edge": 336}


def test_tokenizer_loads_from_model_file(tiny_base):
    tok = LlamaTokenizer.from_pretrained(str(tiny_base))
    assert len(tok) == json.loads((tiny_base / "config.json").read_text())["vocab_size"]
    assert tok.eos_token == "</s>" and tok.eos_token_id == 2 and tok.bos_token_id == 1 and tok.unk_token_id == 0
    assert tok.pad_token is None  # as upstream; the loaders fall back to unk
    assert tok.padding_side == "right"
    ids = tok("The sleep stage is REM.").input_ids
    assert ids[0] == tok.bos_token_id and tok.unk_token_id not in ids
    assert tok.decode(ids, skip_special_tokens=True) == "The sleep stage is REM."
    assert tok.convert_ids_to_tokens(tok("</s>", add_special_tokens=False).input_ids) == ["</s>"]
    loaded = load_tokenizer(tiny_base)
    assert loaded.pad_token == loaded.unk_token and loaded.pad_token_id == 0
    assert loaded("<image>", add_special_tokens=False).input_ids != []  # not a vocabulary entry...
    assert 0 not in loaded("<image>", add_special_tokens=False).input_ids  # ...but encodes without unk


def test_same_seed_same_weights_other_seed_differs(tiny_base, tmp_path):
    start = time.perf_counter()
    again = build_tiny_base(tmp_path / "again", seed=0)
    elapsed = time.perf_counter() - start
    other = build_tiny_base(tmp_path / "other", seed=1)
    a, b, c = (load_file(str(d / "model.safetensors")) for d in (tiny_base, again, other))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["model.layers.0.self_attn.q_proj.weight"], c["model.layers.0.self_attn.q_proj.weight"])
    assert (tiny_base / "tokenizer.model").read_bytes() == (again / "tokenizer.model").read_bytes()
    assert elapsed < 20  # a few seconds normally; generous for a loaded 2-core machine


def test_cli_writes_a_bin_sharded_base(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "cli"), "--bin", "--eeg-fusion", "raw"]) == 0
    assert str(tmp_path / "cli") in capsys.readouterr().out
    assert (tmp_path / "cli" / "pytorch_model.bin.index.json").is_file()
    assert json.loads((tmp_path / "cli" / "config.json").read_text())["eeg_fusion"] == "raw"


def test_small_tower_width_keeps_projector_and_feature_width_consistent(tmp_path):
    import pytest

    from llava.mm_utils import tokenizer_image_token
    from llava.model.builder import load_pretrained_model
    from llava.model.tiny import TinySpec

    base = build_tiny_base(tmp_path / "w64", seed=0, spec=TinySpec(clip_hidden_size=64, clip_intermediate_size=128))
    cfg = json.loads((base / "config.json").read_text())
    assert cfg["mm_hidden_size"] == cfg["eeg_feature_dim"] == 64 and cfg["model_type"] == "llava"
    assert CLIPVisionConfig.from_pretrained(cfg["mm_vision_tower"]).hidden_size == 64
    tok, model, _, _ = load_pretrained_model(str(base), None, None, device="cpu")
    assert model.get_model().mm_projector[0].weight.shape == (64, 64)
    ids = tokenizer_image_token("USER: <image>\n<image>\nStage? ASSISTANT:", tok, return_tensors="pt")[None]
    images = torch.randn(1, 3, 336, 336)
    with torch.no_grad():
        logits = model(input_ids=ids, images=images, eeg_features=torch.randn(1, 1, 64)).logits
    assert logits.shape[1] == ids.shape[1] - 2 + 2 * 576
    with pytest.raises(ValueError, match=r"feature width 1024 does not match.*mm_hidden_size=64"):
        model(input_ids=ids, images=images, eeg_features=torch.randn(1, 1, 1024))


def test_cli_writes_a_tiny_llama3_next(tmp_path):
    from transformers import AutoTokenizer

    assert main(["--out", str(tmp_path / "l3"), "--next", "--language-model", "llama3", "--clip-width", "64"]) == 0
    cfg = json.loads((tmp_path / "l3" / "config.json").read_text())
    assert cfg["model_type"] == "llava_llama" and cfg["image_aspect_ratio"] == "anyres"
    assert cfg["num_key_value_heads"] == 2 and cfg["rope_parameters"]["rope_theta"] == 500000.0
    assert cfg["image_grid_pinpoints"] == [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "l3"))
    ids = tok("The sleep stage is REM.").input_ids
    assert ids[0] == tok.bos_token_id == tok.convert_tokens_to_ids("<|begin_of_text|>")
    assert tok.eos_token == "<|eot_id|>" and tok.unk_token is None
    header = tok("<|start_header_id|>user<|end_header_id|>", add_special_tokens=False).input_ids
    assert header[0] == tok.convert_tokens_to_ids("<|start_header_id|>") and header[-1] == tok.convert_tokens_to_ids(
        "<|end_header_id|>")
    assert tok.decode(ids, skip_special_tokens=True) == "The sleep stage is REM."


def test_spec_rejects_unknown_language_model():
    import pytest

    from llava.model.tiny import TinySpec

    with pytest.raises(ValueError, match=r"TinySpec: invalid value for the 'language_model' parameter.*'gpt2'"):
        TinySpec(language_model="gpt2")


def test_cli_on_cpu_prints_no_accelerator_notice(tmp_path):
    import os
    import subprocess
    import sys

    import torch

    if torch.cuda.is_available():
        pytest.skip("the notice only concerns machines without CUDA")
    env = {k: v for k, v in os.environ.items() if k != "DS_ACCELERATOR"}
    root = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = str(root)
    proc = subprocess.run([sys.executable, "-m", "llava.model.tiny", "--out", str(tmp_path / "b"), "--clip-width", "64"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # transformers imports DeepSpeed while saving; left to detect the device it warns
    assert "Setting accelerator to CPU" not in proc.stdout + proc.stderr
    assert (tmp_path / "b" / "config.json").is_file()
