"""Scores against scikit-learn, a hand-computed kappa, per-night summaries, subject bootstrap."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from eeg_vlm.evaluation.metrics import (bootstrap_ci, count_matrix, metric_arrays, per_night, read_predictions_csv, score,
                             yasa_predictions)
from eeg_vlm.stages import STAGES

LABELS = list(STAGES)


def _random(seed: int, n: int, p_unparseable: float = 0.0):
    rng = np.random.default_rng(seed)
    truth = [str(s) for s in rng.choice(STAGES, n, p=[0.2, 0.1, 0.4, 0.15, 0.15])]
    pred = [None if rng.random() < p_unparseable else str(s) for s in rng.choice(STAGES, n)]
    # make predictions better than chance so the metrics are not all near zero
    pred = [t if (p is not None and rng.random() < 0.5) else p for t, p in zip(truth, pred)]
    return truth, pred


def _sk(truth, pred):
    """scikit-learn figures, unparseable predictions as an extra label '?' (never a true label)."""
    pp = ["?" if p is None else p for p in pred]
    present = [s for s in STAGES if s in truth or s in pp]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "accuracy": skm.accuracy_score(truth, pp),
            "kappa": skm.cohen_kappa_score(truth, pp),
            "macro_f1": skm.f1_score(truth, pp, labels=present, average="macro"),
            "weighted_f1": skm.f1_score(truth, pp, labels=present, average="weighted"),
            "balanced_accuracy": skm.recall_score(truth, pp, labels=[s for s in STAGES if s in truth],
                                                  average="macro"),
            "f1": skm.f1_score(truth, pp, labels=LABELS, average=None, zero_division=0),
            "confusion": skm.confusion_matrix(truth, pp, labels=LABELS),
        }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_sklearn_on_random_labels(seed):
    truth, pred = _random(seed, 400)
    s = score(truth, pred)
    ref = _sk(truth, pred)
    for m in ("accuracy", "kappa", "macro_f1", "weighted_f1", "balanced_accuracy"):
        assert getattr(s, m) == pytest.approx(ref[m], abs=1e-12), m
    assert s.balanced_accuracy == pytest.approx(skm.balanced_accuracy_score(truth, pred), abs=1e-12)
    assert [s.per_class_f1[x] for x in STAGES] == pytest.approx(list(ref["f1"]), abs=1e-12)
    np.testing.assert_array_equal(s.confusion, ref["confusion"])
    assert s.support == {x: truth.count(x) for x in STAGES}
    assert s.n == 400 and s.n_unparseable == 0


def test_unparseable_scored_as_wrong_matches_sklearn_with_an_extra_label():
    truth, pred = _random(5, 300, p_unparseable=0.1)
    n_unp = sum(p is None for p in pred)
    assert n_unp > 10
    s = score(truth, pred, unparseable="wrong")
    ref = _sk(truth, pred)
    for m in ("accuracy", "kappa", "macro_f1", "weighted_f1", "balanced_accuracy"):
        assert getattr(s, m) == pytest.approx(ref[m], abs=1e-12), m
    assert s.n == 300 and s.n_unparseable == n_unp
    assert int(s.unparseable_by_stage.sum()) == n_unp


def test_unparseable_dropped_matches_sklearn_on_the_rest():
    truth, pred = _random(6, 300, p_unparseable=0.1)
    keep = [i for i, p in enumerate(pred) if p is not None]
    s = score(truth, pred, unparseable="drop")
    ref = _sk([truth[i] for i in keep], [pred[i] for i in keep])
    for m in ("accuracy", "kappa", "macro_f1", "weighted_f1", "balanced_accuracy"):
        assert getattr(s, m) == pytest.approx(ref[m], abs=1e-12), m
    assert s.n == len(keep) and s.n_unparseable == 300 - len(keep)
    assert score(truth, pred, "drop").accuracy > score(truth, pred, "wrong").accuracy


def test_kappa_by_hand():
    truth = ["W", "W", "W", "N2", "N2", "N2", "N2", "REM", "REM", "REM"]
    pred = ["W", "W", "N2", "N2", "N2", "N2", "REM", "REM", "REM", "W"]
    p_o = 7 / 10  # agreements at positions 0, 1, 3, 4, 5, 7, 8
    # marginals: truth W 3, N2 4, REM 3; prediction W 3, N2 4, REM 3
    p_e = (3 * 3 + 4 * 4 + 3 * 3) / 10**2
    expected = (p_o - p_e) / (1 - p_e)
    s = score(truth, pred)
    assert s.accuracy == pytest.approx(p_o)
    assert s.kappa == pytest.approx(expected)
    assert s.kappa == pytest.approx(0.36 / 0.66)


def test_absent_stage_f1_is_nan_and_left_out_of_macro():
    truth = ["W", "W", "N2", "N2"]
    pred = ["W", "N2", "N2", "N2"]
    s = score(truth, pred)
    assert math.isnan(s.per_class_f1["N1"]) and math.isnan(s.per_class_f1["REM"])
    assert s.macro_f1 == pytest.approx((s.per_class_f1["W"] + s.per_class_f1["N2"]) / 2)


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"truth\[1\]: stage 'X' is not one of"):
        count_matrix(["W", "X"], ["W", "W"])
    with pytest.raises(ValueError, match="truth has 2 epochs but pred has 1"):
        count_matrix(["W", "W"], ["W"])
    with pytest.raises(ValueError, match="'unparseable' parameter"):
        metric_arrays(np.zeros((5, 6)), unparseable="ignore")


def test_per_night_median_and_mean():
    truth, pred = _random(3, 300)
    nights = [f"night{i % 4}" for i in range(300)]
    summary = per_night(truth, pred, nights)
    assert list(summary.nights) == ["night0", "night1", "night2", "night3"]
    accs, kappas = [], []
    for k in range(4):
        idx = [i for i in range(300) if i % 4 == k]
        t = [truth[i] for i in idx]
        p = [pred[i] for i in idx]
        accs.append(skm.accuracy_score(t, p))
        kappas.append(skm.cohen_kappa_score(t, p))
        assert summary.nights[f"night{k}"].accuracy == pytest.approx(accs[-1])
    assert summary.median["accuracy"] == pytest.approx(np.median(accs))
    assert summary.mean["accuracy"] == pytest.approx(np.mean(accs))
    assert summary.median["kappa"] == pytest.approx(np.median(kappas))
    assert summary.n_nights == 4


def test_per_night_skips_undefined_kappa():
    truth = ["W", "W", "N2", "N3"]
    pred = ["W", "W", "N2", "N2"]
    nights = ["a", "a", "b", "b"]  # night a has one stage only: kappa undefined
    summary = per_night(truth, pred, nights)
    assert math.isnan(summary.nights["a"].kappa)
    assert summary.median["kappa"] == pytest.approx(summary.nights["b"].kappa)


def test_bootstrap_contains_point_and_is_deterministic():
    truth, pred = _random(4, 600, p_unparseable=0.02)
    subjects = [f"s{i % 12}" for i in range(600)]
    ci1 = bootstrap_ci(truth, pred, subjects, n_boot=300, seed=7)
    ci2 = bootstrap_ci(truth, pred, subjects, n_boot=300, seed=7)
    ci3 = bootstrap_ci(truth, pred, subjects, n_boot=300, seed=8)
    assert ci1 == ci2
    assert ci1 != ci3
    s = score(truth, pred)
    for m in ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "kappa"):
        lo, hi = ci1[m]
        assert lo <= getattr(s, m) <= hi, m
        assert hi > lo
    for st in STAGES:
        lo, hi = ci1[f"f1_{st}"]
        assert lo <= s.per_class_f1[st] <= hi


def test_bootstrap_resamples_subjects_not_epochs():
    # subject A: 1000 epochs all right; subject B: 10 epochs all wrong.
    truth = ["N2"] * 1000 + ["REM"] * 10
    pred = ["N2"] * 1000 + ["W"] * 10
    subjects = ["A"] * 1000 + ["B"] * 10
    ci = bootstrap_ci(truth, pred, subjects, n_boot=500, seed=0, min_subjects=2)
    # replicates hold A twice, A+B or B twice: accuracy is 1.0, 1000/1010 or 0.0
    lo, hi = ci["accuracy"]
    assert hi == pytest.approx(1.0)
    assert lo == pytest.approx(0.0)  # B alone is drawn in ~1/4 of replicates
    # an epoch bootstrap would give a narrow interval around 0.99
    # one subject: every replicate is that subject, the interval would collapse onto the
    # estimate, so none is given
    ci_one = bootstrap_ci(truth[:1000] + ["W"] * 5, pred[:1000] + ["N2"] * 5, ["A"] * 1005, n_boot=200)
    assert all(np.isnan(v) for pair in ci_one.values() for v in pair)
    # the default needs five subjects: four get none, five get a finite one
    many_t, many_p = ["N2", "W"] * 50, ["N2", "N2"] * 50
    four = bootstrap_ci(many_t, many_p, [f"s{i % 4}" for i in range(100)], n_boot=50)
    five = bootstrap_ci(many_t, many_p, [f"s{i % 5}" for i in range(100)], n_boot=50)
    assert np.isnan(four["accuracy"][0]) and np.isfinite(five["accuracy"][0])


def test_bootstrap_dominant_subject_drives_interval():
    # one big subject near chance, nine small perfect ones: pooled accuracy is dominated by the
    # big one, and the interval over subjects reflects how often it is drawn
    rng = np.random.default_rng(0)
    big_t = [str(s) for s in rng.choice(STAGES, 2000)]
    big_p = [str(s) for s in rng.choice(STAGES, 2000)]
    truth = big_t + ["N2"] * 90
    pred = big_p + ["N2"] * 90
    subjects = ["big"] * 2000 + [f"small{i}" for i in range(9) for _ in range(10)]
    s = score(truth, pred)
    lo, hi = bootstrap_ci(truth, pred, subjects, n_boot=400, seed=1)["accuracy"]
    assert lo <= s.accuracy <= hi
    assert hi - lo > 0.15  # without the big subject accuracy jumps to 1.0


def test_bootstrap_bad_arguments():
    with pytest.raises(ValueError, match="n_boot must be >= 1"):
        bootstrap_ci(["W"], ["W"], ["a"], n_boot=0)
    with pytest.raises(ValueError, match=r"level must be in \(0, 1\)"):
        bootstrap_ci(["W"], ["W"], ["a"], level=95)


def test_read_predictions_csv(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("sample_id,stage,pred,prob_W,prob_N1,prob_N2,prob_N3,prob_R\n"
                    "A/000000,W,W,0.7,0.1,0.1,0.05,0.05\nA/000001,N2,R,0.1,0.1,0.2,0.1,0.5\n", encoding="utf-8")
    rows = read_predictions_csv(path)
    assert [r.pred for r in rows] == ["W", "REM"]
    assert rows[1].probs == {"W": 0.1, "N1": 0.1, "N2": 0.2, "N3": 0.1, "REM": 0.5}
    assert rows[0].stage == "W"


@pytest.mark.parametrize("content,match", [
    ("sample_id,stage\nA/0,W\n", "column 'pred' missing"),
    ("sample_id,stage,pred\nA/0,W,W\nA/0,W,N2\n", "line 3: duplicate sample_id 'A/0'"),
    ("sample_id,stage,pred\nA/0,W,X\n", "line 2: 'X' is not a sleep stage"),
    ("sample_id,stage,pred,p_W\nA/0,W,W,abc\n", "probability is not a number"),
])
def test_read_predictions_csv_errors(tmp_path, content, match):
    path = tmp_path / "p.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=match):
        read_predictions_csv(path)


def test_yasa_baseline(tmp_path):
    pytest.importorskip("yasa", reason="yasa (optional classical baseline) is not installed")
    import csv
    import json

    rng = np.random.default_rng(0)
    n, sf = 40, 100.0
    (tmp_path / "signals").mkdir()
    np.save(tmp_path / "signals" / "R1.npy", (rng.normal(0, 20, (n, 1, int(30 * sf)))).astype(np.float32))
    (tmp_path / "convert.json").write_text(json.dumps({"channels": ["EEG Fpz-Cz"], "sfreq": sf}))
    with open(tmp_path / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sample_id", "dataset", "subject", "night", "epoch", "onset_s", "stage", "image", "split"])
        for e in range(n):
            w.writerow([f"R1/{e:06d}", "x", "S1", "R1", e, 30 * e, "N2", f"i/{e}.png", "test"])
    rows = yasa_predictions(tmp_path / "manifest.csv")
    assert len(rows) == n and all(r.pred in STAGES for r in rows)


def test_yasa_missing_is_a_clear_error(tmp_path):
    try:
        import yasa  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="optional 'yasa' package is not installed"):
            yasa_predictions(tmp_path / "manifest.csv")
    else:
        pytest.skip("yasa is installed")
