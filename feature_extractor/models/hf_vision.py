"""ViT and Swin baselines from transformers' vision models, built from configs (no downloads).

``vit_base``: ViT-B/16 (hidden 768, 12 layers, 12 heads); the pooled feature is the final
LayerNorm'ed ``[CLS]`` token ``(B, 768)``. ``swin_tiny`` / ``swin_base``: Swin-T/B, patch 4,
window 7; the pooled feature is the average of the last stage's tokens ``(B, 8 * embed_dim)``
(768 / 1024). The wrapper in :mod:`feature_extractor.registry` projects widths other than 1024.
Keyword arguments override any config field (``hidden_size=32, num_hidden_layers=2`` ...).
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from feature_extractor.registry import register_backbone

logger = logging.getLogger(__name__)

__all__ = ["ViTBackbone", "SwinBackbone"]


class ViTBackbone(nn.Module):
    """transformers ``ViTModel`` -> ``[CLS]`` feature ``(B, hidden_size)``."""

    def __init__(self, in_chans: int = 3, image_size: int = 336, **config_kw):
        super().__init__()
        from transformers import ViTConfig, ViTModel

        config = ViTConfig(image_size=image_size, num_channels=in_chans, **config_kw)
        self.model = ViTModel(config, add_pooling_layer=False)
        self.out_dim = int(config.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.model(pixel_values=x).last_hidden_state  # (B, 1 + patches, hidden)
        return hidden[:, 0]  # (B, hidden)


class SwinBackbone(nn.Module):
    """transformers ``SwinModel`` -> mean-pooled last stage ``(B, embed_dim * 2**(stages-1))``."""

    def __init__(self, in_chans: int = 3, image_size: int = 336, **config_kw):
        super().__init__()
        from transformers import SwinConfig, SwinModel

        config = SwinConfig(image_size=image_size, num_channels=in_chans, **config_kw)
        side = -(-image_size // config.patch_size)
        for _ in range(len(config.depths) - 1):
            side = -(-side // 2)
        if side < config.window_size:
            raise ValueError(
                f"swin: image size {image_size} leaves a {side}x{side} last stage, smaller than window_size "
                f"{config.window_size}; use a larger image or window_size <= {side}"
            )
        self.model = SwinModel(config, add_pooling_layer=True)
        self.out_dim = int(self.model.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=x).pooler_output  # (B, out_dim)


@register_backbone("vit_base")
def vit_base(in_chans: int = 3, image_size: int = 336, **kw) -> ViTBackbone:
    kw.setdefault("patch_size", 16)
    return ViTBackbone(in_chans=in_chans, image_size=image_size, **kw)


@register_backbone("swin_tiny")
def swin_tiny(in_chans: int = 3, image_size: int = 336, **kw) -> SwinBackbone:
    kw.setdefault("embed_dim", 96)
    kw.setdefault("depths", [2, 2, 6, 2])
    kw.setdefault("num_heads", [3, 6, 12, 24])
    return SwinBackbone(in_chans=in_chans, image_size=image_size, **kw)


@register_backbone("swin_base")
def swin_base(in_chans: int = 3, image_size: int = 336, **kw) -> SwinBackbone:
    kw.setdefault("embed_dim", 128)
    kw.setdefault("depths", [2, 2, 18, 2])
    kw.setdefault("num_heads", [4, 8, 16, 32])
    return SwinBackbone(in_chans=in_chans, image_size=image_size, **kw)
