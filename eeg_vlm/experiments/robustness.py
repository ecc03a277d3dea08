"""``eeg-vlm experiment robustness``: PSG-LLaVA §3.5 (Figs. 4 and 5) for the vision module and the VLM.

The recordings are converted twice with the same settings (``--bad-epochs keep``: a zeroed
or noisy epoch is the test, not a defect to drop): clean, and with PSG-LLaVA's
channel failure (§2.3.1, ``eeg-vlm convert --fail-channel``: for a seeded 70 % of subjects
the channel turns into white noise or zeros from a random time on). Both manifests get the
same subject-wise split (same subjects, same seed). Three conditions, each for the vision
module and for the VLM (one ablation cell, ``add-none-resnet18_1024`` by default):

=====================  ===================  ==================================================
condition              trained on           tested on
=====================  ===================  ==================================================
``clean``              clean                clean (the reference)
``clean->failure``     clean                failure (Fig. 4: lab-trained, tested in the field)
``failure``            failure              failure (Fig. 5: trained and tested on failure data)
=====================  ===================  ==================================================

``OUT/robustness.md`` / ``.csv`` / ``.json`` hold Acc, B-Acc, W-F1 and kappa per model and
condition (the figures' metrics), ``OUT/robustness.png`` the bars in the figures' layout
(one panel per model, metrics as rows). Every step is seeded: the same command gives the
same table.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from eeg_vlm.experiments import ablation
from eeg_vlm.experiments import profiles as pf
from eeg_vlm.experiments.steps import Step
from ondisk import write_text_atomic

logger = logging.getLogger(__name__)

__all__ = ["CONDITIONS", "METRICS", "robustness_steps", "robustness_table", "robustness_figure"]

CONDITIONS = ("clean", "clean->failure", "failure")
#: the metrics of PSG-LLaVA Figs. 4-5, in their order
METRICS = (("accuracy", "ACC"), ("balanced_accuracy", "B-ACC"), ("weighted_f1", "W-F1"), ("kappa", "Kappa"))


def _convert_argv(raw: Path, out: Path, channels: list[str], style: str, fail: str | None, seed: int) -> list[str]:
    argv = [sys.executable, "-m", "eeg_vlm", "convert", str(raw), str(out), "--channels", *channels,
            "--style", style, "--sfreq", "100", "--workers", "2", "--bad-epochs", "keep"]  # failed epochs stay
    if fail:
        argv += ["--fail-channel", fail, "--fail-fraction", "0.7", "--fail-seed", str(seed)]
    return argv


def predict_argv(vision: Path, manifest: Path, out: Path) -> list[str]:
    """The vision module's predictions on another manifest's test split."""
    return [sys.executable, "-m", "eeg_vlm", "experiment", "predict", "--vision-model", str(vision),
            "--manifest", str(manifest), "--split", "test", "--out", str(out)]


def robustness_steps(p: pf.Profile, raw: Path, out: Path, channels: list[str], style: str, fail: str,
                     cell: ablation.Cell, seed: int = 0, write_configs: bool = True) -> list[Step]:
    """Conversion, split, the two trainings, the cross test and the table (see the module docstring)."""
    done = out / ".done"
    steps = ablation.base_steps(p, out)
    manifests = {}
    for name, failing in (("clean", None), ("failure", fail)):
        conv = out / f"converted_{name}"
        manifests[name] = conv / "manifest.csv"
        steps.append(Step(f"convert ({name})", _convert_argv(raw, conv, channels, style, failing, seed),
                          done / f"convert_{name}.json"))
        steps.append(Step(f"split ({name})", [sys.executable, "-m", "eeg_vlm", "split", str(manifests[name]),
                                              "--protocol", "holdout", "--seed", str(seed)], done / f"split_{name}.json"))
    for name in ("clean", "failure"):
        steps += ablation.grid_steps(p, manifests[name], out / f"run_{name}", [cell], seed, write_configs)
    clean, failure, cross = out / "run_clean", out / "run_failure", out / "run_cross"
    bb = cell.backbone or "resnet18_1024"
    steps.append(Step("vision module (clean) on failure test data",
                      predict_argv(clean / "shared" / f"vision_{bb}", manifests["failure"],
                                   cross / "predictions_test.csv"), done / "cross_predict.json"))
    data = failure / "shared" / f"data_{cell.cot}"
    feats = None
    if cell.backbone:
        feats = cross / "eval_high_level_features.npy"
        steps.append(Step("clean vision features of failure questions",
                          pf.extract_argv(p, clean / "shared" / f"vision_{bb}", data / "eeg_eval.jsonl",
                                          data / "eeg_images_eval", feats), done / "cross_features.json"))
    scoring = cell.cot == "none" or p.label_scoring_for_cot
    steps.append(Step("VLM (clean) on failure questions",
                      pf.eval_argv(p, clean / "cells" / cell.name / "checkpoint", data / "eeg_eval.jsonl",
                                   data / "eeg_images_eval", cross / "answers.jsonl", feats, label_scoring=scoring),
                      done / "cross_eval.json"))
    sources = {
        ("vision module", "clean"): clean / "shared" / f"vision_{bb}" / "predictions_test.csv",
        ("vision module", "clean->failure"): cross / "predictions_test.csv",
        ("vision module", "failure"): failure / "shared" / f"vision_{bb}" / "predictions_test.csv",
        ("VLM", "clean"): clean / "cells" / cell.name / "answers.jsonl",
        ("VLM", "clean->failure"): cross / "answers.jsonl",
        ("VLM", "failure"): failure / "cells" / cell.name / "answers.jsonl",
    }
    steps.append(Step("robustness table and figure", [], done / "table.json",
                      after=lambda: robustness_table(out, sources, cell.name, fail, p.name)))
    return steps


def _scores(path: Path):
    from eeg_vlm.evaluation.metrics import score
    from eeg_vlm.evaluation.runs import load_answers, load_predictions

    epochs = load_predictions(path) if path.suffix == ".csv" else load_answers(path)[0]
    return score([e.truth for e in epochs], [e.pred for e in epochs])


def robustness_table(out: Path, sources: dict, cell: str, fail: str, profile: str) -> dict:
    """Score every (model, condition) and write ``robustness.{md,csv,json,png}``."""
    from eeg_vlm.evaluation.plots import save_png

    rows = {}
    for (model, cond), path in sources.items():
        sc = _scores(path)
        rows[f"{model} | {cond}"] = {"model": model, "condition": cond, "n": sc.n,
                                      **{k: round(float(getattr(sc, k)), 4) for k, _ in METRICS}}
    head = "| model | trained / tested | n | " + " | ".join(lab for _, lab in METRICS) + " |"
    md = [f"# Robustness to a failing channel ({fail}; PSG-LLaVA §3.5, Figs. 4-5)", "",
          f"Profile {profile}; VLM = ablation cell {cell}; vision module = its backbone. clean: trained and "
          "tested clean; clean->failure: trained clean, tested on the failure set (Fig. 4); failure: trained "
          "and tested on the failure set (Fig. 5). Subject-wise holdout split, the same subjects in both sets; "
          "metrics pooled over the test epochs." + (" Tiny model on synthetic data." if profile == "tiny" else ""),
          "", head, "|" + " --- |" * (len(METRICS) + 3)]
    csv = ["model,condition,n," + ",".join(k for k, _ in METRICS)]
    for r in rows.values():
        md.append(f"| {r['model']} | {r['condition']} | {r['n']} | " + " | ".join(f"{r[k]:.3f}" for k, _ in METRICS) + " |")
        csv.append(f"{r['model']},{r['condition']},{r['n']}," + ",".join(f"{r[k]:.4f}" for k, _ in METRICS))
    write_text_atomic(out / "robustness.md", "\n".join(md) + "\n")
    write_text_atomic(out / "robustness.csv", "\n".join(csv) + "\n")
    write_text_atomic(out / "robustness.json", json.dumps(rows, indent=2, sort_keys=True) + "\n")
    save_png(robustness_figure(rows, fail), out / "robustness.png")
    return rows


def robustness_figure(rows: dict, fail: str):
    """One panel per model; per metric (rows, the figures' order) one bar per condition, value written."""
    import numpy as np

    from eeg_vlm.evaluation.plots import new_figure

    models = list(dict.fromkeys(r["model"] for r in rows.values()))
    colours = {"clean": "#3a86c8", "clean->failure": "#e9b949", "failure": "#e76f51"}
    fig = new_figure(4.2 * len(models), 3.2)
    axes = np.atleast_1d(fig.subplots(1, len(models)))
    for ax, model in zip(axes, models):
        y = np.arange(len(METRICS))[::-1]
        for j, cond in enumerate(CONDITIONS):
            r = rows.get(f"{model} | {cond}")
            if r is None:
                continue
            vals = [r[k] for k, _ in METRICS]
            ax.barh(y + (1 - j) * 0.27, vals, height=0.25, color=colours[cond], label=cond)
            for yy, v in zip(y + (1 - j) * 0.27, vals):
                ax.text(max(v, 0) + 0.01, yy, f"{v:.3f}", va="center", fontsize=6)
        ax.set_yticks(y, [lab for _, lab in METRICS], fontsize=8)
        ax.set_xlim(min(0.0, min(r[k] for r in rows.values() for k, _ in METRICS)), 1.1)
        ax.set_title(model, fontsize=9)
    # one legend under the panels: inside an axis it covers the bars near 1.0
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=7, frameon=False)
    fig.suptitle(f"channel failure of {fail}: trained / tested", fontsize=9)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig
