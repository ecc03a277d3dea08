"""``eeg-vlm experiment folds``: one configuration over every fold or seed, and the aggregate.

Protocols (all subject-wise, written by ``eeg-vlm split`` beside the manifest so that the
image paths stay valid):

- ``--protocol holdout --seeds 0,1,2,3,4``: PSG-LLaVA's five 8:2 splits (10 % of train
  subjects as val), one per seed;
- ``--protocol kfold --folds K`` (Sleep-EDF-20: 20, Sleep-EDF-78: 10) and ``loso``: each
  fold's subjects are the test set once.

Each fold runs the cell's commands (:func:`eeg_vlm.experiments.ablation.grid_steps`) in
``OUT/fold_<k>/``. ``OUT/folds.md`` / ``folds.json`` then give, labelled as such, the
metrics **pooled over all test epochs** of all folds and the **mean ± sd across folds**
(sample standard deviation, ddof 1), with one row per fold.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np

from eeg_vlm.experiments import ablation
from eeg_vlm.experiments.profiles import Profile
from eeg_vlm.experiments.steps import Step
from ondisk import write_text_atomic

logger = logging.getLogger(__name__)

__all__ = ["METRICS", "split_steps", "fold_steps", "aggregate_folds"]

METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "kappa")


def split_steps(manifest: Path, protocol: str, seeds: list[int], folds: int) -> tuple[list[Step], list[tuple[str, Path]]]:
    """``eeg-vlm split`` commands and the ``(fold name, fold manifest)`` pairs they write."""
    stem, folder = manifest.stem, manifest.parent
    done = folder / ".done"
    steps, out = [], []
    split = [sys.executable, "-m", "eeg_vlm", "split", str(manifest)]
    if protocol == "holdout":
        for s in seeds:
            target = folder / f"{stem}.seed{s}.csv"
            steps.append(Step(f"holdout split, seed {s}", split + ["--protocol", "holdout", "--seed", str(s),
                                                                  "--out", str(target)], done / f"{target.stem}.json"))
            out.append((f"seed{s}", target))
        return steps, out
    seed = seeds[0] if seeds else 0
    base = folder / f"{stem}.{protocol}{folds if protocol == 'kfold' else ''}.csv"
    argv = split + ["--protocol", protocol, "--seed", str(seed), "--out", str(base), "--per-fold"]
    if protocol == "kfold":
        argv += ["--folds", str(folds)]
    steps.append(Step(f"{protocol} split", argv, done / f"{base.stem}.json"))
    if protocol == "kfold":
        names = list(range(folds))
    else:  # loso: one fold per subject; known only once split has run
        from eeg_vlm.dataset.manifest import read_manifest
        from eeg_vlm.dataset.splits import subject_key

        names = list(range(len({subject_key(r) for r in read_manifest(manifest)})))
    out = [(f"fold{k}", base.with_name(f"{base.stem}.fold{k}{base.suffix}")) for k in names]
    return steps, out


def fold_steps(p: Profile, folds: list[tuple[str, Path]], out: Path, cell: ablation.Cell, seed: int,
               write_configs: bool = True) -> list[Step]:
    """The cell's commands for every fold, then the aggregate."""
    steps = ablation.base_steps(p, out)
    for name, manifest in folds:
        steps += ablation.grid_steps(p, manifest, out / name, [cell], seed, write_configs)
    steps.append(Step("aggregate over folds", [], out / ".done" / "aggregate.json",
                      after=lambda: aggregate_folds(out, [(n, out / n / "cells" / cell.name / "answers.jsonl")
                                                           for n, _ in folds], cell.name)))
    return steps


def _fold_scores(answers: Path):
    from eeg_vlm.evaluation.metrics import score
    from eeg_vlm.evaluation.runs import load_answers

    epochs, _ = load_answers(answers)
    truth, pred = [e.truth for e in epochs], [e.pred for e in epochs]
    return truth, pred, score(truth, pred)


def aggregate_folds(out: Path, answers: list[tuple[str, Path]], name: str) -> dict:
    """Write ``folds.json`` and ``folds.md`` (see the module docstring); returns the json."""
    from eeg_vlm.evaluation.metrics import score

    rows, all_truth, all_pred = {}, [], []
    for fold, path in answers:
        truth, pred, sc = _fold_scores(path)
        all_truth += truth
        all_pred += pred
        rows[fold] = {"n": sc.n, **{m: float(getattr(sc, m)) for m in METRICS}}
    pooled = score(all_truth, all_pred)
    values = {m: np.array([r[m] for r in rows.values()], dtype=float) for m in METRICS}
    sd = {m: float(v.std(ddof=1)) if len(v) > 1 else float("nan") for m, v in values.items()}
    result = {"configuration": name, "folds": rows,
              "pooled_over_all_test_epochs": {"n": pooled.n, **{m: float(getattr(pooled, m)) for m in METRICS}},
              "mean_across_folds": {m: float(v.mean()) for m, v in values.items()}, "sd_across_folds": sd}
    head = "| rows | n | " + " | ".join(METRICS) + " |"
    lines = [f"# {name}: {len(rows)} folds", "", head, "|" + " --- |" * (len(METRICS) + 2)]
    for fold, r in rows.items():
        lines.append(f"| {fold} | {r['n']} | " + " | ".join(f"{r[m]:.3f}" for m in METRICS) + " |")
    pr = result["pooled_over_all_test_epochs"]
    lines.append(f"| **pooled over all test epochs** | {pr['n']} | " + " | ".join(f"{pr[m]:.3f}" for m in METRICS) + " |")
    lines.append(f"| **mean ± sd across folds** | {len(rows)} folds | "
                 + " | ".join(f"{values[m].mean():.3f} ± {sd[m]:.3f}" for m in METRICS) + " |")
    lines += ["", "Pooled: one confusion matrix over every fold's test epochs. Mean ± sd: each fold scored on its "
              "own, then averaged (sample sd, ddof 1). Splits are subject-wise."]
    write_text_atomic(out / "folds.json", json.dumps(result, indent=2, sort_keys=True) + "\n")
    write_text_atomic(out / "folds.md", "\n".join(lines) + "\n")
    return result
