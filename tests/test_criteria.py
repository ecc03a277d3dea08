"""The per-stage criteria table: every threshold documented, and the table is what assess() reads."""

from __future__ import annotations

import dataclasses

import pytest

from eeg_vlm.reasoning import criteria
from eeg_vlm.reasoning.criteria import CRITERIA, assess, threshold
from eeg_vlm.reasoning.detectors import EpochDescription
from eeg_vlm.stages import STAGES


def _epoch(**kw) -> EpochDescription:
    power = {"delta": 0.5, "theta": 0.1, "alpha": 0.05, "sigma": 0.02, "beta": 0.05}
    power.update(kw.pop("power", {}))
    return EpochDescription(duration_s=30.0, eeg="Fpz-Cz", relative_power=power, amplitude_uv=20.0, **kw)


def test_every_stage_has_documented_thresholds():
    assert list(CRITERIA) == list(STAGES)
    for stage, table in CRITERIA.items():
        assert table, stage
        for name, t in table.items():
            assert t.unit and t.rule.startswith(f"{stage}:"), (stage, name)
            assert t.value >= 0


def test_n3_slow_wave_rule_at_its_threshold():
    at = threshold("N3", "slow_wave_met")
    assert at == pytest.approx(0.20)  # AASM: slow waves in >= 20% of the epoch
    assert assess(_epoch(slow_wave_fraction=at))["N3"].status == "met"
    assert assess(_epoch(slow_wave_fraction=at - 0.01))["N3"].status == "partial"


def test_assess_reads_the_table(monkeypatch):
    """Moving a threshold in CRITERIA moves the verdict: no copy of the number elsewhere."""
    d = _epoch(power={"alpha": 0.15})
    assert assess(d)["W"].status == "partial"
    table = dict(CRITERIA)
    table["W"] = dict(CRITERIA["W"], alpha_met=dataclasses.replace(CRITERIA["W"]["alpha_met"], value=0.15))
    monkeypatch.setattr(criteria, "CRITERIA", table)
    assert assess(d)["W"].status == "met"
