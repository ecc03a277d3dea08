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
- PNGs: ``confusion_<run>.png``, ``f1_bars.png``, ``hypnogram_<run>_<night>.png`` and,
  where probabilities exist, ``hypnodensity_<run>_<night>.png``.

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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eeg_vlm.cli import configure_logging
from eeg_vlm.evaluation import published as pub
from eeg_vlm.evaluation.answers import parse_answer
from eeg_vlm.evaluation.baselines import read_baseline
from eeg_vlm.checks import check_file, check_option
from eeg_vlm.fileio import read_jsonl, write_text_atomic
from eeg_vlm.dataset.manifest import Row as ManifestRow
from eeg_vlm.dataset.manifest import read_manifest
from eeg_vlm.evaluation.metrics import (UNPARSEABLE_POLICIES, NightSummary, Scores, bootstrap_ci, per_night,
                             read_predictions_csv, score, yasa_available, yasa_predictions)
from eeg_vlm.stages import STAGES, to_aasm
from llava.constants import EEG_FUSION_MODES

logger = logging.getLogger(__name__)

__all__ = ["EpochResult", "Run", "RunResult", "Table", "load_questions", "load_answers", "load_predictions",
           "parse_settings", "evaluate", "write_report", "main", "PROTOCOLS"]

PROTOCOLS: tuple[str, ...] = (pub.PROTOCOL_SUBJECT, pub.PROTOCOL_EPOCH)
_EPOCH_S = 30.0


# --------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class EpochResult:
    """One scored epoch of one run."""

    sample_id: str
    night: str
    subject: str
    epoch: int
    truth: str
    pred: str | None
    reason: str = ""
    text: str = ""
    probs: tuple[float, ...] | None = None


@dataclass
class Run:
    """One set of predictions to score (a model's answers, a classifier, YASA)."""

    name: str
    kind: str
    source: str
    epochs: list[EpochResult]
    settings: dict[str, str] = field(default_factory=dict)
    n_questions: int | None = None
    group: str = ""  # PSG-LLaVA Table 1 group of a baseline run (Image based, Signal based, Foundation)
    note: str = ""  # how a baseline run was trained (preset, strategy, tiny)


def _split_sample_id(sample_id: str) -> tuple[str, int | None]:
    """``"SC4001E0/000123"`` -> ``("SC4001E0", 123)``; other ids -> ``(id, None)``."""
    head, sep, tail = sample_id.rpartition("/")
    if sep and head and tail.isdigit():
        return head, int(tail)
    return sample_id, None


def _truth(value, where: str, what: str = "ground-truth stage") -> str:
    try:
        stage = to_aasm(str(value))
    except ValueError:
        stage = None
    if stage is None:
        raise ValueError(f"{where}: {what} {value!r} is not one of {', '.join(STAGES)}")
    return stage


def load_questions(path: str | Path) -> dict[str, dict]:
    """``eeg_eval.jsonl`` -> ``{question_id: {"sample_id", "stage"}}``; duplicates are errors."""
    path = check_file(path, "questions file")
    out: dict[str, dict] = {}
    for line_no, rec in read_jsonl(path, "questions file"):
        where = f"questions file {str(path)!r} line {line_no}"
        if "question_id" not in rec:
            raise ValueError(f"{where}: field 'question_id' missing")
        qid = str(rec["question_id"])
        if qid in out:
            raise ValueError(f"{where}: duplicate question_id {qid!r}")
        stage = rec.get("stage")
        out[qid] = {"sample_id": str(rec.get("sample_id") or qid),
                    "stage": None if stage in (None, "") else _truth(stage, where)}
    return out


def _manifest_index(path: str | Path) -> dict[str, ManifestRow]:
    return {row.sample_id: row for row in read_manifest(path)}


def _place(sample_id: str, manifest: dict[str, ManifestRow] | None, order: int) -> tuple[str, str, int]:
    """(night, subject, epoch) of a sample: the night is its record id (unique, unlike the
    manifest's night number, which repeats across subjects); the subject comes from the
    manifest, else it is the record id too."""
    row = manifest.get(sample_id) if manifest else None
    if row is not None:
        return row.record_id, row.subject or row.record_id, row.epoch
    record, epoch = _split_sample_id(sample_id)
    return record, record, order if epoch is None else epoch


def load_answers(path: str | Path, questions: dict[str, dict] | None = None,
                 questions_path: str | Path | None = None,
                 manifest: dict[str, ManifestRow] | None = None) -> tuple[list[EpochResult], str]:
    """Read an ``answers.jsonl`` and join its ground truth.

    The prediction is ``metadata["pred"]`` (label scoring) or the stage parsed from
    ``text`` (:func:`eeg_vlm.evaluation.answers.parse_answer`); the truth is ``metadata["stage"]`` or
    the questions file's ``stage`` for the same ``question_id``.

    Returns
    -------
    epochs : list of EpochResult
        In file order.
    model_id : str
        The answers' ``model_id`` when all lines agree, else ``""``.
    """
    path = check_file(path, "answers file")
    out: list[EpochResult] = []
    seen: set[str] = set()
    model_ids: set[str] = set()
    for line_no, rec in read_jsonl(path, "answers file"):
        where = f"answers file {str(path)!r} line {line_no}"
        if "question_id" not in rec:
            raise ValueError(f"{where}: field 'question_id' missing")
        qid = str(rec["question_id"])
        if qid in seen:
            raise ValueError(f"{where}: duplicate question_id {qid!r}")
        seen.add(qid)
        meta = rec.get("metadata") or {}
        if not isinstance(meta, dict):
            raise ValueError(f"{where}: 'metadata' must be an object, got {type(meta).__name__}")
        q = None
        if questions is not None:
            q = questions.get(qid)
            if q is None:
                raise ValueError(f"{where}: question_id {qid!r} is not in questions file "
                                 f"{str(questions_path)!r}")
        truth = meta.get("stage")
        if truth not in (None, ""):
            truth = _truth(truth, where)
            if q is not None and q["stage"] is not None and q["stage"] != truth:
                raise ValueError(f"{where}: metadata stage {truth!r} disagrees with questions file "
                                 f"{str(questions_path)!r} ({q['stage']!r}) for question_id {qid!r}")
        elif q is not None and q["stage"] is not None:
            truth = q["stage"]
        else:
            hint = (f"questions file {str(questions_path)!r} has no 'stage' for it" if q is not None
                    else "pass --questions eeg_eval.jsonl")
            raise ValueError(f"{where}: no ground truth for question_id {qid!r} (no metadata.stage; {hint})")
        sample_id = str(meta.get("sample_id") or (q or {}).get("sample_id") or qid)
        text = str(rec.get("text") or "")
        if meta.get("pred") not in (None, ""):
            pred, reason = _truth(meta["pred"], where, "metadata.pred"), "label scoring"
        else:
            parsed = parse_answer(text)
            pred, reason = parsed.stage, parsed.reason
        probs = None
        if isinstance(meta.get("probs"), dict):
            pmap: dict[str, float] = {}
            for k, v in meta["probs"].items():
                st = _truth(k, where, "metadata.probs key")
                try:
                    pmap[st] = pmap.get(st, 0.0) + float(v)
                except (TypeError, ValueError):
                    raise ValueError(f"{where}: metadata.probs[{k!r}] is {v!r}, not a number") from None
            probs = tuple(pmap.get(s, 0.0) for s in STAGES)
        night, subject, epoch = _place(sample_id, manifest, len(out))
        out.append(EpochResult(sample_id, night, subject, epoch, truth, pred, reason, text, probs))
        if rec.get("model_id"):
            model_ids.add(str(rec["model_id"]))
    return out, (model_ids.pop() if len(model_ids) == 1 else "")


def load_predictions(path: str | Path, questions: dict[str, dict] | None = None,
                     manifest: dict[str, ManifestRow] | None = None) -> list[EpochResult]:
    """A classifier's predictions CSV; truth from its ``stage`` column, else the manifest."""
    rows = read_predictions_csv(path)
    by_sample = {q["sample_id"]: q["stage"] for q in (questions or {}).values()}
    out = []
    for i, r in enumerate(rows):
        row = (manifest or {}).get(r.sample_id)
        truth = r.stage or by_sample.get(r.sample_id) or (row.stage if row is not None else None)
        if not truth:
            raise ValueError(f"predictions file {str(path)!r}: no ground truth for sample_id {r.sample_id!r} "
                             f"(no 'stage' column value; not in --questions or --manifest)")
        truth = _truth(truth, f"predictions file {str(path)!r} sample {r.sample_id!r}")
        probs = tuple(r.probs.get(s, 0.0) for s in STAGES) if r.probs else None
        night, subject, epoch = _place(r.sample_id, manifest, i)
        out.append(EpochResult(r.sample_id, night, subject, epoch, truth, r.pred, "classifier", "", probs))
    return out


