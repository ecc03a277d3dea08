"""Training answers reasoned from each epoch's own signal: one task per record, measured by
the event detectors and phrased by :func:`eeg_vlm.reasoning.cot.rationale`, optionally in a
process pool.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eeg_vlm.dataset.manifest import Row
from eeg_vlm.pool import process_pool
from eeg_vlm.reasoning import cot
from eeg_vlm.reasoning.build_config import BuildConfig
from eeg_vlm.reasoning.detectors import describe_epochs
from ondisk import CONVERT_JSON

logger = logging.getLogger(__name__)

__all__ = ["flagged_epochs", "generated_answers"]


def _signal_settings(meta: dict, manifest: Path) -> tuple[list[str], float]:
    where = f"file {str(manifest.parent / CONVERT_JSON)!r}"
    if not meta:
        raise FileNotFoundError(
            f"{where}: not found; the rationales need its channel names and sampling rate "
            f"(written by 'eeg-vlm convert'; or use --cot none or --rationales)"
        )
    channels, sfreq = meta.get("channels"), meta.get("sfreq")
    if not isinstance(channels, list) or not channels or not all(isinstance(c, str) for c in channels):
        raise ValueError(f"{where}: 'channels' must be a non-empty list of names, got {channels!r}")
    if not isinstance(sfreq, (int, float)) or not sfreq > 0:
        raise ValueError(f"{where}: 'sfreq' must be a positive number, got {sfreq!r}")
    return channels, float(sfreq)


@dataclass(frozen=True)
class _RecordTask:
    """One record's rationale job (picklable, for a process pool)."""

    path: str
    sample_ids: tuple[str, ...]  # every row of the record, in manifest order (= signal rows)
    stages: tuple[str, ...]
    wanted: tuple[bool, ...]
    channels: tuple[str, ...]
    sfreq: float
    variant: str
    eeg_channel: str | None


def _record_answers(task: _RecordTask) -> dict[str, str]:
    """Rationales of the wanted rows of one record, reasoned from its signals."""
    data = np.load(task.path, mmap_mode="r", allow_pickle=False)
    descs = describe_epochs(np.asarray(data, dtype=np.float32), list(task.channels), task.sfreq, eeg=task.eeg_channel)
    return {
        sid: cot.rationale(desc, stage, task.variant, key=sid)
        for sid, stage, want, desc in zip(task.sample_ids, task.stages, task.wanted, descs)
        if want
    }


def _record_tasks(rows: Sequence[Row], train: Sequence[Row], config: BuildConfig, meta: dict) -> list[_RecordTask]:
    """One task per record with training rows; signals files are checked here, before any work."""
    channels, sfreq = _signal_settings(meta, config.manifest)
    by_record: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by_record[r.record_id].append(r)
    wanted = {r.sample_id for r in train}
    tasks = []
    for rid in dict.fromkeys(r.record_id for r in train):
        record_rows = by_record[rid]
        path = config.manifest.parent / "signals" / f"{rid}.npy"
        if not path.is_file():
            raise FileNotFoundError(
                f"signals file {str(path)!r}: not found; needed for the {config.cot!r} rationales of record "
                f"{rid!r} (run 'eeg-vlm convert' without --no-signals, or use --cot none or --rationales)"
            )
        try:
            data = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as exc:
            raise ValueError(f"signals file {str(path)!r}: not a plain .npy array ({exc})") from None
        if data.ndim != 3 or data.shape[0] != len(record_rows) or data.shape[1] != len(channels):
            raise ValueError(
                f"signals file {str(path)!r}: shape {tuple(data.shape)}, but the manifest has {len(record_rows)} "
                f"rows of record {rid!r} and convert.json {len(channels)} channels; expected "
                f"({len(record_rows)}, {len(channels)}, n_samples)"
            )
        tasks.append(_RecordTask(
            str(path), tuple(r.sample_id for r in record_rows), tuple(r.stage for r in record_rows),
            tuple(r.sample_id in wanted for r in record_rows), tuple(channels), sfreq, config.cot, config.eeg_channel,
        ))
    return tasks


def flagged_epochs(meta: dict) -> dict[str, str]:
    """Sample ids that ``eeg-vlm convert --keep-bad-epochs`` kept although flat or clipped."""
    records = meta.get("records") if isinstance(meta.get("records"), dict) else {}
    return {sid: str(flag) for info in records.values() if isinstance(info, dict)
            for sid, flag in (info.get("flagged") or {}).items()}


def generated_answers(rows: Sequence[Row], train: Sequence[Row], config: BuildConfig, meta: dict) -> dict[str, str]:
    """Rationales for the ``train`` rows, reasoned from each record's signals.

    Epochs that convert flagged flat or clipped get the plain answer: no rationale is
    reasoned from a dead or saturated signal.
    """
    if config.cot == "none":
        return {r.sample_id: cot.rationale(None, r.stage, "none") for r in train}
    tasks = _record_tasks(rows, train, config, meta)
    answers: dict[str, str] = {}
    if config.workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            answers.update(_record_answers(task))
    else:
        with process_pool(min(config.workers, len(tasks))) as pool:  # workers exit if this process dies
            for part in pool.map(_record_answers, tasks):
                answers.update(part)
    flagged = flagged_epochs(meta)
    plain = [r for r in train if r.sample_id in flagged]
    for r in plain:
        answers[r.sample_id] = cot.rationale(None, r.stage, "none")
    if plain:
        logger.info("%d flat or clipped training epochs get the plain answer, no rationale", len(plain))
    return answers
