"""The ``eeg-vlm`` command: one table of subcommand -> module with ``main(argv)``.

Each subcommand lives in the module that does the work and parses its own arguments, so
``eeg-vlm convert ...`` and ``python -m eeg_vlm.imaging.convert ...`` are the same thing. Modules
are imported only when their subcommand runs, keeping start-up fast.
"""

from __future__ import annotations

import importlib
import logging
import sys

__all__ = ["COMMANDS", "main", "configure_logging"]

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


def configure_logging(verbose: bool) -> None:
    """The subcommands' one logging set-up: warnings only, or every step with ``-v``."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


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