def parse_settings(spec: str, where: str = "ablation") -> dict[str, str]:
    """``"fusion=add,cot=stagewise"`` -> ``{"fusion": "add", "cot": "stagewise"}``.

    Keys are ``fusion`` (none, raw, add) and ``cot`` (none, single, stagewise). A name that
    is not such a spec gives ``{}``; a spec with a bad key or value raises ``ValueError``.
    """
    spec = spec.strip()
    if "=" not in spec:
        return {}
    from eeg_vlm.reasoning.cot import COT_VARIANTS  # imported here: it pulls in scipy.signal

    allowed = {"fusion": EEG_FUSION_MODES, "cot": COT_VARIANTS}
    out: dict[str, str] = {}
    for part in re.split(r"[,;]\s*", spec):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"{where}: {part!r} in {spec!r} is not key=value")
        key, value = key.strip().lower(), value.strip().lower()
        check_option("key", key, tuple(allowed), where)
        out[key] = check_option(key, value, allowed[key], where)
    return out


# --------------------------------------------------------------------------------------- scoring


@dataclass
class RunResult:
    """Scores of one run: pooled, per night, bootstrap intervals."""

    run: Run
    pooled: Scores
    nights: NightSummary
    ci: dict[str, tuple[float, float]]
    n_subjects: int


def evaluate(run: Run, unparseable: str = "wrong", n_boot: int = 1000, seed: int = 0) -> RunResult:
    """Score a run pooled, per night and with subject-bootstrap intervals."""
    if not run.epochs:
        raise ValueError(f"run {run.name!r} ({run.source}): no epochs to score")
    truth = [e.truth for e in run.epochs]
    pred = [e.pred for e in run.epochs]
    subjects = [e.subject for e in run.epochs]
    return RunResult(run, score(truth, pred, unparseable),
                     per_night(truth, pred, [e.night for e in run.epochs], unparseable),
                     bootstrap_ci(truth, pred, subjects, n_boot=n_boot, seed=seed, unparseable=unparseable),
                     len(set(subjects)))


# --------------------------------------------------------------------------------------- tables


def _f(x: float | None, digits: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f}"


def _fp(p: pub.PublishedRow, key: str) -> str:
    """A published figure exactly as its source prints it."""
    return p.printed.get(key, "–")


@dataclass
class Table:
    """A table with a caption, written as Markdown, CSV and LaTeX."""

    name: str
    caption: str
    header: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)

    def to_markdown(self, caption: bool = True) -> str:
        esc = [[c.replace("|", "\\|") for c in r] for r in [self.header, *self.rows]]
        lines = [f"**{self.caption}**", ""] if caption else []
        lines += ["| " + " | ".join(esc[0]) + " |", "|" + "|".join("---" for _ in self.header) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in esc[1:]]
        lines += [""] + [f"- {n}" for n in self.notes] if self.notes else []
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.header)
        w.writerows([[("" if c == "–" else c) for c in r] for r in self.rows])
        return buf.getvalue()

    def to_latex(self) -> str:
        def tex(s: str) -> str:
            s = s.replace("\\", r"\textbackslash{}")
            for ch in "&%$#_{}":
                s = s.replace(ch, "\\" + ch)
            return s.replace("κ", r"$\kappa$").replace("–", "--").replace("~", r"\textasciitilde{}")

        cols = "l" * min(3, len(self.header)) + "r" * max(0, len(self.header) - 3)
        lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{tex(self.caption)}}}",
                 rf"\label{{tab:{self.name.replace('_', '-')}}}", r"\small", rf"\begin{{tabular}}{{{cols}}}",
                 r"\toprule", " & ".join(tex(h) for h in self.header) + r" \\", r"\midrule"]
        lines += [" & ".join(tex(c) for c in r) + r" \\" for r in self.rows]
        lines += [r"\bottomrule", r"\end{tabular}"]
        if self.notes:
            lines.append(r"\par\footnotesize " + " ".join(tex(n) for n in self.notes))
        lines.append(r"\end{table}")
        return "\n".join(lines) + "\n"


def _our_protocol(protocol: str | None) -> str:
    return f"{protocol or 'not stated'} (this run)"


