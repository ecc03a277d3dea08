"""Rationales: final line, variants, consistency with the label over many epochs, external files."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from eeg_vlm.reasoning import cot
from eeg_vlm.reasoning.detectors import EpochDescription, EyeMovement, KComplex, SlowWave, Spindle, describe_epoch, describe_epochs
from eeg_vlm.stages import STAGES

STAGE_RE = r"(W|N1|N2|N3|REM)\b"
DREAMS_RATES = {1: 100.0, 2: 200.0, 3: 50.0, 4: 200.0, 5: 200.0}


def _rel(delta, theta, alpha, sigma, beta) -> dict[str, float]:
    return {"delta": delta, "theta": theta, "alpha": alpha, "sigma": sigma, "beta": beta}


def _synthetic_descriptions() -> list[EpochDescription]:
    """Hand-made measures covering every stage's evidence, alone and in conflict."""
    sw = [SlowWave(float(s), 1.0, 120.0, 1.0) for s in range(0, 30, 3)]  # 33 % of the epoch
    sp = [Spindle(4.0, 0.8, 13.0, 30.0), Spindle(20.0, 1.1, 12.5, 25.0)]
    kc = [KComplex(11.0, 1.0, -90.0, 40.0, 130.0, 4.0)]
    rem = [EyeMovement(float(t), 120.0, 0.15, 900.0) for t in (3, 8, 9, 17)]
    base = dict(duration_s=30.0, eeg="Fpz-Cz")
    return [
        EpochDescription(relative_power=_rel(0.30, 0.15, 0.35, 0.08, 0.12), amplitude_uv=12, **base),  # alpha
        EpochDescription(relative_power=_rel(0.45, 0.30, 0.10, 0.05, 0.10), amplitude_uv=10, **base),  # theta
        EpochDescription(relative_power=_rel(0.75, 0.12, 0.05, 0.06, 0.02), amplitude_uv=20, spindles=sp,
                         k_complexes=kc, **base),  # N2 graphoelements
        EpochDescription(relative_power=_rel(0.92, 0.05, 0.02, 0.01, 0.00), amplitude_uv=45, slow_waves=sw,
                         slow_wave_fraction=0.33, max_slow_wave_uv=120, **base),  # N3
        EpochDescription(relative_power=_rel(0.50, 0.28, 0.10, 0.04, 0.08), amplitude_uv=11, eog="EOG", eye_movements=rem,
                         emg="EMG", emg_rms_uv=1.0, emg_relative=0.4, **base),  # REM
        EpochDescription(relative_power=_rel(0.85, 0.05, 0.25, 0.03, 0.22), amplitude_uv=80, spindles=sp, slow_waves=sw,
                         slow_wave_fraction=0.33, max_slow_wave_uv=120, eog="EOG", eye_movements=rem, emg="EMG",
                         emg_rms_uv=9.0, emg_relative=2.5, **base),  # everything at once
        EpochDescription(relative_power=_rel(0.60, 0.20, 0.10, 0.05, 0.05), amplitude_uv=15, eog="EOG", eye_movements=[],
                         emg="EMG", emg_rms_uv=2.0, emg_relative=None, **base),  # EMG without reference
        EpochDescription(relative_power=_rel(0.0, 0.0, 0.0, 0.0, 0.0), amplitude_uv=0, **base),  # flat
    ]


@pytest.fixture(scope="module")
def real_descriptions(shared_data) -> list[EpochDescription]:
    """Every 30-s epoch of the five DREAMS excerpts, and the two YASA examples."""
    out = []
    for i, sf in DREAMS_RATES.items():
        x = np.array((shared_data / "dreams" / f"excerpt{i}.txt").read_text().split()[1:], dtype=float)
        t = int(30 * sf)
        n = len(x) // t
        out += describe_epochs(x[: n * t].reshape(n, 1, t), ["C3-A1"], sf)
    n3 = np.loadtxt(shared_data / "yasa" / "data_N3_no-spindles_30sec_100Hz.txt")
    n2 = np.loadtxt(shared_data / "yasa" / "data_N2_spindles_15sec_200Hz.txt")
    out += [describe_epoch({"Fpz-Cz": n3}, 100.0), describe_epoch({"C4-A1": n2}, 200.0)]
    return out


# ----------------------------------------------------------------------------- final line


@pytest.mark.parametrize("stage", STAGES)
def test_final_line_round_trip(stage):
    line = cot.final_line(stage)
    assert line == f"Sleep stage: {stage}"
    assert cot.parse_final_line(f"reasoning\n{line}\n") == stage
    assert cot.parse_final_line(f"{line}\nmore text") is None


def test_parse_final_line_rejects_near_misses():
    for text in ("", "Sleep stage: N4", "sleep stage: N2", "Stage: N2", "Sleep stage: N2 probably", "N2"):
        assert cot.parse_final_line(text) is None, text
    with pytest.raises(ValueError, match=r"'stage'.*but got 'S2'"):
        cot.final_line("S2")


