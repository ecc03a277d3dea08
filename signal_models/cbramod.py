"""CBraMod (Wang et al., ICLR 2025): a criss-cross transformer over channel x time patches.

Published layout: EEG at 200 Hz in units of 100 µV, 1-s patches of 200 samples for every
channel, ``(B, C, P, 200)``; any number of channels (no electrode table). Patch embedding:
a time-domain branch — conv (1 -> 25, kernel 49, stride 25, pad 24), GroupNorm(5) + GELU,
two convs (25 -> 25, kernel 3) each with GroupNorm + GELU, flattened (8 steps x 25 = 200) —
plus a spectral branch (|rfft| of the patch, 101 bins, normalised by the patch length,
-> linear to 200, dropout 0.1); then an *asymmetric conditional positional encoding*, a
depthwise conv over (channels, patches) with kernel 19 x 7, added to the embedding.
12 pre-norm criss-cross layers, width 200, 8 heads, feed-forward 800, GELU: the width is
split in halves, one half attends across channels within each patch (*spatial*, 4 heads of
the 100 channels), the other across patches within each channel (*temporal*, 4 heads), and
the two are concatenated. 4.0M parameters. The pre-training reconstruction head
``proj_out`` is part of the release; it is kept (unused by the classifier) so the released
file loads with no unexpected keys.

Key names are those of the release (``patch_embedding.proj_in.0``, ``patch_embedding.
spectral_proj.0``, ``patch_embedding.positional_encoding.0``, ``encoder.layers.N.self_attn_s``,
``self_attn_t``, ``linear1``, ``linear2``, ``norm1``, ``norm2``, ``proj_out.0``).

Classifier (ours; the paper's sleep head flattens all patch tokens into an MLP): mean over
channels and patches -> linear to 5 stages.

Shapes: (B, C, 6000) -> patches (B, C, 30, 200) -> embedding (B, C, 30, 200) -> every layer
(B, C, 30, 200) -> pooled (B, 200) -> logits (B, 5).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from signal_models.checkpoints import load_published

logger = logging.getLogger(__name__)

__all__ = ["CBraMod", "CrissCrossLayer", "load_cbramod"]


class PatchEmbedding(nn.Module):
    """(B, C, P, L) -> (B, C, P, D): time-domain + spectral embedding + conditional positions."""

    def __init__(self, d_model: int = 200, patch: int = 200):
        super().__init__()
        conv_ch = d_model // 8
        self.positional_encoding = nn.Sequential(nn.Conv2d(d_model, d_model, (19, 7), padding=(9, 3), groups=d_model))
        self.mask_encoding = nn.Parameter(torch.zeros(patch), requires_grad=False)  # pre-training mask value
        self.proj_in = nn.Sequential(
            nn.Conv2d(1, conv_ch, (1, 49), (1, 25), (0, 24)), nn.GroupNorm(5, conv_ch), nn.GELU(),
            nn.Conv2d(conv_ch, conv_ch, (1, 3), padding=(0, 1)), nn.GroupNorm(5, conv_ch), nn.GELU(),
            nn.Conv2d(conv_ch, conv_ch, (1, 3), padding=(0, 1)), nn.GroupNorm(5, conv_ch), nn.GELU())
        self.spectral_proj = nn.Sequential(nn.Linear(patch // 2 + 1, d_model), nn.Dropout(0.1))
        self.d_model = d_model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, p, length = x.shape
        t = self.proj_in(x.reshape(b, 1, c * p, length))  # (B, 25, C*P, 8)
        t = t.permute(0, 2, 1, 3).reshape(b, c, p, self.d_model)  # channel-major within each step
        spec = torch.fft.rfft(x, dim=-1, norm="forward").abs()  # (B, C, P, 101)
        emb = t + self.spectral_proj(spec)  # (B, C, P, D)
        pos = self.positional_encoding(emb.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)  # (B, C, P, D)
        return emb + pos


class CrissCrossLayer(nn.Module):
    """Pre-norm criss-cross layer: (B, C, P, D) -> (B, C, P, D)."""

    def __init__(self, d_model: int = 200, heads: int = 8, ff: int = 800, dropout: float = 0.1):
        super().__init__()
        half = d_model // 2
        self.self_attn_s = nn.MultiheadAttention(half, heads // 2, dropout=dropout, batch_first=True)
        self.self_attn_t = nn.MultiheadAttention(half, heads // 2, dropout=dropout, batch_first=True)
        self.linear1 = nn.Linear(d_model, ff)
        self.linear2 = nn.Linear(ff, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)

    def _criss_cross(self, x: torch.Tensor) -> torch.Tensor:
        b, c, p, d = x.shape
        half = d // 2
        xs = x[..., :half].transpose(1, 2).reshape(b * p, c, half)  # each patch: attend across channels
        xt = x[..., half:].reshape(b * c, p, half)  # each channel: attend across patches
        ys = self.self_attn_s(xs, xs, xs, need_weights=False)[0].reshape(b, p, c, half).transpose(1, 2)
        yt = self.self_attn_t(xt, xt, xt, need_weights=False)[0].reshape(b, c, p, half)
        return torch.cat([ys, yt], dim=-1)  # (B, C, P, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self._criss_cross(self.norm1(x)))
        return x + self.drop(self.linear2(self.drop(F.gelu(self.linear1(self.norm2(x))))))


class CBraMod(nn.Module):
    """CBraMod encoder + mean-pooled linear head: (B, C, T) at 200 Hz (100 µV) -> (B, num_classes).

    Parameters
    ----------
    d_model, layers, heads, ff : int
        Width, criss-cross layers, heads, feed-forward width (200, 12, 8, 800).
    patch : int
        Samples per patch (200 = 1 s at 200 Hz).
    """

    sequence = False

    def __init__(self, d_model: int = 200, layers: int = 12, heads: int = 8, ff: int = 800, patch: int = 200,
                 num_classes: int = 5, **_: object):
        super().__init__()
        self.patch = int(patch)
        self.patch_embedding = PatchEmbedding(d_model, patch)
        self.encoder = nn.Module()
        self.encoder.layers = nn.ModuleList([CrissCrossLayer(d_model, heads, ff) for _ in range(layers)])
        self.proj_out = nn.Sequential(nn.Linear(d_model, patch))  # pre-training head of the release (unused)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t = x.shape
        if t % self.patch:
            raise ValueError(f"CBraMod: epochs of {t} samples are not a whole number of {self.patch}-sample patches")
        h = self.patch_embedding(x.reshape(b, c, t // self.patch, self.patch))  # (B, C, P, D)
        for layer in self.encoder.layers:
            h = layer(h)
        return self.head(h.mean(dim=(1, 2)))  # (B, num_classes)


def load_cbramod(model: CBraMod, path: str | Path) -> list[str]:
    """Load a released CBraMod checkpoint (``pretrained_weights.pth`` layout); ``head`` stays new."""
    return load_published(model, path, "CBraMod", lambda k: k, lambda name: False, new=("head.",))
