"""Epoching: alignment to the hypnogram, stage combination, trimming, resampling, scaling."""

from __future__ import annotations

import logging
import tracemalloc

import numpy as np
import pytest

from eeg_vlm.signals.epochs import label_epochs, make_epochs, minmax_scale, resample
from eeg_vlm.io import from_array
from eeg_vlm.io.record import Scoring


def _ramp_recording(seconds: float, sfreq: float = 100.0, **kwargs):
    """One channel whose value is its own time in seconds: slices are easy to check."""
    t = np.arange(int(seconds * sfreq)) / sfreq
    return from_array(t[None, :], sfreq, ["EEG"], **kwargs), t


def test_epochs_follow_hypnogram_onsets_not_file_start():
    rec, t = _ramp_recording(200.0, stages=["W", "N1", "N2", "N2", "REM"], onsets=[12.5, 42.5, 72.5, 102.5, 132.5])
    ep = make_epochs(rec, ["EEG"], trim_wake=None)
    np.testing.assert_allclose(ep.onset_s, [12.5, 42.5, 72.5, 102.5, 132.5])
    np.testing.assert_array_equal(ep.epoch, np.arange(5))
    np.testing.assert_allclose(ep.data[:, 0, 0], ep.onset_s, atol=1e-4)
    np.testing.assert_allclose(ep.data[2, 0], t[7250:10250], atol=1e-4)
    assert ep.stages == ["W", "N1", "N2", "N2", "REM"]
    assert ep.sample_ids == [f"subject/{k:06d}" for k in range(5)]


def test_long_segments_are_cut_and_epochs_past_the_end_dropped():
    rec, _ = _ramp_recording(100.0)
    rec.scoring = Scoring(onsets=np.array([10.0, 70.0]), durations=np.array([60.0, 300.0]),
                          stages=["W", "N2"], raw_labels=["Sleep stage W", "Sleep stage 2"])
    ep = make_epochs(rec, ["EEG"], trim_wake=None)
    # 10-40, 40-70 (W), 70-100 (N2); the rest of the N2 segment is past the 100-s signal
    assert ep.stages == ["W", "W", "N2"] and ep.dropped == {}
    np.testing.assert_allclose(ep.onset_s, [10, 40, 70])


def test_unscored_and_movement_dropped_and_counted_unless_kept():
    labels = ["W", "Sleep stage ?", "N2", "Movement time", "Sleep stage ?", None, "REM"]
    rec, _ = _ramp_recording(7 * 30.0, stages=labels)
    ep = make_epochs(rec, ["EEG"], trim_wake=None)
    assert ep.stages == ["W", "N2", "REM"]
    np.testing.assert_array_equal(ep.epoch, [0, 2, 6])
    assert ep.dropped == {"Sleep stage ?": 2, "Movement time": 1, "unscored": 1}
    kept = make_epochs(rec, ["EEG"], trim_wake=None, keep_unscored=True)
    assert kept.stages == ["W", None, "N2", None, None, None, "REM"] and kept.dropped == {}


def test_gaps_and_partial_cover():
    scoring = Scoring(onsets=np.array([0.0, 90.0, 150.0]), durations=np.array([60.0, 45.0, 30.0]),
                      stages=["W", "N2", "N2"], raw_labels=["W", "2", "2"])
    grid = label_epochs(scoring, 30.0)
    # 0-30 W, 30-60 W, 60-90 gap, 90-120 N2, 120-150 half covered, 150-180 N2
    assert grid.stages == ["W", "W", None, "N2", None, "N2"]
    assert grid.labels == ["W", "W", "unscored", "2", "unscored", "2"]