def table_eegvlm(results: list[RunResult], dataset: str, protocol: str | None) -> Table:
    """EEG-VLM Table I layout: Acc, MF1, kappa and per-class F1; published rows beside ours."""
    header = ["System", "Dataset", "Protocol", "Source", "Acc", "MF1", "κ", *(f"F1 {s}" for s in STAGES)]
    rows = []
    for r in results:
        s = r.pooled
        rows.append([r.run.name, dataset, _our_protocol(protocol), "this run", _f(s.accuracy), _f(s.macro_f1),
                     _f(s.kappa), *(_f(s.per_class_f1[st]) for st in STAGES)])
    for p in (*pub.EEG_VLM_MAIN, *pub.FIELD_ANCHORS):
        rows.append([p.system, p.dataset, p.protocol, f"published: {p.source}", _fp(p, "accuracy"),
                     _fp(p, "macro_f1"), _fp(p, "kappa"), *(_fp(p, f"f1_{st}") for st in STAGES)])
    notes = ["Ours: all test epochs pooled; unparseable answers count as wrong unless --unparseable drop.",
             "Published rows: figures as printed in the source; '–' = not reported there.",
             "Human scorers: the Acc column holds inter-scorer percentage agreement."]
    return Table("table1_eegvlm", "Sleep staging, EEG-VLM Table I layout", header, rows, notes)


def table_ablation(results: list[RunResult], protocol: str | None) -> Table:
    """Fusion mode x chain-of-thought variant: our runs with settings, and EEG-VLM's figures."""
    header = ["Setting", "Fusion", "CoT", "Protocol", "Source", "Acc", "MF1", "κ"]
    rows = []
    for r in results:
        if r.run.settings:
            st = r.run.settings
            rows.append([r.run.name, st.get("fusion", "–"), st.get("cot", "–"), _our_protocol(protocol),
                         "this run", _f(r.pooled.accuracy), _f(r.pooled.macro_f1), _f(r.pooled.kappa)])
    rows.sort(key=lambda row: (row[1], row[2], row[0]))
    for p in pub.EEG_VLM_ABLATION:
        rows.append([p.system, p.fusion or "not stated", p.cot or "not stated", p.protocol,
                     f"published: {p.source}", _fp(p, "accuracy"), _fp(p, "macro_f1"), _fp(p, "kappa")])
    notes = ["Fusion: none = vanilla LLaVA (one image), raw = projected Hf alone, add = patch-aligned Hv + Expand(Hf).",
             "CoT: none = stage only, single = one-paragraph rationale, stagewise = step per stage."]
    if not any(r.run.settings for r in results):
        notes.append("No run carries settings: name runs like 'fusion=add,cot=stagewise' or pass --ablation.")
    return Table("ablation", "Ablation: fusion mode x chain-of-thought (EEG-VLM Table II / Sec. IV.E)",
                 header, rows, notes)


def table_psg_llava(results: list[RunResult], dataset: str, protocol: str | None) -> Table:
    """PSG-LLaVA Table 1 layout: Acc, B-Acc, kappa, W-F1 per dataset; our dataset added."""
    datasets = list(pub.PSG_LLAVA_DATASETS)
    if dataset not in datasets:
        datasets.append(dataset)
    keys = ("accuracy", "balanced_accuracy", "kappa", "weighted_f1")
    header = ["Group", "Model", "Protocol", *(f"{d} {k}" for d in datasets for k in ("Acc", "B-Acc", "κ", "W-F1"))]
    rows = []
    for r in results:
        vals = {dataset: [_f(getattr(r.pooled, k), 4) for k in keys]}
        rows.append([f"{r.run.group} (this run)" if r.run.group else "This run", r.run.name, _our_protocol(protocol),
                     *(c for d in datasets for c in vals.get(d, ["–"] * 4))])
    by_model: dict[tuple[str, str], dict[str, list[str]]] = {}
    for p in pub.PSG_LLAVA_TABLE1:
        by_model.setdefault((p.group, p.system), {})[p.dataset] = [_fp(p, k) for k in keys]
    for (group, model), vals in by_model.items():
        src = "Fig. 3" if group == "Ablation" else "Table 1"
        label = "Proposed" if group == "Ours" else group  # the source's own "Ours" row
        rows.append([f"{label} (published, PSG-LLaVA {src})", model, pub.PSG_LLAVA_TABLE1[0].protocol,
                     *(c for d in datasets for c in vals.get(d, ["–"] * 4))])
    notes = [f"'{dataset}' is this run's dataset; the published rows are on ISRUC-S1, MASS-SS3 and SHHS-1 "
             "(multi-channel PSG images), LLaVA-Next-7B for PSG-LLaVA."]
    notes += [r.run.note for r in results if r.run.note]
    return Table("psg_llava_table1", "Sleep staging, PSG-LLaVA Table 1 layout", header, rows, notes)


