"""TinySleepNet (Supratak & Guo, EMBC 2020): a small CNN per epoch, an LSTM over the night.

Published layout, single-channel EEG at Fs = 100 Hz, 30-s epochs (3000 samples):

    conv 128 filters, size Fs/2 = 50, stride Fs/16 = 6 -> BN -> ReLU
    max-pool 8 / 8 -> dropout 0.5
    3 x [conv 128 filters, size 8, stride 1 -> BN -> ReLU]
    max-pool 4 / 4 -> flatten (128 x 16 = 2048) -> dropout 0.5
    LSTM, 128 units, one layer, over consecutive epochs (sequence length 20)
    dropout 0.5 -> linear to 5 stages, one prediction per epoch

Convolutions and pools pad as TensorFlow's ``same`` (the authors' framework), so the
lengths are 3000 -> 500 -> 63 -> 63 -> 16. The LSTM is unidirectional, as published (the
PSG-LLaVA appendix calls it bidirectional; ``bidirectional=True`` gives that variant), so
predicting epoch t uses epochs up to t of the same night only. Training runs on windows
of ``seq_len`` consecutive epochs of one night; evaluation runs each night whole, in order,
starting from a zero state (:func:`signal_models.data.night_windows`).

Shapes: input (B, L, C, T) -> per-epoch features (B*L, 2048) -> LSTM (B, L, 128) ->
logits (B, L, 5).
"""

from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)

__all__ = ["TinySleepNet", "same_padding"]


def same_padding(length: int, kernel: int, stride: int) -> tuple[int, int]:
    """(left, right) padding of TensorFlow's ``same`` for a 1-D window."""
    out = math.ceil(length / stride)
    total = max((out - 1) * stride + kernel - length, 0)
    return total // 2, total - total // 2


class _SameConv(nn.Module):
    """Conv1d (no bias) + BN + ReLU with ``same`` padding: (B, Cin, T) -> (B, Cout, ceil(T/stride))."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int):
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.conv = nn.Conv1d(in_ch, out_ch, kernel, stride, bias=False)
        self.bn = nn.BatchNorm1d(out_ch, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, same_padding(x.shape[-1], self.kernel, self.stride))
        return F.relu(self.bn(self.conv(x)))


def _same_pool(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.max_pool1d(F.pad(x, same_padding(x.shape[-1], size, size), value=float("-inf")), size, size)


class TinySleepNet(nn.Module):
    """Per-epoch CNN + LSTM over consecutive epochs: (B, L, C, T) -> (B, L, num_classes).

    Parameters
    ----------
    in_chans : int
        Input channels (1: the published single-channel EEG).
    sfreq : float
        Sampling rate in Hz; sets the first filter (Fs/2) and stride (Fs/16).
    epoch_samples : int
        Samples per epoch (3000 for 30 s at 100 Hz).
    filters : int
        Filters of every convolution (128).
    hidden : int
        LSTM units (128).
    bidirectional : bool
        Bidirectional LSTM (not the published model; see the module docstring).
    num_classes : int
        Stages (5).
    """

    sequence = True

    def __init__(self, in_chans: int = 1, sfreq: float = 100.0, epoch_samples: int = 3000, filters: int = 128,
                 hidden: int = 128, bidirectional: bool = False, num_classes: int = 5, dropout: float = 0.5):
        super().__init__()
        k1, s1 = int(round(sfreq / 2)), max(int(round(sfreq / 16)), 1)
        self.conv1 = _SameConv(in_chans, filters, k1, s1)
        self.convs = nn.Sequential(*[_SameConv(filters, filters, 8, 1) for _ in range(3)])
        self.drop = nn.Dropout(dropout)
        length = math.ceil(math.ceil(math.ceil(epoch_samples / s1) / 8) / 4)
        self.feature_dim = filters * length
        self.epoch_samples = int(epoch_samples)
        self.lstm = nn.LSTM(self.feature_dim, hidden, batch_first=True, bidirectional=bidirectional)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), num_classes)

    def epoch_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, T) -> (N, filters * length)."""
        if x.shape[-1] != self.epoch_samples:
            raise ValueError(f"TinySleepNet: epochs of {x.shape[-1]} samples; the model was built for {self.epoch_samples}")
        h = self.drop(_same_pool(self.conv1(x), 8))  # (N, F, T/48)
        h = _same_pool(self.convs(h), 4)  # (N, F, T/192)
        return self.drop(h.flatten(1))

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        b, length = x.shape[:2]
        feats = self.epoch_features(x.flatten(0, 1)).view(b, length, -1)  # (B, L, 2048)
        out, _ = self.lstm(feats, state)  # (B, L, hidden)
        return self.head(self.drop(out))  # (B, L, num_classes)
