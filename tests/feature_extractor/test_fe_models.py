"""Backbones: the paper's modified ResNet-18, reference parameter counts, the wrapper, the registry."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from feature_extractor.models.resnet import BasicBlock
from feature_extractor.registry import FeatureClassifier, build_backbone, list_backbones, register_backbone


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_modified_resnet18_has_a_1024_wide_last_stage_with_a_1x1_shortcut():
    model = build_backbone("resnet18_1024", image_size=64)
    trunk = model.backbone
    first, second = trunk.layer4[0], trunk.layer4[1]
    assert isinstance(first, BasicBlock)
    assert first.conv1.in_channels == 256 and first.conv2.out_channels == 1024
    conv, bn = first.downsample[0], first.downsample[1]
    assert conv.kernel_size == (1, 1) and conv.stride == (2, 2)
    assert (conv.in_channels, conv.out_channels) == (256, 1024)
    assert isinstance(bn, nn.BatchNorm2d) and bn.num_features == 1024
    assert second.conv1.in_channels == 1024 and second.downsample is None
    assert trunk.out_dim == 1024 and isinstance(model.proj, nn.Identity)
    # stages 1-3 are those of the plain ResNet-18
    plain = build_backbone("resnet18", image_size=64).backbone
    for name in ("conv1", "layer1", "layer2", "layer3"):
        assert n_params(getattr(trunk, name)) == n_params(getattr(plain, name))
    logits, feats = model(torch.randn(2, 3, 64, 64))
    assert logits.shape == (2, 5) and feats.shape == (2, 1024)


@pytest.mark.parametrize(
    "name, trunk_params",
    [
        # the published ResNet/ConvNeXt sizes without their 1000-class ImageNet heads
        ("resnet18", 11_689_512 - (512 * 1000 + 1000)),
        ("resnet50", 25_557_032 - (2048 * 1000 + 1000)),
        ("convnext_tiny", 28_589_128 - (768 * 1000 + 1000)),
    ],
)
def test_reference_architectures_have_their_published_sizes(name, trunk_params):
    assert n_params(build_backbone(name).backbone) == trunk_params


def test_features_are_the_input_of_the_classification_layer():
    model = build_backbone("resnet18", image_size=32, widths=[8, 16, 32, 64], layers=[1, 1, 1, 1]).eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        logits, feats = model(x)
        assert torch.allclose(model.head(feats), logits)
        assert torch.allclose(model.proj(model.backbone(x)), feats)
    assert isinstance(model.proj, nn.Linear) and model.proj.in_features == 64  # 64 -> 1024 projection


TINY = {
    "resnet34": {"widths": [8, 16, 32, 64]},
    "resnet101": {"widths": [4, 8, 8, 16], "layers": [1, 1, 2, 1]},
    "resnet152": {"widths": [4, 8, 8, 16], "layers": [1, 1, 1, 1]},
    "convnext_base": {"depths": [1, 1, 1, 1], "dims": [16, 32, 64, 128]},
    "convnext_tiny": {"depths": [1, 1, 1, 1], "dims": [16, 32, 64, 96]},
    "vit_base": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64},
    "swin_tiny": {"embed_dim": 16, "depths": [1, 1, 1, 1], "num_heads": [1, 2, 2, 4], "window_size": 2},
}


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("in_chans", [3, 1])
def test_every_baseline_yields_logits_and_1024_features(name, in_chans):
    model = build_backbone(name, image_size=64, in_chans=in_chans, **TINY[name])
    logits, feats = model(torch.randn(2, in_chans, 64, 64))
    assert logits.shape == (2, 5) and feats.shape == (2, 1024)
    logits.sum().backward()  # trainable end to end
    assert all(p.grad is not None for p in model.head.parameters())


def test_convnext_base_pooled_width_is_1024_without_projection():
    model = build_backbone("convnext_base", image_size=64, depths=[1, 1, 1, 1])
    assert model.backbone.out_dim == 1024 and isinstance(model.proj, nn.Identity)


def test_swin_too_small_for_its_window_is_a_clear_error():
    with pytest.raises(ValueError, match="smaller than window_size 7"):
        build_backbone("swin_tiny", image_size=64)


def test_unknown_model_names_the_registered_ones():
    with pytest.raises(ValueError, match=r"model 'resnet81024': not registered \(did you mean 'resnet18_1024'\?\)"):
        build_backbone("resnet81024")


class _TinyMixer(nn.Module):
    """A non-convolutional backbone with no ``out_dim``: the wrapper measures its width."""

    def __init__(self, in_chans: int, image_size: int, width: int = 24):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_chans * image_size * image_size, width), nn.GELU())

    def forward(self, x):
        return self.net(x)


def test_a_new_backbone_plugs_in_with_one_function_and_a_name():
    @register_backbone("test_tiny_mixer")
    def tiny_mixer(in_chans=3, image_size=336, **kw):
        return _TinyMixer(in_chans, image_size, **kw)

    assert "test_tiny_mixer" in list_backbones()
    model = build_backbone("test_tiny_mixer", image_size=16, width=40)
    assert isinstance(model, FeatureClassifier) and model.backbone_dim == 40
    logits, feats = model(torch.randn(2, 3, 16, 16))
    assert logits.shape == (2, 5) and feats.shape == (2, 1024)
    with pytest.raises(ValueError, match="already taken"):
        register_backbone("test_tiny_mixer")(lambda **kw: _TinyMixer(3, 16))


def test_backbone_with_wrong_output_shape_is_a_clear_error():
    @register_backbone("test_bad_shape")
    def bad(in_chans=3, image_size=336, **kw):
        m = nn.Conv2d(in_chans, 4, 3)
        m.out_dim = 4
        return m

    with pytest.raises(ValueError, match=r"output shape \(1, 4, 14, 14\); expected \(batch, 4\)"):
        build_backbone("test_bad_shape", image_size=16)(torch.zeros(1, 3, 16, 16))


def test_cli_lists_plugin_models(tmp_path):
    (tmp_path / "my_fe_plugin.py").write_text(textwrap.dedent('''
        from torch import nn
        from feature_extractor.registry import register_backbone

        @register_backbone("my_plugin_net")
        def my_plugin_net(in_chans=3, image_size=336, **kw):
            net = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
            net.out_dim = in_chans
            return net
    '''))
    env_path = f"{tmp_path}"
    out = subprocess.run(
        [sys.executable, "-m", "feature_extractor.train", "--list-models", "--plugin", "my_fe_plugin"],
        capture_output=True, text=True, env={"PYTHONPATH": env_path, "PATH": ""}, check=True,
    ).stdout.split()
    assert "my_plugin_net" in out and "resnet18_1024" in out and "convnext_base" in out
