"""PSG-LLaVA appendix H: EEG-only stacked images hold exactly the chosen channels, in the order given."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from eeg_vlm.dataset.manifest import read_manifest
from eeg_vlm.imaging.convert import ConvertConfig
from eeg_vlm.imaging.memory import convert_recordings
from eeg_vlm.imaging.render import band_rows
from eeg_vlm.io import from_array

FS = 100.0
#: each channel is a sine of its own frequency: 3, 6, 12 or 24 cycles per 30-s epoch
FREQ = {"C3-A2": 0.1, "C4-A1": 0.2, "E1-M2": 0.4, "Chin": 0.8}
SIZE = 224


@pytest.fixture(scope="module")
def night():
    t = np.arange(int(FS * 120)) / FS
    data = np.stack([50 * np.sin(2 * np.pi * f * t + 0.3) for f in FREQ.values()])
    return from_array(data, FS, list(FREQ), stages=["W", "N2", "N2", "REM"], subject="s0", record_id="s0_n1")


def _cycles(band: np.ndarray) -> float:
    """Oscillations of the stroke in a band ``(rows, width)`` of ink flags: half the mean-row sign changes."""
    rows = np.arange(band.shape[0])[:, None]
    centre = (band * rows).sum(0) / np.maximum(band.sum(0), 1)  # (width,) mean ink row per column
    sign = np.sign(centre - (centre.max() + centre.min()) / 2)
    sign = sign[sign != 0]
    return float(np.count_nonzero(np.diff(sign))) / 2


def _bands_of(png, n: int) -> list[float | None]:
    """Cycles per band of ``n`` stacked bands (``None``: no ink); asserts nothing is drawn outside them."""
    ink = np.asarray(Image.open(png).convert("L")) < 128  # (H, W)
    assert ink.shape == (SIZE, SIZE)
    inside = np.zeros(SIZE, bool)
    out = []
    for top, bottom in band_rows(n, SIZE):
        inside[top:bottom + 1] = True
        band = ink[top:bottom + 1]
        out.append(_cycles(band) if band.any() else None)
    assert not ink[~inside].any()  # margins between bands are blank
    return out


@pytest.mark.parametrize("channels", [("C4-A1", "C3-A2"), ("C3-A2", "C4-A1", "E1-M2", "Chin"), ("Chin",)])
def test_stacked_image_holds_exactly_the_chosen_channels_in_order(night, tmp_path, channels):
    out = tmp_path / "conv"
    convert_recordings([night], out, ConvertConfig(channels=channels, style="psg-llava", size=SIZE,
                                                   trim_wake_min=None))
    rows = read_manifest(out / "manifest.csv")
    assert len(rows) == 4
    for row in rows:
        cycles = _bands_of(out / row.image, len(channels))
        assert len(cycles) == len(channels) and None not in cycles  # one inked band per chosen channel
        expected = [30 * FREQ[c] for c in channels]
        assert cycles == pytest.approx(expected, abs=1), (row.image, cycles, expected)
    # another band count reads the same image differently: the stroke crosses the others' margins
    if len(channels) > 1:
        with pytest.raises(AssertionError):
            _bands_of(out / rows[0].image, len(channels) + 1)