def test_finer_scoring_combined_only_when_unambiguous():
    # 5-s DREAMS-like list: 6 W; 3 W + 3 N2; S3/S4 mix (both N3); 6 with one movement
    stages = ["W"] * 6 + ["W"] * 3 + ["N2"] * 3 + ["N3"] * 6 + ["N2"] * 5 + [None]
    raw = ["5"] * 9 + ["2"] * 3 + ["1", "0"] * 3 + ["2"] * 5 + ["-1"]
    k = np.arange(len(stages)) * 5.0
    scoring = Scoring(k, np.full(len(k), 5.0), stages, raw, epoch_length=5.0)
    rec, _ = _ramp_recording(120.0)
    rec.scoring = scoring
    ep = make_epochs(rec, ["EEG"], trim_wake=None)
    assert ep.stages == ["W", "N3"]
    np.testing.assert_array_equal(ep.epoch, [0, 2])
    assert ep.dropped == {"ambiguous": 2}


def _night(n_wake_before=100, n_sleep=10, n_wake_after=100):
    labels = ["W"] * n_wake_before + ["N2"] * n_sleep + ["W"] * n_wake_after
    sig = np.zeros((1, len(labels) * 300), np.float32)
    return from_array(sig, 10.0, ["EEG"], stages=labels)


def test_wake_trimming_keeps_thirty_minutes_each_side():
    rec = _night()
    ep = make_epochs(rec, ["EEG"], sfreq=10.0, trim_wake=30.0)
    assert len(ep) == 60 + 10 + 60 and ep.trimmed == 80
    assert ep.epoch[0] == 40 and ep.epoch[-1] == 169  # first sleep at 100, last at 109
    assert ep.stages[:60] == ["W"] * 60 and ep.stages[60:70] == ["N2"] * 10
    short = make_epochs(rec, ["EEG"], sfreq=10.0, trim_wake=1.0)
    assert len(short) == 2 + 10 + 2 and short.trimmed == 196
    everything = make_epochs(rec, ["EEG"], sfreq=10.0, trim_wake=None)
    assert len(everything) == 210 and everything.trimmed == 0


def test_no_sleep_means_no_trimming(caplog):
    rec = _night(n_sleep=0, n_wake_after=0)
    with caplog.at_level(logging.WARNING, logger="eeg_vlm.signals.epochs"):
        ep = make_epochs(rec, ["EEG"], sfreq=10.0, trim_wake=30.0)
    assert len(ep) == 100 and ep.trimmed == 0 and "no sleep epoch" in caplog.text


def test_unscored_recording_epochs_from_file_start():
    rec, t = _ramp_recording(95.0)
    ep = make_epochs(rec, "EEG", trim_wake=30.0)
    assert ep.stages == [None, None, None] and ep.dropped == {} and ep.trimmed == 0
    np.testing.assert_allclose(ep.onset_s, [0, 30, 60])


def test_channels_at_different_rates_are_resampled_and_stacked():
    t200 = np.arange(60 * 200) / 200
    t1 = np.arange(60) / 1.0
    rec = from_array([np.sin(2 * np.pi * 5 * t200), np.sin(2 * np.pi * 0.1 * t1)], [200.0, 1.0],
                     ["C3", "EMG"], stages=["W", "N1"])
    ep = make_epochs(rec, ["EMG", "C3"], sfreq=100.0, trim_wake=None)
    assert ep.data.shape == (2, 2, 3000) and ep.channels == ["EMG", "C3"]
    t100 = np.arange(3000) / 100 + 30
    np.testing.assert_allclose(ep.data[1, 1, 100:-100], np.sin(2 * np.pi * 5 * t100)[100:-100], atol=0.02)


def test_bad_arguments():
    rec, _ = _ramp_recording(60.0, stages=["W", "W"])
    with pytest.raises(ValueError, match="channel 'Fpz' not found; present: 'EEG'"):
        make_epochs(rec, ["Fpz"])
    with pytest.raises(ValueError, match="not a whole number of samples"):
        make_epochs(rec, ["EEG"], sfreq=100.0, epoch_length=30.005)
    with pytest.raises(ValueError, match="trim_wake must be >= 0"):
        make_epochs(rec, ["EEG"], trim_wake=-1)
    with pytest.raises(ValueError, match="no channels requested"):
        make_epochs(rec, [])


