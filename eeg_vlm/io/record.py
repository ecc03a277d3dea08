"""The one record type every reader returns and every later step consumes.

A :class:`Recording` is one night of one subject: its channels (each with its own sampling
rate, data in µV) and the expert's scoring as stage segments with onsets and durations in
seconds from the start of the signal file. Segments keep the scorer's own granularity (one
Sleep-EDF annotation covers many epochs; MASS may score 20-s epochs); cutting into 30-s
epochs happens later, in :mod:`eeg_vlm.signals.epochs`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eeg_vlm.checks import suggest

__all__ = ["Channel", "Scoring", "Recording", "CHANNEL_ALIASES", "normalize_channel_name"]

#: Channel names users ask for, and the spellings recordings use for them.
CHANNEL_ALIASES: dict[str, tuple[str, ...]] = {
    "Fpz-Cz": ("EEG Fpz-Cz", "Fpz-Cz", "FPZ-CZ", "EEG FPZ-CZ", "Fpz_Cz"),
    "Pz-Oz": ("EEG Pz-Oz", "Pz-Oz", "PZ-OZ", "EEG PZ-OZ"),
    "EOG": ("EOG horizontal", "EOG", "HEOG", "EOG E1-M2", "E1-M2", "LOC-A2", "EOG(L)", "ROC-A1",
            "EOG(R)", "E2-M1", "EOG LOC-A2"),
    "EMG": ("EMG submental", "EMG", "EMG chin", "Chin1-Chin2", "X1", "Chin EMG", "EMG Chin"),
    "C3-A2": ("C3-A2", "C3-M2", "EEG C3-A2", "C3", "EEG C3-M2", "EEG C3", "EEG(sec)", "EEG2"),
    "C4-A1": ("C4-A1", "C4-M1", "EEG C4-A1", "C4", "EEG C4-M1", "EEG C4", "EEG"),  # SHHS: EEG = C4-A1
    "F3-A2": ("F3-A2", "F3-M2", "F3", "EEG F3-A2"),
    "F4-A1": ("F4-A1", "F4-M1", "F4", "EEG F4-A1"),
    "O1-A2": ("O1-A2", "O1-M2", "O1", "EEG O1-A2"),
    "O2-A1": ("O2-A1", "O2-M1", "O2", "EEG O2-A1"),
}


def normalize_channel_name(name: str) -> str:
    """Canonical key for comparing channel names: case, spaces, '_' and ':' ignored."""
    return re.sub(r"[\s_:]+", "", name).replace("–", "-").lower()


def _strip_modality(name: str) -> str:
    """Canonical name without a leading 'EEG'/'EOG'/'EMG'/'ECG' word."""
    return normalize_channel_name(re.sub(r"^\s*(eeg|eog|emg|ecg)\s+", "", name, flags=re.IGNORECASE))


@dataclass
class Channel:
    """One signal.

    Attributes
    ----------
    name : str
        The label as written in the file (``'EEG Fpz-Cz'``).
    data : np.ndarray
        Samples, shape ``(n_samples,)``, in ``unit``.
    sfreq : float
        Sampling rate in Hz (channels of one file may differ).
    unit : str
        Physical unit; readers convert EEG/EOG/EMG to ``'uV'``.
    physical_range : tuple of float or None
        The recorder's (physical minimum, physical maximum) in ``unit`` (EDF header);
        samples at these limits are saturated. ``None`` when the format has none.
    """

    name: str
    data: np.ndarray
    sfreq: float
    unit: str = "uV"
    physical_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data)
        if self.data.ndim != 1:
            raise ValueError(f"channel {self.name!r}: data must be 1-D, got shape {self.data.shape}")
        if not (np.isfinite(self.sfreq) and self.sfreq > 0):
            raise ValueError(f"channel {self.name!r}: sampling rate must be > 0, got {self.sfreq!r}")

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.data.shape[0] / self.sfreq


@dataclass
class Scoring:
    """Expert stages as segments.

    Attributes
    ----------
    onsets, durations : np.ndarray
        Seconds from the start of the signal file, shape ``(n_segments,)``.
    stages : list of (str or None)
        AASM stage per segment (:data:`eeg_vlm.stages.STAGES`), ``None`` for unscored,
        movement and artefact segments.
    raw_labels : list of str
        The labels as written in the scoring file, for reports of what was dropped.
    epoch_length : float
        The scorer's epoch length in seconds (30, or 20 for some MASS subsets, 5 for DREAMS
        lists).
    """

    onsets: np.ndarray
    durations: np.ndarray
    stages: list[str | None]
    raw_labels: list[str]
    epoch_length: float = 30.0

    def __post_init__(self) -> None:
        self.onsets = np.asarray(self.onsets, dtype=float)
        self.durations = np.asarray(self.durations, dtype=float)
        n = len(self.onsets)
        if not (len(self.durations) == len(self.stages) == len(self.raw_labels) == n):
            raise ValueError(
                f"scoring: onsets ({n}), durations ({len(self.durations)}), stages "
                f"({len(self.stages)}) and raw labels ({len(self.raw_labels)}) differ in length"
            )


@dataclass
class Recording:
    """One night of one subject.

    Attributes
    ----------
    subject, night, dataset : str
        Identity. Splits group by ``subject``.
    record_id : str
        The night's name, unique within a dataset (``'SC4001E0'``); keys every epoch's
        ``sample_id`` as ``f"{record_id}/{epoch:06d}"``. Defaults to subject and night.
    channels : dict of str to Channel
        In file order, keyed by the file's labels.
    scoring : Scoring or None
        ``None`` for unlabeled recordings (whole-night staging of a new EDF).
    source : Path or None
        The signal file, for error messages.
    """

    subject: str
    night: str
    dataset: str
    channels: dict[str, Channel]
    scoring: Scoring | None = None
    source: Path | None = None
    record_id: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # record_id keys sample_ids ('SC4001E0/000123'); readers set the dataset's own
        # name for a night, otherwise subject and night joined.
        if not self.record_id:
            self.record_id = f"{self.subject}_{self.night}" if self.night else self.subject
        if "/" in self.record_id or self.record_id.startswith("."):
            raise ValueError(f"recording {self.record_id!r}: record_id must not contain '/' or start with '.'")

    @property
    def where(self) -> str:
        return f"file {str(self.source)!r}" if self.source else f"recording {self.record_id!r}"

    def resolve_channel(self, name: str) -> str:
        """Return the file's label for the requested channel name or alias.

        Exact labels win; then the alias table (:data:`CHANNEL_ALIASES`); then a
        case/space-insensitive comparison; then, if exactly one label matches, a comparison
        without a leading modality word (``'C3-CLE'`` finds ``'EEG C3-CLE'``).

        Raises
        ------
        ValueError
            Naming the file, the missing channel and every channel present.
        """
        if name in self.channels:
            return name
        norm = {normalize_channel_name(k): k for k in self.channels}
        candidates = [name, *CHANNEL_ALIASES.get(name, ())]
        for canon, aliases in CHANNEL_ALIASES.items():
            if normalize_channel_name(name) in {normalize_channel_name(a) for a in (canon, *aliases)}:
                candidates += [canon, *aliases]
        for cand in candidates:
            key = normalize_channel_name(cand)
            if key in norm:
                return norm[key]
        # 'C3-CLE' finds 'EEG C3-CLE': compare without a leading modality word, if unique
        bare = [k for k in self.channels if _strip_modality(k) == _strip_modality(name)]
        if len(bare) == 1:
            return bare[0]
        present = ", ".join(repr(c) for c in self.channels)
        raise ValueError(
            f"{self.where}: channel {name!r} not found; present: {present}"
            f"{suggest(name, self.channels)}"
        )

    def channel(self, name: str) -> Channel:
        """The :class:`Channel` for a name or alias (see :meth:`resolve_channel`)."""
        return self.channels[self.resolve_channel(name)]
