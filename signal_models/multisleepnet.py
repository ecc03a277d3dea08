"""MultiChannelSleepNet (Dai et al., IEEE JBHI 2023; "MSNet" in PSG-LLaVA Table 3).

What the paper describes: each PSG channel becomes a time-frequency image; a *single-channel
feature extraction* block of transformer encoders extracts features from every channel's
image independently; the channels' feature maps are fused by concatenation in a
*multichannel feature fusion* block, where another set of transformer encoders captures
joint features and a residual connection keeps each channel's own information; a
classifier gives the stage of the epoch.

Settings here (the paper's time-frequency image; encoder depths are ours, small):

- time-frequency image: short-time Fourier transform with a 2-s Hamming window, 50%
  overlap and a 256-point FFT -> 29 frames x 129 bins, log-magnitude, the top 128 bins
  kept (``29 x 128``, the image size the paper uses at 100 Hz);
- per channel: a linear embedding of each frame (128 -> ``d_model``), learned position
  embedding, ``channel_layers`` encoder layers, weights not shared between channels;
- fusion: the channels' token sequences concatenated ``(B, C*29, d_model)``,
  ``fusion_layers`` encoder layers, plus the concatenated input (residual);
- classifier: mean over tokens -> dropout -> linear to 5 stages.

Shapes: (B, C, 3000) -> images (B, C, 29, 128) -> per channel (B, 29, d) -> fused
(B, C*29, d) -> pooled (B, d) -> logits (B, 5).
"""

from __future__ import annotations

import logging

import torch
from torch import nn

logger = logging.getLogger(__name__)

__all__ = ["MultiChannelSleepNet", "time_frequency_image"]


def time_frequency_image(x: torch.Tensor, sfreq: float = 100.0, bins: int = 128) -> torch.Tensor:
    """(B, C, T) -> log-magnitude STFT (B, C, frames, bins): 2-s Hamming window, 1-s hop, 256-point FFT."""
    win = int(round(2 * sfreq))
    b, c, t = x.shape
    n_fft = max(256, win)
    pad = (n_fft - win) // 2  # the window sits centred in each n_fft frame: pad so frames start at sample 0
    flat = torch.nn.functional.pad(x.reshape(b * c, 1, t), (pad, n_fft - win - pad)).reshape(b * c, -1)
    spec = torch.stft(flat, n_fft=n_fft, hop_length=win // 2, win_length=win,
                      window=torch.hamming_window(win, device=x.device, dtype=x.dtype), center=False,
                      return_complex=True)  # (B*C, F, frames)
    mag = torch.log1p(spec.abs())[:, 1:bins + 1]  # (B*C, bins, frames), DC dropped
    return mag.transpose(1, 2).reshape(b, c, mag.shape[2], -1)


def _encoder(d_model: int, heads: int, layers: int, dropout: float) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout, batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class MultiChannelSleepNet(nn.Module):
    """Transformer encoders per channel + fusion encoders: (B, C, T) -> (B, num_classes).

    Parameters
    ----------
    in_chans : int
        PSG channels (each gets its own single-channel encoder).
    sfreq : float
        Sampling rate in Hz (100).
    epoch_samples : int
        Samples per epoch (3000).
    d_model, heads : int
        Encoder width and heads (128, 8).
    channel_layers, fusion_layers : int
        Encoder layers per channel and in the fusion block (2, 2).
    dropout : float
        Dropout in the encoders and before the classifier (0.1).
    """

    sequence = False

    def __init__(self, in_chans: int = 1, sfreq: float = 100.0, epoch_samples: int = 3000, d_model: int = 128,
                 heads: int = 8, channel_layers: int = 2, fusion_layers: int = 2, dropout: float = 0.1,
                 num_classes: int = 5, bins: int = 128):
        super().__init__()
        self.sfreq, self.bins, self.epoch_samples = float(sfreq), int(bins), int(epoch_samples)
        win = int(round(2 * sfreq))
        frames = (epoch_samples - win) // (win // 2) + 1
        self.frames = frames
        self.embed = nn.ModuleList([nn.Linear(bins, d_model) for _ in range(in_chans)])
        self.pos = nn.Parameter(torch.zeros(in_chans, frames, d_model))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.channel_encoders = nn.ModuleList([_encoder(d_model, heads, channel_layers, dropout) for _ in range(in_chans)])
        self.fusion = _encoder(d_model, heads, fusion_layers, dropout)
        self.norm = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != len(self.embed) or x.shape[-1] != self.epoch_samples:
            raise ValueError(f"MultiChannelSleepNet: input {tuple(x.shape)}; built for (batch, {len(self.embed)}, "
                             f"{self.epoch_samples})")
        img = time_frequency_image(x, self.sfreq, self.bins)  # (B, C, frames, bins)
        per_channel = [enc(emb(img[:, i]) + self.pos[i]) for i, (emb, enc) in
                       enumerate(zip(self.embed, self.channel_encoders))]  # C x (B, frames, d)
        joint = torch.cat(per_channel, dim=1)  # (B, C*frames, d)
        fused = self.fusion(joint) + joint  # residual keeps each channel's features
        return self.head(self.drop(self.norm(fused).mean(dim=1)))  # (B, num_classes)
