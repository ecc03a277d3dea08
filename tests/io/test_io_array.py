"""from_array: fixed-length labels or stage transitions; the public path to images + manifest + convert.json."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eeg_vlm.dataset.manifest import read_manifest
from eeg_vlm.dataset.splits import main as split_main
from eeg_vlm.imaging.convert import ConvertConfig
from eeg_vlm.imaging.memory import convert_recordings
from eeg_vlm.io import from_array
from eeg_vlm.reasoning.llava_data import BuildConfig, build_data
from eeg_vlm.signals.epochs import make_epochs


def test_transitions_become_segments_and_epochs():
    x = np.random.default_rng(0).normal(0, 20, (1, 100 * 300))
    rec = from_array(x, 100.0, ["C3"], transitions=[(0.0, "W"), (90.0, "Sleep stage 2"), (200.0, None), (240.0, "R")])
    np.testing.assert_allclose(rec.scoring.onsets, [0, 90, 200, 240])
    np.testing.assert_allclose(rec.scoring.durations, [90, 110, 40, 60])  # the last lasts to the signal end
    ep = make_epochs(rec, ["C3"], trim_wake=None)
    assert ep.stages == ["W", "W", "W", "N2", "N2", "N2", "REM", "REM"]
    assert ep.dropped == {"unscored": 1, "ambiguous": 1}  # 180-210 s: N2 then unscored; 210-240 s unscored
    with pytest.raises(ValueError, match="give stages .* or transitions .*, not both"):
        from_array(x, 100.0, ["C3"], stages=["W"], transitions=[(0, "W")])
    with pytest.raises(ValueError, match=r"transition onsets must be finite and increasing, got \[0.0, 60.0, 30.0\]"):
        from_array(x, 100.0, ["C3"], transitions=[(0, "W"), (60, "N1"), (30, "N2")])
    with pytest.raises(ValueError, match=r"transition at 300 s starts at or after the signal's end \(300 s\)"):
        from_array(x, 100.0, ["C3"], transitions=[(0, "W"), (300, "N1")])


def test_in_memory_recordings_to_build_data(tmp_path):
    rng = np.random.default_rng(1)
    nights = [
        from_array(rng.normal(0, 20, (1, 100 * 240)), 100.0, ["C3-M2"], subject=f"p{i}", record_id=f"p{i}_n1",
                   transitions=[(0.0, "W"), (60.0, "N2"), (150.0, "REM")])
        for i in range(3)
    ]
    out = tmp_path / "conv"
    res = convert_recordings(nights, out, ConvertConfig(channels=("C3-M2",), size=64, trim_wake_min=None))
    assert res.records == ["p0_n1", "p1_n1", "p2_n1"] and res.n_epochs == 24
    meta = json.loads((out / "convert.json").read_text())
    assert meta["channels"] == ["C3-M2"] and meta["stages"] == {"N2": 9, "REM": 9, "W": 6}
    assert (out / "signals" / "p0_n1.npy").is_file()
    assert split_main([str(out / "manifest.csv"), "--protocol", "holdout", "--seed", "0"]) == 0
    split_rows = read_manifest(out / "manifest.csv")
    assert {r.split for r in split_rows} <= {"train", "val", "test"}
    built = build_data(BuildConfig(manifest=out / "manifest.csv", out_dir=tmp_path / "ft", cot="single",
                                   train_split=("train", "val", "test"), eval_split=("none",)))
    assert len(built.train_ids) == 24
    with pytest.raises(TypeError, match="recordings must be Recording objects, got ndarray"):
        convert_recordings([np.zeros(3)], tmp_path / "x")
    with pytest.raises(ValueError, match=r"recording 'p0_n1': channel 'Fpz-Cz' not found; present: 'C3-M2'"):
        convert_recordings(nights[:1], tmp_path / "y", ConvertConfig(channels=("Fpz-Cz",)))
