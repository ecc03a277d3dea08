"""Foundation-model loaders: files in the published key layouts load whole; others are refused by name."""

from __future__ import annotations

import pytest
import torch

from signal_models.cbramod import CBraMod, load_cbramod
from signal_models.labram import LaBraM, load_labram

LABRAM_TINY = {"embed_dim": 100, "depth": 2, "heads": 4, "conv_chans": 4}
CBRAMOD_TINY = {"d_model": 40, "layers": 2, "heads": 4, "ff": 80}


def labram_release_keys(depth: int) -> list[str]:
    """The encoder keys of LaBraM's released files (modeling_finetune.NeuralTransformer names)."""
    keys = [f"patch_embed.{m}{i}.{p}" for i in (1, 2, 3) for m in ("conv", "norm") for p in ("weight", "bias")]
    keys += ["cls_token", "pos_embed", "time_embed"]
    per_block = ["norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.q_bias", "attn.v_bias",
                 "attn.q_norm.weight", "attn.q_norm.bias", "attn.k_norm.weight", "attn.k_norm.bias",
                 "attn.proj.weight", "attn.proj.bias", "norm2.weight", "norm2.bias", "mlp.fc1.weight",
                 "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias", "gamma_1", "gamma_2"]
    return keys + [f"blocks.{i}.{k}" for i in range(depth) for k in per_block]


def cbramod_release_keys(layers: int) -> list[str]:
    """The keys of CBraMod's released pretrained_weights.pth (models/cbramod.py names)."""
    keys = ["patch_embedding.positional_encoding.0.weight", "patch_embedding.positional_encoding.0.bias",
            "patch_embedding.mask_encoding", "patch_embedding.spectral_proj.0.weight",
            "patch_embedding.spectral_proj.0.bias", "proj_out.0.weight", "proj_out.0.bias"]
    keys += [f"patch_embedding.proj_in.{i}.{p}" for i in (0, 1, 3, 4, 6, 7) for p in ("weight", "bias")]
    attn = ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    per_layer = [f"self_attn_{d}.{a}" for d in ("s", "t") for a in attn]
    per_layer += [f"{m}.{p}" for m in ("linear1", "linear2", "norm1", "norm2") for p in ("weight", "bias")]
    return keys + [f"encoder.layers.{i}.{k}" for i in range(layers) for k in per_layer]


def _release_like(model, keys, prefix=""):
    shapes = model.state_dict()
    g = torch.Generator().manual_seed(0)
    return {prefix + k: torch.randn(shapes[k].shape, generator=g) for k in keys}


def test_labram_release_layout_loads_with_no_missing_keys(tmp_path):
    model = LaBraM(["Fpz-Cz", "Pz-Oz"], **LABRAM_TINY)
    keys = labram_release_keys(2)
    assert set(keys) == {k for k in model.state_dict() if not k.startswith(("fc_norm.", "head."))}
    student = _release_like(model, keys, "student.")
    extras = {"student.norm.weight": torch.ones(100), "student.norm.bias": torch.zeros(100),
              "student.lm_head.weight": torch.zeros(8192, 100), "student.mask_token": torch.zeros(1, 1, 100),
              "teacher.cls_token": torch.zeros(1, 1, 100)}  # pre-training parts of the release
    torch.save({"model": {**student, **extras}}, tmp_path / "labram-base.pth")
    head_before = model.head.weight.clone()
    loaded = load_labram(model, tmp_path / "labram-base.pth")
    assert sorted(loaded) == sorted(keys)
    assert torch.equal(model.blocks[1].attn.q_bias, student["student.blocks.1.attn.q_bias"])
    assert torch.equal(model.time_embed, student["student.time_embed"])
    assert torch.equal(model.head.weight, head_before)  # the fine-tuning head is new


