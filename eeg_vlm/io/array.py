"""Recordings built from arrays already in memory (any format this package does not read)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from eeg_vlm.io.record import Channel, Recording, Scoring
from eeg_vlm.stages import to_aasm

logger = logging.getLogger(__name__)

__all__ = ["from_array"]


def from_array(
    data: np.ndarray | Sequence[np.ndarray],
    sfreq: float | Sequence[float],
    channel_names: Sequence[str],
    stages: Sequence[str | None] | None = None,
    epoch_length: float = 30.0,
    onsets: Sequence[float] | None = None,
    subject: str = "subject",
    night: str = "",
    dataset: str = "array",
    record_id: str | None = None,
    transitions: Sequence[tuple[float, str | None]] | None = None,
) -> Recording:
    """Wrap signals and (optionally) their scoring as a :class:`Recording`.

    The scoring is given either as one label per fixed-length epoch (``stages``, with
    ``epoch_length`` and optional ``onsets``) or as stage transitions (``transitions``):
    ``(onset_s, stage)`` pairs, each stage lasting until the next onset, the last one until
    the end of the signal (the shortest channel).

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_samples), or sequence of 1-D arrays
        Signals in µV. A sequence allows a different length (rate) per channel.
    sfreq : float or sequence of float
        Sampling rate in Hz, one for all channels or one per channel.
    channel_names : sequence of str
        One unique name per channel.
    stages : sequence of (str or None), optional
        One label per scored epoch: AASM names or any label :func:`eeg_vlm.stages.to_aasm`
        knows (``'Sleep stage 4'`` -> N3); ``None`` for unscored. ``None`` (the default)
        gives an unscored recording.
    epoch_length : float
        Seconds per label.
    onsets : sequence of float, optional
        Seconds from the signal start of each label; default ``k * epoch_length``.
    subject, night, dataset, record_id : str
        Identity (``record_id`` defaults to subject and night).
    transitions : sequence of (float, str or None), optional
        Stage changes: seconds from the signal start and the stage that starts there
        (``None`` for unscored). Onsets must increase and lie before the signal's end.

    Raises
    ------
    ValueError
        On mismatched lengths, duplicate channel names, both ``stages`` and
        ``transitions``, or transitions out of order.

    Examples
    --------
    >>> import numpy as np
    >>> rec = from_array(np.zeros((1, 9000)), 100.0, ["C3"], transitions=[(0, "W"), (40, "N1")])
    >>> [(float(o), float(d), s) for o, d, s in zip(rec.scoring.onsets, rec.scoring.durations, rec.scoring.stages)]
    [(0.0, 40.0, 'W'), (40.0, 50.0, 'N1')]
    """
    names = list(channel_names)
    if len(set(names)) != len(names):
        raise ValueError(f"from_array: channel names must be unique, got {names}")
    arrays = [np.asarray(x) for x in data] if not isinstance(data, np.ndarray) or data.ndim == 2 else None
    if arrays is None:
        raise ValueError(f"from_array: data must be 2-D (n_channels, n_samples), got shape {np.shape(data)}")
    if len(arrays) != len(names):
        raise ValueError(f"from_array: {len(arrays)} signals but {len(names)} channel names")
    rates = [float(sfreq)] * len(names) if np.ndim(sfreq) == 0 else [float(s) for s in sfreq]
    if len(rates) != len(names):
        raise ValueError(f"from_array: {len(rates)} sampling rates for {len(names)} channels")
    channels = {n: Channel(n, np.asarray(x, dtype=np.float32), r, "uV") for n, x, r in zip(names, arrays, rates)}
    scoring = None
    if stages is not None and transitions is not None:
        raise ValueError("from_array: give stages (one per epoch) or transitions (onset, stage), not both")
    if transitions is not None:
        end = min(c.duration for c in channels.values())
        scoring = _from_transitions(list(transitions), end, float(epoch_length))
    if stages is not None:
        labels = list(stages)
        if onsets is None:
            starts = np.arange(len(labels), dtype=float) * epoch_length
        else:
            starts = np.asarray(onsets, dtype=float)
            if starts.shape != (len(labels),):
                raise ValueError(f"from_array: {len(starts)} onsets for {len(labels)} stages")
        scoring = Scoring(
            onsets=starts,
            durations=np.full(len(labels), float(epoch_length)),
            stages=[None if s is None else to_aasm(s) for s in labels],
            raw_labels=["unscored" if s is None else str(s) for s in labels],
            epoch_length=float(epoch_length),
        )
    return Recording(subject=subject, night=night, dataset=dataset, channels=channels, scoring=scoring,
                     record_id=record_id or "")


def _from_transitions(pairs: list[tuple[float, str | None]], end: float, epoch_length: float) -> Scoring:
    """Segments from ``(onset, stage)`` changes; the last lasts until ``end`` seconds."""
    if not pairs:
        raise ValueError("from_array: transitions is empty; give at least one (onset, stage)")
    try:
        starts = np.array([float(p[0]) for p in pairs])
        labels = [p[1] for p in pairs]
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"from_array: transitions must be (onset_s, stage) pairs, got {pairs[:3]!r}") from None
    if not np.isfinite(starts).all() or (np.diff(starts) <= 0).any():
        raise ValueError(f"from_array: transition onsets must be finite and increasing, got {starts[:10].tolist()}")
    if starts[-1] >= end:
        raise ValueError(f"from_array: transition at {starts[-1]:g} s starts at or after the signal's end ({end:g} s)")
    ends = np.append(starts[1:], end)
    return Scoring(
        onsets=starts,
        durations=ends - starts,
        stages=[None if s is None else to_aasm(s) for s in labels],
        raw_labels=["unscored" if s is None else str(s) for s in labels],
        epoch_length=epoch_length,
    )
