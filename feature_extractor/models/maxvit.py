"""MaxViT (Tu et al., ECCV 2022): MBConv + block attention + grid attention per block.

Published layout (paper Table 1; "base" for PSG-LLaVA Table 1):

| variant | stem | blocks per stage | channels per stage | params (paper) |
| --- | --- | --- | --- | --- |
| MaxViT-T | 64 | 2, 2, 5, 2 | 64, 128, 256, 512 | 31M |
| MaxViT-S | 64 | 2, 2, 5, 2 | 96, 192, 384, 768 | 69M |
| MaxViT-B | 64 | 2, 6, 14, 2 | 96, 192, 384, 768 | 120M |
| MaxViT-L | 128 | 2, 6, 14, 2 | 128, 256, 512, 1024 | 212M |

Stem: 3x3 stride-2 convolution + BN + GELU, then a 3x3 convolution. Each MaxViT block is
MBConv (pre-BN, 1x1 expand x4, BN, GELU, 3x3 depthwise with the stage's stride, BN, GELU,
squeeze-excitation 0.25, 1x1 project; residual, a 2x2 average pool + 1x1 conv on the
shortcut where the block downsamples), then *block* attention (self-attention inside
non-overlapping 7x7 windows) and *grid* attention (self-attention among the positions of a
dilated 7x7 grid spanning the whole map), each a pre-LayerNorm transformer layer with a
4x MLP; heads of 32 channels and a learned relative-position bias per window. The first
block of every stage halves the resolution. The pooled feature is the LayerNorm'ed global
average of the last stage ``(B, channels[-1])``; widths other than 1024 are projected by
the wrapper in :mod:`feature_extractor.registry`. The published parameter counts include
the ImageNet head (pre-logits ``Linear(C, C)`` + tanh, then ``Linear(C, 1000)``), which lives
outside this trunk.

Shapes for a 224x224 input, MaxViT-T: stem (B, 64, 112, 112); stages (B, 64, 56, 56),
(B, 128, 28, 28), (B, 256, 14, 14), (B, 512, 7, 7); pooled (B, 512). For 336x336 the maps
are 84, 42, 21, 11: maps that are not a multiple of the window are zero-padded before the
partition and cropped after it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from feature_extractor.models.convnext import _drop_path
from feature_extractor.registry import register_backbone

logger = logging.getLogger(__name__)

__all__ = ["MaxViT", "MaxViTBlock", "MBConv", "PartitionAttention", "MAXVIT_VARIANTS"]


class SqueezeExcite(nn.Module):
    """Channel gate: (B, C, H, W) -> (B, C, H, W) scaled by sigmoid(MLP(mean over H, W))."""

    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, reduced, 1)
        self.fc2 = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
        return x * torch.sigmoid(self.fc2(F.silu(self.fc1(s))))


class MBConv(nn.Module):
    """Inverted bottleneck: (B, Cin, H, W) -> (B, Cout, H/stride, W/stride)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, expand: int = 4, se_ratio: float = 0.25,
                 drop_path: float = 0.0):
        super().__init__()
        mid = out_ch * expand
        self.pre_norm = nn.BatchNorm2d(in_ch)
        self.conv1 = nn.Conv2d(in_ch, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.se = SqueezeExcite(mid, max(1, int(out_ch * se_ratio)))
        self.conv3 = nn.Conv2d(mid, out_ch, 1)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            pool = nn.AvgPool2d(stride, stride, ceil_mode=True) if stride != 1 else nn.Identity()
            self.shortcut = nn.Sequential(pool, nn.Conv2d(in_ch, out_ch, 1))
        self.drop_path = float(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.gelu(self.bn1(self.conv1(self.pre_norm(x))))  # (B, mid, H, W)
        y = F.gelu(self.bn2(self.conv2(y)))  # (B, mid, H/s, W/s)
        y = self.conv3(self.se(y))  # (B, Cout, H/s, W/s)
        return self.shortcut(x) + _drop_path(y, self.drop_path, self.training)


class RelativeAttention(nn.Module):
    """Multi-head self-attention over a w*w window with a relative-position bias.

    ``forward(x)``: (N, w*w, C) -> (N, w*w, C), N = batch x windows.
    """

    def __init__(self, dim: int, window: int, head_dim: int = 32):
        super().__init__()
        if dim % head_dim:
            raise ValueError(f"MaxViT: channels {dim} are not a multiple of the head size {head_dim}")
        self.heads, self.window = dim // head_dim, int(window)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.rel_bias = nn.Parameter(torch.zeros((2 * window - 1) ** 2, self.heads))
        nn.init.trunc_normal_(self.rel_bias, std=0.02)
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]) + (window - 1)  # (2, w*w, w*w), in [0, 2w-2]
        self.register_buffer("rel_index", rel[0] * (2 * window - 1) + rel[1], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)  # 3 x (N, h, T, hd)
        bias = self.rel_bias[self.rel_index].permute(2, 0, 1)  # (h, T, T)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.unsqueeze(0).to(q.dtype))  # (N, h, T, hd)
        return self.proj(out.transpose(1, 2).reshape(n, t, c))


def _partition(x: torch.Tensor, w: int, grid: bool) -> tuple[torch.Tensor, tuple[int, int]]:
    """(B, H, W, C) -> (B * windows, w*w, C): contiguous w x w blocks, or a dilated w x w grid."""
    b, h, wd, c = x.shape
    ph, pw = (-h) % w, (-wd) % w
    x = F.pad(x, (0, 0, 0, pw, 0, ph))
    hp, wp = h + ph, wd + pw
    if grid:  # position (i, j) of every (hp/w x wp/w) cell forms one group of w*w tokens
        x = x.view(b, w, hp // w, w, wp // w, c).permute(0, 2, 4, 1, 3, 5)
    else:
        x = x.view(b, hp // w, w, wp // w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, w * w, c), (hp, wp)


def _unpartition(x: torch.Tensor, w: int, grid: bool, b: int, padded: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`_partition`, cropping the padding: -> (B, H, W, C)."""
    hp, wp = padded
    c = x.shape[-1]
    x = x.view(b, hp // w, wp // w, w, w, c)
    x = x.permute(0, 3, 1, 4, 2, 5) if grid else x.permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, hp, wp, c)[:, : size[0], : size[1]]


class PartitionAttention(nn.Module):
    """Pre-norm transformer layer on block (``grid=False``) or grid (``grid=True``) partitions.

    (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, dim: int, window: int, grid: bool, head_dim: int = 32, mlp_ratio: int = 4, drop_path: float = 0.0):
        super().__init__()
        self.window, self.grid, self.drop_path = int(window), bool(grid), float(drop_path)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = RelativeAttention(dim, window, head_dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        x = x.permute(0, 2, 3, 1)  # (B, H, W, C)
        parts, padded = _partition(self.norm1(x), self.window, self.grid)  # (B*n, w*w, C)
        y = _unpartition(self.attn(parts), self.window, self.grid, b, padded, (h, w))  # (B, H, W, C)
        x = x + _drop_path(y, self.drop_path, self.training)
        x = x + _drop_path(self.mlp(self.norm2(x)), self.drop_path, self.training)
        return x.permute(0, 3, 1, 2)  # (B, C, H, W)


class MaxViTBlock(nn.Module):
    """MBConv -> block attention -> grid attention: (B, Cin, H, W) -> (B, Cout, H/s, W/s)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, window: int, head_dim: int, drop_path: float):
        super().__init__()
        self.mbconv = MBConv(in_ch, out_ch, stride, drop_path=drop_path)
        self.block_attn = PartitionAttention(out_ch, window, False, head_dim, drop_path=drop_path)
        self.grid_attn = PartitionAttention(out_ch, window, True, head_dim, drop_path=drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.grid_attn(self.block_attn(self.mbconv(x)))


class MaxViT(nn.Module):
    """MaxViT trunk returning the pooled, normalised feature ``(B, channels[-1])``.

    Parameters
    ----------
    depths : sequence of int
        MaxViT blocks per stage (T/S: 2, 2, 5, 2; B/L: 2, 6, 14, 2).
    channels : sequence of int
        Channels per stage (T: 64, 128, 256, 512).
    stem_channels : int
        Channels of the two stem convolutions (64; 128 for L).
    window : int
        Side of the attention window and of the grid (7).
    head_dim : int
        Channels per attention head (32).
    in_chans : int
        Input channels.
    drop_path_rate : float
        Stochastic depth, rising linearly to this value over all blocks (default 0).
    """

    def __init__(self, depths: Sequence[int] = (2, 2, 5, 2), channels: Sequence[int] = (64, 128, 256, 512),
                 stem_channels: int = 64, window: int = 7, head_dim: int = 32, in_chans: int = 3,
                 drop_path_rate: float = 0.0):
        super().__init__()
        if len(depths) != len(channels) or not depths:
            raise ValueError(f"MaxViT: depths and channels need the same number of stages, got {list(depths)} and {list(channels)}")
        self.stem = nn.Sequential(nn.Conv2d(in_chans, stem_channels, 3, 2, 1), nn.BatchNorm2d(stem_channels), nn.GELU(),
                                  nn.Conv2d(stem_channels, stem_channels, 3, 1, 1))
        total = sum(depths)
        rates = [drop_path_rate * k / max(total - 1, 1) for k in range(total)]
        self.stages = nn.ModuleList()
        prev, k = stem_channels, 0
        for depth, ch in zip(depths, channels):
            blocks = [MaxViTBlock(prev if j == 0 else ch, ch, 2 if j == 0 else 1, window, head_dim, rates[k + j])
                      for j in range(depth)]
            self.stages.append(nn.Sequential(*blocks))
            prev, k = ch, k + depth
        self.norm = nn.LayerNorm(channels[-1])
        self.out_dim = int(channels[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # (B, stem, H/2, W/2)
        for stage in self.stages:
            x = stage(x)  # (B, channels[i], H/2^(i+2), W/2^(i+2))
        return self.norm(x.mean(dim=(2, 3)))  # (B, channels[-1])


#: name -> (depths, channels, stem channels, published parameter count with the ImageNet head)
MAXVIT_VARIANTS: dict[str, tuple[tuple[int, ...], tuple[int, ...], int, float]] = {
    "maxvit_tiny": ((2, 2, 5, 2), (64, 128, 256, 512), 64, 31e6),
    "maxvit_small": ((2, 2, 5, 2), (96, 192, 384, 768), 64, 69e6),
    "maxvit_base": ((2, 6, 14, 2), (96, 192, 384, 768), 64, 120e6),
    "maxvit_large": ((2, 6, 14, 2), (128, 256, 512, 1024), 128, 212e6),
}


def _register(name: str, depths: tuple[int, ...], channels: tuple[int, ...], stem: int) -> None:
    def factory(in_chans: int = 3, image_size: int = 336, **kw) -> MaxViT:
        kw.setdefault("depths", depths)
        kw.setdefault("channels", channels)
        kw.setdefault("stem_channels", stem)
        return MaxViT(in_chans=in_chans, **kw)

    factory.__qualname__ = f"factory_{name}"
    register_backbone(name)(factory)


for _name, (_depths, _channels, _stem, _) in MAXVIT_VARIANTS.items():
    _register(_name, _depths, _channels, _stem)
