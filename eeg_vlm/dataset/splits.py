"""``eeg-vlm split``: subject-wise train/val/test splits or folds in a manifest.

Always by subject: every night and epoch of a subject lands in one split (epochs of one
night in train and test leak; a third-party EEG-VLM reproduction split by epoch).
Subjects are keyed by ``dataset`` and ``subject``, so merged manifests from several
datasets never join two people.

Protocols
---------
``holdout``
    PSG-LLaVA: 8:2 train/test by subject, then 10% of the train subjects as validation,
    under ``seed`` (five seeds = five runs).
``kfold``
    Subjects shuffled under ``seed`` and dealt into ``folds`` folds of (nearly) equal
    subject counts; ``split`` = the fold in which the subject is the test set.
``loso``
    Leave one subject out: one fold per subject (in sorted order).

For ``kfold``/``loso``, ``per_fold`` also writes one manifest per fold beside the input
(``<stem>.fold<k>.csv``) with train/val/test, so that tools reading ``split`` values train
and evaluate that fold directly; image paths stay valid since the folder is the same.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from eeg_vlm.checks import check_option
from eeg_vlm.dataset.manifest import Row, read_manifest, write_manifest

logger = logging.getLogger(__name__)

__all__ = ["PROTOCOLS", "subject_key", "holdout_split", "kfold_split", "assign_splits", "fold_rows",
           "write_fold_manifests", "main"]

PROTOCOLS: tuple[str, ...] = ("holdout", "kfold", "loso")


def subject_key(row: Row) -> str:
    """The grouping key of a row: ``'<dataset>/<subject>'``."""
    return f"{row.dataset}/{row.subject}"


def _shuffled(subjects: Sequence[str], seed: int) -> list[str]:
    subs = sorted(set(subjects))
    order = np.random.default_rng(int(seed)).permutation(len(subs))
    return [subs[i] for i in order]


def holdout_split(subjects: Sequence[str], seed: int = 0, test_fraction: float = 0.2,
                  val_fraction: float = 0.1, where: str = "split") -> dict[str, str]:
    """Subject -> ``'train' | 'val' | 'test'``.

    Parameters
    ----------
    subjects : sequence of str
        Subject keys (duplicates ignored).
    seed : int
        Same subjects and seed -> same split.
    test_fraction : float
        Share of subjects in test, rounded, at least one (PSG-LLaVA: 0.2).
    val_fraction : float
        Share of the *train* subjects moved to val, rounded, at least one when > 0
        (PSG-LLaVA: 0.1); 0 makes no val split.

    Raises
    ------
    ValueError
        When there are too few subjects for a non-empty train, val (if asked) and test.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"{where}: test_fraction must be between 0 and 1, got {test_fraction!r}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"{where}: val_fraction must be in [0, 1), got {val_fraction!r}")
    subs = _shuffled(subjects, seed)
    need = 3 if val_fraction > 0 else 2
    if len(subs) < need:
        parts = "train, val and test" if val_fraction > 0 else "train and test"
        raise ValueError(f"{where}: holdout needs at least {need} subjects ({parts}), found {len(subs)}")
    n_test = min(len(subs) - (need - 1), max(1, math.floor(test_fraction * len(subs) + 0.5)))
    n_train = len(subs) - n_test
    n_val = 0
    if val_fraction > 0:
        n_val = min(n_train - 1, max(1, math.floor(val_fraction * n_train + 0.5)))
    out = {s: "test" for s in subs[:n_test]}
    out.update({s: "val" for s in subs[n_test:n_test + n_val]})
    out.update({s: "train" for s in subs[n_test + n_val:]})
    return out


def kfold_split(subjects: Sequence[str], folds: int, seed: int = 0, where: str = "split") -> dict[str, int]:
    """Subject -> fold number in ``0 .. folds-1`` (fold sizes differ by at most one subject).

    Raises
    ------
    ValueError
        If ``folds < 2`` or there are fewer subjects than folds.
    """
    subs = _shuffled(subjects, seed)
    if int(folds) < 2:
        raise ValueError(f"{where}: folds must be >= 2, got {folds!r}")
    if len(subs) < int(folds):
        raise ValueError(f"{where}: {folds} folds need at least {folds} subjects, found {len(subs)}")
    return {s: i % int(folds) for i, s in enumerate(subs)}


def assign_splits(rows: Sequence[Row], protocol: str = "holdout", seed: int = 0, folds: int = 10,
                  test_fraction: float = 0.2, val_fraction: float = 0.1, where: str = "split") -> list[Row]:
    """Return copies of ``rows`` with ``split`` set subject-wise under ``protocol``.

    ``holdout`` writes ``train``/``val``/``test``; ``kfold`` and ``loso`` write the fold
    number of the subject's test fold (``loso``: subjects in sorted order, one fold each).
    """
    check_option("protocol", protocol, PROTOCOLS, where=where)
    keys = [subject_key(r) for r in rows]
    if not keys:
        raise ValueError(f"{where}: the manifest has no rows")
    if protocol == "holdout":
        table: dict[str, str] = holdout_split(keys, seed, test_fraction, val_fraction, where)
    elif protocol == "kfold":
        table = {k: str(v) for k, v in kfold_split(keys, folds, seed, where).items()}
    else:
        subs = sorted(set(keys))
        if len(subs) < 2:
            raise ValueError(f"{where}: leave-one-subject-out needs at least 2 subjects, found {len(subs)}")
        table = {s: str(i) for i, s in enumerate(subs)}
    return [replace(r, split=table[k]) for r, k in zip(rows, keys)]


