"""`eeg-vlm report` on synthetic fixture runs: numbers, rows, protocol labels, determinism, plots."""

from __future__ import annotations

import csv
import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn import metrics as skm

from eeg_vlm.evaluation import published as pub
from eeg_vlm.evaluation.report import main, parse_settings

FIX = Path(__file__).resolve().parent / "fixtures" / "report"
SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "seeds"
NAMES = ["fusion=add,cot=stagewise", "fusion=add,cot=none", "resnet18"]


def _args(out: Path, *extra: str) -> list[str]:
    return ["--answers", str(FIX / "answers_cot.jsonl"), "--answers", str(FIX / "answers_labels.jsonl"),
            "--questions", str(FIX / "eeg_eval.jsonl"), "--predictions", str(FIX / "predictions.csv"),
            "--manifest", str(FIX / "manifest.csv"), "--names", *NAMES, "--out", str(out),
            "--n-boot", "200", "--max-nights", "2", *extra]


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    assert main(_args(out)) == 0
    return out


def _expected_cot():
    with open(FIX / "expected_cot.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    truth = [r["stage"] for r in rows]
    pred = [r["pred"] or "?" for r in rows]
    return rows, truth, pred


def _row(md: str, first_cell: str) -> list[str]:
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r}")


def test_numbers_match_sklearn(report_dir):
    rows, truth, pred = _expected_cot()
    md = (report_dir / "table1_eegvlm.md").read_text()
    cells = _row(md, NAMES[0])
    present = [s for s in ("W", "N1", "N2", "N3", "REM")]
    assert cells[4] == f"{skm.accuracy_score(truth, pred):.3f}"
    assert cells[5] == f"{skm.f1_score(truth, pred, labels=present, average='macro'):.3f}"
    assert cells[6] == f"{skm.cohen_kappa_score(truth, pred):.3f}"
    f1 = skm.f1_score(truth, pred, labels=present, average=None)
    assert cells[7:12] == [f"{v:.3f}" for v in f1]
    # label-scoring run: truth from the questions file, prediction from metadata.pred
    labels = [json.loads(x) for x in (FIX / "answers_labels.jsonl").read_text().splitlines()]
    q = {json.loads(x)["question_id"]: json.loads(x)["stage"] for x in (FIX / "eeg_eval.jsonl").read_text().splitlines()}
    lt = [q[r["question_id"]] for r in labels]
    lp = [r["metadata"]["pred"] for r in labels]
    assert _row(md, NAMES[1])[4] == f"{skm.accuracy_score(lt, lp):.3f}"
    # PSG-LLaVA layout: Acc, B-Acc, kappa, W-F1 with four decimals in this dataset's columns
    t1 = (report_dir / "psg_llava_table1.md").read_text()
    cells = _row(t1, "This run")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bacc = skm.recall_score(truth, pred, labels=present, average="macro")
    assert cells[-4:] == [f"{skm.accuracy_score(truth, pred):.4f}", f"{bacc:.4f}",
                          f"{skm.cohen_kappa_score(truth, pred):.4f}",
                          f"{skm.f1_score(truth, pred, labels=present, average='weighted'):.4f}"]


def test_metrics_json_and_per_night(report_dir):
    data = json.loads((report_dir / "metrics.json").read_text())
    run = data["runs"][NAMES[0]]
    rows, truth, pred = _expected_cot()
    assert run["pooled"]["n"] == len(rows)
    assert run["pooled"]["n_unparseable"] == sum(1 for r in rows if not r["pred"])
    assert set(run["per_night"]["nights"]) == {"SYN01A", "SYN02A", "SYN03A", "SYN03B"}
    assert run["n_subjects"] == 3  # SYN03 has two nights
    accs = []
    for night in sorted(run["per_night"]["nights"]):
        idx = [i for i, r in enumerate(rows) if r["sample_id"].startswith(night + "/")]
        accs.append(skm.accuracy_score([truth[i] for i in idx], [pred[i] for i in idx]))
    assert run["per_night"]["median"]["accuracy"] == pytest.approx(np.median(accs), abs=1e-6)
    assert run["per_night"]["mean"]["accuracy"] == pytest.approx(np.mean(accs), abs=1e-6)
    # three subjects are too few for an interval over subjects: none is given, and said so
    assert run["ci95"]["accuracy"] == [None, None]
    ci_md = (report_dir / "ci.md").read_text()
    assert "no interval: 3 subjects" in ci_md and "at least 5 subjects" in ci_md


