"""Fixed-gain rendering beside min-max: amplitude kept, clipping recorded, staging refuses a mismatch."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eeg_vlm.apps.staging import render_settings
from eeg_vlm.imaging.render import render_epoch
from eeg_vlm.imaging.scaling import scale_epochs


def _sine(uv: float, hz: float = 1.0, sfreq: float = 100.0) -> np.ndarray:
    t = np.arange(int(30 * sfreq)) / sfreq
    return (uv * np.sin(2 * np.pi * hz * t) + 40.0)[None, :]  # (1, T), with a DC offset


def test_fixed_gain_keeps_amplitude_minmax_does_not():
    def image(uv, scaling):
        return render_epoch(scale_epochs(_sine(uv), scaling, 150.0)[0], "eeg-vlm", 64)

    assert np.array_equal(image(100, "minmax"), image(20, "minmax"))  # min-max: the same picture
    big, small = image(100, "fixed"), image(20, "fixed")
    assert not np.array_equal(big, small)
    rows = [np.nonzero((img < 128).any(axis=1))[0] for img in (big, small)]
    spans = [r.max() - r.min() for r in rows]
    assert spans[0] == pytest.approx(5 * spans[1], rel=0.15)  # trace height follows the µV
    scaled, n = scale_epochs(_sine(100), "fixed", 150.0)
    assert n == 0 and scaled.max() == pytest.approx(100 / 150, abs=1e-3)  # the DC offset is removed


def test_fixed_gain_clips_and_counts():
    scaled, n = scale_epochs(_sine(300), "fixed", 150.0)
    assert scaled.min() == -1.0 and scaled.max() == 1.0
    expected = np.mean(np.abs(np.sin(2 * np.pi * np.arange(3000) / 100.0)) > 0.5)  # |300 sin| > 150
    assert n / scaled.size == pytest.approx(expected, abs=2e-3)
    with pytest.raises(ValueError, match="uv_range must be > 0"):
        scale_epochs(_sine(1), "fixed", 0.0)
    with pytest.raises(ValueError, match="'scaling' parameter"):
        scale_epochs(_sine(1), "gain", 1.0)


def test_convert_records_scaling_and_clip_share(tmp_path):
    from eeg_vlm.dataset.synthetic import write_synthetic_dataset
    from eeg_vlm.imaging.convert import convert

    write_synthetic_dataset(tmp_path / "raw", n_subjects=1, hours=0.25, seed=1)
    res = convert(tmp_path / "raw", tmp_path / "fixed", size=32, trim_wake_min=None, scaling="fixed", uv_range=20.0)
    meta = json.loads((tmp_path / "fixed" / "convert.json").read_text())
    assert (meta["scaling"], meta["uv_range"]) == ("fixed", 20.0)
    assert 0 < meta["clipped_share"] < 1  # 20 µV is too small a range for this EEG
    (rec,) = meta["records"].values()
    assert rec["clipped_share"] == meta["clipped_share"]
    plain = convert(tmp_path / "raw", tmp_path / "minmax", size=32, trim_wake_min=None)
    meta = json.loads((tmp_path / "minmax" / "convert.json").read_text())
    assert (meta["scaling"], meta["uv_range"]) == ("minmax", None) and "clipped_share" not in meta
    assert res.n_epochs == plain.n_epochs
    with pytest.raises(ValueError, match=r"scaling: 'fixed' -> 'minmax'"):
        convert(tmp_path / "raw", tmp_path / "fixed", size=32, trim_wake_min=None)


def _recorded(tmp_path, **extra):
    meta = {"channels": ["Fpz-Cz"], "style": "eeg-vlm", "sfreq": 100.0, "size": 64, "line_width": 1, **extra}
    return {"model": "resnet18", "image_settings": meta}


def test_stage_refuses_a_scaling_the_model_was_not_trained_on(tmp_path):
    fixed = _recorded(tmp_path, scaling="fixed", uv_range=150.0)
    s = render_settings(fixed, tmp_path)
    assert (s.scaling, s.uv_range) == ("fixed", 150.0)
    assert render_settings(fixed, tmp_path, scaling="fixed", uv_range=150).scaling == "fixed"
    with pytest.raises(ValueError, match=r"--scaling minmax \(trained on fixed\)"):
        render_settings(fixed, tmp_path, scaling="minmax")
    with pytest.raises(ValueError, match=r"--uv-range 100 \(trained on 150\)"):
        render_settings(fixed, tmp_path, uv_range=100)
    legacy = _recorded(tmp_path)  # recorded before scaling was: min-max images
    assert render_settings(legacy, tmp_path).scaling == "minmax"
    with pytest.raises(ValueError, match=r"--scaling fixed \(trained on minmax\)"):
        render_settings(legacy, tmp_path, scaling="fixed")
    flags = render_settings({"model": "resnet18"}, tmp_path, scaling="fixed")
    assert (flags.scaling, flags.uv_range, flags.source) == ("fixed", 150.0, "flags")
