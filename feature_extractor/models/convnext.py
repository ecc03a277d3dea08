"""ConvNeXt (Base for the paper; Tiny/Small and any custom depths/dims for tests).

Stem: 4x4 stride-4 convolution + channels-first LayerNorm. Four stages of blocks
(7x7 depthwise conv -> LayerNorm -> Linear 4x -> GELU -> Linear -> layer scale -> drop
path, residual), separated by LayerNorm + 2x2 stride-2 convolutions. The pooled feature
is the global average of the last stage followed by a LayerNorm: ``(B, dims[-1])`` —
1024 for ConvNeXt-Base, so it is used as is; other widths are projected to 1024 by the
wrapper in :mod:`feature_extractor.registry`.

Shapes for a 336x336 input and Base dims: stem (B, 128, 84, 84); stages (B, 128, 84, 84),
(B, 256, 42, 42), (B, 512, 21, 21), (B, 1024, 10, 10); pooled (B, 1024).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from feature_extractor.registry import register_backbone

logger = logging.getLogger(__name__)

__all__ = ["ConvNeXt", "ConvNeXtBlock", "LayerNorm2d"]


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channel axis of ``(B, C, H, W)`` tensors."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)  # (B, H, W, C)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)  # (B, C, H, W)


def _drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero whole samples of the residual branch with probability ``p``."""
    if p == 0.0 or not training:
        return x
    keep = 1.0 - p
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
    return x * mask / keep


class ConvNeXtBlock(nn.Module):
    """One ConvNeXt block: (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, dim: int, drop_path: float = 0.0, layer_scale_init: float = 1e-6):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale_init)) if layer_scale_init > 0 else None
        self.drop_path = float(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)  # (B, H, W, C)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))  # (B, H, W, C)
        if self.gamma is not None:
            y = y * self.gamma
        y = y.permute(0, 3, 1, 2)  # (B, C, H, W)
        return x + _drop_path(y, self.drop_path, self.training)


class ConvNeXt(nn.Module):
    """ConvNeXt trunk returning the pooled, normalised feature ``(B, dims[-1])``.

    Parameters
    ----------
    depths : sequence of 4 int
        Blocks per stage (Base: 3, 3, 27, 3).
    dims : sequence of 4 int
        Channels per stage (Base: 128, 256, 512, 1024).
    in_chans : int
        Input channels.
    drop_path_rate : float
        Stochastic depth, rising linearly to this value over all blocks (default 0).
    """

    def __init__(
        self,
        depths: Sequence[int] = (3, 3, 27, 3),
        dims: Sequence[int] = (128, 256, 512, 1024),
        in_chans: int = 3,
        drop_path_rate: float = 0.0,
        layer_scale_init: float = 1e-6,
    ):
        super().__init__()
        if len(depths) != 4 or len(dims) != 4:
            raise ValueError(f"ConvNeXt: depths and dims need 4 entries, got {list(depths)} and {list(dims)}")
        self.downsample_layers = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(in_chans, dims[0], 4, 4), LayerNorm2d(dims[0], eps=1e-6))]
        )
        for i in range(3):
            self.downsample_layers.append(
                nn.Sequential(LayerNorm2d(dims[i], eps=1e-6), nn.Conv2d(dims[i], dims[i + 1], 2, 2))
            )
        total = sum(depths)
        rates = [drop_path_rate * k / max(total - 1, 1) for k in range(total)]
        self.stages = nn.ModuleList()
        k = 0
        for depth, dim in zip(depths, dims):
            self.stages.append(nn.Sequential(*[ConvNeXtBlock(dim, rates[k + j], layer_scale_init) for j in range(depth)]))
            k += depth
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.out_dim = int(dims[-1])
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for down, stage in zip(self.downsample_layers, self.stages):
            x = stage(down(x))  # (B, dims[i], H/2^(i+2), W/2^(i+2))
        return self.norm(x.mean(dim=(2, 3)))  # (B, dims[-1])


_VARIANTS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "convnext_tiny": ((3, 3, 9, 3), (96, 192, 384, 768)),
    "convnext_small": ((3, 3, 27, 3), (96, 192, 384, 768)),
    "convnext_base": ((3, 3, 27, 3), (128, 256, 512, 1024)),
}


def _register(name: str, depths: tuple[int, ...], dims: tuple[int, ...]) -> None:
    def factory(in_chans: int = 3, image_size: int = 336, **kw) -> ConvNeXt:
        kw.setdefault("depths", depths)
        kw.setdefault("dims", dims)
        return ConvNeXt(in_chans=in_chans, **kw)

    factory.__qualname__ = f"factory_{name}"
    register_backbone(name)(factory)


for _name, (_depths, _dims) in _VARIANTS.items():
    _register(_name, _depths, _dims)