def test_labram_refuses_a_file_naming_missing_and_unexpected_keys(tmp_path):
    model = LaBraM(["Fpz-Cz"], **LABRAM_TINY)
    state = _release_like(model, labram_release_keys(2), "student.")
    state["student.blocks.1.attn.qkv_bias"] = state.pop("student.blocks.1.attn.q_bias")
    torch.save({"model": state}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match=r"not a LaBraM release with this configuration; missing keys: "
                                         r"blocks\.1\.attn\.q_bias; unexpected keys: student\.blocks\.1\.attn\.qkv_bias"):
        load_labram(model, tmp_path / "other.pth")
    deeper = _release_like(LaBraM(["Fpz-Cz"], **{**LABRAM_TINY, "depth": 3}), labram_release_keys(3), "student.")
    torch.save({"model": deeper}, tmp_path / "deeper.pth")
    with pytest.raises(ValueError, match=r"unexpected keys: student\.blocks\.2\.norm1\.weight"):
        load_labram(model, tmp_path / "deeper.pth")


def test_cbramod_release_layout_loads_and_wrong_shapes_are_refused(tmp_path):
    model = CBraMod(**CBRAMOD_TINY)
    keys = cbramod_release_keys(2)
    assert set(keys) == {k for k in model.state_dict() if not k.startswith("head.")}
    state = _release_like(model, keys)
    torch.save(state, tmp_path / "pretrained_weights.pth")
    assert len(load_cbramod(model, tmp_path / "pretrained_weights.pth")) == len(keys)
    assert torch.equal(model.encoder.layers[0].self_attn_t.in_proj_weight, state["encoder.layers.0.self_attn_t.in_proj_weight"])
    wide = _release_like(CBraMod(**{**CBRAMOD_TINY, "ff": 96}), keys)
    torch.save(wide, tmp_path / "wide.pth")
    with pytest.raises(ValueError, match=r"CBraMod tensors of another shape .*encoder\.layers\.0\.linear1\.weight \[96, 40\] vs model \[80, 40\]"):
        load_cbramod(model, tmp_path / "wide.pth")
    del state["proj_out.0.bias"]
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match=r"missing keys: proj_out\.0\.bias; unexpected keys: none"):
        load_cbramod(model, tmp_path / "partial.pth")


def test_fine_tuning_starts_from_the_released_weights(small_signals, tmp_path):
    from signal_models.registry import get_spec
    from signal_models.train import SignalTrainConfig, train_signal_model

    spec = get_spec("cbramod")
    release = spec.build(["Fpz-Cz", "Pz-Oz"], 200.0, 6000, **spec.tiny)
    state = _release_like(release, cbramod_release_keys(2))
    torch.save(state, tmp_path / "pretrained_weights.pth")
    cfg = SignalTrainConfig(out=str(tmp_path / "ft"), manifest=str(small_signals), model="cbramod", tiny=True,
                            epochs=1, batch_size=8, init_weights=str(tmp_path / "pretrained_weights.pth"))
    assert (cfg.lr, cfg.weight_decay) == (1e-4, 5e-2)  # Table 3 CBraMod fine-tuning
    train_signal_model(cfg)
    from safetensors.torch import load_file

    tuned = load_file(str(tmp_path / "ft" / "best" / "model.safetensors"))
    key = "patch_embedding.positional_encoding.0.weight"
    drift = (tuned[key] - state[key]).abs().max()
    assert 0 < drift < 0.05  # one epoch at lr 1e-4 moved the released weights a little, from where they were
    bad = tmp_path / "bad.pth"
    torch.save({k: v for k, v in state.items() if not k.startswith("encoder.layers.1.")}, bad)
    with pytest.raises(ValueError, match=r"missing keys: encoder\.layers\.1\.self_attn_s\.in_proj_weight"):
        train_signal_model(SignalTrainConfig(out=str(tmp_path / "bad"), manifest=str(small_signals), model="cbramod",
                                             tiny=True, epochs=1, init_weights=str(bad)))