def test_question_per_variant():
    qs = {v: cot.question(v, ["Fpz-Cz"]) for v in cot.COT_VARIANTS}
    assert len(set(qs.values())) == 3
    for v, q in qs.items():
        assert q.startswith("This is a 30-second EEG epoch (Fpz-Cz)")
        assert "Which sleep stage (W, N1, N2, N3, REM)" in q and "<image>" not in q
        assert q.endswith(cot.INSTRUCTIONS[v])
    assert "(Fpz-Cz, EOG horizontal, EMG submental)" in cot.question("none", ["Fpz-Cz", "EOG horizontal", "EMG submental"])
    assert "30-second PSG epoch" in cot.question("none", ["Fpz-Cz", "EOG horizontal"])
    with pytest.raises(ValueError, match=r"'cot'.*got 'stepwise'.*did you mean 'stagewise'"):
        cot.question("stepwise", ["Fpz-Cz"])


# ----------------------------------------------------------------------------- variants


def test_none_and_single_shapes():
    d = _synthetic_descriptions()[2]
    assert cot.rationale(d, "N2", "none") == "Sleep stage: N2"
    assert cot.rationale(None, "REM", "none") == "Sleep stage: REM"
    single = cot.rationale(d, "N2", "single", key="a/000001")
    lines = single.split("\n")
    assert len(lines) == 2 and lines[1] == "Sleep stage: N2"
    assert "2 spindles" in lines[0] and "1 K-complex" in lines[0] and "delta 0.75" in lines[0]
    with pytest.raises(ValueError, match="needs the epoch's measures"):
        cot.rationale(None, "N2", "single")


@pytest.mark.realdata
def test_stagewise_yasa_n3_weighs_low_slow_wave_coverage(shared_data):
    x = np.loadtxt(shared_data / "yasa" / "data_N3_no-spindles_30sec_100Hz.txt")
    d = describe_epoch({"Fpz-Cz": x}, 100.0)
    text = cot.rationale(d, "N3", "stagewise", key="yasa/000000")
    lines = text.split("\n")
    n3 = next(ln for ln in lines if ln.startswith("Step 4 — N3:"))
    pct = f"{100 * d.slow_wave_fraction:.0f}%"
    assert f"in only {pct} of the epoch, below the 20% criterion" in n3
    assert "Weighing:" in n3 and "delta dominates (0.86 of the power)" in n3 and "no spindles or alpha" in n3
    assert "points towards" not in text
    assert lines[-1] == "Sleep stage: N3" and lines[-2].startswith("Conclusion:") and "N3" in lines[-2]


def test_wording_is_deterministic_and_varied_by_key():
    d = _synthetic_descriptions()[1]
    assert cot.rationale(d, "N1", key="r/000001") == cot.rationale(d, "N1", key="r/000001")
    texts = {cot.rationale(d, "N1", key=f"r/{i:06d}") for i in range(20)}
    assert len(texts) > 1  # phrasing varies between samples
    assert all(t.endswith("Sleep stage: N1") for t in texts)


# ----------------------------------------------------------------------------- consistency


def _steps(text: str) -> dict[str, str]:
    return {m.group(1): line for line in text.split("\n") if (m := re.match(r"Step \d — (W|N1|N2|N3|REM): ", line))}


def _check_consistent(text: str, d: EpochDescription, label: str, variant: str) -> None:
    lines = text.split("\n")
    assert lines[-1] == cot.final_line(label)
    assert sum(1 for ln in lines if "Sleep stage:" in ln) == 1  # one final line, nothing else like it
    assert not re.search(rf"consistent with (?!{label}\b){STAGE_RE}", text), text
    assert f"points towards {label}" not in text
    units = list(_steps(text).values()) if variant == "stagewise" else re.split(r"(?<=\.) (?=[A-Z0-9])", lines[0])
    if variant == "stagewise":
        assert list(_steps(text)) == list(STAGES)
        assert lines[-2].startswith("Conclusion:") and label in lines[-2]
        assert not re.search(rf"epoch is (?!{label}\b){STAGE_RE}", lines[-2])
    else:
        assert len(lines) == 2
    # every sentence that favours another stage is followed by a weighing sentence
    for i, unit in enumerate(units):
        for m in re.finditer(rf"points towards {STAGE_RE}", unit):
            assert m.group(1) != label
            rest = unit[m.end():] if variant == "stagewise" else " ".join(units[i + 1 : i + 2])
            assert cot.WEIGHING in rest and f"not {m.group(1)}" in rest, unit
    # evidence is described as measured, including what points elsewhere
    steps = _steps(text)
    if d.slow_wave_fraction >= 0.20 and label != "N3":
        assert "points towards N3" in (steps["N3"] if steps else text)
    if d.n_spindles + d.n_k_complexes and d.slow_wave_fraction < 0.20 and label != "N2":
        assert "points towards N2" in (steps["N2"] if steps else text)
    if label == "N3" and d.slow_wave_fraction < 0.20:
        assert "below the 20% criterion" in text and cot.WEIGHING in (steps["N3"] if steps else text)
    assert f"{d.relative_power['delta']:.2f}" in text


