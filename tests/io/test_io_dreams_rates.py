"""DREAMS text files: the sampling rate is stated, never derived; 5-s stages -> 30-s epochs by rule."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from eeg_vlm.io import read_dreams
from eeg_vlm.io.dreams import read_rate_table
from eeg_vlm.signals.epochs import make_epochs


def _write(folder: Path, stem: str, n_values: int, codes: list[int]) -> tuple[Path, Path]:
    values = np.random.default_rng(0).normal(0, 20, n_values)
    sig = folder / f"{stem}.txt"
    sig.write_text("[CZ-A1]\n" + "\n".join(f"{v:.3f}" for v in values) + "\n")
    hyp = folder / f"Hypnogram_{stem}.txt"
    hyp.write_text("[Hypnogram]\n" + "".join(f"{c}\n" for c in codes))
    return sig, hyp


def test_rate_never_comes_from_the_lengths(tmp_path):
    # 10 min at 200 Hz, but the hypnogram lacks its last 2 min: values / (stages x 5 s) = 250 Hz
    sig, hyp = _write(tmp_path, "excerpt2", 600 * 200, [2] * 96)
    with pytest.raises(ValueError, match=r"excerpt2\.txt.*120000 values at 200 Hz last 600 s, but "
                                         r"'Hypnogram_excerpt2\.txt' scores 96 x 5 s = 480 s.*agree at 250 Hz"):
        read_dreams(sig, hyp)
    with pytest.raises(ValueError, match="agree at 250 Hz"):
        read_dreams(sig, hyp, sfreq=200.0)
    assert read_dreams(sig, hyp, sfreq=250.0).channels["CZ-A1"].sfreq == 250.0  # a stated rate is used


def test_surplus_under_one_stage_is_ignored_with_a_warning(tmp_path, caplog):
    sig, hyp = _write(tmp_path, "excerpt2", 60 * 200 + 140, [5] * 6 + [2] * 6)  # 0.7 s past the last stage
    with caplog.at_level(logging.WARNING, logger="eeg_vlm.io.dreams"):
        rec = read_dreams(sig, hyp)
    assert "140 samples (0.70 s) after the last 5-s stage of 'Hypnogram_excerpt2.txt' are ignored" in caplog.text
    assert make_epochs(rec, ["CZ-A1"], trim_wake=None).stages == ["W", "N2"]
    sig, hyp = _write(tmp_path, "excerpt4", 60 * 200 + 1000, [5] * 12)  # one whole stage more
    with pytest.raises(ValueError, match="check the sampling rate"):
        read_dreams(sig, hyp)


def test_rate_table(tmp_path):
    (tmp_path / "r.csv").write_text("file,sfreq\nexcerpt1,100\nnight.txt,256\n")
    assert read_rate_table(tmp_path / "r.csv") == {"excerpt1": 100.0, "night.txt": 256.0}
    (tmp_path / "r.json").write_text('{"a": 128}')
    assert read_rate_table(tmp_path / "r.json") == {"a": 128.0}
    (tmp_path / "bad.csv").write_text("a,fast\n")
    with pytest.raises(ValueError, match=r"bad\.csv.*entry 1 \('a'\): rate must be a number > 0 Hz, got 'fast'"):
        read_rate_table(tmp_path / "bad.csv")


@pytest.mark.parametrize("six, unanimous, majority", [
    ([5, 5, 5, 5, 5, 5], ("W", "5"), ("W", "5")),
    ([5, 5, 5, 5, 2, 2], (None, "ambiguous"), ("W", "5")),
    ([5, 5, 5, 2, 2, 2], (None, "ambiguous"), (None, "ambiguous")),  # a tie is never broken by order
    ([5, 5, 2, 2, 4, 4], (None, "ambiguous"), (None, "ambiguous")),
    ([1, 1, 0, 0, 2, 2], (None, "ambiguous"), ("N3", "1")),  # S3 + S4 are one stage, N3
    ([-1, -1, -1, -1, 2, 2], (None, "ambiguous"), (None, "-1")),  # unscored fills most: unscored
    ([-1, -1, -1, 2, 2, 2], (None, "ambiguous"), (None, "ambiguous")),
])
def test_epoch_rules(tmp_path, six, unanimous, majority):
    sig, hyp = _write(tmp_path, "excerpt3", 30 * 50, six)
    rec = read_dreams(sig, hyp)
    for rule, (stage, label) in (("unanimous", unanimous), ("majority", majority)):
        ep = make_epochs(rec, ["CZ-A1"], sfreq=50.0, trim_wake=None, rule=rule)
        assert ep.rule == rule
        assert (ep.stages, ep.dropped) == (([stage], {}) if stage else ([], {label: 1}))


def _rule_counts(hypnogram: Path) -> dict[str, Counter]:
    """Both rules computed from the 5-s list directly (six values per 30-s epoch)."""
    names = {5: "W", 4: "REM", 3: "N1", 2: "N2", 1: "N3", 0: "N3"}
    values = [int(v) for v in hypnogram.read_text().split()[1:]]
    out = {"unanimous": Counter(), "majority": Counter()}
    for i in range(0, len(values) - 5, 6):
        six = Counter(names.get(v) for v in values[i: i + 6])
        ranked = six.most_common()
        if len(six) == 1 and ranked[0][0] is not None:
            out["unanimous"][ranked[0][0]] += 1
        if ranked[0][0] is not None and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]):
            out["majority"][ranked[0][0]] += 1
    return out


@pytest.mark.realdata
def test_real_excerpts_both_rules(shared_data):
    folder = shared_data / "dreams"
    totals = {"unanimous": Counter(), "majority": Counter()}
    for n in range(1, 6):
        rec = read_dreams(folder / f"excerpt{n}.txt", folder / f"Hypnogram_excerpt{n}.txt")
        expected = _rule_counts(folder / f"Hypnogram_excerpt{n}.txt")
        for rule in totals:
            ep = make_epochs(rec, list(rec.channels), sfreq=100.0, trim_wake=None, rule=rule)
            assert Counter(ep.stages) == expected[rule]
            totals[rule] += Counter(ep.stages)
    # the figures README.md states
    assert dict(totals["unanimous"]) == {"W": 31, "N1": 15, "N2": 129, "N3": 37}
    assert dict(totals["majority"]) == {"W": 40, "N1": 33, "N2": 166, "N3": 61}
