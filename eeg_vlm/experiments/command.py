"""``eeg-vlm experiment <name>``: the papers' experiments, one resumable command each.

- ``ablation``: EEG-VLM Table II — fusion x CoT x backbone (15 cells) + untuned zero-shot
  (:mod:`eeg_vlm.experiments.ablation`).
- ``folds``: one configuration over all folds or seeds, pooled and mean ± sd
  (:mod:`eeg_vlm.experiments.folds`).
- ``robustness``: PSG-LLaVA Figs. 4-5, clean vs channel-failure training/testing for the
  vision module and the VLM (:mod:`eeg_vlm.experiments.robustness`).
- ``reproduce``: a paper's whole pipeline (``scripts/reproduce_eeg_vlm.sh``,
  ``scripts/reproduce_psg_llava.sh``; :mod:`eeg_vlm.experiments.reproduce`).
- ``predict``: a vision module's predictions CSV on a manifest split (used by robustness).

Every experiment takes ``--profile gpu`` (the seed's flags: LLaVA-v1.5-13B, ZeRO-3, bf16)
or ``--profile tiny`` (the same commands with the tiny LLaVA on CPU), ``--dry-run`` (print
every command), and resumes when run again with the same ``--out``. Without
``--manifest`` the tiny profile makes its own synthetic nights (``eeg-vlm synth``,
``convert``, ``split``, as the demo does).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from eeg_vlm.experiments.steps import Step, StepFailed, run_steps

__all__ = ["synthetic_steps", "build_parser", "main"]


def synthetic_steps(out: Path, subjects: int, hours: float, seed: int) -> tuple[list[Step], Path]:
    """The demo's first three steps (synthetic nights, convert, subject-wise split) into ``out``."""
    from eeg_vlm.apps.demo import demo_commands

    wanted = {"synthetic PSG": "synth", "PSG -> epoch images + manifest": "convert", "subject-wise split": "split"}
    steps = [Step(title, argv, out / ".done" / f"{wanted[title]}.json")
             for title, argv in demo_commands(out, subjects, hours, seed, fast=True) if title in wanted]
    return steps, out / "converted" / "manifest.csv"


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="eeg-vlm experiment", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    sub = ap.add_subparsers(dest="experiment", required=True)
    ab = sub.add_parser("ablation", help="EEG-VLM Table II: fusion x CoT x backbone + zero-shot")
    ab.add_argument("--cells", default=None, help="comma-separated cell names to run (default: all 16)")
    fo = sub.add_parser("folds", help="one configuration over all folds / seeds: pooled and mean ± sd")
    fo.add_argument("--cell", default="add-stagewise-resnet18_1024", help="configuration (an ablation cell name)")
    fo.add_argument("--protocol", choices=("holdout", "kfold", "loso"), default="holdout",
                    help="holdout (one 8:2 split per seed), kfold or loso (default: holdout)")
    fo.add_argument("--seeds", default="0,1,2,3,4", help="holdout seeds (default: PSG-LLaVA's five, 0-4)")
    fo.add_argument("--folds", type=int, default=10, help="kfold: number of folds (default: 10)")
    ro = sub.add_parser("robustness", help="PSG-LLaVA Figs. 4-5: clean vs channel-failure training and testing")
    ro.add_argument("--raw", type=Path, default=None, help="folder of recordings (default with --profile tiny: "
                    "synthetic nights made here)")
    ro.add_argument("--channels", nargs="+", default=["Fpz-Cz"], help="channels drawn (default: Fpz-Cz)")
    ro.add_argument("--style", default="eeg-vlm", choices=("eeg-vlm", "psg-llava"), help="image style")
    ro.add_argument("--fail-channel", default=None, help="channel that fails (default: the first of --channels)")
    ro.add_argument("--cell", default="add-none-resnet18_1024", help="VLM configuration (an ablation cell name)")
    rp = sub.add_parser("reproduce", help="a paper's whole pipeline (scripts/reproduce_*.sh)")
    rp.add_argument("--paper", choices=("eeg-vlm", "psg-llava"), required=True, help="which paper")
    rp.add_argument("--data", type=Path, default=None, help="recordings folder (tiny: synthetic when absent)")
    rp.add_argument("--work", type=Path, default=Path("."), help="working folder (sleep_data/, runs/, ...; default .)")
    rp.add_argument("--psg-dataset", choices=("isruc", "mass", "shhs"), default="isruc", help="PSG-LLaVA dataset")
    rp.add_argument("--channels", nargs="+", default=None, help="PSG-LLaVA channels (default: per dataset)")
    rp.add_argument("--ckpt", default=None, help="checkpoint folder (default: the seed's placeholder)")
    pr = sub.add_parser("predict", help="a vision module's predictions CSV on a manifest split")
    pr.add_argument("--vision-model", required=True, help="feature_extractor checkpoint")
    pr.add_argument("--manifest", required=True, type=Path, help="manifest.csv")
    pr.add_argument("--split", default="test", help="split (default: test)")
    pr.add_argument("--out", required=True, type=Path, help="predictions CSV to write")
    pr.add_argument("--device", default="auto", help="auto, cpu, cuda")
    for p in (ab, fo, ro, rp):
        p.add_argument("--out", required=p is not rp, type=Path, help="output folder (rerun with the same one to resume)")
        p.add_argument("--manifest", type=Path, default=None, help="converted manifest.csv with splits "
                       "(default with --profile tiny: synthetic nights made here)")
        p.add_argument("--profile", choices=("gpu", "tiny"), default="tiny", help="gpu (seed flags) or tiny (CPU)")
        p.add_argument("--base-model", default=None, help="LLaVA base folder (default: the profile's)")
        p.add_argument("--dataset", default=None, help="dataset name in the tables")
        p.add_argument("--seed", type=int, default=0, help="seed of data, splits and training (default: 0)")
        # 6 one-hour nights: 4 training subjects (enough for the tiny vision module to reach
        # ~0.8 accuracy) and a held-out subject of ~120 epochs
        p.add_argument("--subjects", type=int, default=6, help="synthetic subjects without --manifest (default: 6)")
        p.add_argument("--hours", type=float, default=1.0, help="hours per synthetic night (default: 1)")
        p.add_argument("--max-steps", type=int, default=None,
                       help="LoRA steps per cell (tiny profile default: 30, chain-of-thought cells 6)")
        p.add_argument("--dry-run", action="store_true", help="print every command, run nothing")
        p.add_argument("--subprocess", action="store_true", help="run every step as its own process")
        from eeg_vlm.cli import add_verbosity

        add_verbosity(p, "every step")
    return ap


