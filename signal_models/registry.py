"""Signal models by name: what each reads (rate, channels, units) and how it is built.

| name | kind | input | rate | units | Table 3 row |
| --- | --- | --- | --- | --- | --- |
| ``tinysleepnet`` | signal | one EEG channel, sequences of a night | 100 Hz | µV (as published) | tinysleepnet |
| ``multisleepnet`` | signal | all channels, one epoch | 100 Hz | µV (log STFT) | multisleepnet |
| ``sleepwavenet`` | signal | all channels, one epoch | 100 Hz | z-scored epoch | sleepwavenet |
| ``labram`` | foundation | EEG channels (10-20 electrodes), one epoch | 200 Hz | 0.1 mV | labram |
| ``cbramod`` | foundation | all channels, one epoch | 200 Hz | 100 µV | cbramod |

The z-score is per epoch and channel (no statistics cross epochs, nights or splits). Every
entry has the reference configuration (the published size) and a *tiny* one for CPU
tests and the CPU report profile; runs with the tiny one are labelled as such.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import nn

logger = logging.getLogger(__name__)

__all__ = ["SignalModelSpec", "SIGNAL_MODELS", "get_spec", "scale_epochs"]


@dataclass(frozen=True)
class SignalModelSpec:
    """How to feed and build one signal model."""

    name: str
    kind: str  # 'signal' or 'foundation'
    sfreq: float
    units: str  # 'zscore', 'uv', 'mv0.1' (µV / 100)
    sequence: bool
    single_channel: bool
    build: Callable[..., nn.Module]
    preset: str
    description: str
    tiny: dict[str, Any] = field(default_factory=dict)
    load_pretrained: Callable[[nn.Module, str], list[str]] | None = None


def scale_epochs(x: np.ndarray, units: str) -> np.ndarray:
    """(N, C, T) µV -> the units a model expects (per-epoch, per-channel z-score; µV; µV/100)."""
    if units == "zscore":
        mu = x.mean(axis=-1, keepdims=True)
        sd = x.std(axis=-1, keepdims=True)
        return ((x - mu) / np.maximum(sd, 1e-6)).astype(np.float32)
    if units == "uv":
        return x.astype(np.float32)
    if units == "mv0.1":
        return (x / 100.0).astype(np.float32)
    raise ValueError(f"signal model units: unknown {units!r}; expected 'zscore', 'uv' or 'mv0.1'")


def _tiny_sleep(channels, sfreq, samples, **kw):
    from signal_models.tinysleepnet import TinySleepNet

    return TinySleepNet(in_chans=len(channels), sfreq=sfreq, epoch_samples=samples, **kw)


def _multi(channels, sfreq, samples, **kw):
    from signal_models.multisleepnet import MultiChannelSleepNet

    return MultiChannelSleepNet(in_chans=len(channels), sfreq=sfreq, epoch_samples=samples, **kw)


def _wave(channels, sfreq, samples, **kw):
    from signal_models.sleepwavenet import SleepWaveNet

    return SleepWaveNet(in_chans=len(channels), **kw)


def _labram(channels, sfreq, samples, **kw):
    from signal_models.labram import LaBraM

    return LaBraM(channels=channels, **kw)


def _cbramod(channels, sfreq, samples, **kw):
    from signal_models.cbramod import CBraMod

    return CBraMod(**kw)


def _load_labram(model, path):
    from signal_models.labram import load_labram

    return load_labram(model, path)


def _load_cbramod(model, path):
    from signal_models.cbramod import load_cbramod

    return load_cbramod(model, path)


SIGNAL_MODELS: dict[str, SignalModelSpec] = {s.name: s for s in (
    SignalModelSpec("tinysleepnet", "signal", 100.0, "uv", True, True, _tiny_sleep, "tinysleepnet",
                    "TinySleepNet (Supratak & Guo 2020): CNN + LSTM over the night",
                    {"filters": 16, "hidden": 32, "dropout": 0.2}),
    SignalModelSpec("multisleepnet", "signal", 100.0, "uv", False, False, _multi, "multisleepnet",
                    "MultiChannelSleepNet (Dai et al. 2023): per-channel + fusion transformer encoders",
                    {"d_model": 32, "heads": 4, "channel_layers": 1, "fusion_layers": 1}),
    SignalModelSpec("sleepwavenet", "signal", 100.0, "zscore", False, False, _wave, "sleepwavenet",
                    "SleepWaveNet (Wang et al. 2025): U-Transformer salient waves + multimodal attention",
                    {"width": 8, "depth": 3, "layers": 1, "heads": 2}),
    SignalModelSpec("labram", "foundation", 200.0, "mv0.1", False, False, _labram, "labram",
                    "LaBraM-Base (Jiang et al. 2024): patch transformer, 10-20 electrode embedding",
                    {"embed_dim": 100, "depth": 2, "heads": 4, "conv_chans": 4}, _load_labram),
    SignalModelSpec("cbramod", "foundation", 200.0, "mv0.1", False, False, _cbramod, "cbramod",
                    "CBraMod (Wang et al. 2025): criss-cross spatial/temporal transformer",
                    {"d_model": 40, "layers": 2, "heads": 4, "ff": 80}, _load_cbramod),
)}


def get_spec(name: str) -> SignalModelSpec:
    """The entry called ``name``; an unknown name lists them."""
    if name not in SIGNAL_MODELS:
        import difflib

        close = difflib.get_close_matches(name, list(SIGNAL_MODELS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"signal model {name!r}: not registered{hint}; available: {', '.join(SIGNAL_MODELS)}")
    return SIGNAL_MODELS[name]