def test_published_rows_and_protocol_labels(report_dir):
    t1 = (report_dir / "table1_eegvlm.md").read_text()
    eeg = _row(t1, "EEG-VLM (LLaVA-1.5-13B)")
    assert eeg[4:7] == ["0.811", "0.816", "0.763"] and eeg[8] == "0.811" and eeg[11] == "0.787"
    assert "published: EEG-VLM, Table I" in eeg[3]
    assert "subject-wise (this run)" in _row(t1, NAMES[0])[2]  # inferred: test subjects not in train split
    assert _row(t1, "L-SeqSleepNet (SHHS-pretrained)")[2] == "subject-wise (LOSO)"
    assert _row(t1, "Human scorers (inter-scorer)")[6] == "0.76"
    ab = (report_dir / "ablation.md").read_text()
    for name, acc in (("Raw Hf embedding", "0.264"), ("Patch-aligned fusion", "0.784"),
                      ("With CoT reasoning", "0.792"), ("Without CoT reasoning", "0.728")):
        assert _row(ab, name)[5] == acc
    ours = _row(ab, NAMES[0])
    assert ours[1:3] == ["add", "stagewise"] and ours[4] == "this run"
    t1p = (report_dir / "psg_llava_table1.md").read_text()
    for p in pub.PSG_LLAVA_TABLE1:  # every published figure of Table 1 / Fig. 3 is in the table
        assert p.printed["accuracy"] in t1p and p.printed["kappa"] in t1p
    assert "8:2 split of the sample set" in t1p and "PSG-LLaVA" in t1p
    for ext in ("md", "csv", "tex"):
        for name in ("table1_eegvlm", "ablation", "psg_llava_table1", "per_night", "ci"):
            assert (report_dir / f"{name}.{ext}").stat().st_size > 100
    tex = (report_dir / "table1_eegvlm.tex").read_text()
    assert r"\begin{tabular}" in tex and r"$\kappa$" in tex and "fusion=add,cot=stagewise" in tex


def test_unparseable_listed(report_dir):
    rows, _, _ = _expected_cot()
    bad = [r["sample_id"] for r in rows if not r["pred"]]
    md = (report_dir / "report.md").read_text()
    section = md.split("## Unparseable answers", 1)[1]
    for sid in bad:
        assert sid in section
    texts = {json.loads(x)["question_id"]: json.loads(x)["text"]
             for x in (FIX / "answers_cot.jsonl").read_text().splitlines()}
    assert texts[bad[0]][:40] in section
    assert "several stages named: N1, REM" in section
    with open(report_dir / "unparseable.csv", newline="") as fh:
        assert [r["question"] for r in csv.DictReader(fh)] == bad


def test_pngs_exist_and_are_sane(report_dir):
    pngs = sorted(p.name for p in report_dir.glob("*.png"))
    assert "f1_bars.png" in pngs
    assert sum(n.startswith("confusion_") for n in pngs) == 3
    assert sum(n.startswith("hypnogram_") for n in pngs) == 3 * 2  # runs x first 2 of 4 nights (--max-nights)
    # probabilities exist for the label-scoring run and the classifier only
    assert sum(n.startswith("hypnodensity_") for n in pngs) == 2 * 2
    assert "hypnogram_resnet18_SYN02A.png" in pngs and "hypnogram_resnet18_SYN03A.png" not in pngs
    for name in ("f1_bars.png", "confusion_fusion_add_cot_stagewise.png",
                 "hypnogram_fusion_add_cot_stagewise_SYN01A.png", "hypnodensity_resnet18_SYN02A.png"):
        img = np.asarray(Image.open(report_dir / name).convert("L"), dtype=np.float64)
        assert img.shape[0] >= 300 and img.shape[1] >= 500
        assert img.std() > 10  # not blank
        assert (img < 128).mean() > 0.01  # some ink


