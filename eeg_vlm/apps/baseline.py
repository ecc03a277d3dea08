"""``eeg-vlm baseline``: train and evaluate one row of PSG-LLaVA Table 1 on a converted dataset.

    eeg-vlm baseline --list
    eeg-vlm baseline tinysleepnet --manifest conv/manifest.csv --out runs/tinysleepnet
    eeg-vlm baseline maxvit --manifest conv/manifest.csv --out runs/maxvit --init-weights maxvit_base.safetensors
    eeg-vlm baseline clip --manifest conv/manifest.csv --out runs/clip --init-weights /models/clip-vit-large-patch14-336
    eeg-vlm report --baseline runs/tinysleepnet --baseline runs/maxvit --out report
    eeg-vlm baseline all --manifest conv/manifest.csv --out runs --tiny     # every row + runs/report

Image rows train a :mod:`feature_extractor` backbone on the epoch images, signal and
foundation rows a :mod:`signal_models` network on the epochs' raw signals; both read the
same manifest, splits and stages, so every row is scored on the same test epochs. Each
row trains with its Table 3 preset (batch size, learning rate, weight decay, epochs;
options given here win). Image rows fine-tune the layers Table 3 unfroze from
``--init-weights`` (ImageNet weights in the paper); without that file nothing pretrained
exists to freeze, so the whole network trains and the run says so. ``--tiny`` uses small
CPU configurations; their rows are labelled "tiny" wherever they are reported. The ``clip``
row (PSG-LLaVA Fig. 3: LLaVA's CLIP vision tower with a classification head) takes the CLIP
checkpoint folder as ``--init-weights`` and fine-tunes it with the ViT row of Table 3.

Output folder: the trainer's files (``metrics.json``, ``predictions_<split>.csv``, ``best/``)
and ``baseline.json`` (row, group, input, preset, strategy, tiny, the split scored), which
``eeg-vlm report --baseline DIR`` reads to place the row in the Table 1 layout.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["Baseline", "BASELINES", "run_baseline", "list_baselines", "main"]


@dataclass(frozen=True)
class Baseline:
    """One row of PSG-LLaVA Table 1 and how this project trains it."""

    name: str
    row: str  # the model's name in Table 1
    group: str  # Table 1 group: Image based, Signal based, Foundation
    model: str  # registered feature_extractor backbone or signal_models name
    preset: str  # Table 3 row
    tiny: dict[str, Any] = field(default_factory=dict)  # image rows: backbone arguments of the tiny profile
    folder: bool = False  # --init-weights is a checkpoint folder the backbone loads itself (its ``path``)

    @property
    def input(self) -> str:
        return "image" if self.group in ("Image based", "Ablation") else "raw signal"


BASELINES: dict[str, Baseline] = {b.name: b for b in (
    Baseline("convnext", "ConvNext", "Image based", "convnext_base", "convnext",
             {"depths": [1, 1, 1, 1], "dims": [16, 32, 64, 128]}),
    Baseline("maxvit", "MaxViT", "Image based", "maxvit_base", "maxvit",
             {"depths": [1, 1, 1, 1], "channels": [32, 32, 64, 64], "stem_channels": 16, "window": 2}),
    Baseline("resnet101", "Resnet101", "Image based", "resnet101", "resnet",
             {"widths": [8, 16, 16, 32], "layers": [1, 1, 2, 1]}),
    Baseline("resnet152", "Resnet152", "Image based", "resnet152", "resnet",
             {"widths": [8, 16, 16, 32], "layers": [1, 2, 2, 1]}),
    Baseline("swin", "Swin-ViT", "Image based", "swin_base", "swin",
             {"embed_dim": 16, "depths": [1, 1, 1, 1], "num_heads": [1, 2, 2, 4], "window_size": 2}),
    Baseline("vim", "ViM", "Image based", "vim_base", "vim", {"embed_dim": 32, "depth": 4, "patch_size": 16}),
    Baseline("vit", "ViT", "Image based", "vit_base", "vit",
             {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}),
    Baseline("clip", "CLIP (vision encoder)", "Ablation", "clip_vit_l14_336", "vit",
             {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
              "patch_size": 16}, folder=True),
    Baseline("multisleepnet", "MultiSleepNet", "Signal based", "multisleepnet", "multisleepnet"),
    Baseline("tinysleepnet", "TinySleepNet", "Signal based", "tinysleepnet", "tinysleepnet"),
    Baseline("sleepwavenet", "SleepWaveNet", "Signal based", "sleepwavenet", "sleepwavenet"),
    Baseline("labram", "LaBraM", "Foundation", "labram", "labram"),
    Baseline("cbramod", "CBraMod", "Foundation", "cbramod", "cbramod"),
)}


def list_baselines() -> str:
    """The ``--list`` table: every row with its input and Table 3 preset."""
    from feature_extractor.presets import get_preset

    lines = [f"{'name':<14} {'Table 1 row':<14} {'group':<13} {'input':<11} {'model':<14} preset (Table 3)"]
    for b in BASELINES.values():
        p = get_preset(b.preset)
        lines.append(f"{b.name:<14} {b.row:<14} {b.group:<13} {b.input:<11} {b.model:<14} {p.name}: {p.strategy}, "
                     f"unfrozen {p.unfrozen}, batch {p.batch_size}, lr {p.lr:g}, wd {p.weight_decay:g}, "
                     f"{p.epochs} epochs")
    return "\n".join(lines)


def _image_argv(b: Baseline, args: argparse.Namespace) -> tuple[list[str], str]:
    argv = ["--manifest", args.manifest, "--out", args.out, "--model", b.model, "--preset", b.preset,
            "--train-split", args.train_split, "--val-split", args.val_split,
            "--predict-splits", *dict.fromkeys([args.val_split, args.split]),
            "--image-size", str(args.image_size or (64 if args.tiny else 336)), "--progress", "off",
            "--workers", str(args.workers), "--seed", str(args.seed)]
    unfreeze = args.unfreeze or ("table3" if args.init_weights else "all")
    if b.folder and args.init_weights:  # the checkpoint folder fixes the architecture, tiny or not
        argv += ["--model-kwargs", json.dumps({"path": args.init_weights})]
    else:
        argv += ["--model-kwargs", json.dumps(b.tiny)] if args.tiny else []
        argv += ["--init-weights", args.init_weights] if args.init_weights else []
    argv += ["--unfreeze", unfreeze]
    if args.init_weights:
        strategy = f"partial fine-tuning (--unfreeze {unfreeze}) from {Path(args.init_weights).name}"
    else:
        strategy = "full training from random weights (no --init-weights; Table 3 fine-tunes ImageNet weights)"
    for key in ("epochs", "batch_size", "lr", "weight_decay"):
        if getattr(args, key) is not None:
            argv += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    return argv, strategy


def run_baseline(args: argparse.Namespace) -> dict[str, Any]:
    """Train and evaluate ``args.name``; returns the ``baseline.json`` content."""
    b = BASELINES[args.name]
    if b.input == "image":
        from feature_extractor.train import main as train_images

        argv, strategy = _image_argv(b, args)
        if train_images(argv) != 0:
            raise ValueError(f"baseline {b.name}: image training failed (see the message above)")
    else:
        from signal_models.train import SignalTrainConfig, train_signal_model

        if args.unfreeze:
            raise ValueError(f"baseline {b.name}: --unfreeze is for image rows; Table 3 trains {b.row} in full")
        cfg = SignalTrainConfig(out=args.out, manifest=args.manifest, model=b.model, tiny=args.tiny,
                                train_split=args.train_split, val_split=args.val_split,
                                predict_splits=list(dict.fromkeys([args.val_split, args.split])), preset=b.preset,
                                epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                weight_decay=args.weight_decay, init_weights=args.init_weights, seed=args.seed,
                                channels=args.channels or [])
        train_signal_model(cfg)
        strategy = ("fine-tuning from " + Path(args.init_weights).name) if args.init_weights else \
            ("full training" if b.group == "Signal based" else "training from random weights (no --init-weights)")
    metrics = json.loads((Path(args.out) / "metrics.json").read_text(encoding="utf-8"))
    info = {"name": b.name, "row": b.row, "group": b.group, "input": b.input, "model": b.model, "preset": b.preset,
            "strategy": strategy, "tiny": bool(args.tiny), "split": args.split, "manifest": str(args.manifest),
            "predictions": f"predictions_{args.split}.csv", "scores": metrics.get(args.split),
            "overrides": {k: getattr(args, k) for k in ("epochs", "batch_size", "lr", "weight_decay")
                          if getattr(args, k) is not None}}
    from ondisk import write_json_atomic

    write_json_atomic(Path(args.out) / "baseline.json", info)
    return info


def run_all(args: argparse.Namespace) -> list[str]:
    """Every row into ``args.out/<name>``, then ``eeg-vlm report`` on them into ``args.out/report``."""
    from eeg_vlm.evaluation.report import main as report_main

    done, failed = [], []
    for name in BASELINES:
        one = argparse.Namespace(**{**vars(args), "name": name, "out": str(Path(args.out) / name)})
        try:
            run_baseline(one)
            done.append(one.out)
        except (ValueError, FileNotFoundError) as exc:
            logger.warning("baseline %s failed: %s", name, exc)
            failed.append(f"{name}: {exc}")
    argv = ["--out", str(Path(args.out) / "report"), "--manifest", args.manifest, "--no-plots"]
    for out in done:
        argv += ["--baseline", out]
    if done and report_main(argv) != 0:
        failed.append("report: see the message above")
    return failed


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="eeg-vlm baseline", description="Train and evaluate one PSG-LLaVA Table 1 "
                                "baseline (image, signal or EEG foundation model) with its Table 3 settings.")
    p.add_argument("name", nargs="?", help="baseline (see --list), or 'all': every row, then the Table 1 report in OUT/report")
    p.add_argument("--list", action="store_true", help="print every baseline with its input and Table 3 preset")
    p.add_argument("--manifest", help="manifest.csv of a converted dataset (images and signals) with splits")
    p.add_argument("--out", help="output folder")
    p.add_argument("--split", default="test", help="split scored for the table (default: test)")
    p.add_argument("--train-split", default="train", help="training split (default: train)")
    p.add_argument("--val-split", default="val", help="model-selection split (default: val)")
    p.add_argument("--tiny", action="store_true", help="small CPU configuration (labelled tiny in reports)")
    p.add_argument("--init-weights", help="local weights: ImageNet backbone (image rows), CLIP checkpoint folder (clip) "
                   "or released checkpoint (foundation)")
    p.add_argument("--unfreeze", help="image rows: override the Table 3 partial fine-tuning (see eeg-vlm train-features)")
    p.add_argument("--channels", nargs="+", help="signal rows: converted channels to use (default: the model's)")
    p.add_argument("--image-size", type=int, help="image rows: input side (default 336; 64 with --tiny)")
    p.add_argument("--epochs", type=int, help="override Table 3")
    p.add_argument("--batch-size", type=int, help="override Table 3")
    p.add_argument("--lr", type=float, help="override Table 3")
    p.add_argument("--weight-decay", type=float, help="override Table 3")
    p.add_argument("--workers", type=int, default=0, help="image rows: DataLoader workers (default 0)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    from eeg_vlm.cli import add_verbosity

    add_verbosity(p, "progress")
    return p


def main(argv: list[str] | None = None) -> int:
    from eeg_vlm.cli import configure_logging

    args = build_parser().parse_args(argv)
    configure_logging(args)
    if args.list:
        print(list_baselines())
        return 0
    problems = [f"--{k} is required" for k in ("manifest", "out") if not getattr(args, k)]
    if not args.name:
        problems.insert(0, "give a baseline name (see --list)")
    elif args.name not in BASELINES and args.name != "all":
        from eeg_vlm.checks import suggest

        problems.insert(0, f"unknown baseline {args.name!r}{suggest(args.name, BASELINES)}; available: "
                           f"{', '.join(BASELINES)}")
    if problems:
        print("eeg-vlm baseline: " + "; ".join(problems), file=sys.stderr)
        return 2
    if args.name == "all":
        failed = run_all(args)
        for line in failed:
            print(f"eeg-vlm baseline: {line}", file=sys.stderr)
        print(f"Table 1 report in {Path(args.out) / 'report'} ({len(BASELINES) - len(failed)} rows)")
        return 1 if failed else 0
    try:
        info = run_baseline(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"eeg-vlm baseline: {exc}", file=sys.stderr)
        return 1
    s = info["scores"] or {}
    tiny = " (tiny)" if info["tiny"] else ""
    print(f"{info['row']}{tiny} on split {info['split']!r}: accuracy {s.get('accuracy', float('nan')):.4f}  "
          f"balanced accuracy {s.get('balanced_accuracy') or float('nan'):.4f}  kappa {s.get('kappa') or float('nan'):.4f}  "
          f"weighted F1 {s.get('weighted_f1') or float('nan'):.4f}")
    print(f"outputs in {args.out}; add it to a report with 'eeg-vlm report --baseline {args.out} ...'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
