"""LaBraM (Jiang et al., ICLR 2024): a transformer over 1-s patches of every EEG electrode.

Published layout (LaBraM-Base; Large/Huge widen it): EEG at 200 Hz in units of 0.1 mV,
cut into patches of 200 samples per electrode. A *temporal encoder* embeds each patch —
conv (1 -> 8, kernel 15, stride 8, pad 7), GroupNorm(4) + GELU, then two convs (8 -> 8,
kernel 3, pad 1) each with GroupNorm + GELU — and flattens it (25 steps x 8 = 200 = D).
A class token is prepended; every patch adds its electrode's *spatial* embedding (a table
of 128 electrodes + the class token, indexed through the 10-20 name list below) and its
*temporal* embedding (16 positions). 12 pre-norm blocks, 10 heads, MLP 4x, q/v biases,
LayerNorm on queries and keys, layer scale (0.1). Fine-tuning pools the patch tokens
(mean, LayerNorm ``fc_norm``) into a linear head. Base has 5.8M parameters.

Key names are those of the authors' release (``patch_embed.conv1``, ``blocks.N.attn.q_bias``,
``blocks.N.gamma_1``, ``pos_embed``, ``time_embed`` ...); the released ``labram-base.pth``
keeps them under ``model`` with a ``student.`` prefix, which :func:`load_labram` removes.

Sleep epochs are 30 s = 30 patches, longer than the 16 temporal positions of the release:
the temporal table is linearly interpolated to the number of patches (the stored table
keeps its 16 rows, so released weights load unchanged). Channels are mapped to electrodes
by their active electrode (``'Fpz-Cz'`` -> ``FPZ``, ``'EEG C4-A1'`` -> ``C4``); a channel
with no electrode in the table (EOG, EMG) is an error naming it.

Shapes: (B, C, 6000) -> patches (B, C, 30, 200) -> tokens (B, 1 + C*30, 200) -> pooled
(B, 200) -> logits (B, 5).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from signal_models.checkpoints import load_published

logger = logging.getLogger(__name__)

__all__ = ["LaBraM", "LABRAM_ELECTRODES", "electrode_indices", "load_labram", "LABRAM_SIZES"]

#: the release's electrode order; position-table row = index + 1 (row 0: class token)
LABRAM_ELECTRODES: tuple[str, ...] = tuple("""
FP1 FPZ FP2 AF9 AF7 AF5 AF3 AF1 AFZ AF2 AF4 AF6 AF8 AF10 F9 F7 F5 F3 F1 FZ F2 F4 F6 F8 F10
FT9 FT7 FC5 FC3 FC1 FCZ FC2 FC4 FC6 FT8 FT10 T9 T7 C5 C3 C1 CZ C2 C4 C6 T8 T10
TP9 TP7 CP5 CP3 CP1 CPZ CP2 CP4 CP6 TP8 TP10 P9 P7 P5 P3 P1 PZ P2 P4 P6 P8 P10
PO9 PO7 PO5 PO3 PO1 POZ PO2 PO4 PO6 PO8 PO10 O1 OZ O2 O9 CB1 CB2 IZ O10 T3 T5 T4 T6 M1 M2 A1 A2
CFC1 CFC2 CFC3 CFC4 CFC5 CFC6 CFC7 CFC8 CCP1 CCP2 CCP3 CCP4 CCP5 CCP6 CCP7 CCP8
T1 T2 FTT9h TTP7h TPP9h FTT10h TPP8h TPP10h""".split())

#: name -> (width, depth, heads, conv channels, published parameter count)
LABRAM_SIZES: dict[str, tuple[int, int, int, int, float]] = {
    "base": (200, 12, 10, 8, 5.8e6), "large": (400, 24, 16, 16, 46e6), "huge": (800, 48, 16, 32, 369e6)}


def electrode_indices(channels: Sequence[str]) -> list[int]:
    """Rows of the spatial table for ``channels`` (active electrode of each derivation)."""
    upper = {e.upper(): i for i, e in enumerate(LABRAM_ELECTRODES)}
    out = []
    for ch in channels:
        name = ch.split()[-1].split("-")[0].upper() if ch.strip() else ch
        if name not in upper:
            raise ValueError(f"LaBraM: channel {ch!r} has no electrode in LaBraM's 10-20 table (read as {name!r}); "
                             "use EEG channels such as 'Fpz-Cz', 'C4-A1' (EOG/EMG channels are not EEG electrodes)")
        out.append(upper[name] + 1)
    return out


class TemporalConv(nn.Module):
    """Patch embedding: (B, N, 200) -> (B, N, 25 * out_chans)."""

    def __init__(self, out_chans: int = 8):
        super().__init__()
        self.conv1 = nn.Conv2d(1, out_chans, (1, 15), (1, 8), (0, 7))
        self.norm1 = nn.GroupNorm(4, out_chans)
        self.conv2 = nn.Conv2d(out_chans, out_chans, (1, 3), padding=(0, 1))
        self.norm2 = nn.GroupNorm(4, out_chans)
        self.conv3 = nn.Conv2d(out_chans, out_chans, (1, 3), padding=(0, 1))
        self.norm3 = nn.GroupNorm(4, out_chans)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.unsqueeze(1)  # (B, 1, N, 200)
        for conv, norm in ((self.conv1, self.norm1), (self.conv2, self.norm2), (self.conv3, self.norm3)):
            x = F.gelu(norm(conv(x)))  # (B, c, N, 25)
        return x.permute(0, 2, 3, 1).flatten(2)  # (B, N, 25 * c), time-major as released


class Attention(nn.Module):
    """(B, N, D) -> (B, N, D); q and v biases, LayerNorm on q and k per head."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.q_norm = nn.LayerNorm(dim // heads, eps=1e-6)
        self.k_norm = nn.LayerNorm(dim // heads, eps=1e-6)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        bias = torch.cat([self.q_bias, torch.zeros_like(self.q_bias), self.v_bias])
        q, k, v = F.linear(x, self.qkv.weight, bias).view(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(self.q_norm(q), self.k_norm(k), v)  # (B, h, N, hd)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """Pre-norm transformer block with layer scale: (B, N, D) -> (B, N, D)."""

    def __init__(self, dim: int, heads: int, init_values: float = 0.1):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Module()
        self.mlp.fc1, self.mlp.fc2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)
        self.gamma_1 = nn.Parameter(torch.full((dim,), init_values))
        self.gamma_2 = nn.Parameter(torch.full((dim,), init_values))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.gamma_1 * self.attn(self.norm1(x))
        return x + self.gamma_2 * self.mlp.fc2(F.gelu(self.mlp.fc1(self.norm2(x))))


class LaBraM(nn.Module):
    """LaBraM encoder + mean-pooled linear head: (B, C, T) at 200 Hz (0.1 mV) -> (B, num_classes).

    Parameters
    ----------
    channels : sequence of str
        Names of the input channels, mapped to electrodes (:func:`electrode_indices`).
    embed_dim, depth, heads, conv_chans : int
        Base: 200, 12, 10, 8. ``embed_dim`` must equal 25 * ``conv_chans``.
    patch : int
        Samples per patch (200 = 1 s at 200 Hz).
    """

    sequence = False

    def __init__(self, channels: Sequence[str] = ("Fpz-Cz",), embed_dim: int = 200, depth: int = 12, heads: int = 10,
                 conv_chans: int = 8, patch: int = 200, num_classes: int = 5, **_: object):
        super().__init__()
        if embed_dim != (patch // 8) * conv_chans:
            raise ValueError(f"LaBraM: embed_dim {embed_dim} must be {patch // 8} x conv_chans ({conv_chans})")
        self.patch = int(patch)
        self.register_buffer("electrodes", torch.tensor(electrode_indices(channels)), persistent=False)
        self.patch_embed = TemporalConv(conv_chans)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 128 + 1, embed_dim))  # 128 electrode rows + class token
        self.time_embed = nn.Parameter(torch.zeros(1, 16, embed_dim))
        for p in (self.cls_token, self.pos_embed, self.time_embed):
            nn.init.trunc_normal_(p, std=0.02)
        self.blocks = nn.ModuleList([Block(embed_dim, heads) for _ in range(depth)])
        self.fc_norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t = x.shape
        if c != len(self.electrodes) or t % self.patch:
            raise ValueError(f"LaBraM: input {tuple(x.shape)}; expected (batch, {len(self.electrodes)}, "
                             f"a multiple of {self.patch} samples)")
        p = t // self.patch
        tokens = self.patch_embed(x.reshape(b, c * p, self.patch))  # (B, C*P, D)
        space = self.pos_embed[0, self.electrodes].repeat_interleave(p, dim=0)  # (C*P, D)
        time = self.time_embed[0] if p == self.time_embed.shape[1] else \
            F.interpolate(self.time_embed.transpose(1, 2), size=p, mode="linear", align_corners=True)[0].t()
        tokens = tokens + space + time.repeat(c, 1)  # electrode-major, like the release
        cls = self.cls_token.expand(b, -1, -1) + self.pos_embed[:, :1]
        h = torch.cat([cls, tokens], dim=1)  # (B, 1 + C*P, D)
        for block in self.blocks:
            h = block(h)
        return self.head(self.fc_norm(h[:, 1:].mean(dim=1)))  # (B, num_classes)


def load_labram(model: LaBraM, path: str | Path) -> list[str]:
    """Load a released LaBraM checkpoint (``labram-base.pth`` layout) into ``model``'s encoder.

    The file's ``student.`` keys (or unprefixed keys) are the encoder; other keys of the release (the teacher,
    ``lm_head``, ``mask_token``, the pre-training ``norm``) are skipped; ``fc_norm`` and
    ``head`` are new for fine-tuning and keep their initial values.
    """
    def rename(key: str) -> str | None:
        if key.startswith("teacher."):
            return None
        return key[len("student."):] if key.startswith("student.") else key

    def ignorable(name: str) -> bool:
        return name.startswith(("lm_head.", "norm.", "head.", "fc_norm.", "mask_token"))

    return load_published(model, path, "LaBraM", rename, ignorable, new=("fc_norm.", "head."))
