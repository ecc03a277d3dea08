"""``eeg-vlm experiment ablation``: EEG-VLM Table II as one resumable command.

Cells (fixed order): fusion {none, raw, add} x chain-of-thought {none, single, stagewise} x
vision backbone {resnet18_1024, convnext_base}; ``none`` does not use the vision module,
so it is one cell per CoT variant — 3 + 6 + 6 = 15 — plus the untuned base model
zero-shot (PSG-LLaVA appendix I, EEG-VLM's baseline sanity check): 16 rows.

Work shared between cells is done once, in ``OUT/shared``: the training/evaluation data
per CoT variant (``build-data``), one vision module per backbone (``train-features``) and
its features (``extract``, once per backbone: every CoT variant lists the same samples in
the same order, which the features' sidecar ids check). Each cell has its own folder
``OUT/cells/<name>/`` with ``cell.json`` (the cell, the profile and every command
resolved), its LoRA checkpoint and ``answers.jsonl``. ``OUT/ablation.md`` is the table.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from eeg_vlm.experiments import profiles as pf
from eeg_vlm.experiments.steps import Step
from ondisk import write_text_atomic

logger = logging.getLogger(__name__)

__all__ = ["FUSIONS", "COTS", "BACKBONES", "Cell", "all_cells", "select_cells", "base_steps", "grid_steps",
           "ablation_steps", "ablation_table"]

FUSIONS = ("none", "raw", "add")
COTS = ("none", "single", "stagewise")
BACKBONES = ("resnet18_1024", "convnext_base")
ZERO_SHOT = "zero-shot"


@dataclass(frozen=True)
class Cell:
    """One row of the grid (``fusion`` ``'zero-shot'`` is the untuned base)."""

    fusion: str
    cot: str
    backbone: str | None

    @property
    def name(self) -> str:
        if self.fusion == ZERO_SHOT:
            return ZERO_SHOT
        return "-".join(x for x in (self.fusion, self.cot, self.backbone) if x)

    @property
    def settings(self) -> str:
        """The report's ablation spec."""
        return "fusion=none,cot=none" if self.fusion == ZERO_SHOT else f"fusion={self.fusion},cot={self.cot}"


def all_cells() -> list[Cell]:
    """The 16 rows in their fixed order: 15 fine-tuned cells, then zero-shot."""
    cells = [Cell("none", c, None) for c in COTS]
    cells += [Cell(f, c, b) for f in ("raw", "add") for b in BACKBONES for c in COTS]
    return cells + [Cell(ZERO_SHOT, "none", None)]


def select_cells(spec: str | None) -> list[Cell]:
    """``--cells``: comma-separated cell names (``add-none-resnet18_1024,zero-shot``); all by default."""
    cells = all_cells()
    if not spec:
        return cells
    by_name = {c.name: c for c in cells}
    wanted = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [w for w in wanted if w not in by_name]
    if unknown:
        from eeg_vlm.checks import suggest

        raise ValueError(f"experiment ablation: unknown cell {unknown[0]!r}{suggest(unknown[0], by_name)}; "
                         f"cells: {', '.join(by_name)}")
    return [c for c in cells if c.name in wanted]


def _shared_steps(p: pf.Profile, manifest: Path, out: Path, cells: list[Cell], seed: int) -> list[Step]:
    shared, done = out / "shared", out / "shared" / ".done"
    steps = []
    cots = sorted({c.cot for c in cells} | ({"none"} if any(c.backbone for c in cells) else set()), key=COTS.index)
    for cot in cots:
        steps.append(Step(f"data, --cot {cot}", pf.build_data_argv(manifest, shared / f"data_{cot}", cot),
                          done / f"data_{cot}.json"))
    data = shared / "data_none"
    for bb in sorted({c.backbone for c in cells if c.backbone}, key=BACKBONES.index):
        vision = shared / f"vision_{bb}"
        steps.append(Step(f"vision module {bb}", pf.vision_train_argv(p, manifest, vision, bb, seed),
                          done / f"vision_{bb}.json"))
        for part, kind in (("ft", "train"), ("eval", "eval")):
            data_file = data / ("eeg_ft.json" if part == "ft" else "eeg_eval.jsonl")
            feats = shared / f"features_{bb}" / f"{kind}_high_level_features.npy"
            steps.append(Step(f"{kind} features {bb}", pf.extract_argv(p, vision, data_file,
                                                                        data / f"eeg_images_{part}", feats),
                              done / f"features_{bb}_{kind}.json"))
    return steps


