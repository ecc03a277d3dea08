"""AASM display filters: a DC-coupled, drifting BDF draws a flat-baseline trace."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from eeg_vlm.imaging.convert import main
from eeg_vlm.signals.filters import channel_kind, display_filter

sys.path.insert(0, str(Path(__file__).parents[1] / "io"))
from edf_files import write_edf  # noqa: E402

SF = 256.0


def _drifting(seconds: float = 120.0) -> np.ndarray:
    """10-Hz alpha of 20 µV on a DC offset of 3 mV that drifts 3 mV over the recording."""
    t = np.arange(int(seconds * SF)) / SF
    return 3000.0 + 3000.0 * t / seconds + 20 * np.sin(2 * np.pi * 10 * t)


@pytest.mark.parametrize("name, kind", [("EEG Fpz-Cz", "eeg"), ("C3-M2", "eeg"), ("EOG horizontal", "eog"),
                                        ("LOC-A2", "eog"), ("E1-M2", "eog"), ("EMG submental", "emg"),
                                        ("Chin1-Chin2", "emg")])
def test_channel_kinds(name, kind):
    assert channel_kind(name) == kind


def test_filter_removes_the_drift_and_keeps_the_alpha():
    x = _drifting()[: int(30 * SF)].reshape(1, 1, -1)
    y = display_filter(x, SF, ["EEG C3"], "aasm")
    core = y[0, 0, int(2 * SF): -int(2 * SF)]  # away from the epoch's ends
    assert abs(float(core.mean())) < 1.0 and 15 < float(core.std() * np.sqrt(2)) < 21  # 20 µV sine survives
    assert np.array_equal(display_filter(x, SF, ["EEG C3"], "none"), x.astype(np.float32))
    emg = display_filter(x, 100.0, ["EMG chin"], "aasm")  # 10-100 Hz at 100 Hz sampling: a 10-Hz high-pass
    assert np.isfinite(emg).all()
    with pytest.raises(ValueError, match="'display_filter'.*'none', 'aasm'"):
        display_filter(x, SF, ["EEG C3"], "notch")


def _trace_centre(png: Path) -> np.ndarray:
    img = np.asarray(Image.open(png)) < 128  # (H, W) trace pixels
    rows = np.arange(img.shape[0])[:, None]
    return (rows * img).sum(0) / np.maximum(img.sum(0), 1)  # mean row of the trace in each column


def _baseline_span(png: Path) -> float:
    centre = _trace_centre(png)
    cols = np.arange(len(centre))
    fit = np.polyfit(cols, centre, 1)
    return abs(fit[0]) * len(centre) / 336  # rise of the fitted baseline over the width, in image heights


def test_drifting_bdf_draws_a_flat_baseline(tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    notes = [(30.0 * k, 30.0, "Sleep stage 2") for k in range(4)]
    write_edf(inp / "biosemi.bdf", {"EEG Cz": (_drifting(), SF)}, notes, bdf=True)
    common = ["--channels", "Cz", "--sfreq", "128", "--trim-wake", "none", "--workers", "1", "--no-progress",
              "--no-signals"]
    assert main([str(inp), str(tmp_path / "raw"), *common]) == 0
    assert main([str(inp), str(tmp_path / "aasm"), *common, "--display-filter", "aasm"]) == 0
    assert json.loads((tmp_path / "aasm" / "convert.json").read_text())["display_filter"] == "aasm"
    for k in range(4):  # the first and last epochs too: resampling pads along the trend, not with zeros
        raw = _baseline_span(tmp_path / "raw" / "images" / "biosemi" / f"{k:06d}.png")
        aasm = _baseline_span(tmp_path / "aasm" / "images" / "biosemi" / f"{k:06d}.png")
        assert raw > 0.9, (k, raw)  # the drift fills the image: a diagonal line
        assert aasm < 0.02, (k, aasm)  # a flat baseline
