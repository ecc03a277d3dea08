"""Tiny LLaVA-NeXT (Mistral, Llama-3): loading, logit parity with transformers' LlavaNext, the EEG slot."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import LlavaNextForConditionalGeneration

from llava.constants import IMAGE_TOKEN_INDEX
from llava.mm_utils import tokenizer_image_token
from llava.model.anyres import AnyresGeometry, grid_shape, unpadded_shape
from llava.model.builder import load_pretrained_model
from llava.model.convert_hf import from_llava_hf, to_llava_hf

PROMPT = "USER: <image>\nWhich sleep stage is this? ASSISTANT: The sleep stage is N2."
TWO_TAGS = "USER: <image>\n<image>\nWhich sleep stage is this? ASSISTANT:"
LMS = ["mistral", "llama3"]


@pytest.fixture(scope="module", params=LMS)
def next_model(request, tiny_next):
    base = tiny_next(request.param)
    tok, model, _, _ = load_pretrained_model(str(base), None, None, device="cpu")
    model.config.eeg_fusion = "add"
    return request.param, base, tok, model


def _geometry(model):
    tower = model.get_vision_tower()
    return AnyresGeometry.from_config(model.config, tower.config.image_size, tower.config.patch_size)


def _tiles(model, size, seed=0):
    n, px = _geometry(model).num_tiles(size), _geometry(model).tile
    return torch.randn(n, 3, px, px, generator=torch.Generator().manual_seed(seed))


def _ids(tok, prompt):
    return tokenizer_image_token(prompt, tok, return_tensors="pt")[None]


def test_loads_as_the_right_class_with_its_newline_row(next_model):
    lm, base, tok, model = next_model
    cfg = json.loads((base / "config.json").read_text())
    expected = {"mistral": ("llava_mistral", "LlavaMistralForCausalLM"), "llama3": ("llava_llama", "LlavaLlamaForCausalLM")}
    assert (cfg["model_type"], type(model).__name__) == expected[lm]
    assert cfg["image_aspect_ratio"] == "anyres" and cfg["mm_patch_merge_type"] == "spatial_unpad"
    assert cfg["mm_hidden_size"] == cfg["eeg_feature_dim"] == 64
    saved = load_file(str(base / "model.safetensors"))["model.image_newline"]
    torch.testing.assert_close(model.get_model().image_newline.detach(), saved, rtol=0, atol=0)
    assert tok.pad_token is not None


@pytest.mark.parametrize("size", [(500, 300), (300, 500), (800, 800)])
def test_logits_equal_transformers_llava_next(next_model, tmp_path_factory, size):
    lm, base, tok, model = next_model
    hf_dir = tmp_path_factory.getbasetemp() / f"hf_next_{lm}"
    if not (hf_dir / "config.json").is_file():
        to_llava_hf(base, hf_dir)
    hf = LlavaNextForConditionalGeneration.from_pretrained(str(hf_dir))
    assert json.loads((hf_dir / "config.json").read_text())["model_type"] == "llava_next"
    ids, tiles = _ids(tok, PROMPT), _tiles(model, size)
    with torch.no_grad():
        ours = model(input_ids=ids, images=[tiles], image_sizes=[size]).logits
    n = _geometry(model).token_count(size)
    pos = int((ids[0] == IMAGE_TOKEN_INDEX).nonzero()[0, 0])
    expanded = torch.cat([ids[0, :pos], torch.full((n,), hf.config.image_token_index), ids[0, pos + 1:]])[None]
    with torch.no_grad():
        theirs = hf(input_ids=expanded, pixel_values=tiles[None], image_sizes=torch.tensor([[size[1], size[0]]])).logits
    assert ours.shape[1] == theirs.shape[1] == ids.shape[1] - 1 + n
    torch.testing.assert_close(theirs[..., :ours.shape[-1]], ours, rtol=1e-4, atol=1e-4)


def test_round_trip_back_to_upstream_format(next_model, tmp_path):
    lm, base, tok, model = next_model
    hf_dir = to_llava_hf(base, tmp_path / "hf")
    back = from_llava_hf(hf_dir, tmp_path / "back")
    cfg = json.loads((back / "config.json").read_text())
    assert cfg["model_type"] == ("llava_mistral" if lm == "mistral" else "llava")
    assert cfg["image_grid_pinpoints"] == json.loads((base / "config.json").read_text())["image_grid_pinpoints"]
    tok2, again, _, _ = load_pretrained_model(str(back), None, None, device="cpu")
    size, tiles = (640, 480), _tiles(model, (640, 480), seed=2)
    ids = _ids(tok, PROMPT)
    assert torch.equal(ids, _ids(tok2, PROMPT))
    with torch.no_grad():
        a = model(input_ids=ids, images=[tiles], image_sizes=[size]).logits
        b = again(input_ids=ids, images=[tiles], image_sizes=[size]).logits
    torch.testing.assert_close(b[..., :a.shape[-1]], a, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fusion", ["none", "raw", "add"])
def test_feature_slot_token_counts(next_model, fusion):
    _, _, tok, model = next_model
    model.config.eeg_fusion = fusion
    size = (500, 300)
    n = _geometry(model).token_count(size)
    ids = _ids(tok, PROMPT if fusion == "none" else TWO_TAGS)
    feats = torch.randn(1, 1, 64)
    out = model.prepare_inputs_labels_for_multimodal(ids, None, None, None, None, [_tiles(model, size)], [size],
                                                     eeg_features=feats)
    n_text = int((ids != IMAGE_TOKEN_INDEX).sum())
    expected = {"none": n, "raw": n + 1, "add": 2 * n}[fusion]
    assert out[4].shape[1] == n_text + expected
    from llava.model import EEGFusion

    assert EEGFusion(fusion).visual_token_count(n, 1 if fusion == "none" else 2) == expected


def test_add_fusion_skips_the_newline_rows(next_model):
    _, _, tok, model = next_model
    model.config.eeg_fusion = "add"
    size, feats = (500, 300), torch.randn(1, 1, 64)
    ids = _ids(tok, TWO_TAGS)
    embeds = model.prepare_inputs_labels_for_multimodal(ids, None, None, None, None, [_tiles(model, size)], [size],
                                                        eeg_features=feats)[4][0].detach()
    geometry = _geometry(model)
    n = geometry.token_count(size)  # base side^2, then h' rows of w' patches + 1 newline
    cols, rows = grid_shape(size, geometry.pinpoints, geometry.tile)
    h, w = unpadded_shape(rows * geometry.side, cols * geometry.side, size)
    where = (ids[0] == IMAGE_TOKEN_INDEX).nonzero()[:, 0].tolist()
    slot1 = embeds[where[0]:where[0] + n]
    slot2 = embeds[where[1] - 1 + n:where[1] - 1 + 2 * n]
    with torch.no_grad():
        hf = model.get_model().mm_projector(feats)[0, 0]
    diff = slot2 - slot1
    newline_rows = [geometry.side ** 2 + r * (w + 1) + w for r in range(h)]
    patch_rows = [i for i in range(n) if i not in set(newline_rows)]
    assert len(patch_rows) == geometry.side ** 2 + h * w
    torch.testing.assert_close(diff[newline_rows], torch.zeros(h, diff.shape[1]))
    torch.testing.assert_close(diff[patch_rows], hf.expand(len(patch_rows), -1), rtol=1e-5, atol=1e-5)
    newline = model.get_model().image_newline.detach()
    torch.testing.assert_close(slot1[newline_rows], newline.expand(h, -1))


@pytest.mark.parametrize("merge", ["flat", "spatial"])
def test_other_merge_types_token_counts(next_model, merge):
    _, _, tok, model = next_model
    tokens = _geometry(model).num_tiles((500, 300)) * _geometry(model).side ** 2  # every tile, no newline
    model.config.mm_patch_merge_type = merge
    try:
        ids = _ids(tok, PROMPT)
        out = model.prepare_inputs_labels_for_multimodal(ids, None, None, None, None, [_tiles(model, (500, 300))],
                                                         [(500, 300)])
        assert out[4].shape[1] == ids.shape[1] - 1 + tokens == ids.shape[1] - 1 + _geometry(model).token_count((500, 300))
    finally:
        model.config.mm_patch_merge_type = "spatial_unpad"


def test_padded_5d_batch_equals_single_samples(next_model):
    _, _, tok, model = next_model
    model.config.eeg_fusion = "add"
    sizes = [(500, 300), (1000, 200)]
    tiles = [_tiles(model, s, seed=i) for i, s in enumerate(sizes)]
    assert tiles[0].shape[0] != tiles[1].shape[0]  # a padded batch
    pixel = torch.zeros(2, max(t.shape[0] for t in tiles), *tiles[0].shape[1:])
    for i, t in enumerate(tiles):
        pixel[i, :t.shape[0]] = t
    ids = _ids(tok, TWO_TAGS).repeat(2, 1)
    feats = torch.randn(2, 1, 64)
    with torch.no_grad():
        batch = model(input_ids=ids, images=pixel, image_sizes=torch.tensor(sizes), eeg_features=feats).logits
        for i, s in enumerate(sizes):
            single = model(input_ids=ids[i:i + 1], images=[tiles[i]], image_sizes=[s], eeg_features=feats[i:i + 1]).logits
            torch.testing.assert_close(batch[i, :single.shape[1]], single[0], rtol=1e-4, atol=1e-4)


def test_generate_with_anyres_tiles(next_model):
    _, _, tok, model = next_model
    ids, size = _ids(tok, TWO_TAGS), (500, 300)
    out = model.generate(ids, images=[_tiles(model, size)], image_sizes=[size], eeg_features=torch.randn(1, 1, 64),
                         max_new_tokens=3, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape == (1, 3)


def test_missing_image_sizes_raise(next_model):
    _, _, tok, model = next_model
    with pytest.raises(ValueError, match=r"image_sizes: anyres images need one \(width, height\) per image; got none"):
        model(input_ids=_ids(tok, PROMPT), images=[_tiles(model, (500, 300))])
    with pytest.raises(ValueError, match=r"needs 1 \+ 2x2 tiles.*got 2 tile"):
        model(input_ids=_ids(tok, PROMPT), images=[torch.randn(2, 3, 112, 112)], image_sizes=[(500, 300)])


def test_upstream_v16_folder_with_bin_shards_and_extra_keys_loads(tmp_path, tiny_next):
    """An upstream llava-v1.6 folder: llava_mistral, pickled .bin shards, upstream's extra config keys."""
    from llava.model.tiny import build_tiny_base

    folder = build_tiny_base(tmp_path / "v16", seed=0, spec=tiny_next.spec("mistral"), shard_bin=True)
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(unfreeze_mm_vision_tower=True, mm_vision_tower_lr=2e-6, mm_projector_lr=None, image_crop_resolution=None,
               image_split_resolution=None, mm_resampler_type=None, tokenizer_model_max_length=4096)
    (folder / "config.json").write_text(json.dumps(cfg))
    tok, model, processor, _ = load_pretrained_model(str(folder), None, None, device="cpu")
    _, ref, _, _ = load_pretrained_model(str(tiny_next("mistral")), None, None, device="cpu")
    assert type(model).__name__ == "LlavaMistralForCausalLM" and processor is not None
    assert model.config.unfreeze_mm_vision_tower is True  # unknown upstream keys are kept
    ids, size = _ids(tok, PROMPT), (300, 500)
    tiles = _tiles(model, size)
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids, images=[tiles], image_sizes=[size]).logits,
                                   ref(input_ids=ids, images=[tiles], image_sizes=[size]).logits, rtol=0, atol=0)


