"""Hypnogram files: CSV and EDF+ annotations written, then read back by the project's readers."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from eeg_vlm.signals.epochs import label_epochs
from eeg_vlm.hypnogram.files import (
    CSV_COLUMNS,
    SLEEP_EDF_LABELS,
    Hypnogram,
    read_hypnogram_csv,
    stage_runs,
    write_hypnogram_csv,
    write_hypnogram_edf,
)
from eeg_vlm.io import read_edf_annotations, read_edf_scoring
from eeg_vlm.stages import STAGES

STAGE_LIST = ["W", "W", "N1", "N2", "N2", "N2", "N3", "N3", "N2", "REM", "REM", "W", "N1", "N2"]


def _hypnogram(offset: float = 0.0, probs: bool = True) -> Hypnogram:
    n = len(STAGE_LIST)
    p = None
    if probs:
        rng = np.random.default_rng(0)
        p = rng.random((n, 5))
        p /= p.sum(axis=1, keepdims=True)
    return Hypnogram(np.arange(n), offset + 30.0 * np.arange(n), STAGE_LIST, p)


def test_stage_runs_merge_equal_neighbours_and_keep_gaps():
    runs = stage_runs([0, 30, 60, 90, 150, 180], ["W", "W", "N1", "N1", "N1", "REM"])
    # the N1 after the gap (120-150 missing) starts its own run
    assert runs == [(0.0, 60.0, "W"), (60.0, 60.0, "N1"), (150.0, 30.0, "N1"), (180.0, 30.0, "REM")]
    assert stage_runs([], []) == []


def test_csv_round_trip(tmp_path):
    hyp = _hypnogram(offset=600.0)
    path = write_hypnogram_csv(tmp_path / "hypnogram.csv", hyp)
    header = path.read_text().splitlines()[0]
    assert header == ",".join(CSV_COLUMNS)
    back = read_hypnogram_csv(path)
    assert back.stages == hyp.stages
    np.testing.assert_array_equal(back.epoch, hyp.epoch)
    np.testing.assert_allclose(back.onset_s, hyp.onset_s)
    np.testing.assert_allclose(back.probs, hyp.probs, atol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == ["hypnogram.csv"]  # no temporary file left


def test_csv_without_probabilities(tmp_path):
    back = read_hypnogram_csv(write_hypnogram_csv(tmp_path / "h.csv", _hypnogram(probs=False)))
    assert back.probs is None and back.stages == STAGE_LIST


def test_csv_bad_stage_names_file_and_line(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("epoch,onset_s,stage\n0,0,W\n1,30,Sleep stage ?\n")
    with pytest.raises(ValueError, match=r"h\.csv' line 3: stage 'Sleep stage \?' is not one of"):
        read_hypnogram_csv(path)
    path.write_text("epoch,stage\n0,W\n")
    with pytest.raises(ValueError, match="column 'onset_s' missing"):
        read_hypnogram_csv(path)


def test_hypnogram_checks_its_fields():
    with pytest.raises(ValueError, match="stage 'N4' is not one of"):
        Hypnogram([0], [0.0], ["N4"])
    with pytest.raises(ValueError, match=r"probs must have shape \(1, 5\)"):
        Hypnogram([0], [0.0], ["W"], np.ones((1, 4)))


def test_edf_round_trip_one_annotation_per_run(tmp_path):
    hyp = _hypnogram(offset=90.0)
    start = dt.datetime(2026, 3, 1, 22, 15, 0)
    path = write_hypnogram_edf(tmp_path / "hypnogram.edf", hyp, start=start, patient="SC4001")
    annotations = read_edf_annotations(path)
    expected = [(o, d, SLEEP_EDF_LABELS[s]) for o, d, s in stage_runs(hyp.onset_s, hyp.stages)]
    assert len(annotations) == 9 < len(hyp)  # runs, not epochs
    assert [t for _, _, t in annotations] == [t for _, _, t in expected]
    np.testing.assert_allclose([(o, d) for o, d, _ in annotations], [(o, d) for o, d, _ in expected])
    assert {t for _, _, t in annotations} <= {"Sleep stage W", "Sleep stage 1", "Sleep stage 2", "Sleep stage 3",
                                              "Sleep stage R"}
    # read as a Sleep-EDF hypnogram against a PSG that starts at the same time: same epochs
    scoring = read_edf_scoring(path, reference_start=start)
    grid = label_epochs(scoring)
    assert grid.stages == hyp.stages
    np.testing.assert_allclose(grid.onset_s, hyp.onset_s)
    # and against a PSG that started a minute earlier: onsets shift by 60 s
    shifted = label_epochs(read_edf_scoring(path, reference_start=start - dt.timedelta(minutes=1)))
    np.testing.assert_allclose(shifted.onset_s, hyp.onset_s + 60.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hypnogram.edf"]


def test_edf_every_stage_label(tmp_path):
    hyp = Hypnogram(np.arange(5), 30.0 * np.arange(5), list(STAGES))
    texts = [t for _, _, t in read_edf_annotations(write_hypnogram_edf(tmp_path / "h.edf", hyp))]
    assert texts == ["Sleep stage W", "Sleep stage 1", "Sleep stage 2", "Sleep stage 3", "Sleep stage R"]
