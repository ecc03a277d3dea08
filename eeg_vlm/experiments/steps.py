"""Resumable command lists: the driver part every experiment shares.

An experiment is a list of :class:`Step` s, each one command line (the one a user would
type) and a marker file written only after the command succeeded. A rerun skips every
step whose marker exists and records the same command; a step that was interrupted has no
marker and runs again — the commands themselves resume (``train_mem.py`` from its newest
``checkpoint-*``, ``model_vqa.py`` from its answers file, ``eeg-vlm extract`` from its
partial features), so killing a grid and starting it again finishes it.

Commands of this project's own entry points (``python -m eeg_vlm ...``,
``python llava/train/train_mem.py ...``, ``python llava/eval/model_vqa.py ...``,
``python -m llava.model.tiny ...``) run in this process when ``in_process`` is set: the
same argv through the module's ``main``, without paying the interpreter and import
start-up per step (seconds each on a small CPU). Anything else (``deepspeed``, shell
scripts) runs as a subprocess.
"""

from __future__ import annotations

import importlib
import json
import logging
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ondisk import write_text_atomic

logger = logging.getLogger(__name__)

__all__ = ["Step", "StepFailed", "in_process_entry", "run_step", "run_steps"]

REPO = Path(__file__).resolve().parents[2]


class StepFailed(RuntimeError):
    """A step's command ended with a non-zero status."""


@dataclass
class Step:
    """One command of an experiment.

    Attributes
    ----------
    title : str
        What the step does, for the log and ``--dry-run``.
    argv : list of str
        The command line (empty: the step is its ``after`` hook alone).
    marker : Path
        Written (with the argv) once the command succeeded; its presence skips the step.
    after : callable, optional
        Run after the command succeeded, before the marker is written (e.g. to check or
        post-process its outputs).
    invalidates : list of Path
        Files removed before this step runs: the markers and outputs of later steps that
        depend on it (a retrained model must be evaluated again, not resumed).
    """

    title: str
    argv: list[str]
    marker: Path
    after: Callable[[], None] | None = field(default=None, repr=False)
    invalidates: list[Path] = field(default_factory=list)

    def shell(self) -> str:
        return shlex.join(self.argv) if self.argv else f"(in-process: {self.title})"

    def done(self) -> bool:
        if not self.marker.is_file():
            return False
        try:
            return json.loads(self.marker.read_text(encoding="utf-8")).get("argv") == self.argv
        except (ValueError, OSError):
            return False


def in_process_entry(argv: Sequence[str]) -> tuple[Callable[[list[str]], int], list[str]] | None:
    """``(main, args)`` when ``argv`` runs one of this project's Python entry points, else ``None``."""
    if len(argv) < 2 or Path(argv[0]).name not in (Path(sys.executable).name, "python", "python3"):
        return None
    if argv[1] == "-m" and len(argv) > 2:
        module = {"eeg_vlm": "eeg_vlm.cli", "llava.model.tiny": "llava.model.tiny",
                  "feature_extractor.train": "feature_extractor.train"}.get(argv[2])
        rest = list(argv[3:])
    else:
        module = {"train_mem.py": "llava.train.train_mem", "model_vqa.py": "llava.eval.model_vqa"}.get(
            Path(argv[1]).name)
        rest = list(argv[2:])
    if module is None:
        return None
    return importlib.import_module(module).main, rest


def run_step(step: Step, in_process: bool = True) -> None:
    """Run ``step``'s command (see the module docstring), then its ``after`` hook and marker."""
    for path in step.invalidates:
        path.unlink(missing_ok=True)
    entry = in_process_entry(step.argv) if in_process else None
    t0 = time.perf_counter()
    if not step.argv:  # a step that is only its ``after`` hook (an aggregate, a table)
        rc = 0
    elif entry is not None:
        main, rest = entry
        try:
            rc = int(main(rest) or 0)
        except SystemExit as exc:  # argparse and run_cli end this way
            rc = exc.code if isinstance(exc.code, int) else 1
    else:
        rc = subprocess.run(step.argv, cwd=REPO).returncode
    if rc != 0:
        raise StepFailed(f"step {step.title!r}: exit status {rc}; command: {step.shell()}")
    if step.after is not None:
        step.after()
    step.marker.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(step.marker, json.dumps({"argv": step.argv, "seconds": round(time.perf_counter() - t0, 1)},
                                              indent=1) + "\n")


def run_steps(steps: Sequence[Step], dry_run: bool = False, in_process: bool = True,
              echo: Callable[[str], None] | None = None) -> dict[str, int]:
    """Run the steps not yet done, in order; ``dry_run`` only prints every command.

    Returns counts ``{"run": ..., "skipped": ...}``. The first failing step raises
    :class:`StepFailed`; the steps before it keep their markers.
    """
    echo = echo or (lambda line: logger.info("%s", line))
    counts = {"run": 0, "skipped": 0}
    for i, step in enumerate(steps, 1):
        head = f"[{i}/{len(steps)}] {step.title}"
        if dry_run:
            echo(f"{head}\n$ {step.shell()}")
            continue
        if step.done():
            counts["skipped"] += 1
            echo(f"{head}: done, skipped")
            continue
        echo(f"{head}\n$ {step.shell()}")
        run_step(step, in_process)
        counts["run"] += 1
    return counts