def main(argv: list[str] | None = None) -> int:
    from eeg_vlm.cli import configure_logging
    from eeg_vlm.experiments import ablation
    from eeg_vlm.experiments.profiles import get_profile

    args = build_parser().parse_args(argv)
    if args.experiment == "predict":
        return _predict(args)
    configure_logging(args)
    if args.experiment == "reproduce":
        return _reproduce(args)
    out = args.out.resolve()

    def build() -> tuple[list[Step], str]:
        profile = get_profile(args.profile, out, args.base_model)
        if args.max_steps is not None:
            from dataclasses import replace

            profile = replace(profile, max_steps=args.max_steps, cot_max_steps=args.max_steps)
        steps: list[Step] = []
        manifest = args.manifest.resolve() if getattr(args, "manifest", None) else None
        if args.experiment == "robustness":
            manifest = Path("unused")
            raw = args.raw.resolve() if args.raw else None
            if raw is None:
                if profile.name != "tiny":
                    raise ValueError("experiment robustness: --raw is required with --profile gpu")
                synth, _ = synthetic_steps(out / "data", args.subjects, args.hours, args.seed)
                steps, raw = synth[:1], out / "data" / "raw"
        if manifest is None:
            if profile.name != "tiny":
                raise ValueError("experiment: --manifest is required with --profile gpu")
            steps, manifest = synthetic_steps(out / "data", args.subjects, args.hours, args.seed)
        dataset = args.dataset or ("synthetic PSG" if args.manifest is None else manifest.parent.name)
        if args.experiment == "ablation":
            cells = ablation.select_cells(args.cells)
            steps += ablation.ablation_steps(profile, manifest, out, cells, args.seed, dataset,
                                             write_configs=not args.dry_run)
            table = out / "ablation.md"
        elif args.experiment == "robustness":
            from eeg_vlm.experiments.robustness import robustness_steps

            (cell,) = ablation.select_cells(args.cell)
            steps += robustness_steps(profile, raw, out, list(args.channels), args.style,
                                      args.fail_channel or args.channels[0], cell, args.seed, not args.dry_run)
            table = out / "robustness.md"
        else:
            from eeg_vlm.experiments import folds

            (cell,) = ablation.select_cells(args.cell)
            seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
            split, fold_manifests = folds.split_steps(manifest, args.protocol, seeds, args.folds)
            steps += split + folds.fold_steps(profile, fold_manifests, out, cell, args.seed, not args.dry_run)
            table = out / "folds.md"
        return steps, f"table: {table}"

    return _run_then_say(build, "eeg-vlm experiment", args)


