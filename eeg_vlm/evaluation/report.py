"""``eeg-vlm report``: score answers and predictions, lay out the papers' tables, draw figures.

Inputs are runs: model answers (``answers.jsonl`` from ``llava/eval/model_vqa.py``, free
text or label scoring), classifier predictions (CSV with ``sample_id, stage, pred``) and,
optionally, YASA on the converted signals. Every run is scored pooled over epochs (the
papers' protocol) and per night (median and mean across nights), with confidence intervals
from a seeded bootstrap over subjects. The output folder receives:

- ``report.md``: every table, the unparseable answers (id + first 80 characters), figures;
- ``table1_eegvlm.*`` (EEG-VLM Table I layout: Acc, MF1, kappa, per-class F1),
  ``ablation.*`` (fusion mode x chain-of-thought), ``psg_llava_table1.*`` (PSG-LLaVA Table 1:
  Acc, B-Acc, kappa, W-F1 per dataset), ``per_night.*`` and ``ci.*`` — each as ``.md``,
  ``.csv`` and ``.tex``; published rows sit beside ours with their source and protocol;
- ``metrics.json`` (all numbers), ``epochs_<run>.csv`` (per-epoch truth/prediction),
  ``unparseable.csv``;
- PNGs: ``confusion_<run>.png``, with several runs ``confusions_side_by_side.png`` (one
  panel per run, one colour scale: a zero-shot base beside its tuned model), ``f1_bars.png``,
  ``hypnogram_<run>_<night>.png`` and, where probabilities exist,
  ``hypnodensity_<run>_<night>.png``.

The same inputs give byte-identical files.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eeg_vlm.cli import add_verbosity, configure_logging
from eeg_vlm.dataset.manifest import Row as ManifestRow
from eeg_vlm.evaluation import published as pub
from eeg_vlm.evaluation.report_config import PROTOCOLS, ReportConfig
from eeg_vlm.evaluation.baselines import read_baseline
from eeg_vlm.evaluation.metrics import yasa_available, yasa_predictions
from eeg_vlm.evaluation.runs import (EpochResult, Run, RunResult, apply_context, evaluate, load_answers, load_predictions,
                                     load_questions, manifest_index, parse_settings, place, truth_stage)
from eeg_vlm.evaluation.tables import (Table, fmt, table_ablation, table_ci, table_eegvlm, table_per_night,
                                       table_psg_llava)
from ondisk import write_text_atomic
from eeg_vlm.stages import STAGES

logger = logging.getLogger(__name__)

# The loaders, scores and tables live in eeg_vlm.evaluation.runs / .tables; they are
# re-exported here because ``eeg_vlm.evaluation.report`` is where users have imported them.
__all__ = ["EpochResult", "Run", "RunResult", "Table", "load_questions", "load_answers", "load_predictions",
           "parse_settings", "apply_context", "evaluate", "write_report", "run_report", "ReportConfig", "main",
           "PROTOCOLS"]

_EPOCH_S = 30.0


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "run"


def _round(obj):
    if isinstance(obj, float):
        return None if not math.isfinite(obj) else round(obj, 6)
    if isinstance(obj, dict):
        return {str(k): _round(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_round(v) for v in obj]
    return obj


def _epochs_csv(run: Run) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["sample_id", "subject", "night", "epoch", "stage", "pred", "reason", *(f"prob_{s}" for s in STAGES)])
    for e in run.epochs:
        probs = [f"{p:.6f}" for p in e.probs] if e.probs else [""] * len(STAGES)
        w.writerow([e.sample_id, e.subject, e.night, e.epoch, e.truth, e.pred or "", e.reason, *probs])
    return buf.getvalue()


def _unparseable_rows(results: list[RunResult]) -> list[list[str]]:
    rows = []
    for r in results:
        for e in r.run.epochs:
            if e.pred is None:
                snippet = re.sub(r"\s+", " ", e.text).strip()[:80]
                rows.append([r.run.name, e.sample_id, e.reason, snippet])
    return rows



def _figures(results: list[RunResult], out: Path, slugs: dict[str, str], max_nights: int,
             written: list[Path]) -> list[str]:
    """Confusion matrices, hypnograms, hypnodensities and F1 bars; returns their file names."""
    from eeg_vlm.evaluation import plots as pl
    from eeg_vlm.hypnogram.figure import hypnodensity_figure, hypnogram_figure

    figures: list[str] = []

    def save(fig, name: str) -> None:
        written.append(pl.save_png(fig, out / name))
        figures.append(name)

    if len(results) > 1:  # e.g. the untuned base's zero-shot answers beside the tuned model's
        save(pl.confusions_side_by_side({r.run.name: (r.pooled.confusion, r.pooled.unparseable_by_stage)
                                         for r in results}), "confusions_side_by_side.png")
    for r in results:
        slug = slugs[r.run.name]
        save(pl.confusion_figure(r.pooled.confusion, r.pooled.unparseable_by_stage,
                                 f"{r.run.name}: acc {fmt(r.pooled.accuracy)}, MF1 {fmt(r.pooled.macro_f1)}, "
                                 f"κ {fmt(r.pooled.kappa)}"), f"confusion_{slug}.png")
        by_night: dict[str, list[EpochResult]] = {}
        for e in r.run.epochs:
            by_night.setdefault(e.night, []).append(e)
        for night in sorted(by_night)[:max_nights]:
            eps = by_night[night]
            ns = _slug(night)
            save(hypnogram_figure([e.epoch for e in eps], [e.truth for e in eps], [e.pred for e in eps],
                                     f"{r.run.name} — {night}", _EPOCH_S), f"hypnogram_{slug}_{ns}.png")
            if all(e.probs is not None for e in eps):
                save(hypnodensity_figure([e.epoch for e in eps], np.array([e.probs for e in eps]),
                                            [e.truth for e in eps], f"{r.run.name} — {night}", _EPOCH_S),
                     f"hypnodensity_{slug}_{ns}.png")
    pub_f1 = {p.system: {s: p.metrics[f"f1_{s}"] for s in STAGES if f"f1_{s}" in p.metrics}
              for p in pub.EEG_VLM_MAIN}
    save(pl.f1_bars_figure({r.run.name: r.pooled.per_class_f1 for r in results}, pub_f1), "f1_bars.png")
    return figures


def _metrics(results: list[RunResult], dataset: str, protocol: str | None, n_boot: int, seed: int,
             unparseable: str) -> dict:
    """Every number of the report, for ``metrics.json``."""
    return {
        "settings": {"dataset": dataset, "protocol": protocol, "unparseable": unparseable, "n_boot": n_boot,
                     "seed": seed, "pooled": "all epochs together", "per_night": "median and mean across nights"},
        "runs": {r.run.name: {"kind": r.run.kind, "source": r.run.source, "settings": r.run.settings,
                              "n_questions": r.run.n_questions, "n_subjects": r.n_subjects,
                              "pooled": r.pooled.as_dict(), "ci95": {k: list(v) for k, v in r.ci.items()},
                              "per_night": {"median": r.nights.median, "mean": r.nights.mean,
                                            "nights": {k: v.as_dict() for k, v in r.nights.nights.items()}}}
                 for r in results},
        "published_sources": pub.SOURCES,
    }


def _report_md(results: list[RunResult], tables: list[Table], unp_table: Table, figures: list[str],
               dataset: str, protocol: str | None, n_boot: int, seed: int, unparseable: str) -> str:
    """The text of ``report.md``."""
    md = ["# Sleep staging report", "",
          f"Dataset: {dataset}. Protocol of this run: {protocol or 'not stated'}. "
          f"Unparseable answers: {'scored as wrong' if unparseable == 'wrong' else 'left out'}. "
          f"Intervals: bootstrap over subjects, {n_boot} replicates, seed {seed}.", "",
          "## Inputs", ""]
    for r in results:
        cover = f", {len(r.run.epochs)} of {r.run.n_questions} questions answered" if r.run.n_questions else ""
        md.append(f"- **{r.run.name}**: {r.run.kind} from `{r.run.source}`, {len(r.run.epochs)} epochs, "
                  f"{r.n_subjects} subjects, {r.nights.n_nights} nights, {r.pooled.n_unparseable} unparseable{cover}")
    md.append("")
    for t in tables:
        md += [f"## {t.caption}", "", t.to_markdown(caption=False)]
    md += ["## Unparseable answers", ""]
    md += [unp_table.to_markdown(caption=False) if unp_table.rows else "None.\n"]
    md += ["## Sources of published figures", ""] + [f"- {k}: {v}" for k, v in pub.SOURCES.items()] + [""]
    if figures:
        md += ["## Figures", ""] + [f"![{f}]({f})" for f in figures] + [""]
    return "\n".join(md)


def write_report(results: list[RunResult], out_dir: str | Path, dataset: str, protocol: str | None,
                 n_boot: int, seed: int, unparseable: str, plots: bool = True,
                 max_nights: int = 10) -> list[Path]:
    """Write every table, figure and the JSON of all numbers into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def put(name: str, text: str) -> None:
        write_text_atomic(out / name, text)
        written.append(out / name)

    tables = [table_eegvlm(results, dataset, protocol), table_ablation(results, protocol),
              table_psg_llava(results, dataset, protocol), table_per_night(results),
              table_ci(results, n_boot, seed)]
    for t in tables:
        put(f"{t.name}.md", t.to_markdown())
        put(f"{t.name}.csv", t.to_csv())
        put(f"{t.name}.tex", t.to_latex())
    unp_table = Table("unparseable", "Unparseable answers (scored as wrong)" if unparseable == "wrong"
                      else "Unparseable answers (left out of the scores)",
                      ["Run", "question", "reason", "answer (first 80 characters)"], _unparseable_rows(results))
    put("unparseable.csv", unp_table.to_csv())
    slugs = {r.run.name: _slug(r.run.name) for r in results}
    for r in results:
        put(f"epochs_{slugs[r.run.name]}.csv", _epochs_csv(r.run))
    figures = _figures(results, out, slugs, max_nights, written) if plots else []
    metrics = _metrics(results, dataset, protocol, n_boot, seed, unparseable)
    put("metrics.json", json.dumps(_round(metrics), indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    put("report.md", _report_md(results, tables, unp_table, figures, dataset, protocol, n_boot, seed, unparseable))
    return written


# --------------------------------------------------------------------------------------- CLI


def _check_protocol(protocol: str | None, manifest: dict[str, ManifestRow] | None,
                    runs: list[Run], manifest_path: str | None) -> str | None:
    """Infer the protocol from the manifest's splits, or check the one claimed."""
    if manifest is None:
        return protocol
    scored = {e.sample_id for r in runs for e in r.epochs}
    subj = {manifest[s].subject for s in scored if s in manifest}
    scored_splits = {manifest[s].split for s in scored if s in manifest}
    others = [row for row in manifest.values() if row.split not in scored_splits | {""}]
    train_subj = {row.subject for row in others}
    overlap = sorted(subj & train_subj - {""})
    if not others:  # no other split to compare with: nothing to infer
        return protocol
    inferred = pub.PROTOCOL_EPOCH if overlap else pub.PROTOCOL_SUBJECT
    if protocol == pub.PROTOCOL_SUBJECT and overlap:
        raise ValueError(f"report: --protocol subject-wise, but manifest {manifest_path!r} puts epochs of scored "
                         f"subjects in other splits too: {', '.join(overlap[:5])}")
    return protocol or inferred


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="eeg-vlm report",
        description="Score answers.jsonl files and classifier predictions (pooled, per night, subject-bootstrap "
                    "intervals), write the EEG-VLM / PSG-LLaVA tables with the published rows beside ours "
                    "(Markdown, CSV, LaTeX), and draw confusion matrices, hypnograms, F1 bars, hypnodensities.")
    ReportConfig.add_arguments(p)
    add_verbosity(p, "progress")
    return p



def _load_runs(args: ReportConfig, questions: dict[str, dict] | None,
               manifest: dict[str, ManifestRow] | None) -> list[Run]:
    """The runs the command line names, in order: answers, predictions, then YASA."""
    runs: list[Run] = []
    for path in args.answers:
        epochs, model_id = load_answers(path, questions, args.questions, manifest)
        runs.append(Run(model_id or Path(path).stem, "answers", Path(path).name, epochs,
                        n_questions=len(questions) if questions else None))
    for path in args.predictions:
        runs.append(Run(Path(path).stem, "predictions", Path(path).name,
                        load_predictions(path, questions, manifest)))
    for folder in args.baseline:
        b = read_baseline(folder)
        runs.append(Run(b.name, "predictions", b.predictions.name, load_predictions(b.predictions, questions, manifest),
                        group=b.group, note=b.note))
    if args.yasa:
        if not args.manifest:
            raise ValueError("report: --yasa needs --manifest (YASA reads the converted signals)")
        if not yasa_available():
            raise ImportError("report: --yasa needs the optional 'yasa' package (pip install yasa)")
        rows = yasa_predictions(args.manifest)
        eps = [EpochResult(r.sample_id, *place(r.sample_id, manifest, i), truth_stage(r.stage, "manifest"),
                           r.pred, "YASA", "", tuple(r.probs.get(s, 0.0) for s in STAGES) if r.probs else None)
               for i, r in enumerate(rows) if r.stage]  # unscored epochs are not scored
        runs.append(Run("YASA", "yasa", Path(args.manifest).name, eps))
    if args.names:
        if len(args.names) != len(runs):
            raise ValueError(f"report: {len(args.names)} --names for {len(runs)} runs "
                             f"(answers files first, then predictions, baselines, then YASA)")
        for r, n in zip(runs, args.names):
            r.name = n
    if len({r.name for r in runs}) != len(runs):
        raise ValueError(f"report: run names must differ, got {', '.join(r.name for r in runs)}; use --names")
    if args.ablation and len(args.ablation) != len(runs):
        raise ValueError(f"report: {len(args.ablation)} --ablation specs for {len(runs)} runs")
    for i, r in enumerate(runs):
        spec = args.ablation[i] if args.ablation else r.name
        r.settings = {} if spec.strip() == "-" else parse_settings(spec, f"report: run {r.name!r}")
    return runs


def run_report(config: ReportConfig) -> list[RunResult]:
    """Load, score and write the runs ``config`` names (see the module docstring); returns the scores."""
    questions = load_questions(config.questions) if config.questions else None
    manifest = manifest_index(config.manifest) if config.manifest else None
    runs = _load_runs(config, questions, manifest)
    runs = [apply_context(r, config.context, config.transitions) for r in runs]
    protocol = _check_protocol(config.protocol, manifest, runs, config.manifest)
    dataset = config.dataset
    if not dataset and manifest:
        names = sorted({row.dataset for row in manifest.values()} - {""})
        dataset = names[0] if len(names) == 1 else None
    dataset = dataset or "this dataset"
    results = [evaluate(r, config.unparseable, config.n_boot, config.seed) for r in runs]
    write_report(results, config.out, dataset, protocol, config.n_boot, config.seed, config.unparseable,
                 plots=config.plots, max_nights=config.max_nights)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(args)
    try:
        config = ReportConfig.from_args(args)
    except ValueError as exc:
        print(f"eeg-vlm {exc}", file=sys.stderr)
        return 2
    logger.info("report settings: %s", config)
    try:
        results = run_report(config)
    except (ValueError, FileNotFoundError, ImportError) as exc:
        print(f"eeg-vlm report: {exc}", file=sys.stderr)
        return 2
    for r in results:
        s = r.pooled
        print(f"{r.run.name}: acc {fmt(s.accuracy)} MF1 {fmt(s.macro_f1)} kappa {fmt(s.kappa)} "
              f"({s.n} epochs, {s.n_unparseable} unparseable)")
    print(f"report written to {config.out}/report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
