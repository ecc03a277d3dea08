"""The report's tables: EEG-VLM Table I, the ablation, PSG-LLaVA Table 1, per night, intervals.

Each table puts our runs beside the published rows (figures as their source prints them)
and is written as Markdown, CSV and LaTeX.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field

from eeg_vlm.evaluation import published as pub
from eeg_vlm.evaluation.metrics import MIN_CI_SUBJECTS
from eeg_vlm.evaluation.runs import RunResult
from eeg_vlm.stages import STAGES

__all__ = ["Table", "table_eegvlm", "table_ablation", "table_psg_llava", "table_per_night", "table_ci", "fmt"]


def fmt(x: float | None, digits: int = 3) -> str:
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
        rows.append([r.run.name, dataset, _our_protocol(protocol), "this run", fmt(s.accuracy), fmt(s.macro_f1),
                     fmt(s.kappa), *(fmt(s.per_class_f1[st]) for st in STAGES)])
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
                         "this run", fmt(r.pooled.accuracy), fmt(r.pooled.macro_f1), fmt(r.pooled.kappa)])
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
        vals = {dataset: [fmt(getattr(r.pooled, k), 4) for k in keys]}
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
    rows = [[r.run.name, str(r.nights.n_nights), *(fmt(r.nights.median[k]) for k in keys),
             *(fmt(r.nights.mean[k]) for k in keys)] for r in results]
    return Table("per_night", "Per-night protocol (each night scored alone; median and mean across nights, "
                 "YASA reports the median)", header, rows,
                 ["Nights whose kappa is undefined (one stage only) are left out of the kappa summary."])


def table_ci(results: list[RunResult], n_boot: int, seed: int, level: float = 0.95) -> Table:
    """Pooled figures with subject-bootstrap percentile intervals."""
    names = {"accuracy": "Acc", "balanced_accuracy": "B-Acc", "macro_f1": "MF1", "weighted_f1": "W-F1", "kappa": "κ"}
    header = ["Run", "Subjects", "Epochs", "Unparseable", *names.values()]
    rows = []
    for r in results:
        if r.n_subjects < MIN_CI_SUBJECTS:
            cells = [f"{fmt(getattr(r.pooled, m))} [no interval: {r.n_subjects} subjects]" for m in names]
        else:
            cells = [f"{fmt(getattr(r.pooled, m))} [{fmt(r.ci[m][0])}, {fmt(r.ci[m][1])}]" for m in names]
        rows.append([r.run.name, str(r.n_subjects), str(r.pooled.n), str(r.pooled.n_unparseable), *cells])
    notes = [f"An interval over subjects needs at least {MIN_CI_SUBJECTS} subjects; with fewer none is "
             "estimated (a bootstrap of one subject returns the estimate itself).",
             "W-F1 is the weighted F1 (per-class F1 weighted by each class's share of the true epochs), as "
             "PSG-LLaVA reports it; \"F1 W\" elsewhere is the F1 of the wake class."]
    return Table("ci", f"Pooled scores with {int(level * 100)}% confidence intervals (bootstrap over subjects, "
                 f"{n_boot} replicates, seed {seed})", header, rows, notes)