def _run_then_say(build: Callable[[], tuple[list[Step], str]], who: str, args: argparse.Namespace) -> int:
    """Build an experiment's steps, run those not done (or print them all with --dry-run), then
    say what ran and where the result is; a bad option or a failed step is one line on stderr."""
    try:
        steps, result = build()
        counts = run_steps(steps, args.dry_run, in_process=not args.subprocess, echo=lambda s: print(s, flush=True))
    except (ValueError, FileNotFoundError, StepFailed) as exc:
        print(f"{who}: {exc}", file=sys.stderr)
        return 1
    if not args.dry_run:
        print(f"{counts['run']} steps run, {counts['skipped']} already done; {result}")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from eeg_vlm.experiments.profiles import get_profile
    from eeg_vlm.experiments.reproduce import SEED_CKPT, eeg_vlm_steps, psg_llava_steps

    work = args.work.resolve() if args.profile == "tiny" else args.work

    def build() -> tuple[list[Step], str]:
        if args.profile == "gpu" and args.data is None:
            raise ValueError("experiment reproduce: --data (the recordings folder) is required with --profile gpu")
        if args.paper == "eeg-vlm":
            profile = get_profile(args.profile, work, args.base_model)
            steps = eeg_vlm_steps(profile, work, args.data, args.ckpt or SEED_CKPT, args.seed, args.subjects, args.hours)
        else:
            from dataclasses import replace

            profile = get_profile(args.profile, work, args.base_model or "your_checkpoints_path/llava-v1.6-mistral-7b")
            if profile.name == "tiny":
                profile = replace(profile, base_model=str(work / "tiny_next_base"))
            steps = psg_llava_steps(profile, work, args.data, args.psg_dataset, args.channels,
                                    args.ckpt or "./checkpoints/psg_llava", args.seed, args.subjects, args.hours)
        return steps, f"report in {work / 'reports'}"

    return _run_then_say(build, "eeg-vlm experiment reproduce", args)


def _predict(args: argparse.Namespace) -> int:
    """``eeg-vlm experiment predict``: the vision module's predictions on one split of a manifest."""
    from eeg_vlm.explain.models import load_vision
    from feature_extractor.images import ImageDataset
    from feature_extractor.predict import predict, write_predictions
    from feature_extractor.samples import read_manifest

    try:
        model, transform, dev = load_vision(args.vision_model, args.device)
        samples = read_manifest(args.manifest, split=args.split)
        if not samples:
            raise ValueError(f"manifest {str(args.manifest)!r}: no rows in split {args.split!r}")
        probs = predict(model, ImageDataset(samples, transform), 64, dev)
        write_predictions(args.out, samples, probs)
    except (ValueError, FileNotFoundError) as exc:
        print(f"eeg-vlm experiment predict: {exc}", file=sys.stderr)
        return 1
    print(f"{len(samples)} predictions -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