def test_initialize_vision_modules_adds_the_newline_row(tiny_base):
    """Training a NeXT model from a 1.5 base: --mm_patch_merge_type spatial_unpad creates image_newline."""
    from types import SimpleNamespace

    _, model, _, _ = load_pretrained_model(str(tiny_base), None, None, device="cpu")
    assert getattr(model.get_model(), "image_newline", None) is None
    args = SimpleNamespace(vision_tower=model.config.mm_vision_tower, mm_vision_select_layer=-2,
                           mm_vision_select_feature="patch", mm_projector_type="mlp2x_gelu",
                           mm_patch_merge_type="spatial_unpad", pretrain_mm_mlp_adapter=None)
    model.get_model().initialize_vision_modules(args)
    newline = model.get_model().image_newline.detach()
    assert newline.shape == (model.config.hidden_size,) and bool(torch.isfinite(newline).all())
    assert float(newline.std()) > 0 and model.config.mm_patch_merge_type == "spatial_unpad"
    assert "model.image_newline" in model.state_dict()


def test_newline_missing_from_weights_is_initialised(tiny_next, tmp_path):
    """A NeXT config over weights without image_newline: the row is initialised, not left empty."""
    import shutil

    base = tiny_next("mistral")
    folder = tmp_path / "no_newline"
    shutil.copytree(base, folder)
    state = load_file(str(folder / "model.safetensors"))
    del state["model.image_newline"]
    from safetensors.torch import save_file

    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    _, model, _, _ = load_pretrained_model(str(folder), None, None, device="cpu")
    newline = model.get_model().image_newline.detach()
    assert bool(torch.isfinite(newline).all()) and 0.02 < float(newline.std()) < 0.5


