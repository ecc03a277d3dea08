"""Channel failure (PSG-LLaVA 2.3.1): plan and application."""

from __future__ import annotations

import numpy as np
import pytest

from eeg_vlm.io.array import from_array
from eeg_vlm.imaging.robustness import ChannelFailure, apply_channel_failure, plan_channel_failure

SUBJECTS = [f"s{i:02d}" for i in range(20)]


def test_plan_fraction_and_determinism():
    plan = plan_channel_failure(SUBJECTS, "C3-A2", fraction=0.7, seed=0)
    assert len(plan) == 14 and set(plan) <= set(SUBJECTS)
    assert plan == plan_channel_failure(list(reversed(SUBJECTS)) + SUBJECTS[:3], "C3-A2", 0.7, 0)
    assert set(plan) != set(plan_channel_failure(SUBJECTS, "C3-A2", 0.7, 1))
    assert {f.mode for f in plan.values()} == {"noise", "zero"}  # chosen at random per subject
    assert len({f.t_fail_fraction for f in plan.values()}) == 14  # a different onset per subject
    assert all(f.channel == "C3-A2" and 0 <= f.t_fail_fraction < 1 for f in plan.values())
    assert plan_channel_failure(SUBJECTS, "C3-A2", fraction=0.0) == {}
    assert len(plan_channel_failure(SUBJECTS, "C3-A2", fraction=1.0)) == 20


def test_plan_errors():
    with pytest.raises(ValueError, match="fraction must be between 0 and 1, got 1.5"):
        plan_channel_failure(SUBJECTS, "C3", fraction=1.5)
    with pytest.raises(ValueError, match="Allowed values are 'noise', 'zero'"):
        ChannelFailure("s", "C3", "flat", 0.5, 0)


def _recording():
    rng = np.random.default_rng(0)
    t = np.arange(60_000) / 100.0
    c3 = 30 * np.sin(2 * np.pi * 1.0 * t) + rng.standard_normal(t.size)
    c4 = 20 * np.sin(2 * np.pi * 10.0 * t)
    return from_array(np.stack([c3, c4]), 100.0, ["C3-M2", "C4-M1"], subject="s01", record_id="s01_1")


@pytest.mark.parametrize("mode", ["zero", "noise"])
def test_apply_replaces_the_channel_from_t_fail(mode):
    rec = _recording()
    original = rec.channels["C3-M2"].data.copy()
    out, t_fail = apply_channel_failure(rec, ChannelFailure("s01", "C3-A2", mode, 0.25, 7))
    assert t_fail == 150.0  # 25% of 600 s
    x = out.channels["C3-M2"].data
    k = 15_000
    assert np.array_equal(x[:k], original[:k].astype(np.float32))
    if mode == "zero":
        assert not x[k:].any()
    else:
        assert abs(x[k:].std() - original[:k].std()) < 0.1 * original[:k].std()
        assert abs(np.corrcoef(x[k:-1], x[k + 1:])[0, 1]) < 0.05  # white
    assert np.array_equal(out.channels["C4-M1"].data, rec.channels["C4-M1"].data)
    assert np.array_equal(rec.channels["C3-M2"].data, original)  # the input is untouched
    again, _ = apply_channel_failure(rec, ChannelFailure("s01", "C3-A2", mode, 0.25, 7))
    assert np.array_equal(again.channels["C3-M2"].data, x)


def test_apply_missing_channel_names_the_recording():
    with pytest.raises(ValueError, match="recording 's01_1': channel 'O1-A2' not found; present: 'C3-M2', 'C4-M1'"):
        apply_channel_failure(_recording(), ChannelFailure("s01", "O1-A2", "zero", 0.5, 0))