def table_per_night(results: list[RunResult]) -> Table:
    """Per-night protocol: median and mean across nights."""
    header = ["Run", "Nights", *(f"{m} median" for m in ("Acc", "MF1", "κ")), *(f"{m} mean" for m in ("Acc", "MF1", "κ"))]
    keys = ("accuracy", "macro_f1", "kappa")
    rows = [[r.run.name, str(r.nights.n_nights), *(_f(r.nights.median[k]) for k in keys),
             *(_f(r.nights.mean[k]) for k in keys)] for r in results]
    return Table("per_night", "Per-night protocol (each night scored alone; median and mean across nights, "
                 "YASA reports the median)", header, rows,
                 ["Nights whose kappa is undefined (one stage only) are left out of the kappa summary."])


def table_ci(results: list[RunResult], n_boot: int, seed: int, level: float = 0.95) -> Table:
    """Pooled figures with subject-bootstrap percentile intervals."""
    names = {"accuracy": "Acc", "balanced_accuracy": "B-Acc", "macro_f1": "MF1", "weighted_f1": "W-F1", "kappa": "κ"}
    header = ["Run", "Subjects", "Epochs", "Unparseable", *names.values()]
    rows = []
    for r in results:
        cells = [f"{_f(getattr(r.pooled, m))} [{_f(r.ci[m][0])}, {_f(r.ci[m][1])}]" for m in names]
        rows.append([r.run.name, str(r.n_subjects), str(r.pooled.n), str(r.pooled.n_unparseable), *cells])
    return Table("ci", f"Pooled scores with {int(level * 100)}% confidence intervals (bootstrap over subjects, "
                 f"{n_boot} replicates, seed {seed})", header, rows)


# --------------------------------------------------------------------------------------- writing


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