def test_features_change_the_logits_only_through_the_slot(next_model):
    """With anyres images, other feature rows change the logits under 'add' and 'raw', never under 'none'."""
    _, _, tok, model = next_model
    size = (500, 300)
    tiles, feats = _tiles(model, size, seed=5), torch.randn(1, 1, 64)
    try:
        with torch.no_grad():
            for fusion, prompt in (("add", TWO_TAGS), ("raw", TWO_TAGS), ("none", PROMPT)):
                model.config.eeg_fusion = fusion
                ids = _ids(tok, prompt)
                a = model(input_ids=ids, images=[tiles], image_sizes=[size], eeg_features=feats).logits[0, -1]
                b = model(input_ids=ids, images=[tiles], image_sizes=[size], eeg_features=-feats).logits[0, -1]
                assert torch.equal(a, b) == (fusion == "none"), fusion
    finally:
        model.config.eeg_fusion = "add"


def test_lora_folder_on_a_next_mistral_base_loads_with_model_base(tiny_next, tmp_path):
    """--model-path ckpt --model-base base on LLaVA-NeXT-Mistral: the class from the config, LoRA merged."""
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import save_file
    from torch import nn

    base = tiny_next("mistral")
    tok, model, _, _ = load_pretrained_model(str(base), None, None, device="cpu")
    targets = sorted(n for n, m in model.named_modules() if isinstance(m, nn.Linear) and n.startswith("model.layers."))
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=targets, lora_dropout=0.0))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    out = tmp_path / "run3"
    peft_model.save_pretrained(out)
    peft_model.base_model.model.config.save_pretrained(out)
    inner = peft_model.base_model.model
    save_file({f"base_model.model.{k}": v.detach().clone() for k, v in inner.state_dict().items()
               if "mm_projector" in k or "image_newline" in k}, str(out / "non_lora_trainables.safetensors"))
    merged = peft_model.merge_and_unload()
    assert json.loads((out / "config.json").read_text())["model_type"] == "llava_mistral"
    tok2, loaded, _, _ = load_pretrained_model(str(out), str(base), None, device="cpu")
    assert type(loaded).__name__ == "LlavaMistralForCausalLM"
    ids, size = _ids(tok, PROMPT), (500, 300)
    tiles = _tiles(merged, size, seed=3)
    with torch.no_grad():
        expected = merged(input_ids=ids, images=[tiles], image_sizes=[size]).logits
        got = loaded(input_ids=_ids(tok2, PROMPT), images=[tiles], image_sizes=[size]).logits
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