def fold_rows(rows: Sequence[Row], fold: int, seed: int = 0, val_fraction: float = 0.1,
              where: str = "split") -> list[Row]:
    """Turn fold numbers into train/val/test for one fold.

    Rows whose ``split`` is ``str(fold)`` become ``test``; of the other subjects a seeded
    ``val_fraction`` (at least one when > 0) become ``val``, the rest ``train``.
    """
    keys = [subject_key(r) for r in rows]
    if any(not r.split.isdigit() for r in rows):
        raise ValueError(f"{where}: every row needs a fold number in 'split' (run the kfold or loso protocol first)")
    test = {k for r, k in zip(rows, keys) if int(r.split) == int(fold)}
    if not test:
        raise ValueError(f"{where}: fold {fold} has no subjects")
    rest = sorted(set(keys) - test)
    n_val = 0
    if val_fraction > 0 and len(rest) > 1:
        n_val = min(len(rest) - 1, max(1, math.floor(val_fraction * len(rest) + 0.5)))
    val = set(_shuffled(rest, seed * 1000 + int(fold))[:n_val])
    return [replace(r, split="test" if k in test else "val" if k in val else "train") for r, k in zip(rows, keys)]


def write_fold_manifests(path: str | Path, rows: Sequence[Row], seed: int = 0,
                         val_fraction: float = 0.1) -> list[Path]:
    """Write ``<stem>.fold<k>.csv`` beside ``path`` for every fold in ``rows``."""
    path = Path(path)
    folds = sorted({int(r.split) for r in rows if r.split.isdigit()})
    out = []
    for k in folds:
        p = path.with_name(f"{path.stem}.fold{k}{path.suffix}")
        write_manifest(p, fold_rows(rows, k, seed, val_fraction, where=f"file {str(path)!r}"))
        out.append(p)
    return out


def main(argv: list[str] | None = None) -> int:
    """``eeg-vlm split``."""
    ap = argparse.ArgumentParser(prog="eeg-vlm split",
                                 description="Assign subject-wise train/val/test splits or folds in a manifest.")
    ap.add_argument("manifest", help="manifest.csv (rewritten in place unless --out)")
    ap.add_argument("--protocol", choices=PROTOCOLS, default="holdout",
                    help="holdout: 8:2 train/test + 10%% of train as val; kfold; loso (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    ap.add_argument("--folds", type=int, default=10, help="number of folds for kfold (default: %(default)s)")
    ap.add_argument("--test-fraction", type=float, default=0.2, help="holdout test share (default: %(default)s)")
    ap.add_argument("--val-fraction", type=float, default=0.1,
                    help="share of train subjects used for validation (default: %(default)s)")
    ap.add_argument("--out", default=None, help="write here instead of in place (same folder keeps image paths valid)")
    ap.add_argument("--per-fold", action="store_true",
                    help="kfold/loso: also write <stem>.fold<k>.csv with train/val/test for each fold")
    from eeg_vlm.cli import add_verbosity, configure_logging

    add_verbosity(ap, "each step")
    args = ap.parse_args(argv)
    configure_logging(args)
    try:
        rows = read_manifest(args.manifest)
        new = assign_splits(rows, args.protocol, args.seed, args.folds, args.test_fraction, args.val_fraction,
                            where=f"file {args.manifest!r}")
        out = Path(args.out) if args.out else Path(args.manifest)
        if out.resolve().parent != Path(args.manifest).resolve().parent:
            logger.warning("%s is not beside %s: image paths in it are relative to the original folder", out, args.manifest)
        write_manifest(out, new)
        extra = write_fold_manifests(out, new, args.seed, args.val_fraction) if args.per_fold and args.protocol != "holdout" else []
    except (ValueError, FileNotFoundError) as exc:
        print(f"eeg-vlm split: error: {exc}", file=sys.stderr)
        return 1
    subjects: dict[str, set] = {}
    epochs: Counter = Counter()
    for r in new:
        subjects.setdefault(r.split, set()).add(subject_key(r))
        epochs[r.split] += 1
    order = sorted(subjects, key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else ["train", "val", "test"].index(s)))
    print(f"{args.protocol} split (seed {args.seed}) -> {out}")
    for s in order:
        print(f"  {s:>5}: {len(subjects[s])} subjects, {epochs[s]} epochs")
    for p in extra:
        print(f"  wrote {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
