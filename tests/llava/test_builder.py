"""load_pretrained_model: base folders, save/load round trips, LoRA and projector-only folders, 4-bit."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from llava.constants import IMAGE_TOKEN_INDEX
from llava.mm_utils import tokenizer_image_token
from llava.model import LlavaConfig, LlavaLlamaForCausalLM, load_llava_config
from llava.model.builder import checkpoint_kind, clean_generation_config, load_pretrained_model
from llava.model.tiny import build_tiny_base

PROMPT = "USER: <image>\n<image>\nWhich sleep stage is this? ASSISTANT: The sleep stage is N3."


def _batch(tok, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = tokenizer_image_token(PROMPT, tok, return_tensors="pt")[None]
    return ids, torch.randn(1, 3, 336, 336, generator=g), torch.randn(1, 1, 1024, generator=g)


def _logits(model, tok, seed=0):
    ids, images, feats = _batch(tok, seed)
    with torch.no_grad():
        return model(input_ids=ids, images=images, eeg_features=feats).logits


def _load(path, base=None, **kw):
    return load_pretrained_model(str(path), None if base is None else str(base), None, device="cpu", **kw)


def test_base_loads_as_llava_config_without_autoconfig(tiny_base):
    raw = json.loads((tiny_base / "config.json").read_text())
    assert raw["model_type"] == "llava"
    cfg = load_llava_config(tiny_base)
    assert isinstance(cfg, LlavaConfig) and cfg.model_type == "llava_llama"
    # transformers' own entry point reads upstream configs as this class too (peft calls it)
    assert LlavaConfig.from_pretrained(str(tiny_base)).to_dict() == cfg.to_dict()
    assert cfg.mm_hidden_size == 1024 and cfg.mm_projector_type == "mlp2x_gelu" and cfg.eeg_fusion == "add"
    tok, model, processor, ctx = _load(tiny_base)
    assert isinstance(model, LlavaLlamaForCausalLM)
    assert model.dtype == torch.float32 and not model.training
    assert ctx == 2048
    assert processor is model.get_vision_tower().image_processor
    assert tok.pad_token == tok.unk_token and tok.padding_side == "right"
    assert model.config._attn_implementation == "sdpa"


def test_llava_config_rejects_bad_options():
    with pytest.raises(ValueError, match=r"invalid value for the 'eeg_fusion' parameter.*'none', 'raw', 'add'.*'sum'"):
        LlavaConfig(hidden_size=64, num_attention_heads=4, eeg_fusion="sum")
    with pytest.raises(ValueError, match=r"'mm_vision_select_feature'.*'patch', 'cls_patch'.*'cls'"):
        LlavaConfig(hidden_size=64, num_attention_heads=4, mm_vision_select_feature="cls")
    with pytest.raises(ValueError, match=r"'tokenizer_padding_side'.*'middle'"):
        LlavaConfig(hidden_size=64, num_attention_heads=4, tokenizer_padding_side="middle")


def test_save_load_round_trip_identical_logits_and_no_clip_weights(tiny_base, tmp_path):
    tok, model, _, _ = _load(tiny_base)
    before = _logits(model, tok)
    out = tmp_path / "saved"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert not any(k.startswith("model.vision_tower.") for k in keys)
    assert "model.mm_projector.0.weight" in keys and "model.mm_projector.2.weight" in keys
    assert checkpoint_kind(out) == "full"
    tok2, model2, _, _ = _load(out)
    torch.testing.assert_close(_logits(model2, tok2), before, rtol=0, atol=0)


def test_bin_shards_load_same_as_safetensors(tiny_base, tmp_path):
    bin_dir = build_tiny_base(tmp_path / "binbase", seed=0, shard_bin=True)
    assert sorted(p.name for p in bin_dir.glob("pytorch_model*")) == [
        "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin", "pytorch_model.bin.index.json"]
    assert not (bin_dir / "model.safetensors").exists()
    tok, ref, _, _ = _load(tiny_base)
    tok_b, from_bin, _, _ = _load(bin_dir)
    torch.testing.assert_close(_logits(from_bin, tok_b), _logits(ref, tok), rtol=0, atol=0)


def _make_lora_folder(tiny_base, out, non_lora_format="safetensors"):
    """Train-like LoRA output: config.json, PEFT adapter, non-LoRA trainables (projector)."""
    from peft import LoraConfig, get_peft_model

    tok, model, _, _ = _load(tiny_base)
    # every Linear of the language model, by full name (a bare 'q_proj' would also match CLIP's)
    targets = sorted(name for name, m in model.named_modules()
                     if isinstance(m, nn.Linear) and name.startswith("model.layers."))
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=targets, lora_dropout=0.0))
    base_logits = _logits(peft_model, tok)  # lora_B starts at zero: the base model's logits
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)  # a trained adapter is not zero
        for p in peft_model.base_model.model.get_model().mm_projector.parameters():
            p.add_(torch.randn_like(p) * 0.05)  # neither is the trained projector
    peft_model.save_pretrained(out)
    peft_model.base_model.model.config.save_pretrained(out)
    non_lora = {f"base_model.model.{k}": v.detach().clone() for k, v in
                peft_model.base_model.model.state_dict().items() if "mm_projector" in k}
    if non_lora_format == "safetensors":
        save_file(non_lora, str(out / "non_lora_trainables.safetensors"))
    else:
        torch.save(non_lora, out / "non_lora_trainables.bin")
    merged = peft_model.merge_and_unload()
    return tok, merged, base_logits


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_lora_folder_detected_from_files_and_matches_merged_model(tiny_base, tmp_path, fmt):
    out = tmp_path / f"run7_{fmt}"  # no 'lora' and no 'llava' in the name
    assert "lora" not in str(out.name).lower() and "llava" not in str(out.name).lower()
    tok, merged, base_logits = _make_lora_folder(tiny_base, out, fmt)
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    assert checkpoint_kind(out) == "lora"
    expected = _logits(merged, tok)
    tok2, loaded, _, _ = _load(out, tiny_base)
    assert not any("lora_" in n for n, _ in loaded.named_parameters())
    got = _logits(loaded, tok2)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(base_logits, expected, atol=1e-3)  # the adapter changed something


def test_lora_folder_without_base_is_a_clear_error(tiny_base, tmp_path):
    out = tmp_path / "ckpt"
    _make_lora_folder(tiny_base, out)
    with pytest.raises(ValueError, match=r"LoRA folder needs model_base"):
        _load(out)


def test_projector_only_folder_with_base(tiny_base, tmp_path):
    tok, model, _, _ = _load(tiny_base)
    with torch.no_grad():
        for p in model.get_model().mm_projector.parameters():
            p.mul_(1.5)
    expected = _logits(model, tok)
    out = tmp_path / "pretrain"
    out.mkdir()
    model.config.save_pretrained(out)
    state = {f"model.mm_projector.{k}": v for k, v in model.get_model().mm_projector.state_dict().items()}
    torch.save(state, out / "mm_projector.bin")
    assert checkpoint_kind(out) == "projector"
    tok2, loaded, _, _ = _load(out, tiny_base)
    torch.testing.assert_close(_logits(loaded, tok2), expected, rtol=0, atol=0)


def test_empty_folder_names_the_files_looked_for(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no weights found; looked for adapter_config.json"):
        checkpoint_kind(tmp_path)


def test_cuda_request_falls_back_to_cpu_without_cuda(tiny_base):
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    _, model, _, _ = load_pretrained_model(str(tiny_base), None, None)
    assert model.device.type == "cpu" and model.dtype == torch.float32


def test_generation_config_cleaned():
    cfg = LlavaConfig(hidden_size=64, num_attention_heads=4, num_hidden_layers=1, intermediate_size=64, vocab_size=300)
    model = LlavaLlamaForCausalLM(cfg)
    model.generation_config.do_sample = False
    model.generation_config.temperature = 0.9
    model.generation_config.top_p = 0.6
    clean_generation_config(model)
    model.generation_config.validate(strict=True)
    assert model.generation_config.temperature is None and model.generation_config.top_p is None


@pytest.mark.parametrize("bits", [4, 8])
def test_load_4bit_on_cpu_keeps_projector_full_precision(tiny_base, bits):
    bnb = pytest.importorskip("bitsandbytes")
    tok, model, _, _ = _load(tiny_base, load_4bit=bits == 4, load_8bit=bits == 8)
    layer = model.get_model().layers[0].self_attn.q_proj
    assert isinstance(layer, bnb.nn.Linear4bit if bits == 4 else bnb.nn.Linear8bitLt)
    proj = model.get_model().mm_projector
    assert all(type(m) is nn.Linear for m in proj if isinstance(m, nn.Linear))
    assert all(p.dtype == torch.float32 for p in proj.parameters())
    assert type(model.lm_head) is nn.Linear
    logits = _logits(model, tok)
    ids = _batch(tok)[0]
    assert logits.shape == (1, ids.shape[1] - 2 + 2 * 576, model.config.vocab_size)
    assert torch.isfinite(logits).all()


def test_model_name_never_decides(tiny_base, tmp_path):
    """A base copied under a LoRA-looking name still loads as a full checkpoint."""
    odd = tmp_path / "llava-v1.5-lora-mm_projector"
    shutil.copytree(tiny_base, odd, ignore=shutil.ignore_patterns("clip_vision_tower"))
    assert checkpoint_kind(odd) == "full"
    tok, model, _, _ = load_pretrained_model(str(odd), None, "llava-lora", device="cpu")
    tok0, ref, _, _ = _load(tiny_base)
    torch.testing.assert_close(_logits(model, tok), _logits(ref, tok0), rtol=0, atol=0)
    assert int((_batch(tok)[0] == IMAGE_TOKEN_INDEX).sum()) == 2


def test_vicuna_style_generation_config_is_cleaned_on_load(tiny_base, tmp_path):
    """Bases derived from Vicuna ship temperature/top_p without do_sample: loading cleans them."""
    base = tmp_path / "vicuna_like"
    shutil.copytree(tiny_base, base, ignore=shutil.ignore_patterns("clip_vision_tower"))
    (base / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "temperature": 0.9, "top_p": 0.6}))
    _, model, _, _ = _load(base)
    assert model.generation_config.temperature is None and model.generation_config.top_p is None
    model.save_pretrained(tmp_path / "saved")  # would fail validation with the raw values
    assert (tmp_path / "saved" / "generation_config.json").is_file()
