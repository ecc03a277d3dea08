"""Non-finite, flat and clipped epochs; scoring that ends before the signal or runs past it."""

from __future__ import annotations

import logging

import numpy as np
import pyedflib
import pytest

from eeg_vlm.io import from_array, read_edf
from eeg_vlm.signals.epochs import make_epochs
from eeg_vlm.signals.quality import QualityLimits

SF = 200.0


def _night(n_epochs: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 20, int(n_epochs * 30 * SF))


def _rec(x: np.ndarray, n_stages: int = 8, **kw):
    return from_array(x[None], SF, ["EEG"], stages=["N2"] * n_stages, record_id="r1", **kw)


def _epoch(k: int) -> slice:
    return slice(int(k * 30 * SF), int((k + 1) * 30 * SF))


def test_nonfinite_names_recording_channel_and_epoch():
    x = _night()
    x[_epoch(3)][100:110] = np.nan
    x[_epoch(5)][7] = np.inf
    with pytest.raises(ValueError, match=r"recording 'r1': channel 'EEG' holds 10 NaN or infinite samples in epoch 3 "
                                         r"\(onset 90 s\); use --nonfinite interpolate or drop"):
        make_epochs(_rec(x), ["EEG"], trim_wake=None)
    ep = make_epochs(_rec(x), ["EEG"], trim_wake=None, quality=QualityLimits(nonfinite="drop"))
    assert list(ep.epoch) == [0, 1, 2, 4, 6, 7] and ep.dropped == {"nonfinite": 2}
    assert np.isfinite(ep.data).all()  # the resampling filter did not spread them to the neighbours
    ep = make_epochs(_rec(x), ["EEG"], trim_wake=None, quality=QualityLimits(nonfinite="interpolate"))
    assert len(ep) == 8 and np.isfinite(ep.data).all()
    assert ep.quality["nonfinite"] == 2 and ep.quality["filled_samples"] == 11


def test_flat_epochs_are_flagged_or_dropped():
    x = _night()
    x[_epoch(2)] = 37.0 + np.random.default_rng(1).uniform(-0.2, 0.2, int(30 * SF))  # dead lead: 0.4 µV p-p
    x[_epoch(6)] *= 0.1  # low amplitude but alive (~10 µV p-p)
    ep = make_epochs(_rec(x), ["EEG"], trim_wake=None)
    assert ep.flags == ["", "", "flat", "", "", "", "", ""] and ep.quality["flat"] == 1
    ep = make_epochs(_rec(x), ["EEG"], trim_wake=None, quality=QualityLimits(bad_epochs="drop"))
    assert 2 not in ep.epoch and len(ep) == 7 and ep.dropped == {"flat": 1}
    ep = make_epochs(_rec(x), ["EEG"], trim_wake=None, quality=QualityLimits(bad_epochs="drop", flat_uv=0.1))
    assert len(ep) == 8  # the threshold is in µV


def test_clipped_epochs_at_the_physical_limits(tmp_path):
    x = _night()
    x[_epoch(4)] = np.clip(x[_epoch(4)] * 20, -200, 200)  # saturated: ~60 % of samples at +-200 µV
    x[_epoch(1)] = np.clip(x[_epoch(1)], -45, 45)  # clipped below the limits: ~2.5 %, not flagged
    path = tmp_path / "clip.edf"
    w = pyedflib.EdfWriter(str(path), 1, file_type=pyedflib.FILETYPE_EDFPLUS)
    w.setSignalHeaders([dict(label="EEG", dimension="uV", sample_frequency=SF, physical_max=200.0, physical_min=-200.0,
                             digital_max=32767, digital_min=-32768, prefilter="", transducer="")])
    w.writeSamples([x])
    for k in range(8):
        w.writeAnnotation(30.0 * k, 30.0, "Sleep stage 2")
    w.close()
    rec = read_edf(path)
    assert rec.channels["EEG"].physical_range == (-200.0, 200.0)
    ep = make_epochs(rec, ["EEG"], trim_wake=None, quality=QualityLimits(bad_epochs="drop"))
    assert list(ep.epoch) == [0, 1, 2, 3, 5, 6, 7] and ep.dropped == {"clipped": 1}
    # without a header range (arrays, DREAMS text) the channel's own extremes are the limits
    ep = make_epochs(_rec(x), ["EEG"], trim_wake=None)
    assert ep.flags[4] == "clipped" and ep.flags.count("clipped") == 1


def test_scoring_shorter_or_longer_than_the_signal_is_counted(caplog):
    x = _night(10)
    ep = make_epochs(_rec(x, n_stages=7), ["EEG"], trim_wake=None)
    assert len(ep) == 7 and ep.coverage == {"unscored_head": 0, "unscored_tail": 3, "scored_past_signal": 0}
    with caplog.at_level(logging.WARNING, logger="eeg_vlm.signals.epochs"):
        ep = make_epochs(_rec(x, n_stages=13), ["EEG"], trim_wake=None)
    assert len(ep) == 10 and ep.coverage["scored_past_signal"] == 3
    assert "recording 'r1': the scoring runs past the signal (300.0 s of signal, scoring 0.0-390.0 s): 3 epochs" in caplog.text
    later = from_array(x[None], SF, ["EEG"], stages=["N2"] * 4, onsets=[60.0, 90.0, 120.0, 150.0], record_id="r1")
    assert make_epochs(later, ["EEG"], trim_wake=None).coverage == {"unscored_head": 2, "unscored_tail": 4,
                                                                   "scored_past_signal": 0}
