"""ResNet-18/34/50/101/152 and the paper's modified ResNet-18 (1024-wide last stage).

Layer names follow the usual ResNet layout (``conv1``, ``bn1``, ``layer1``..``layer4``,
blocks with ``conv1/bn1/conv2/bn2[/conv3/bn3]`` and a ``downsample`` = 1x1 conv + BN
shortcut), so a ResNet state dict saved by other tools loads by name through
``--init-weights``; the classifier lives outside (see :mod:`feature_extractor.registry`).

Shapes for a 336x336 input: stem -> (B, 64, 84, 84); layer1 (B, 64w, 84, 84); layer2
(B, 128w, 42, 42); layer3 (B, 256w, 21, 21); layer4 (B, C4, 11, 11); pooled (B, C4), where
``w`` is the block expansion (1 basic, 4 bottleneck) and ``C4`` is 512w, or 1024 for the
modified ResNet-18.

The modified ResNet-18 (``resnet18_1024``): the last convolutional stage is widened from
512 to 1024 channels; its first block downsamples through a 1x1 convolution + BN shortcut
(256 -> 1024, stride 2), so the pooled feature is 1024-wide with no projection.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from torch import nn

from feature_extractor.registry import register_backbone

logger = logging.getLogger(__name__)

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet"]


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual shortcut: (B, Cin, H, W) -> (B, C, H/s, W/s)."""

    expansion = 1

    def __init__(self, in_ch: int, width: int, stride: int = 1):
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = nn.Conv2d(in_ch, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_ch, out_ch, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (stride here), 1x1 expand (x4), residual shortcut."""

    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int = 1):
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_ch, out_ch, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def _shortcut(in_ch: int, out_ch: int, stride: int) -> nn.Module | None:
    """1x1 convolution + BN when the shape changes, else ``None`` (identity)."""
    if stride == 1 and in_ch == out_ch:
        return None
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))


class ResNet(nn.Module):
    """ResNet trunk returning the globally average-pooled feature ``(B, out_dim)``.

    Parameters
    ----------
    block : type
        :class:`BasicBlock` or :class:`Bottleneck`.
    layers : sequence of 4 int
        Blocks per stage.
    widths : sequence of 4 int
        Base width of each stage (output channels = width * block.expansion).
    in_chans : int
        Input channels: 3 (RGB, grayscale images replicated) or 1 (grayscale stem).
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: Sequence[int],
        widths: Sequence[int] = (64, 128, 256, 512),
        in_chans: int = 3,
    ):
        super().__init__()
        if len(layers) != 4 or len(widths) != 4:
            raise ValueError(f"ResNet: layers and widths need 4 entries, got {list(layers)} and {list(widths)}")
        self.conv1 = nn.Conv2d(in_chans, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        in_ch = 64
        stages = []
        for i, (n, w) in enumerate(zip(layers, widths)):
            blocks = []
            for j in range(n):
                blocks.append(block(in_ch, w, stride=2 if (j == 0 and i > 0) else 1))
                in_ch = w * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.out_dim = in_ch
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # the last BN of each residual branch starts at zero: every block begins as identity
        for m in self.modules():
            if isinstance(m, Bottleneck):
                nn.init.zeros_(m.bn3.weight)
            elif isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (B, 64, H/4, W/4)
        x = self.layer1(x)  # (B, 64w, H/4, W/4)
        x = self.layer2(x)  # (B, 128w, H/8, W/8)
        x = self.layer3(x)  # (B, 256w, H/16, W/16)
        x = self.layer4(x)  # (B, out_dim, H/32, W/32)
        return torch.flatten(self.avgpool(x), 1)  # (B, out_dim)


_DEPTHS: dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


def resnet(depth: int, in_chans: int = 3, widths: Sequence[int] = (64, 128, 256, 512), layers: Sequence[int] | None = None) -> ResNet:
    """A ResNet of ``depth`` 18/34/50/101/152 (``layers`` overrides the block counts)."""
    if depth not in _DEPTHS:
        raise ValueError(f"resnet: depth {depth} is not one of {sorted(_DEPTHS)}")
    block, default_layers = _DEPTHS[depth]
    return ResNet(block, tuple(layers) if layers is not None else default_layers, widths, in_chans)


def _register(name: str, depth: int, widths: tuple[int, int, int, int]) -> None:
    def factory(in_chans: int = 3, image_size: int = 336, **kw) -> ResNet:
        kw.setdefault("widths", widths)
        return resnet(depth, in_chans=in_chans, **kw)

    factory.__qualname__ = f"factory_{name}"
    register_backbone(name)(factory)


for _depth in _DEPTHS:
    _register(f"resnet{_depth}", _depth, (64, 128, 256, 512))
#: The paper's specialized vision module: ResNet-18 with a 1024-channel last stage.
_register("resnet18_1024", 18, (64, 128, 256, 1024))
