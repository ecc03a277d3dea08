"""The model's layout: upstream module paths still import, config defaults, one fusion place, module sizes."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import torch

from llava.model import EEGFusion, LlavaConfig
from llava.model.configuration_llava import DEFAULT_VISION_TOWER

ROOT = Path(__file__).resolve().parents[2]
#: module paths users type (LLAVA_COMPAT.md) beside those named in patches/ and the README
UPSTREAM_PATHS = [
    "llava/model/llava_arch.py", "llava/model/language_model/llava_llama.py", "llava/model/builder.py",
    "llava/model/multimodal_projector/builder.py", "llava/model/multimodal_encoder/builder.py",
    "llava/model/multimodal_encoder/clip_encoder.py", "llava/constants.py", "llava/mm_utils.py",
]
_PATH = re.compile(r"(?<![\w/.])(llava/[A-Za-z_/]+\.py)")
_DOTTED = re.compile(r"(?<![\w/.])(llava(?:\.[A-Za-z_]\w*)+)")


def _named_in_docs() -> tuple[set[str], set[str]]:
    texts = [p.read_text() for p in sorted((ROOT / "patches").glob("*.md"))] + [(ROOT / "README.md").read_text()]
    paths, dotted = set(UPSTREAM_PATHS), set()
    for text in texts:
        paths.update(_PATH.findall(text))
        dotted.update(_DOTTED.findall(text))
    return paths, dotted


def test_docs_name_some_paths():
    paths, dotted = _named_in_docs()
    assert len(paths) > len(UPSTREAM_PATHS) and "llava.model.convert_hf" in dotted


@pytest.mark.parametrize("path", sorted(_named_in_docs()[0]))
def test_every_documented_module_path_imports(path):
    assert (ROOT / path).is_file(), path
    importlib.import_module(path[:-3].replace("/", "."))


@pytest.mark.parametrize("name", sorted(_named_in_docs()[1]))
def test_every_documented_dotted_name_resolves(name):
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return
    pytest.fail(f"{name} does not import")


def test_upstream_paths_re_export_the_one_model():
    from llava.model import modeling_llava
    from llava.model.language_model.llava_llama import LlavaLlamaForCausalLM
    from llava.model.llava_arch import LlavaMetaForCausalLM, LlavaMetaModel
    from llava.model.multimodal_projector.builder import build_vision_projector

    assert LlavaLlamaForCausalLM is modeling_llava.LlavaLlamaForCausalLM
    assert (LlavaMetaModel, LlavaMetaForCausalLM) == (modeling_llava.LlavaMetaModel, modeling_llava.LlavaMetaForCausalLM)
    assert build_vision_projector is modeling_llava.build_vision_projector


def test_config_defaults_are_llava_v15():
    cfg = LlavaConfig(hidden_size=64, num_attention_heads=4, num_hidden_layers=2, intermediate_size=128)
    assert (cfg.mm_projector_type, cfg.mm_vision_select_layer, cfg.mm_vision_select_feature) == ("mlp2x_gelu", -2, "patch")
    assert cfg.mm_hidden_size == 1024 and cfg.eeg_feature_dim == 1024 and cfg.eeg_fusion == "add"
    assert cfg.mm_vision_tower is None and DEFAULT_VISION_TOWER == "openai/clip-vit-large-patch14-336"
    assert (cfg.image_aspect_ratio, cfg.mm_patch_merge_type) == ("pad", "flat")
    again = LlavaConfig.from_dict(cfg.to_dict())
    assert again.eeg_feature_dim == 1024 and again.mm_projector_type == "mlp2x_gelu"


def test_config_checks_feature_width_against_mm_hidden_size():
    assert LlavaConfig(mm_hidden_size=64).eeg_feature_dim == 64
    with pytest.raises(ValueError, match=r"LlavaConfig: eeg_feature_dim 1024 differs from mm_hidden_size 64"):
        LlavaConfig(mm_hidden_size=64, eeg_feature_dim=1024)


@pytest.mark.parametrize("field,value", [("eeg_fusion", "concat"), ("mm_patch_merge_type", "unpad"),
                                         ("image_aspect_ratio", "crop"), ("mm_vision_select_feature", "cls")])
def test_config_rejects_values_naming_the_allowed_set(field, value):
    with pytest.raises(ValueError, match=rf"LlavaConfig: invalid value for the '{field}' parameter. Allowed values are .*{value!r}"):
        LlavaConfig(**{field: value})


def test_anyres_config_needs_grid_pinpoints():
    with pytest.raises(ValueError, match=r"'anyres' needs image_grid_pinpoints"):
        LlavaConfig(image_aspect_ratio="anyres")


@pytest.mark.parametrize("mode,two_tags", [("add", 1152), ("raw", 577), ("none", 576)])
def test_fusion_token_counts(mode, two_tags):
    fusion = EEGFusion(mode)
    assert fusion.visual_token_count(576, 2 if mode != "none" else 1) == two_tags
    assert fusion.visual_token_count(576, 1) == 576 and fusion.visual_token_count(576, 0) == 0
    hv, hf = torch.randn(5, 8), torch.randn(1, 8)
    if mode == "none":
        with pytest.raises(ValueError, match=r"sample 3: 2 <image> placeholders but eeg_fusion 'none' takes 1"):
            fusion.slots(3, 2, hv, None, hf, True)
        return
    blocks = fusion.slots(0, 2, hv, None, hf, True)
    assert [b.shape[0] for b in blocks] == [5, 5 if mode == "add" else 1]
    torch.testing.assert_close(blocks[1], hv + hf if mode == "add" else hf)


def test_fusion_add_skips_rows_that_are_not_patch_tokens():
    hv, hf = torch.randn(4, 8), torch.randn(1, 8)
    patch = torch.tensor([True, True, False, True])
    slot = EEGFusion("add").feature_slot(hv, patch, hf)
    torch.testing.assert_close(slot[2], hv[2])
    torch.testing.assert_close(slot[[0, 1, 3]], hv[[0, 1, 3]] + hf)


def test_model_modules_stay_under_400_lines():
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines()) for p in (ROOT / "llava/model").rglob("*.py")}
    assert {k: v for k, v in sizes.items() if v >= 400} == {}