def test_deterministic(report_dir, tmp_path):
    assert main(_args(tmp_path)) == 0
    first = sorted(p.name for p in report_dir.iterdir())
    assert first == sorted(p.name for p in tmp_path.iterdir())
    for name in first:
        assert (report_dir / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_drop_policy_and_no_plots(tmp_path):
    assert main(_args(tmp_path, "--unparseable", "drop", "--no-plots")) == 0
    assert not list(tmp_path.glob("*.png"))
    data = json.loads((tmp_path / "metrics.json").read_text())
    rows, truth, pred = _expected_cot()
    keep = [i for i, p in enumerate(pred) if p != "?"]
    assert data["runs"][NAMES[0]]["pooled"]["n"] == len(keep)
    assert data["runs"][NAMES[0]]["pooled"]["accuracy"] == pytest.approx(
        skm.accuracy_score([truth[i] for i in keep], [pred[i] for i in keep]), abs=1e-6)


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_input_errors(tmp_path, capsys):
    q = _write_jsonl(tmp_path / "q.jsonl", [{"question_id": "R/000000", "text": "q", "stage": "W"}])
    a_missing = _write_jsonl(tmp_path / "a.jsonl", [{"question_id": "R/000001", "text": "W"}])
    assert main(["--answers", str(a_missing), "--questions", str(q), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert re.search(r"a\.jsonl', line 1: question_id 'R/000001' is not in questions file '.*q\.jsonl'", err)
    dup = _write_jsonl(tmp_path / "d.jsonl", [{"question_id": "R/000000", "text": "W"}] * 2)
    assert main(["--answers", str(dup), "--questions", str(q), "--out", str(tmp_path / "o")]) == 2
    assert "line 2: duplicate question_id 'R/000000'" in capsys.readouterr().err
    qdup = _write_jsonl(tmp_path / "qd.jsonl", [{"question_id": "R/000000", "text": "q", "stage": "W"}] * 2)
    assert main(["--answers", str(a_missing), "--questions", str(qdup), "--out", str(tmp_path / "o")]) == 2
    assert "questions file" in (e := capsys.readouterr().err) and "duplicate question_id" in e
    no_truth = _write_jsonl(tmp_path / "n.jsonl", [{"question_id": "R/000000", "text": "W"}])
    assert main(["--answers", str(no_truth), "--out", str(tmp_path / "o")]) == 2
    assert "no ground truth for question_id 'R/000000'" in capsys.readouterr().err
    conflict = _write_jsonl(tmp_path / "c.jsonl", [{"question_id": "R/000000", "text": "W",
                                                      "metadata": {"stage": "N2"}}])
    assert main(["--answers", str(conflict), "--questions", str(q), "--out", str(tmp_path / "o")]) == 2
    assert "disagrees with questions file" in capsys.readouterr().err
    assert main(["--answers", str(FIX / "answers_cot.jsonl"), "--names", "a", "b", "--out", str(tmp_path / "o")]) == 2
    assert "2 --names for 1 runs" in capsys.readouterr().err


def test_subject_wise_claim_is_checked(tmp_path, capsys):
    # a manifest where a scored subject also has training epochs
    rows = list(csv.DictReader(open(FIX / "manifest.csv", newline="")))
    for r in rows:
        if r["night"] == "SYN04A":
            r["subject"] = "SYN01"
    leak = tmp_path / "manifest.csv"
    with open(leak, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    args = ["--answers", str(FIX / "answers_cot.jsonl"), "--manifest", str(leak), "--out", str(tmp_path / "o"),
            "--no-plots", "--n-boot", "10"]
    assert main([*args, "--protocol", "subject-wise"]) == 2
    assert "puts epochs of scored subjects in other splits too: SYN01" in capsys.readouterr().err
    assert main(args) == 0  # inferred
    assert "epoch-level (this run)" in (tmp_path / "o" / "table1_eegvlm.md").read_text()


def test_parse_settings():
    assert parse_settings("fusion=add,cot=stagewise") == {"fusion": "add", "cot": "stagewise"}
    assert parse_settings("resnet18") == {}
    with pytest.raises(ValueError, match="invalid value for the 'fusion' parameter.*did you mean 'add'"):
        parse_settings("fusion=ad")
    with pytest.raises(ValueError, match="invalid value for the 'key' parameter"):
        parse_settings("lr=3e-4")


def test_ablation_flag_overrides_names(tmp_path):
    out = tmp_path / "o"
    assert main(["--answers", str(FIX / "answers_cot.jsonl"), "--ablation", "fusion=raw,cot=single",
                 "--out", str(out), "--no-plots", "--n-boot", "10"]) == 0
    row = _row((out / "ablation.md").read_text(), "eeg-vlm-tiny")  # default name: the model_id
    assert row[1:3] == ["raw", "single"]


def _published_fixture():
    """tests/fixtures/make_published_fixture.py as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("make_published_fixture", FIX.parent / "make_published_fixture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_published_figures_match_their_checked_transcription():
    """Every figure the report prints equals the committed transcription, checked against the
    papers when it was written (in every checkout: a changed or added figure fails here)."""
    make = _published_fixture()
    with open(FIX.parent / "published_figures.csv", newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        assert tuple(next(reader)) == make.COLUMNS
        committed = [tuple(r) for r in reader]
    assert len(committed) == 200 and make.rows() == committed


@pytest.mark.skipif(not SEEDS.is_dir(), reason="source papers folder (../shared/seeds) is absent")
def test_published_figures_are_in_the_sources():
    _published_fixture().check_sources()


def test_label_scoring_probs_and_yasa_flag(tmp_path, capsys):
    rows = [{"question_id": f"R1/{e:06d}", "text": "R", "metadata": {
        "stage": "REM", "pred": "R", "probs": {"W": 0.1, "N1": 0.1, "N2": 0.1, "N3": 0.1, "R": 0.6}}} for e in range(3)]
    a = _write_jsonl(tmp_path / "a.jsonl", rows)
    assert main(["--answers", str(a), "--out", str(tmp_path / "o"), "--n-boot", "10"]) == 0
    with open(tmp_path / "o" / "epochs_a.csv", newline="") as fh:
        got = list(csv.DictReader(fh))
    assert [r["pred"] for r in got] == ["REM"] * 3 and got[0]["prob_REM"] == "0.600000"
    assert (tmp_path / "o" / "hypnodensity_a_R1.png").is_file()
    bad = _write_jsonl(tmp_path / "b.jsonl", [{"question_id": "R1/000000", "text": "W",
                                                "metadata": {"stage": "W", "probs": {"W": 1.0, "X": 0.0}}}])
    assert main(["--answers", str(bad), "--out", str(tmp_path / "o2")]) == 2
    assert "line 1: metadata.probs key 'X' is not one of W, N1" in capsys.readouterr().err
    assert main(["--answers", str(a), "--yasa", "--out", str(tmp_path / "o3")]) == 2
    assert "--yasa needs --manifest" in capsys.readouterr().err


def test_hypnodensity_leaves_gaps_empty_and_checks_shape(tmp_path):
    from eeg_vlm.evaluation.plots import save_png
    from eeg_vlm.hypnogram.figure import hypnodensity_figure

    epochs = list(range(20)) + list(range(40, 60))  # 20 dropped epochs in the middle
    probs = np.random.default_rng(0).dirichlet(np.ones(5), 40)
    path = save_png(hypnodensity_figure(epochs, probs, ["N2"] * 40, "gap"), tmp_path / "hd.png")
    img = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
    h, w = img.shape
    middle = img[int(0.4 * h):int(0.8 * h), int(0.47 * w):int(0.5 * w)]  # the gap, inside the axes
    left = img[int(0.4 * h):int(0.8 * h), int(0.15 * w):int(0.18 * w)]  # densities
    assert (middle > 245).mean() > 0.95
    assert (left > 245).mean() < 0.2
    with pytest.raises(ValueError, match=r"probs must have shape \(n_epochs, 5\), got \(40, 4\)"):
        hypnodensity_figure(epochs, probs[:, :4])


def test_yasa_run(tmp_path):
    pytest.importorskip("yasa", reason="yasa (optional classical baseline) is not installed")
    rng = np.random.default_rng(0)
    n, sf = 40, 100.0
    (tmp_path / "signals").mkdir()
    np.save(tmp_path / "signals" / "R1.npy", rng.normal(0, 20, (n, 1, int(30 * sf))).astype(np.float32))
    (tmp_path / "convert.json").write_text(json.dumps({"channels": ["EEG Fpz-Cz"], "sfreq": sf}))
    stages = ["W"] * 10 + ["N2"] * 20 + ["REM"] * 10
    with open(tmp_path / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["sample_id", "dataset", "subject", "night", "epoch", "onset_s", "stage", "image", "split"])
        for e in range(n):
            w.writerow([f"R1/{e:06d}", "x", "S1", "R1", e, 30 * e, stages[e], f"i/{e}.png", "test"])
    out = tmp_path / "o"
    assert main(["--yasa", "--manifest", str(tmp_path / "manifest.csv"), "--out", str(out), "--n-boot", "10"]) == 0
    run = json.loads((out / "metrics.json").read_text())["runs"]["YASA"]
    assert run["pooled"]["n"] == n and run["kind"] == "yasa"
    assert (out / "hypnodensity_YASA_R1.png").is_file()


def test_nights_of_different_subjects_stay_apart():
    """Sleep-EDF numbers nights 1/2 per subject: two subjects' night '1' are two nights."""
    from eeg_vlm.dataset.manifest import Row
    from eeg_vlm.evaluation.runs import place as _place

    rows = [Row(f"{rec}/000000", "sleep-edf", subj, "1", 0, 0.0, "W", f"images/{rec}/000000.png", "test")
            for rec, subj in (("SC4001E0", "SC400"), ("SC4011E0", "SC401"))]
    manifest = {r.sample_id: r for r in rows}
    places = [_place(r.sample_id, manifest, 0) for r in rows]
    assert places == [("SC4001E0", "SC400", 0), ("SC4011E0", "SC401", 0)]


def test_hypnogram_marks_only_the_disagreeing_epochs():
    from matplotlib.colors import to_hex

    from eeg_vlm.hypnogram import figure as plots

    truth = ["W"] * 10 + ["N2"] * 20 + ["REM"] * 10
    pred = list(truth)
    pred[12], pred[33] = "N3", "W"
    fig = plots.hypnogram_figure(list(range(40)), truth, pred)
    ax = fig.axes[1]
    trace = next(line for line in ax.get_lines() if line.get_label() == "predicted stage")
    assert to_hex(trace.get_color()) != "#d62728"  # the trace itself is not the error colour
    marks = [c for c in ax.collections if str(c.get_label()).startswith("disagrees with expert")]
    assert len(marks) == 1 and len(marks[0].get_segments()) == 2
    assert "(2 epochs)" in marks[0].get_label()


def test_hypnodensity_keeps_the_expert_strip_with_unscored_epochs():
    from eeg_vlm.hypnogram import figure as plots

    truth = ["W"] * 5 + [None] * 3 + ["N2"] * 7
    fig = plots.hypnodensity_figure(list(range(15)), np.full((15, 5), 0.2), truth)
    strip = fig.axes[0]
    assert len(strip.patches) == 15
    assert [tuple(p.get_facecolor()) for p in strip.patches[5:8]] == [(1.0, 1.0, 1.0, 1.0)] * 3


def test_confusions_side_by_side_one_panel_per_run(report_dir, tmp_path):
    """PSG-LLaVA appendix I: the untuned base's confusion matrix beside the tuned one's, one scale."""
    png = report_dir / "confusions_side_by_side.png"
    assert "![confusions_side_by_side.png](confusions_side_by_side.png)" in (report_dir / "report.md").read_text()
    wide = np.asarray(Image.open(png).convert("L"))
    one = np.asarray(Image.open(report_dir / "confusion_resnet18.png").convert("L"))
    assert wide.shape[0] == one.shape[0] and wide.shape[1] > 2.5 * one.shape[1]  # three panels in a row
    # a single run: no side-by-side figure
    single = tmp_path / "single"
    assert main(["--answers", str(FIX / "answers_cot.jsonl"), "--out", str(single), "--n-boot", "10",
                 "--max-nights", "1"]) == 0
    assert not (single / "confusions_side_by_side.png").exists()
    assert "confusions_side_by_side" not in (single / "report.md").read_text()


def test_side_by_side_shares_the_colour_scale_and_the_unparsed_column():
    from eeg_vlm.evaluation.plots import confusions_side_by_side

    base = np.diag([1, 1, 1, 1, 1]) + 3  # zero-shot: near uniform
    tuned = np.diag([20, 20, 20, 20, 20])
    fig = confusions_side_by_side({"zero-shot": (base, np.array([2, 0, 0, 0, 0])), "tuned": (tuned, None)})
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert [ax.get_title() for ax in panels] == ["zero-shot", "tuned"]
    assert all(ax.get_images()[0].get_clim() == (0.0, 1.0) for ax in panels)  # one colour scale
    assert [len(ax.get_xticks()) for ax in panels] == [6, 6]  # both get the 'unparsed' column
    assert len(fig.axes) == 3  # two panels and one colour bar
    grid = confusions_side_by_side({f"cell {k}": (tuned, None) for k in range(6)})  # wraps: 4 + 2 panels
    assert [ax.get_subplotspec().get_geometry()[:2] for ax in grid.axes if ax.get_images()] == [(2, 4)] * 6
    with pytest.raises(ValueError, match="confusions_side_by_side: no runs given"):
        confusions_side_by_side({})


def test_zero_shot_and_tuned_after_one_answers_flag(tmp_path):
    """``--answers zero_shot.jsonl tuned.jsonl --names ...`` (appendix I) reads two runs, in order."""
    out = tmp_path / "zs"
    assert main(["--answers", str(FIX / "answers_cot.jsonl"), str(FIX / "answers_labels.jsonl"),
                 "--names", "zero-shot", "tuned", "--questions", str(FIX / "eeg_eval.jsonl"), "--out", str(out),
                 "--n-boot", "10", "--max-nights", "1"]) == 0
    assert set(json.loads((out / "metrics.json").read_text())["runs"]) == {"zero-shot", "tuned"}
    md = (out / "report.md").read_text()
    assert md.index("- **zero-shot**") < md.index("- **tuned**")  # the order given
    assert (out / "confusions_side_by_side.png").is_file()
