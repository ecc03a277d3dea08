"""Initialisation from a local state-dict file: compatible tensors load, the rest is reported."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from feature_extractor.registry import build_backbone
from feature_extractor.weights import load_compatible, read_state_dict

SMALL = {"widths": [8, 16, 32, 64], "layers": [1, 1, 1, 1]}


def bare_resnet_state() -> dict[str, torch.Tensor]:
    """A plain ResNet-18 trunk's weights under bare names plus a 1000-class ``fc``, as other tools save them."""
    torch.manual_seed(1)
    trunk = build_backbone("resnet18", image_size=32, **SMALL).backbone
    state = {k: v.clone() for k, v in trunk.state_dict().items()}
    state["fc.weight"] = torch.randn(1000, 64)
    state["fc.bias"] = torch.randn(1000)
    return state


@pytest.mark.parametrize("fmt", ["safetensors", "pt", "bin"])
def test_modified_resnet_loads_compatible_tensors_and_reports_skipped(tmp_path, fmt):
    state = bare_resnet_state()
    path = tmp_path / f"init.{fmt}"
    if fmt == "safetensors":
        save_file(state, str(path))
    else:  # nested under "state_dict" with DataParallel's "module." prefix
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, path)
    # same stages 1-3, last stage widened 64 -> 128: the modified-ResNet situation in miniature
    model = build_backbone("resnet18", image_size=32, widths=[8, 16, 32, 128], layers=[1, 1, 1, 1])
    report = load_compatible(model, path)

    own = model.state_dict()
    assert "backbone.layer3.0.conv1.weight" in report.loaded
    assert torch.equal(own["backbone.layer3.0.conv1.weight"], state["layer3.0.conv1.weight"])
    assert torch.equal(own["backbone.bn1.running_mean"], state["bn1.running_mean"])
    mismatched = {k for k, _, _ in report.shape_mismatch}
    assert "layer4.0.conv1.weight" in mismatched and "layer4.0.downsample.0.weight" in mismatched
    assert ("layer4.0.conv2.weight", (64, 64, 3, 3), (128, 128, 3, 3)) in report.shape_mismatch
    assert set(report.unexpected) == {"fc.weight", "fc.bias"}
    assert "head.weight" in report.missing and "backbone.layer4.0.conv1.weight" in report.missing
    assert not any(k.startswith("backbone.layer3") for k in report.missing)
    assert len(report.loaded) + len(report.missing) == len(own)
    assert "skipped" in report.summary() and "another shape" in report.summary()


def test_full_classifier_state_round_trips(tmp_path):
    src = build_backbone("resnet18", image_size=32, **SMALL)
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(tmp_path / "m.safetensors"))
    dst = build_backbone("resnet18", image_size=32, **SMALL)
    report = load_compatible(dst, tmp_path / "m.safetensors")
    assert not report.missing and not report.unexpected and not report.shape_mismatch
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v)


class _Opaque:
    def __init__(self):
        self.payload = [1, 2, 3]


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "obj": _Opaque()}, path)
    with pytest.raises(ValueError, match="cannot be read as a weights-only torch file"):
        read_state_dict(path)


def test_missing_init_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="init weights .*nope.safetensors.*not found"):
        read_state_dict(tmp_path / "nope.safetensors")


def test_transformers_vit_keys_load_under_the_wrapper(tmp_path):
    kw = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}
    src = build_backbone("vit_base", image_size=32, **kw).backbone.model  # a transformers ViTModel
    state = {f"vit.{k}": v.contiguous() for k, v in src.state_dict().items()}  # ViTForImageClassification layout
    state["classifier.weight"] = torch.zeros(10, 32)
    save_file(state, str(tmp_path / "vit.safetensors"))
    dst = build_backbone("vit_base", image_size=32, **kw)
    report = load_compatible(dst, tmp_path / "vit.safetensors")
    assert report.unexpected == ["classifier.weight"] and not report.shape_mismatch
    assert torch.equal(dst.backbone.model.embeddings.cls_token, src.embeddings.cls_token)
    assert set(report.missing) == {"proj.weight", "proj.bias", "head.weight", "head.bias"}