@pytest.mark.parametrize("from_hz, to_hz", [(200, 100), (125, 100), (256, 100), (100, 100), (50, 100),
                                            (512, 128), (128, 100)])
def test_resample_rates_preserve_a_sine(from_hz, to_hz):
    n = 10 * from_hz  # 10 s
    x = np.sin(2 * np.pi * 3 * np.arange(n) / from_hz)
    y = resample(x, from_hz, to_hz)
    assert y.dtype == np.float32 and y.shape == (10 * to_hz,)
    ref = np.sin(2 * np.pi * 3 * np.arange(y.shape[0]) / to_hz)
    np.testing.assert_allclose(y[50:-50], ref[50:-50], atol=0.01)


def test_resample_upsampling_a_one_hz_channel_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="eeg_vlm.signals.epochs"):
        y = resample(np.ones(30), 1.0, 100.0)
    assert y.shape == (3000,) and "upsampling a 1 Hz signal to 100 Hz" in caplog.text
    with pytest.raises(ValueError, match="rates must be > 0"):
        resample(np.ones(3), 0.0, 100.0)


def test_minmax_scale_shapes_and_flat_channels():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 50, (4, 3, 300))
    x[2, 1] = 7.0  # a flat channel in one epoch
    y = minmax_scale(x)
    assert y.shape == x.shape and y.dtype == np.float32 and np.isfinite(y).all()
    np.testing.assert_array_equal(y[2, 1], 0.0)
    for i, c in [(0, 0), (3, 2), (2, 0)]:
        assert y[i, c].min() == pytest.approx(-1.0) and y[i, c].max() == pytest.approx(1.0)
        expected = 2 * (x[i, c] - x[i, c].min()) / np.ptp(x[i, c]) - 1
        np.testing.assert_allclose(y[i, c], expected, atol=1e-5)
    np.testing.assert_allclose(minmax_scale(x[0]), y[0])  # (C, T) works alike
    np.testing.assert_array_equal(minmax_scale(np.zeros((2, 10))), 0.0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        minmax_scale(np.array([[1.0, np.nan]]))


def test_from_array_checks():
    with pytest.raises(ValueError, match="2 signals but 1 channel names"):
        from_array(np.zeros((2, 10)), 100.0, ["a"])
    with pytest.raises(ValueError, match="channel names must be unique"):
        from_array(np.zeros((2, 10)), 100.0, ["a", "a"])
    with pytest.raises(ValueError, match="3 onsets for 2 stages"):
        from_array(np.zeros((1, 10)), 100.0, ["a"], stages=["W", "N1"], onsets=[0, 30, 60])
    with pytest.raises(ValueError, match="unknown sleep stage label 'deep'"):
        from_array(np.zeros((1, 10)), 100.0, ["a"], stages=["deep"])
    rec = from_array(np.zeros((1, 10)), 100.0, ["a"], stages=["Sleep stage 4", None], subject="s1", night="2")
    assert rec.scoring.stages == ["N3", None] and rec.record_id == "s1_2"


def test_whole_day_at_three_channels_stays_small():
    """24 h, three 200-Hz channels -> 100 Hz: make_epochs allocates the output (104 MB) and
    one resampled channel at a time (35 MB) on top of the inputs: about 0.14 GB measured."""
    n = 24 * 3600 * 200
    signals = [np.zeros(n, np.float32) for _ in range(3)]
    rec = from_array(signals, 200.0, ["C3", "C4", "EOG"], stages=["N2"] * 2880)
    tracemalloc.start()
    try:
        ep = make_epochs(rec, ["C3", "C4", "EOG"], sfreq=100.0, trim_wake=None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ep.data.shape == (2880, 3, 3000)
    assert peak < 0.25e9, f"peak {peak / 1e9:.2f} GB"
