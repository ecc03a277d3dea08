"""Readers: every supported PSG format -> :class:`~eeg_vlm.io.record.Recording`.

Signals come back in µV at each channel's own rate; expert stages as AASM segments
(:class:`~eeg_vlm.io.record.Scoring`). :func:`find_recordings` pairs signal and scoring
files in a folder; :meth:`RecordingSource.load` reads one.
"""

from eeg_vlm.io.array import from_array
from eeg_vlm.io.discover import FORMATS, RecordingSource, find_recordings
from eeg_vlm.io.dreams import read_dreams
from eeg_vlm.io.edf import read_edf, read_edf_annotations, read_edf_scoring
from eeg_vlm.io.isruc import read_isruc
from eeg_vlm.io.mass import read_mass
from eeg_vlm.io.record import Channel, Recording, Scoring
from eeg_vlm.io.shhs import read_shhs
from eeg_vlm.io.sleep_edf import read_sleep_edf

__all__ = [
    "Channel",
    "FORMATS",
    "Recording",
    "RecordingSource",
    "Scoring",
    "find_recordings",
    "from_array",
    "read_dreams",
    "read_edf",
    "read_edf_annotations",
    "read_edf_scoring",
    "read_isruc",
    "read_mass",
    "read_shhs",
    "read_sleep_edf",
]