def _cell_steps(p: pf.Profile, cell: Cell, out: Path, seed: int) -> list[Step]:
    shared, folder = out / "shared", out / "cells" / cell.name
    data = shared / f"data_{cell.cot}"
    feats = shared / f"features_{cell.backbone}" if cell.backbone else None
    answers = folder / "answers.jsonl"
    if cell.fusion == ZERO_SHOT:
        ev = pf.eval_argv(p, p.base_model, data / "eeg_eval.jsonl", data / "eeg_images_eval", answers,
                          fusion="none", label_scoring=True, base=False)
        return [Step(f"{cell.name}: untuned base answers", ev, folder / ".done" / "eval.json")]
    ckpt = folder / "checkpoint"
    train = pf.finetune_argv(p, data / "eeg_ft.json", data / "eeg_images_ft", ckpt, cell.fusion,
                             feats / "train_high_level_features.npy" if feats else None, seed, cell.cot)
    scoring = cell.cot == "none" or p.label_scoring_for_cot
    ev = pf.eval_argv(p, ckpt, data / "eeg_eval.jsonl", data / "eeg_images_eval", answers,
                      feats / "eval_high_level_features.npy" if feats else None, label_scoring=scoring)
    return [Step(f"{cell.name}: LoRA fine-tuning", train, folder / ".done" / "train.json",
                 invalidates=[folder / ".done" / "eval.json", answers]),
            Step(f"{cell.name}: answers", ev, folder / ".done" / "eval.json")]


def base_steps(p: pf.Profile, out: Path) -> list[Step]:
    """The tiny profile builds its base model once per output folder; the GPU profile brings its own."""
    if p.name != "tiny":
        return []
    return [Step("tiny LLaVA-1.5 base from configs", pf.tiny_base_argv(p), out / "shared" / ".done" / "tiny_base.json")]


def grid_steps(p: pf.Profile, manifest: Path, out: Path, cells: list[Cell], seed: int = 0,
               write_configs: bool = True) -> list[Step]:
    """The shared work and every cell's commands (no base model, no report)."""
    steps = _shared_steps(p, manifest, out, cells, seed)
    for cell in cells:
        cell_steps = _cell_steps(p, cell, out, seed)
        if write_configs:
            folder = out / "cells" / cell.name
            folder.mkdir(parents=True, exist_ok=True)
            resolved = {"cell": {"name": cell.name, "fusion": cell.fusion, "cot": cell.cot, "backbone": cell.backbone},
                        "profile": p.to_dict(), "manifest": str(manifest), "seed": seed,
                        "commands": [s.argv for s in cell_steps]}
            write_text_atomic(folder / "cell.json", json.dumps(resolved, indent=2) + "\n")
        steps += cell_steps
    return steps


def ablation_steps(p: pf.Profile, manifest: Path, out: Path, cells: list[Cell], seed: int = 0,
                   dataset: str = "this dataset", write_configs: bool = True) -> list[Step]:
    """Every command of the grid in order: base model, shared work, each cell, the report."""
    steps = base_steps(p, out) + grid_steps(p, manifest, out, cells, seed, write_configs)
    answers = [out / "cells" / c.name / "answers.jsonl" for c in cells]
    names = [c.name if c.fusion != ZERO_SHOT else "zero-shot (untuned base)" for c in cells]
    report = pf.report_argv(answers, names, [c.settings for c in cells], manifest, out / "report", dataset)
    steps.append(Step("report", report, out / ".done" / "report.json",
                      after=lambda: ablation_table(out, cells, p)))
    return steps


def ablation_table(out: Path, cells: list[Cell], p: pf.Profile) -> Path:
    """``OUT/ablation.md``: the report's ablation table under a statement of what was run."""
    table = (out / "report" / "ablation.md").read_text(encoding="utf-8")
    if p.name == "tiny":
        what = ("**These rows are a tiny model on synthetic data**: the 2-layer, 64-wide LLaVA built from "
                "configs (random weights, no pretraining), narrow vision modules on small images, a few LoRA "
                f"steps ({p.max_steps} for stage-only answers, {p.cot_max_steps or p.max_steps} for the ~10x "
                "longer chain-of-thought answers), on synthetic PSG nights. They show that every cell of the grid runs and how the "
                "settings rank in that toy setting — not how the paper's 13B model stages real sleep. The "
                "published rows are EEG-VLM's (LLaVA-1.5-13B, Sleep-EDFx).")
    else:
        what = ("Rows of ours: LLaVA-1.5-13B with the seed's LoRA flags (ZeRO-3, bf16), one split.")
    protocol = ("Protocol of our rows: one subject-wise split of the manifest (train/val/test by subject); "
                "metrics pooled over the test epochs; "
                + ("every cell evaluated by label scoring (the five stages ranked by likelihood after the "
                   "question), CoT cells included." if p.label_scoring_for_cot else
                   "cells without CoT evaluated by label scoring, CoT cells by greedy generation, "
                   "answers parsed from their final line.")
                + " The backbone is in the row's name; 'none' cells use no vision module. 'zero-shot' is the "
                "untuned base model, label scoring, no LoRA.")
    text = f"# Ablation grid ({len(cells)} rows, profile {p.name})\n\n{what}\n\n{protocol}\n\n{table}"
    write_text_atomic(out / "ablation.md", text)
    return out / "ablation.md"
