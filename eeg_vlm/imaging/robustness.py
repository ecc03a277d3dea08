"""Channel failure for robustness tests (PSG-LLaVA, section 2.3.1).

A seeded ~70% of the subjects lose one chosen channel from a random time ``t_fail``
onward: the signal becomes white noise or zeros (drawn per subject). The failure is
applied to the continuous signal before epoching, so epochs straddling ``t_fail`` show the
break. Everything follows from ``(subjects, channel, fraction, seed)``, and the per-record
outcome (mode, ``t_fail``) is written to ``convert.json`` so a degraded dataset can be
rebuilt exactly.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from eeg_vlm.checks import check_option
from eeg_vlm.io.record import Channel, Recording

logger = logging.getLogger(__name__)

__all__ = ["FAILURE_MODES", "ChannelFailure", "plan_channel_failure", "apply_channel_failure"]

FAILURE_MODES: tuple[str, ...] = ("noise", "zero")


@dataclass(frozen=True)
class ChannelFailure:
    """How one subject's channel fails.

    Attributes
    ----------
    subject : str
        The subject; every night of the subject fails the same way.
    channel : str
        Channel name or alias (``'C3-A2'``), resolved per recording.
    mode : {'noise', 'zero'}
        White Gaussian noise with the channel's pre-failure standard deviation, or zeros.
    t_fail_fraction : float
        ``t_fail`` as a fraction of the channel's duration in [0, 1).
    seed : int
        Seed of the white noise (combined with the record id per night).
    """

    subject: str
    channel: str
    mode: str
    t_fail_fraction: float
    seed: int

    def __post_init__(self) -> None:
        check_option("mode", self.mode, FAILURE_MODES, where="channel failure")
        if not 0.0 <= self.t_fail_fraction < 1.0:
            raise ValueError(f"channel failure: t_fail_fraction must be in [0, 1), got {self.t_fail_fraction!r}")


def plan_channel_failure(subjects: Sequence[str], channel: str, fraction: float = 0.7,
                         seed: int = 0) -> dict[str, ChannelFailure]:
    """Choose which subjects fail, how and when.

    Parameters
    ----------
    subjects : sequence of str
        Every subject of the dataset (duplicates ignored; order does not matter).
    channel : str
        The channel that fails.
    fraction : float
        Share of subjects that fail, in [0, 1]; ``round(fraction * n_subjects)`` of them.
    seed : int
        Same subjects + channel + fraction + seed -> same plan.

    Returns
    -------
    dict of str to ChannelFailure
        Failing subjects only, sorted by subject.
    """
    if not (isinstance(fraction, (int, float)) and 0.0 <= float(fraction) <= 1.0):
        raise ValueError(f"channel failure: fraction must be between 0 and 1, got {fraction!r}")
    subs = sorted(set(map(str, subjects)))
    rng = np.random.default_rng(int(seed))
    n_fail = int(math.floor(float(fraction) * len(subs) + 0.5))
    chosen = set(rng.choice(len(subs), size=n_fail, replace=False).tolist()) if n_fail else set()
    # draw for every subject (chosen or not) so that each subject's draw depends only on
    # its rank, the seed and the fraction
    modes = rng.integers(0, len(FAILURE_MODES), size=len(subs))
    fracs = rng.uniform(0.0, 1.0, size=len(subs))
    seeds = rng.integers(0, 2**31 - 1, size=len(subs))
    plan = {
        s: ChannelFailure(s, channel, FAILURE_MODES[int(modes[i])], float(round(fracs[i], 6)) % 1.0, int(seeds[i]))
        for i, s in enumerate(subs) if i in chosen
    }
    logger.info("channel failure: %d of %d subjects lose %r", len(plan), len(subs), channel)
    return plan


def apply_channel_failure(recording: Recording, failure: ChannelFailure) -> tuple[Recording, float]:
    """Return a copy of ``recording`` whose channel fails from ``t_fail`` onward.

    Parameters
    ----------
    recording : Recording
        Left unchanged.
    failure : ChannelFailure
        From :func:`plan_channel_failure`.

    Returns
    -------
    recording : Recording
        Same recording, the failing channel's samples from ``t_fail`` replaced (float32).
    t_fail_s : float
        Seconds from the signal start (rounded to 10 ms) where the failure begins.

    Raises
    ------
    ValueError
        If the channel is not in the recording (naming the file and the channels present).
    """
    label = recording.resolve_channel(failure.channel)
    ch = recording.channels[label]
    t_fail = round(failure.t_fail_fraction * ch.duration, 2)
    k = min(ch.data.shape[0], int(math.ceil(t_fail * ch.sfreq - 1e-9)))
    data = np.array(ch.data, dtype=np.float32, copy=True)
    if failure.mode == "zero":
        data[k:] = 0.0
    else:
        before = data[:k] if k >= 10 else data
        sd = float(np.std(before)) or 1.0
        rng = np.random.default_rng([failure.seed, zlib.crc32(recording.record_id.encode())])
        data[k:] = rng.normal(0.0, sd, size=data.shape[0] - k).astype(np.float32)
    channels = dict(recording.channels)
    channels[label] = Channel(ch.name, data, ch.sfreq, ch.unit)
    logger.info("%s: channel %r fails (%s) from t=%.2f s", recording.record_id, label, failure.mode, t_fail)
    return replace(recording, channels=channels), float(t_fail)
