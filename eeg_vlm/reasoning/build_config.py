"""Settings of ``eeg-vlm build-data`` (:class:`BuildConfig`, recorded in ``build_data.json``),
what a build returns, and how split specs pick manifest rows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from eeg_vlm.checks import check_option
from eeg_vlm.config import Config
from eeg_vlm.dataset.manifest import Row
from eeg_vlm.reasoning.cot import COT_VARIANTS

logger = logging.getLogger(__name__)

__all__ = ["LINK_MODES", "BuildConfig", "BuildResult", "select_rows"]

LINK_MODES: tuple[str, ...] = ("hard", "copy")


@dataclass
class BuildConfig(Config):
    """Settings of one ``build-data`` run.

    Attributes
    ----------
    manifest : Path
        The ``manifest.csv``; images, ``signals/`` and ``convert.json`` lie beside it.
    out_dir : Path
        Output folder (default ``sleep_data``).
    cot : str
        ``'stagewise'`` (default), ``'single'`` or ``'none'``: the training answers and
        the question's reasoning instruction.
    rationales : Path or None
        JSON lines ``{"sample_id", "text"}`` replacing the generated answers; every
        training sample needs one, ending with the final line of its labelled stage.
    train_split, eval_split : tuple of str
        Split values (``train``, ``val``, ``test``, fold numbers) of the training and the
        evaluation rows; ``('rest',)`` = every split row not in the other set,
        ``('all',)`` = every row, ``('none',)`` = write no such file.
    eeg_channel : str or None
        The EEG channel the rationales measure (default: the first EEG-like channel).
    link : str
        ``'hard'`` links images into the image folders (copies across file systems) or
        ``'copy'``.
    workers : int
        Processes measuring the records' signals (one record each); 1 = in this process.
    """

    manifest: Path = field(metadata={"help": "manifest.csv (images, signals/ and convert.json beside it)"})
    out_dir: Path = field(default=Path("sleep_data"), metadata={"help": "output folder"})
    cot: str = field(default="stagewise", metadata={
        "help": "training answers: stage-wise chain-of-thought, one paragraph, or the stage only",
        "choices": COT_VARIANTS})
    rationales: Path | None = field(default=None, metadata={
        "help": 'JSON lines {"sample_id", "text"} replacing the generated answers'})
    train_split: tuple[str, ...] = field(default=("train",), metadata={
        "help": "split value(s) of the training rows (or comma-separated); 'rest' = all split rows not in "
                "--eval-split; 'none' = no training file", "metavar": "SPLIT"})
    eval_split: tuple[str, ...] = field(default=("test",), metadata={
        "help": "split value(s) of the evaluation rows; 'all' = every row; 'none' = no eval file",
        "metavar": "SPLIT"})
    eeg_channel: str | None = field(default=None, metadata={
        "help": "EEG channel the rationales measure; none: the first EEG-like channel"})
    link: str = field(default="hard", metadata={
        "help": "'hard' links images into the image folders (copies across file systems) or 'copy's them",
        "choices": LINK_MODES})
    workers: int = field(default=1, metadata={"help": "processes measuring the signals, one record each"})

    def __post_init__(self) -> None:
        self.manifest = Path(self.manifest)
        self.out_dir = Path(self.out_dir)
        self.rationales = Path(self.rationales) if self.rationales is not None else None
        self.train_split = _split_spec(self.train_split, "train_split")
        self.eval_split = _split_spec(self.eval_split, "eval_split")
        check_option("cot", self.cot, COT_VARIANTS, where="build-data")
        check_option("link", self.link, LINK_MODES, where="build-data")
        if int(self.workers) < 1:
            raise ValueError(f"build-data: workers must be >= 1, got {self.workers!r}")
        if self.train_split == ("none",) and self.eval_split == ("none",):
            raise ValueError("build-data: train_split and eval_split are both 'none'; nothing to build")
        if self.train_split == ("rest",) and self.eval_split in (("rest",), ("all",), ("none",)):
            raise ValueError(f"build-data: train_split 'rest' needs named eval splits, got {','.join(self.eval_split)!r}")
        if self.eval_split == ("rest",) and self.train_split in (("rest",), ("all",), ("none",)):
            raise ValueError(f"build-data: eval_split 'rest' needs named train splits, got {','.join(self.train_split)!r}")


@dataclass
class BuildResult:
    """What :func:`build_data` wrote.

    Attributes
    ----------
    out_dir : Path
        The output folder.
    train_ids, eval_ids : list of str
        Sample ids in file order (empty when that part was not built).
    files : list of Path
        Every json/jsonl/sidecar file written.
    images : dict of str to int
        Images linked/copied per folder, and ``'kept'`` ones already up to date.
    """

    out_dir: Path
    train_ids: list[str] = field(default_factory=list)
    eval_ids: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    images: dict[str, int] = field(default_factory=dict)


def _split_spec(value: str | Sequence[str], name: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else list(value)
    parts = tuple(p.strip() for item in items for p in str(item).split(",") if p.strip())
    if not parts:
        raise ValueError(f"build-data: {name} is empty; give split values such as 'train', 'test' or '3'")
    special = {"rest", "all", "none"} & set(parts)
    if special and len(parts) > 1:
        raise ValueError(f"build-data: {name} {','.join(parts)!r} mixes {sorted(special)[0]!r} with other splits")
    return parts


def select_rows(rows: Sequence[Row], spec: tuple[str, ...], other: tuple[str, ...]) -> list[Row]:
    """The rows of a split spec, in manifest order (see :class:`BuildConfig`)."""
    if spec == ("none",):
        return []
    if spec == ("all",):
        return list(rows)
    if spec == ("rest",):
        return [r for r in rows if r.split and r.split not in other]
    wanted = set(spec)
    return [r for r in rows if r.split in wanted]