def write_report(results: list[RunResult], out_dir: str | Path, dataset: str, protocol: str | None,
                 n_boot: int, seed: int, unparseable: str, plots: bool = True,
                 max_nights: int = 10) -> list[Path]:
    """Write every table, figure and the JSON of all numbers into ``out_dir``."""
    from eeg_vlm.evaluation import plots as pl

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
    unp = _unparseable_rows(results)
    unp_table = Table("unparseable", "Unparseable answers (scored as wrong)" if unparseable == "wrong"
                      else "Unparseable answers (left out of the scores)",
                      ["Run", "question", "reason", "answer (first 80 characters)"], unp)
    put("unparseable.csv", unp_table.to_csv())
    slugs = {}
    for r in results:
        slug = _slug(r.run.name)
        slugs[r.run.name] = slug
        put(f"epochs_{slug}.csv", _epochs_csv(r.run))
    figures: list[str] = []
    if plots:
        for r in results:
            slug = slugs[r.run.name]
            fig = pl.confusion_figure(r.pooled.confusion, r.pooled.unparseable_by_stage,
                                      f"{r.run.name}: acc {_f(r.pooled.accuracy)}, MF1 {_f(r.pooled.macro_f1)}, "
                                      f"κ {_f(r.pooled.kappa)}")
            written.append(pl.save_png(fig, out / f"confusion_{slug}.png"))
            figures.append(f"confusion_{slug}.png")
            by_night: dict[str, list[EpochResult]] = {}
            for e in r.run.epochs:
                by_night.setdefault(e.night, []).append(e)
            for night in sorted(by_night)[:max_nights]:
                eps = by_night[night]
                ns = _slug(night)
                fig = pl.hypnogram_figure([e.epoch for e in eps], [e.truth for e in eps], [e.pred for e in eps],
                                          f"{r.run.name} — {night}", _EPOCH_S)
                written.append(pl.save_png(fig, out / f"hypnogram_{slug}_{ns}.png"))
                figures.append(f"hypnogram_{slug}_{ns}.png")
                if all(e.probs is not None for e in eps):
                    fig = pl.hypnodensity_figure([e.epoch for e in eps], np.array([e.probs for e in eps]),
                                                 [e.truth for e in eps], f"{r.run.name} — {night}", _EPOCH_S)
                    written.append(pl.save_png(fig, out / f"hypnodensity_{slug}_{ns}.png"))
                    figures.append(f"hypnodensity_{slug}_{ns}.png")
        pub_f1 = {p.system: {s: p.metrics[f"f1_{s}"] for s in STAGES if f"f1_{s}" in p.metrics}
                  for p in pub.EEG_VLM_MAIN}
        fig = pl.f1_bars_figure({r.run.name: r.pooled.per_class_f1 for r in results}, pub_f1)
        written.append(pl.save_png(fig, out / "f1_bars.png"))
        figures.append("f1_bars.png")
    metrics = {
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
    put("metrics.json", json.dumps(_round(metrics), indent=2, sort_keys=True, ensure_ascii=False) + "\n")
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
    md += [unp_table.to_markdown(caption=False) if unp else "None.\n"]
    md += ["## Sources of published figures", ""] + [f"- {k}: {v}" for k, v in pub.SOURCES.items()] + [""]
    if figures:
        md += ["## Figures", ""] + [f"![{f}]({f})" for f in figures] + [""]
    put("report.md", "\n".join(md))
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
    p.add_argument("--answers", action="append", default=[], metavar="A.jsonl", help="answers.jsonl (repeatable)")
    p.add_argument("--predictions", action="append", default=[], metavar="P.csv",
                   help="classifier predictions CSV: sample_id, stage, pred[, prob_W ...] (repeatable)")
    p.add_argument("--baseline", action="append", default=[], metavar="DIR",
                   help="'eeg-vlm baseline' output folder: a PSG-LLaVA Table 1 row, labelled with its group (repeatable)")
    p.add_argument("--questions", help="eeg_eval.jsonl: ground truth joined on question_id")
    p.add_argument("--manifest", help="manifest.csv: subject and night of each sample; protocol check")
    p.add_argument("--names", nargs="+", help="one name per run: answers files first, then predictions, baselines, then YASA")
    p.add_argument("--ablation", action="append", default=[], metavar="fusion=add,cot=stagewise",
                   help="settings per run, in run order (repeat once per run; '-' for none); "
                        "default: read from run names of that form")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--protocol", choices=PROTOCOLS, help="how the test set was split (default: inferred "
                   "from --manifest splits, else 'not stated')")
    p.add_argument("--dataset", help="dataset name for the tables (default: the manifest's, else 'this dataset')")
    p.add_argument("--unparseable", choices=UNPARSEABLE_POLICIES, default="wrong",
                   help="score unparseable answers as wrong (default) or leave them out")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates over subjects (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--yasa", action="store_true", help="add YASA's classifier as a run (needs --manifest and "
                   "the optional yasa package)")
    p.add_argument("--max-nights", type=int, default=10, help="hypnograms per run (default 10 nights)")
    p.add_argument("--no-plots", action="store_true", help="tables only")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(args.verbose)
    logger.info("report settings: %s", vars(args))
    if not args.answers and not args.predictions and not args.baseline and not args.yasa:
        print("eeg-vlm report: give at least one --answers or --predictions file, --baseline folder or --yasa",
              file=sys.stderr)
        return 2
    try:
        questions = load_questions(args.questions) if args.questions else None
        manifest = _manifest_index(args.manifest) if args.manifest else None
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
            eps = [EpochResult(r.sample_id, *_place(r.sample_id, manifest, i), _truth(r.stage, "manifest"),
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
        protocol = _check_protocol(args.protocol, manifest, runs, args.manifest)
        dataset = args.dataset
        if not dataset and manifest:
            names = sorted({row.dataset for row in manifest.values()} - {""})
            dataset = names[0] if len(names) == 1 else None
        dataset = dataset or "this dataset"
        results = [evaluate(r, args.unparseable, args.n_boot, args.seed) for r in runs]
        write_report(results, args.out, dataset, protocol, args.n_boot, args.seed, args.unparseable,
                     plots=not args.no_plots, max_nights=args.max_nights)
    except (ValueError, FileNotFoundError, ImportError) as exc:
        print(f"eeg-vlm report: {exc}", file=sys.stderr)
        return 2
    for r in results:
        s = r.pooled
        print(f"{r.run.name}: acc {_f(s.accuracy)} MF1 {_f(s.macro_f1)} kappa {_f(s.kappa)} "
              f"({s.n} epochs, {s.n_unparseable} unparseable)")
    print(f"report written to {args.out}/report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
