"""Epochs a model must not learn from: non-finite samples, dead electrodes, saturation.

Checked on each channel at its own sampling rate, before resampling (a resampling filter
would spread a NaN over its neighbours and round a clipped plateau):

- **non-finite**: any NaN or infinite sample in the epoch. ``nonfinite='error'`` raises
  naming the recording, channel and epoch; ``'interpolate'`` fills the samples linearly
  from their finite neighbours and keeps the epoch; ``'drop'`` fills them too (so that
  resampling stays finite) and drops the epoch.
- **flat** (dead electrode, disconnected lead): peak-to-peak below ``flat_uv`` µV
  (default 1 µV) over the epoch, on any voltage channel.
- **clipped** (amplifier saturation): at least ``clip_share`` (default 5 %) of the epoch's
  samples at the channel's physical minimum or maximum (the EDF header's, or when a
  format has none, the channel's own extremes over the recording), within 0.01 % of the
  range.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from eeg_vlm.checks import check_option
from eeg_vlm.io.record import Channel

logger = logging.getLogger(__name__)

__all__ = ["BAD_EPOCHS", "NONFINITE", "EpochQuality", "QualityLimits", "check_epochs"]

#: What to do with epochs holding NaN or infinite samples.
NONFINITE: tuple[str, ...] = ("error", "drop", "interpolate")
#: What to do with flat and clipped epochs.
BAD_EPOCHS: tuple[str, ...] = ("drop", "keep")
_CLIP_TOL = 1e-4  # share of the physical range that counts as "at the limit"
_CHUNK = 128  # epochs checked at once


@dataclass(frozen=True)
class QualityLimits:
    """Thresholds and actions of the epoch checks (see the module docstring)."""

    flat_uv: float = field(default=1.0, metadata={"help": "an epoch whose peak-to-peak is below this (µV) on a "
                                                          "voltage channel is flat (dead electrode)"})
    clip_share: float = field(default=0.05, metadata={"help": "an epoch with at least this share of samples at the "
                                                              "physical min/max is clipped (saturated)"})
    nonfinite: str = field(default="error", metadata={"help": "NaN/inf samples: 'error' (names recording and epoch), "
                                                             "'drop' the epoch, or 'interpolate' linearly"})
    bad_epochs: str = field(default="keep", metadata={"help": "flat and clipped epochs: 'drop' them or 'keep' them "
                                                             "flagged"})

    def __post_init__(self) -> None:
        check_option("nonfinite", self.nonfinite, NONFINITE, where="quality")
        check_option("bad_epochs", self.bad_epochs, BAD_EPOCHS, where="quality")
        if not self.flat_uv >= 0:
            raise ValueError(f"quality: flat_uv must be >= 0 µV, got {self.flat_uv!r}")
        if not 0 < self.clip_share <= 1:
            raise ValueError(f"quality: clip_share must be in (0, 1], got {self.clip_share!r}")


@dataclass
class EpochQuality:
    """Per-epoch results of :func:`check_epochs` (arrays of shape ``(n_epochs,)``).

    Attributes
    ----------
    nonfinite, flat, clipped : np.ndarray of bool
        The epoch holds NaN/inf samples; is flat; is clipped, on any channel.
    data : list of np.ndarray
        The channels' samples with non-finite values filled (the input arrays where none).
    filled : int
        Samples filled over all channels.
    """

    nonfinite: np.ndarray
    flat: np.ndarray
    clipped: np.ndarray
    data: list[np.ndarray]
    filled: int = 0


def _fill(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-finite samples filled linearly from finite neighbours (zeros if none is finite)."""
    bad = ~np.isfinite(x)
    if not bad.any():
        return x, bad
    out = x.astype(np.float32, copy=True)
    good = np.flatnonzero(~bad)
    out[bad] = np.interp(np.flatnonzero(bad), good, x[good]) if len(good) else 0.0
    return out, bad


def check_epochs(channels: Sequence[Channel], onsets_s: np.ndarray, epoch_length: float, limits: QualityLimits,
                 where: str, epochs: np.ndarray | None = None) -> EpochQuality:
    """Check every epoch of every channel at the channel's own rate.

    Parameters
    ----------
    channels : sequence of Channel
        Signals (µV for voltage channels) at their own rates.
    onsets_s : np.ndarray, shape (n_epochs,)
        Epoch starts in seconds from the signal start.
    epoch_length : float
        Seconds per epoch.
    limits : QualityLimits
        Thresholds and the non-finite action.
    where : str
        The recording, for messages (``"file 'x.edf'"``).
    epochs : np.ndarray of int, optional
        Epoch numbers for messages (default ``0..n-1``).

    Returns
    -------
    EpochQuality

    Raises
    ------
    ValueError
        With ``nonfinite='error'``, naming the recording, channel, epoch and its onset.
    """
    n = len(onsets_s)
    numbers = np.arange(n) if epochs is None else np.asarray(epochs)
    nonfinite, flat, clipped = (np.zeros(n, bool) for _ in range(3))
    data, filled = [], 0
    for ch in channels:
        x, bad = _fill(np.asarray(ch.data))
        data.append(x)
        filled += int(bad.sum())
        if n == 0 or len(x) == 0:
            continue
        width = int(round(epoch_length * ch.sfreq))
        starts = np.round(np.asarray(onsets_s) * ch.sfreq).astype(np.int64)
        low, high = _limits(ch, x)
        tol = _CLIP_TOL * max(high - low, 0.0)
        for lo in range(0, n, _CHUNK):  # bounds the gathered windows to _CHUNK epochs
            part = slice(lo, lo + _CHUNK)
            idx = np.clip(starts[part, None] + np.arange(width), 0, len(x) - 1)  # (chunk, width) sample indices
            if bad.any():
                counts = bad[idx].sum(axis=1)
                nonfinite[part] |= counts > 0
                if limits.nonfinite == "error" and counts.any():
                    i = lo + int(np.flatnonzero(counts)[0])
                    raise ValueError(
                        f"{where}: channel {ch.name!r} holds {int(counts[i - lo])} NaN or infinite samples in epoch "
                        f"{int(numbers[i])} (onset {float(onsets_s[i]):g} s); use --nonfinite interpolate or drop")
            w = x[idx]  # (chunk, width)
            is_flat = (w.max(axis=1) - w.min(axis=1) < limits.flat_uv) if ch.unit == "uV" else np.zeros(len(w), bool)
            if high > low:
                at_limit = np.count_nonzero((w >= high - tol) | (w <= low + tol), axis=1)
                clipped[part] |= ~is_flat & (at_limit >= limits.clip_share * width)
            flat[part] |= is_flat
    if filled:
        logger.info("%s: %d non-finite samples filled by interpolation", where, filled)
    return EpochQuality(nonfinite, flat, clipped, data, filled)


def _limits(ch: Channel, x: np.ndarray) -> tuple[float, float]:
    """The channel's physical range (header), or its own extremes when it has none."""
    if ch.physical_range is not None:
        return float(ch.physical_range[0]), float(ch.physical_range[1])
    if len(x) == 0:
        return 0.0, 0.0
    return float(x.min()), float(x.max())
