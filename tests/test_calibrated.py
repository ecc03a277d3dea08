"""Synthetic nights calibrated to real ones: band powers, night structure, the shipped file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eeg_vlm.dataset.calibrated import (BANDS, band_powers, build_calibration, calibrated_eeg, calibrated_hypnogram,
                                        load_calibration)
from eeg_vlm.dataset.synthetic import synth_night
from eeg_vlm.stages import to_aasm

#: log10 tolerance on the median band power of a stage (0.3: within a factor of 2)
TOL = 0.3


def test_band_powers_match_real_epochs(shared_data):
    from eeg_vlm.dataset.calibrated import _real_epochs

    real = _real_epochs(shared_data)
    rng = np.random.default_rng(0)
    for stage, rk in (("W", "W"), ("N1", "1"), ("N2", "2"), ("N3", "3")):
        xs = [x for s, x, _ in real if s == stage]
        syn = calibrated_eeg([rk] * 40, 100.0, rng, artefacts=False).reshape(40, 3000)
        for band in BANDS:
            r = np.median([band_powers(x - x.mean(), 100.0)[band] for x in xs])
            s = np.median([band_powers(x, 100.0)[band] for x in syn])
            assert abs(np.log10(s) - np.log10(r)) < TOL, (stage, band, r, s)
    # the stages differ as the real ones do: N3 has more delta than N2 (ratio of medians within a factor 2)
    def ratio(source):
        n3 = np.median([band_powers(x, 100.0)["delta"] for x in source("N3", "3")])
        n2 = np.median([band_powers(x, 100.0)["delta"] for x in source("N2", "2")])
        return n3 / n2

    syn_ratio = ratio(lambda s, rk: calibrated_eeg([rk] * 40, 100.0, rng, artefacts=False).reshape(40, 3000))
    real_ratio = ratio(lambda s, rk: [x - x.mean() for t, x, _ in real if t == s])
    assert real_ratio > 1.5 and abs(np.log10(syn_ratio / real_ratio)) < TOL


def test_left_out_excerpts_are_not_in_the_calibration():
    cal = load_calibration()
    assert "dreams/excerpt4.txt" not in cal["provenance"]["signals"]
    assert cal["provenance"]["left_out"] == ["dreams/excerpt4.txt", "dreams/excerpt5.txt"]
    assert cal["spectra"]["REM"]["borrowed_from"] == "N1"


def test_night_structure_follows_the_real_hypnograms():
    n3_first = rem_second = n3 = rem = 0
    for seed in range(5):
        labels = calibrated_hypnogram(960, np.random.default_rng(seed))
        assert len(labels) == 960 and labels[0] == "W"
        half = len(labels) // 2
        n3 += labels.count("3")
        n3_first += labels[:half].count("3")
        rem += labels.count("R")
        rem_second += labels[half:].count("R")
    assert n3_first > 0.6 * n3  # slow-wave sleep early in the night
    assert rem_second > 0.5 * rem  # REM grows later
    assert calibrated_hypnogram(300, np.random.default_rng(3)) == calibrated_hypnogram(300, np.random.default_rng(3))


def test_synth_night_generators_seeded_and_distinct():
    a, sa = synth_night(n_epochs=60, seed=1, generator="calibrated")
    b, sb = synth_night(n_epochs=60, seed=1, generator="calibrated")
    t, st = synth_night(n_epochs=60, seed=1)
    assert sa == sb and all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["EEG Fpz-Cz"], t["EEG Fpz-Cz"])
    assert set(sa) <= {to_aasm(f"Sleep stage {x}") for x in "W1234R"}
    with pytest.raises(ValueError, match="'generator' parameter"):
        synth_night(n_epochs=60, seed=1, generator="gan")


def test_calibration_rebuilt_bit_for_bit(shared_data, tmp_path):
    from eeg_vlm.dataset.calibrated import main

    shipped = Path(__file__).resolve().parents[1] / "eeg_vlm" / "dataset" / "data" / "calibration.json"
    assert main([str(shared_data), "--out", str(tmp_path / "c.json")]) == 0
    assert (tmp_path / "c.json").read_bytes() == shipped.read_bytes()
    assert json.loads(shipped.read_text())["spectra"]["N2"]["n_epochs"] == 84
    assert build_calibration(shared_data)["structure"]["quarters"] == 4
