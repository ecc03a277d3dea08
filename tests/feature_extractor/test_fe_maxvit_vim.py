"""MaxViT and Vision Mamba: published sizes, shapes, the selective scan against a loop and the kernel."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from feature_extractor.checkpoint import load_model, save_model
from feature_extractor.config import ModelConfig
from feature_extractor.models.maxvit import MAXVIT_VARIANTS, MaxViT, _partition, _unpartition
from feature_extractor.models.vim import VIM_VARIANTS, VisionMamba, fused_scan_available, selective_scan_ref
from feature_extractor.registry import build_backbone


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", sorted(MAXVIT_VARIANTS))
def test_maxvit_reference_sizes_match_the_paper(name):
    depths, channels, stem, published = MAXVIT_VARIANTS[name]
    with torch.device("meta"):
        trunk = MaxViT(depths, channels, stem)
    c = channels[-1]
    with_head = n_params(trunk) + (c * c + c) + (c * 1000 + 1000)  # pre-logits + ImageNet classifier
    # paper Table 1: 31M / 69M / 120M / 212M (rounded); this layout gives 30.92M / 68.93M / 119.47M / 211.80M
    assert abs(with_head - published) < 0.005 * published, with_head


@pytest.mark.parametrize("name", sorted(VIM_VARIANTS))
def test_vim_reference_sizes_match_the_paper(name):
    width, published = VIM_VARIANTS[name]
    with torch.device("meta"):
        trunk = VisionMamba(width, image_size=224)
    with_head = n_params(trunk) + width * 1000 + 1000
    # paper Table 1: 7M / 26M / 98M, rounded to the million; this layout gives 7.15M / 25.80M / 97.60M
    assert abs(with_head - published) < 0.5e6, with_head


TINY = {
    "maxvit_base": {"depths": [1, 1, 1, 1], "channels": [32, 32, 64, 64], "stem_channels": 16, "window": 2},
    "vim_base": {"embed_dim": 32, "depth": 2, "patch_size": 8},
}


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("in_chans", [3, 1])
def test_new_backbones_yield_logits_and_1024_features(name, in_chans):
    model = build_backbone(name, image_size=64, in_chans=in_chans, **TINY[name])
    logits, feats = model(torch.randn(2, in_chans, 64, 64))
    assert logits.shape == (2, 5) and feats.shape == (2, 1024)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.backbone.parameters() if p.requires_grad)


def test_maxvit_base_stage_shapes_and_padding_of_maps_off_the_window():
    trunk = MaxViT((1, 1, 1, 1), (32, 32, 64, 64), 16, window=7)
    x = trunk.stem(torch.randn(1, 3, 90, 90))
    sizes = []
    for stage in trunk.stages:
        x = stage(x)
        sizes.append(tuple(x.shape[1:]))
    assert sizes == [(32, 23, 23), (32, 12, 12), (64, 6, 6), (64, 3, 3)]  # 23 and 12 are padded to 28 and 14


@pytest.mark.parametrize("grid", [False, True])
def test_partitions_invert_and_group_the_published_neighbourhoods(grid):
    x = torch.arange(2 * 6 * 6 * 1, dtype=torch.float32).view(2, 6, 6, 1)
    parts, padded = _partition(x, 3, grid)
    assert parts.shape == (2 * 4, 9, 1)
    assert torch.equal(_unpartition(parts, 3, grid, 2, padded, (6, 6)), x)
    first = parts[0, :, 0].view(3, 3)
    if grid:  # a dilated grid: rows/columns 0, 2, 4 of the map
        assert torch.equal(first, x[0, ::2, ::2, 0])
    else:  # a contiguous 3x3 window
        assert torch.equal(first, x[0, :3, :3, 0])


def _naive_scan(u, delta, A, B, C, D, z, delta_bias):
    """The recurrence one step at a time."""
    delta = F.softplus(delta + delta_bias[None, :, None])
    b, e, length = u.shape
    h = torch.zeros(b, e, A.shape[1], dtype=torch.float64)
    ys = []
    for t in range(length):
        h = torch.exp(delta[:, :, t, None] * A) * h + delta[:, :, t, None] * B[:, None, :, t] * u[:, :, t, None]
        ys.append((h * C[:, None, :, t]).sum(-1))
    y = torch.stack(ys, dim=2) + u * D[None, :, None]
    return y * F.silu(z)


def _scan_inputs(seed: int, b=2, e=6, n=4, length=37, dtype=torch.float64, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)  # noqa: E731
    args = (r(b, e, length), r(b, e, length), -torch.rand(e, n, generator=g, dtype=dtype) * 3, r(b, n, length),
            r(b, n, length), r(e), r(b, e, length), r(e))
    return tuple(a.to(device) for a in args)


@pytest.mark.parametrize("chunk", [1, 5, 16, 64])
def test_reference_scan_equals_the_step_by_step_recurrence(chunk):
    u, delta, A, B, C, D, z, bias = _scan_inputs(0)
    want = _naive_scan(u, delta, A, B, C, D, z, bias)
    got = selective_scan_ref(u, delta, A, B, C, D, z, bias, True, chunk=chunk).double()
    assert torch.allclose(got, want, atol=1e-4, rtol=1e-4)
    wrong = selective_scan_ref(u, delta, A.flip(0), B, C, D, z, bias, True, chunk=chunk).double()
    assert not torch.allclose(wrong, want, atol=1e-3)  # the test can tell a different A


@pytest.mark.gpu
@pytest.mark.skipif(not fused_scan_available() or not torch.cuda.is_available(), reason="mamba_ssm kernel or CUDA absent")
def test_fused_kernel_agrees_with_the_reference_scan():
    from feature_extractor.models.vim import _fused_scan

    args = _scan_inputs(1, b=2, e=64, n=16, length=200, dtype=torch.float32, device="cuda")
    want = selective_scan_ref(*args, True)
    got = _fused_scan()(*args, True)
    assert torch.allclose(got, want, atol=2e-3, rtol=2e-3)


@pytest.mark.parametrize("name", sorted(TINY))
def test_save_and_load_round_trip(tmp_path, name):
    cfg = ModelConfig(model=name, model_kwargs=TINY[name], image_size=64)
    model = cfg.build().eval()
    save_model(tmp_path / "ckpt", model, cfg)
    again, cfg2, _ = load_model(tmp_path / "ckpt", torch.device("cpu"))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x)[0], again(x)[0], atol=1e-5)
    assert cfg2.model == name