def _random_descriptions(n: int, seed: int) -> list[EpochDescription]:
    """Random measures: every mix of band powers, events, channels present or absent."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        rel = dict(zip(("delta", "theta", "alpha", "sigma", "beta"), rng.dirichlet(np.full(5, 0.8)).tolist()))
        swf = float(rng.choice([0.0, rng.uniform(0, 0.2), rng.uniform(0.2, 0.8)]))
        sw = [SlowWave(float(i), 1.0, 90.0, 1.0) for i in range(int(round(swf * 30)))]
        sp = [Spindle(float(rng.uniform(0, 29)), 0.8, 13.0, 20.0) for _ in range(rng.integers(0, 3))]
        kc = [KComplex(float(rng.uniform(0, 29)), 1.0, -80.0, 30.0, 110.0, 4.0) for _ in range(rng.integers(0, 2))]
        d = EpochDescription(30.0, "Fpz-Cz", rel, float(rng.uniform(3, 90)), sp, kc, sw, swf,
                             float(rng.uniform(20, 200)) if swf else float(rng.uniform(10, 74)))
        if rng.random() < 0.6:
            d.eog, d.eye_movements = "EOG", [EyeMovement(float(t), 100.0, 0.1, 800.0) for t in range(rng.integers(0, 4))]
        if rng.random() < 0.6:
            d.emg, d.emg_rms_uv = "EMG", float(rng.uniform(0.5, 20))
            d.emg_relative = None if rng.random() < 0.2 else float(rng.uniform(0.2, 3.0))
        out.append(d)
    return out


def _run_consistency(descs: list[EpochDescription], variant: str) -> int:
    favoured = 0
    for i, d in enumerate(descs):
        for label in STAGES:
            text = cot.rationale(d, label, variant, key=f"x/{i:06d}")
            _check_consistent(text, d, label, variant)
            favoured += "points towards" in text
    return favoured


@pytest.mark.parametrize("variant", ["stagewise", "single"])
def test_rationales_never_argue_for_another_stage(variant):
    descs = _synthetic_descriptions() + _random_descriptions(300, 0)
    favoured = _run_consistency(descs, variant)
    assert favoured > len(descs)  # conflicting evidence is common, and it is reported


@pytest.mark.realdata
@pytest.mark.parametrize("variant", ["stagewise", "single"])
def test_rationales_on_real_epochs_never_argue_for_another_stage(real_descriptions, variant):
    assert len(real_descriptions) > 300
    assert _run_consistency(real_descriptions, variant) > 100


# ----------------------------------------------------------------------------- external


def _write_jsonl(path, rows) -> None:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")


def test_load_rationales_keeps_manifest_ids(tmp_path):
    p = tmp_path / "r.jsonl"
    _write_jsonl(p, [
        {"sample_id": "a/000001", "text": "Spindles at 3 s.\nSleep stage: N2"},
        "",
        {"sample_id": "b/000001", "text": "Sleep stage: W"},
    ])
    got = cot.load_rationales(p, {"a/000001": "N2"})
    assert got == {"a/000001": "Spindles at 3 s.\nSleep stage: N2"}


@pytest.mark.parametrize(
    "rows, message",
    [
        (['{"sample_id": "a/000001", '], r"r.jsonl', line 1: not valid JSON"),
        ([{"sample_id": "a/000001"}], r"line 1: expected an object with string fields 'sample_id' and 'text'"),
        ([{"sample_id": "a/000001", "text": "Sleep stage: N2"}, {"sample_id": "a/000001", "text": "Sleep stage: N2"}],
         r"line 2: sample_id 'a/000001' already given on line 1"),
        ([{"sample_id": "a/000001", "text": "Looks like N2."}],
         r"line 1 \(sample_id 'a/000001'\): the text does not end with a final line 'Sleep stage: <W\|N1\|N2\|N3\|REM>'; "
         r"its last line is 'Looks like N2.'"),
        ([{"sample_id": "a/000001", "text": "Slow waves.\nSleep stage: N3"}],
         r"line 1 \(sample_id 'a/000001'\): the final line names N3 but the sample is labelled N2"),
        ([{"sample_id": "zz/000001", "text": "Sleep stage: N5"}], r"line 1 \(sample_id 'zz/000001'\): the text does not end"),
    ],
)
def test_load_rationales_errors(tmp_path, rows, message):
    p = tmp_path / "r.jsonl"
    _write_jsonl(p, rows)
    with pytest.raises(ValueError, match=message):
        cot.load_rationales(p, {"a/000001": "N2"})


def test_load_rationales_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="rationales file .*nope.jsonl.*not found"):
        cot.load_rationales(tmp_path / "nope.jsonl", {})
