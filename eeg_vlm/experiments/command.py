"""``eeg-vlm experiment <name>``: the papers' experiments, one resumable command each.

- ``ablation``: EEG-VLM Table II — fusion x CoT x backbone (15 cells) + untuned zero-shot
  (:mod:`eeg_vlm.experiments.ablation`).

Every experiment takes ``--profile gpu`` (the seed's flags: LLaVA-v1.5-13B, ZeRO-3, bf16)
or ``--profile tiny`` (the same commands with the tiny LLaVA on CPU), ``--dry-run`` (print
every command), and resumes when run again with the same ``--out``. Without
``--manifest`` the tiny profile makes its own synthetic nights (``eeg-vlm synth``,
``convert``, ``split``, as the demo does).
"""

from __future__ import annotations

import argparse
import sys
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
    for p in (ab,):
        p.add_argument("--out", required=True, type=Path, help="output folder (rerun with the same one to resume)")
        p.add_argument("--manifest", type=Path, default=None, help="converted manifest.csv with splits "
                       "(default with --profile tiny: synthetic nights made here)")
        p.add_argument("--profile", choices=("gpu", "tiny"), default="tiny", help="gpu (seed flags) or tiny (CPU)")
        p.add_argument("--base-model", default=None, help="LLaVA base folder (default: the profile's)")
        p.add_argument("--dataset", default=None, help="dataset name in the tables")
        p.add_argument("--seed", type=int, default=0, help="seed of data, splits and training (default: 0)")
        p.add_argument("--subjects", type=int, default=5, help="synthetic subjects without --manifest (default: 5)")
        p.add_argument("--hours", type=float, default=0.5, help="hours per synthetic night (default: 0.5)")
        p.add_argument("--dry-run", action="store_true", help="print every command, run nothing")
        p.add_argument("--subprocess", action="store_true", help="run every step as its own process")
        p.add_argument("-v", "--verbose", action="store_true", help="log every step")
    return ap


def main(argv: list[str] | None = None) -> int:
    from eeg_vlm.cli import configure_logging
    from eeg_vlm.experiments import ablation
    from eeg_vlm.experiments.profiles import get_profile

    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    out = args.out.resolve()
    try:
        profile = get_profile(args.profile, out, args.base_model)
        steps: list[Step] = []
        manifest = args.manifest.resolve() if args.manifest else None
        if manifest is None:
            if profile.name != "tiny":
                raise ValueError("experiment: --manifest is required with --profile gpu")
            steps, manifest = synthetic_steps(out / "data", args.subjects, args.hours, args.seed)
        dataset = args.dataset or ("synthetic PSG" if args.manifest is None else manifest.parent.name)
        cells = ablation.select_cells(args.cells)
        steps += ablation.ablation_steps(profile, manifest, out, cells, args.seed, dataset,
                                         write_configs=not args.dry_run)
        counts = run_steps(steps, args.dry_run, in_process=not args.subprocess, echo=lambda s: print(s, flush=True))
    except (ValueError, FileNotFoundError, StepFailed) as exc:
        print(f"eeg-vlm experiment: {exc}", file=sys.stderr)
        return 1
    if not args.dry_run:
        print(f"{counts['run']} steps run, {counts['skipped']} already done; table: {out / 'ablation.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
