"""SleepWaveNet (Wang et al., IEEE JBHI 2025): salient-wave detection with a U-Transformer.

What the paper describes ("Subject-Adaptation Salient Wave Detection Network for
Multimodal Sleep Stage Classification"): motivated by salient object detection, a
U-shaped encoder-decoder with transformer layers (*U-Transformer*) runs on the raw signal
of each modality and marks the salient waves (spindles, K-complexes, delta, eye
movements) sample by sample; a *multimodal attention* module weighs the modalities per
epoch before classification; a transfer-learning step adapts the wave extractor to each
target subject.

Here: one U-Transformer stream per input channel (a modality), weights not shared —
``depth`` levels of [two 1-D conv + BN + ReLU, max-pool 4] down, ``layers`` transformer
encoder layers at the bottom, the mirror image up (upsample + skip concatenation), and a
1x1 convolution to a per-sample saliency map in [0, 1] that gates the decoder features.
Multimodal attention: each stream's gated features are pooled, scored by a small MLP,
and the streams are mixed with softmax weights over modalities. Classifier: linear to 5.
The subject-adaptation step fine-tunes on labelled epochs of the target subject; under
the subject-wise protocol of this project the test subjects' labels are never used, so
that step is not run (the architecture is the same).

Shapes: (B, C, T) -> per stream encoder (B, w*2^k, T/4^k) ... bottleneck (B, w*2^depth,
T/4^depth) tokens -> decoder (B, w, T) -> saliency (B, 1, T) -> pooled (B, w) -> mixed over
streams (B, w) -> logits (B, 5).
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)

__all__ = ["SleepWaveNet", "UTransformer"]


def _conv_block(in_ch: int, out_ch: int, kernel: int = 7) -> nn.Sequential:
    pad = kernel // 2
    return nn.Sequential(nn.Conv1d(in_ch, out_ch, kernel, padding=pad, bias=False), nn.BatchNorm1d(out_ch), nn.ReLU(),
                         nn.Conv1d(out_ch, out_ch, kernel, padding=pad, bias=False), nn.BatchNorm1d(out_ch), nn.ReLU())


class UTransformer(nn.Module):
    """U-shaped 1-D encoder-decoder with a transformer bottleneck: (B, 1, T) -> features (B, w, T), saliency (B, 1, T)."""

    def __init__(self, width: int = 16, depth: int = 4, layers: int = 2, heads: int = 4, pool: int = 4):
        super().__init__()
        chans = [width * 2 ** i for i in range(depth + 1)]
        self.pool = pool
        self.down = nn.ModuleList([_conv_block(1 if i == 0 else chans[i - 1], chans[i]) for i in range(depth)])
        self.bottom_in = nn.Conv1d(chans[depth - 1], chans[depth], 1)
        layer = nn.TransformerEncoderLayer(chans[depth], heads, 2 * chans[depth], 0.1, batch_first=True, norm_first=True)
        self.bottleneck = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.up = nn.ModuleList([_conv_block(chans[i + 1] + chans[i], chans[i]) for i in reversed(range(depth))])
        self.saliency = nn.Conv1d(chans[0], 1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skips = []
        for block in self.down:
            x = block(x)  # (B, c_i, T_i)
            skips.append(x)
            x = F.max_pool1d(x, self.pool, self.pool, ceil_mode=True)  # (B, c_i, T_i / pool)
        x = self.bottom_in(x)  # (B, c_depth, T_depth)
        x = self.bottleneck(x.transpose(1, 2)).transpose(1, 2)  # attention over the coarse time steps
        for block, skip in zip(self.up, reversed(skips)):
            x = F.interpolate(x, size=skip.shape[-1], mode="linear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))  # (B, c_i, T_i)
        sal = torch.sigmoid(self.saliency(x))  # (B, 1, T): where the salient waves are
        return x * sal, sal


class SleepWaveNet(nn.Module):
    """One U-Transformer per modality + multimodal attention: (B, C, T) -> (B, num_classes).

    Parameters
    ----------
    in_chans : int
        Modalities (channels), one stream each.
    width : int
        Channels of the first U level (16); doubles per level.
    depth : int
        U levels (4: 3000 samples -> 12 time steps at the bottom).
    layers, heads : int
        Transformer layers and heads at the bottom of the U (2, 4).
    """

    sequence = False

    def __init__(self, in_chans: int = 1, width: int = 16, depth: int = 4, layers: int = 2, heads: int = 4,
                 num_classes: int = 5, dropout: float = 0.2, **_: object):
        super().__init__()
        self.streams = nn.ModuleList([UTransformer(width, depth, layers, heads) for _ in range(in_chans)])
        self.score = nn.Sequential(nn.Linear(2 * width, width), nn.Tanh(), nn.Linear(width, 1))
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != len(self.streams):
            raise ValueError(f"SleepWaveNet: {x.shape[1]} input channels; built for {len(self.streams)}")
        pooled = []
        for i, stream in enumerate(self.streams):
            feats, _ = stream(x[:, i:i + 1])  # (B, w, T)
            pooled.append(torch.cat([feats.mean(-1), feats.amax(-1)], dim=1))  # (B, 2w)
        stacked = torch.stack(pooled, dim=1)  # (B, C, 2w)
        weights = torch.softmax(self.score(stacked), dim=1)  # (B, C, 1): multimodal attention
        return self.head(self.drop((weights * stacked).sum(dim=1)))  # (B, num_classes)
