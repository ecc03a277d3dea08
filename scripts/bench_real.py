"""Benchmark (not a test): do the levers of issue 13 hold on real EEG the model never saw?

Trains the vision module (a small ResNet-18 layout at 64 px) on synthetic nights — and, as
a second set of rows, on synthetic nights plus the real DREAMS excerpts 1-3 — and stages the
real DREAMS excerpts 4 and 5 (never used for training or for the calibration) through
``eeg-vlm stage``, with every combination of

- synthetic generator: ``template`` (hand-written) vs ``calibrated`` (real hypnograms and spectra);
- scaling: ``minmax`` (per epoch, the papers') vs ``fixed`` (±150 µV);
- night context: ``none``, ``hmm``, ``neighbours`` (±2, head fitted on validation nights), both.

Prints accuracy, macro-F1 and Cohen's κ pooled over the test epochs (unanimous 30-s epochs
of the 5-s DREAMS scoring). Needs ``../shared/data``. Size: ``--subjects`` synthetic subjects
of ``--hours`` each (default 6 x 3 h, ~2,100 epochs per generator), ``--epochs`` training
epochs. The test set is small (two excerpts, 88 epochs, no REM): differences of a few
points are noise.

    PYTHONPATH=. python scripts/bench_real.py [--subjects 6 --hours 3 --epochs 6] [--out /tmp/bench_real]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eeg_vlm.dataset.manifest import read_manifest, write_manifest  # noqa: E402
from eeg_vlm.stages import STAGES  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
TRAIN_REAL = {1: "C3-A1", 2: "CZ-A1", 3: "C3-A1"}
TEST_REAL = {4: "CZ-A1", 5: "CZ-A1"}
CONTEXTS = ("none", "hmm", "neighbours", "neighbours+hmm")
TINY = {"widths": [16, 32, 64, 128], "layers": [1, 1, 1, 1]}


def convert_synthetic(work: Path, generator: str, scaling: str, args) -> Path:
    from eeg_vlm.dataset.synthetic import write_synthetic_dataset
    from eeg_vlm.imaging.convert import convert

    raw = work / f"raw_{generator}"
    if not raw.is_dir():
        write_synthetic_dataset(raw, n_subjects=args.subjects, hours=args.hours, seed=7, generator=generator)
    out = work / f"conv_{generator}_{scaling}"
    res = convert(raw, out, size=args.size, trim_wake_min=None, scaling=scaling, signals=False)
    rows = read_manifest(res.manifest)
    subjects = sorted({r.subject for r in rows})
    val = set(subjects[-max(1, len(subjects) // 3):])  # subject-wise: the last third validates
    write_manifest(res.manifest, [dataclasses.replace(r, split="val" if r.subject in val else "train")
                                  for r in rows])
    return out


def add_real(work: Path, synth: Path, scaling: str, args) -> Path:
    """synthetic + DREAMS 1-3 (train split) in one folder with one manifest."""
    from eeg_vlm.imaging.convert import convert

    both = work / f"{synth.name}_plus_real"
    if both.exists():
        shutil.rmtree(both)
    shutil.copytree(synth, both)
    rows = read_manifest(both / "manifest.csv")
    for i, ch in TRAIN_REAL.items():
        src = work / f"dreams{i}"
        src.mkdir(exist_ok=True)
        for name in (f"excerpt{i}.txt", f"Hypnogram_excerpt{i}.txt"):
            if not (src / name).exists():
                shutil.copy(DATA / "dreams" / name, src / name)
        res = convert(src, both / f"real{i}", channels=[ch], size=args.size, trim_wake_min=None, scaling=scaling,
                      signals=False, overwrite=True)
        rows += [dataclasses.replace(r, image=f"real{i}/{r.image}", split="train") for r in read_manifest(res.manifest)]
    write_manifest(both / "manifest.csv", rows)
    return both


def train(conv: Path, out: Path, args) -> Path:
    from feature_extractor.train import TrainConfig
    from feature_extractor.train import train as run

    run(TrainConfig(out=str(out), manifest=str(conv / "manifest.csv"), model="resnet18", model_kwargs=TINY,
                    image_size=args.size, epochs=args.epochs, batch_size=64, lr=2e-3, class_weights="balanced",
                    workers=0, device="cpu", progress="off", predict_splits=["val"], seed=0))
    return out


def neighbour_head(model: Path) -> Path:
    from eeg_vlm.context.neighbours import main

    head = model / "neighbours.json"
    main([str(model / "predictions_val.csv"), "--k", "2", "--out", str(head)])
    return head


def truth(i: int) -> dict[float, str]:
    from eeg_vlm.io.dreams import read_dreams_hypnogram
    from eeg_vlm.signals.epochs import label_epochs

    grid = label_epochs(read_dreams_hypnogram(DATA / "dreams" / f"Hypnogram_excerpt{i}.txt"))
    return {round(float(t), 3): s for t, s in zip(grid.onset_s, grid.stages) if s}


def stage_real(model: Path, head: Path, work: Path, context: str) -> tuple[list[str], list[str]]:
    from eeg_vlm.apps.staging import main as stage
    from eeg_vlm.hypnogram.files import read_hypnogram_csv

    t_all, p_all = [], []
    for i, ch in TEST_REAL.items():
        out = work / f"stage_{model.name}_{context}_{i}"
        argv = [str(DATA / "dreams" / f"excerpt{i}.txt"), "--vision-model", str(model), "--out", str(out),
                "--input-channels", ch, "--device", "cpu", "--no-progress", "--context", context]
        if context.startswith("neighbours"):
            argv += ["--neighbour-head", str(head)]
        if stage(argv) != 0:
            raise SystemExit(f"stage failed: {' '.join(argv)}")
        hyp = read_hypnogram_csv(out / "hypnogram.csv")
        expert = truth(i)
        for t, s in zip(hyp.onset_s, hyp.stages):
            if round(float(t), 3) in expert:
                t_all.append(expert[round(float(t), 3)])
                p_all.append(s)
    return t_all, p_all


def main() -> int:
    from eeg_vlm.evaluation.metrics import score

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subjects", type=int, default=6)
    ap.add_argument("--hours", type=float, default=3.0)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--out", default="/tmp/bench_real")
    ap.add_argument("--no-real-rows", action="store_true", help="skip the synthetic + real training rows")
    args = ap.parse_args()
    if not (DATA / "dreams").is_dir():
        print(f"bench_real: {DATA} is absent", file=sys.stderr)
        return 1
    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    rows = []
    for generator in ("template", "calibrated"):
        for scaling in ("minmax", "fixed"):
            synth = convert_synthetic(work, generator, scaling, args)
            sets = [("synthetic", synth)] + ([] if args.no_real_rows else
                                            [("synthetic + DREAMS 1-3", add_real(work, synth, scaling, args))])
            for train_set, conv in sets:
                model = train(conv, work / f"model_{conv.name}", args)
                head = neighbour_head(model)
                for context in CONTEXTS:
                    t, p = stage_real(model, head, work, context)
                    s = score(t, p)
                    rows.append((train_set, generator, scaling, context, s.n, s.accuracy, s.macro_f1, s.kappa))
                    print(f"{train_set:24s} {generator:10s} {scaling:6s} {context:15s} n={s.n} acc {s.accuracy:.3f} "
                          f"MF1 {s.macro_f1:.3f} kappa {s.kappa:.3f}  ({time.time() - t0:.0f} s)", flush=True)
    print("\n| training data | synthetic | scaling | context | n | accuracy | macro-F1 | κ |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]:.3f} | {r[6]:.3f} | {r[7]:.3f} |")
    (work / "bench_real.json").write_text(json.dumps(rows, indent=1))
    print(f"\n{args.subjects} subjects x {args.hours:g} h per generator, {args.epochs} training epochs, "
          f"{args.size}-px images, {time.time() - t0:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
