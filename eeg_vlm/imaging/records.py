"""One recording of ``eeg-vlm convert``: read, (optionally) fail a channel, cut epochs, render
and write its images, signals and part files.

:func:`write_record` is also what ``eeg-vlm stage`` renders a night with, so staged images
are drawn exactly as the training images were.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eeg_vlm.dataset.manifest import Row, sample_id, write_manifest
from ondisk import atomic_write, write_bytes_atomic, write_text_atomic
from eeg_vlm.imaging.convert_config import PARTS, ConvertConfig
from eeg_vlm.imaging.render import encode_png, render_epoch
from eeg_vlm.imaging.robustness import ChannelFailure, apply_channel_failure
from eeg_vlm.signals.filters import display_filter
from eeg_vlm.imaging.scaling import scale_epochs

logger = logging.getLogger(__name__)

__all__ = ["write_record", "RecordTask", "convert_record", "clipped_share"]

_SCALE_CHUNK = 128  # epochs scaled at once: bounds the float32 copy to ~1.5 MB per channel


def clipped_share(data: np.ndarray, config: ConvertConfig) -> float | None:
    """Share of samples beyond ``±uv_range`` (``None`` for min-max scaling), 6 decimals."""
    if config.scaling != "fixed":
        return None
    n = 0
    for start in range(0, len(data), _SCALE_CHUNK):
        n += scale_epochs(data[start:start + _SCALE_CHUNK], config.scaling, config.uv_range)[1]
    return round(n / data.size, 6) if data.size else 0.0


def write_record(epochs, out_dir: str | Path, config: ConvertConfig, io_threads: int = 4) -> list[Row]:
    """Render and write one recording's epochs; return its manifest rows.

    Parameters
    ----------
    epochs : eeg_vlm.signals.epochs.Epochs
        Epochs of one recording (data in µV, shape ``(n, C, T)``).
    out_dir : path
        Output folder; writes ``images/<record_id>/<epoch:06d>.png`` and, with
        ``config.signals``, ``signals/<record_id>.npy``.
    config : ConvertConfig
        Style, size, line width.
    io_threads : int
        Threads writing image files while the next epochs render (creating a file is
        mostly waiting on the disk); 0 writes inline.

    Returns
    -------
    list of Row
        In epoch order, split empty. The image of an epoch depends on its samples only.
    """
    out_dir = Path(out_dir)
    rid = epochs.record_id
    (out_dir / "images" / rid).mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    with ThreadPoolExecutor(max_workers=io_threads) if io_threads > 0 else contextlib.nullcontext() as pool:
        pending: list[Future] = []
        for start in range(0, len(epochs), _SCALE_CHUNK):
            shown = display_filter(epochs.data[start:start + _SCALE_CHUNK], epochs.sfreq, epochs.channels,
                                   config.display_filter)  # (chunk, C, T) µV, as a scorer's screen filters
            scaled, _ = scale_epochs(shown, config.scaling, config.uv_range)  # (chunk, C, T) in [-1, 1]
            for j, x in enumerate(scaled):
                i = start + j
                k = int(epochs.epoch[i])
                rel = f"images/{rid}/{k:06d}.png"
                png = encode_png(render_epoch(x, config.style, config.size, config.line_width))
                if pool is None:
                    write_bytes_atomic(out_dir / rel, png, durable=False)
                else:
                    pending.append(pool.submit(write_bytes_atomic, out_dir / rel, png, False))
                rows.append(Row(sample_id(rid, k), epochs.dataset, epochs.subject, epochs.night, k,
                                float(epochs.onset_s[i]), epochs.stages[i] or "", rel, ""))
            for f in pending:  # surface write errors; bounds the queue to one chunk
                f.result()
            pending.clear()
    if config.signals:
        with atomic_write(out_dir / "signals" / f"{rid}.npy", "wb") as fh:
            np.save(fh, np.ascontiguousarray(epochs.data, dtype=np.float32), allow_pickle=False)
    return rows


@dataclass(frozen=True)
class RecordTask:
    source: object  # eeg_vlm.io.RecordingSource (picklable)
    input_dir: str
    out_dir: str
    config: ConvertConfig
    failure: ChannelFailure | None


def _relative(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _name_file(message: str, source) -> str:
    """Make sure an error message names the recording's file."""
    if any(str(p) in message or Path(p).name in message for p in source.paths):
        return message
    return f"file {str(source.paths[0])!r}: {message}"


def convert_record(task: RecordTask) -> dict:
    """Worker: read, fail (optionally), epoch, render and write one recording.

    Returns ``{"record_id", "error"}`` on a bad recording instead of raising, so that a
    process pool reports it cleanly; other exceptions propagate.
    """
    from eeg_vlm.signals.epochs import make_epochs

    src = task.source
    out = Path(task.out_dir)
    cfg = task.config
    try:
        rec = src.load(channels=list(cfg.channels), source_sfreq=cfg.source_sfreq,
                       source_rates=dict(cfg.source_rates), strict=cfg.strict)
        failure = None
        if task.failure is not None:
            rec, t_fail = apply_channel_failure(rec, task.failure)
            failure = {"channel": task.failure.channel, "mode": task.failure.mode, "t_fail_s": t_fail}
        ep = make_epochs(rec, list(cfg.channels), sfreq=cfg.sfreq, epoch_length=cfg.epoch_length,
                         trim_wake=cfg.trim_wake_min, rule=cfg.epoch_rule, quality=cfg.quality())
    except (ValueError, OSError, KeyError) as exc:  # unreadable file, missing channel, bad header
        return {"record_id": src.record_id, "error": _name_file(str(exc), src),
                "files": [_relative(p, Path(task.input_dir)) for p in src.paths]}
    if len(ep) == 0:
        logger.warning("%s: no epochs left (dropped %s, trimmed %d)", src.record_id, ep.dropped, ep.trimmed)
    rows = write_record(ep, out, cfg)
    info = {
        "record_id": ep.record_id, "dataset": ep.dataset, "subject": ep.subject, "night": ep.night,
        "files": [_relative(p, Path(task.input_dir)) for p in src.paths], "file_channels": list(ep.channels),
        "n_epochs": len(ep), "stages": dict(sorted(Counter(r.stage or "unscored" for r in rows).items())),
        "dropped": {k: int(v) for k, v in sorted(ep.dropped.items())}, "trimmed": int(ep.trimmed),
        "coverage": dict(sorted(ep.coverage.items())), "quality": dict(sorted(ep.quality.items())),
        "flagged": {r.sample_id: f for r, f in zip(rows, ep.flags) if f},
        "channel_failure": failure, "clipped_share": clipped_share(ep.data, cfg),
    }
    parts = out / PARTS
    write_text_atomic(parts / f"{src.record_id}.json", json.dumps(info, indent=2, sort_keys=True) + "\n")
    write_manifest(parts / f"{src.record_id}.csv", rows)  # written last: the record is done
    return {"record_id": src.record_id, "n_epochs": len(ep)}
