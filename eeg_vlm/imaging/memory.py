"""From recordings in memory to what ``eeg-vlm convert`` writes: images, signals,
``manifest.csv`` and ``convert.json``, so that ``eeg-vlm split`` and ``build-data`` run
after it as after a conversion of files.

>>> from eeg_vlm.io import from_array                         # doctest: +SKIP
>>> rec = from_array(x, 256.0, ["C3-M2"], transitions=[(0, "W"), (630, "N1"), (700, "N2")],
...                  subject="p01", record_id="p01_night1")
>>> convert_recordings([rec], "out", ConvertConfig(channels=("C3-M2",)))
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from eeg_vlm.imaging.convert import convert_sources
from eeg_vlm.imaging.convert_config import ConvertConfig, ConvertResult
from eeg_vlm.io.record import Recording

logger = logging.getLogger(__name__)

__all__ = ["convert_recordings"]


@dataclass(frozen=True)
class _MemorySource:
    """A :class:`Recording` dressed as a :class:`eeg_vlm.io.RecordingSource`."""

    recording: Recording

    @property
    def record_id(self) -> str:
        return self.recording.record_id

    @property
    def subject(self) -> str:
        return self.recording.subject

    @property
    def paths(self) -> tuple[Path, ...]:
        return (self.recording.source,) if self.recording.source is not None else (Path(self.recording.record_id),)

    def load(self, channels: Sequence[str] | None = None, source_sfreq: float | None = None,
             source_rates: Mapping[str, float] | None = None, strict: bool = False) -> Recording:
        for name in channels or ():
            self.recording.resolve_channel(name)  # a clear error for a channel it lacks
        return self.recording


def convert_recordings(recordings: Sequence[Recording], out_dir: str | Path, config: ConvertConfig | None = None,
                       skip_bad: bool = False, overwrite: bool = False) -> ConvertResult:
    """Convert recordings already in memory (:func:`eeg_vlm.io.from_array`, any reader).

    Parameters
    ----------
    recordings : sequence of Recording
        Nights with unique ``record_id``; scored ones give labelled epochs.
    out_dir : str or Path
        Output folder, laid out as by ``eeg-vlm convert``.
    config : ConvertConfig, optional
        Channels, style, rate, epoch checks (default ``ConvertConfig()``).
    skip_bad : bool
        Skip recordings that fail (missing channel, too short, non-finite samples) and list
        them in ``convert.json``; otherwise the first one raises.
    overwrite : bool
        Delete earlier output first. Without it, records already converted in
        ``out_dir`` (same settings) are kept as they are.

    Returns
    -------
    ConvertResult
    """
    if isinstance(recordings, Recording):
        recordings = [recordings]
    bad = [type(r).__name__ for r in recordings if not isinstance(r, Recording)]
    if bad:
        raise TypeError(f"convert_recordings: recordings must be Recording objects, got {', '.join(sorted(set(bad)))}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"folder {str(out_dir)!r}: output folder exists as a file; give a folder")
    return convert_sources([_MemorySource(r) for r in recordings], out_dir, config or ConvertConfig(),
                           skip_bad=skip_bad, overwrite=overwrite)
