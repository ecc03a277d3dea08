"""The ``eeg-vlm`` command: one table of subcommand -> module with ``main(argv)``.

Each subcommand lives in the module that does the work and parses its own arguments, so
``eeg-vlm convert ...`` and ``python -m eeg_vlm.imaging.convert ...`` are the same thing. Modules
are imported only when their subcommand runs, keeping start-up fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

__all__ = ["COMMANDS", "main", "add_verbosity", "configure_logging", "log_level"]

#: name -> (module with ``main(argv: list[str]) -> int``, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("eeg_vlm.apps.demo", "run the whole pipeline on synthetic PSG with a tiny model (CPU, minutes)"),
    "synth": ("eeg_vlm.dataset.synthetic", "write synthetic PSG nights as Sleep-EDF-style EDF+ files"),
    "convert": ("eeg_vlm.imaging.convert", "turn a folder of recordings into epoch images + manifest.csv"),
    "split": ("eeg_vlm.dataset.splits", "assign subject-wise train/val/test splits or folds in a manifest"),
    "train-features": ("feature_extractor.train", "train the specialized vision model on epoch images"),
    "extract": ("feature_extractor.extract", "write [N,1,1024] high-level features for a sample list"),
    "build-data": ("eeg_vlm.reasoning.llava_data", "write eeg_ft.json / eeg_eval.jsonl with chain-of-thought answers"),
    "baseline": ("eeg_vlm.apps.baseline", "train and evaluate a PSG-LLaVA Table 1 baseline (image, signal, foundation)"),
    "report": ("eeg_vlm.evaluation.report", "metrics, paper tables and plots from answers or predictions"),
    "stage": ("eeg_vlm.apps.staging", "stage a whole night from one unlabeled EDF -> hypnogram CSV/EDF+/figures"),
    "neighbour-head": ("eeg_vlm.context.neighbours", "fit the ±k neighbour context head on held-out predictions"),
    "transitions": ("eeg_vlm.context.transitions", "stage-transition probabilities from expert hypnograms (HMM)"),
    "experiment": ("eeg_vlm.experiments.command", "the papers' experiments as resumable commands (ablation grid, ...)"),
    "explain": ("eeg_vlm.explain.command", "feature-ablation attribution heatmaps of the vision module or the VLM"),
}


def add_verbosity(parser: argparse.ArgumentParser, what: str = "each step") -> None:
    """The ``-v`` / ``-q`` pair every subcommand takes (read by :func:`configure_logging`)."""
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help=f"log {what} (-vv: also debug messages)")
    parser.add_argument("-q", "--quiet", action="store_true", help="errors only")


def log_level(verbose: int | bool = 0, quiet: bool = False) -> int:
    """Warnings by default, ``-v`` info, ``-vv`` debug, ``-q`` errors only; errors only off rank 0."""
    if quiet or os.environ.get("RANK", "0") != "0" or os.environ.get("LOCAL_RANK", "0") != "0":
        return logging.ERROR
    return {0: logging.WARNING, 1: logging.INFO}.get(int(verbose), logging.DEBUG)


def configure_logging(args: argparse.Namespace | int | bool = 0, quiet: bool = False) -> None:
    """The subcommands' one logging set-up, from parsed ``-v`` / ``-q`` (or a verbose level).

    Only rank 0 of a distributed run logs below errors (``RANK`` / ``LOCAL_RANK``).
    """
    if isinstance(args, argparse.Namespace):
        verbose, quiet = getattr(args, "verbose", 0), getattr(args, "quiet", False)
    else:
        verbose = args
    level = log_level(verbose, quiet)
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)


def _usage() -> str:
    width = max(len(n) for n in COMMANDS)
    rows = "\n".join(f"  {n.ljust(width)}  {h}" for n, (_, h) in COMMANDS.items())
    return f"usage: eeg-vlm <command> [options]\n\ncommands:\n{rows}\n\n'eeg-vlm <command> -h' for a command's options."


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        from eeg_vlm.checks import suggest

        print(f"eeg-vlm: unknown command {name!r}{suggest(name, COMMANDS)}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
