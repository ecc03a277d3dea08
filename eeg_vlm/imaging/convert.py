"""``eeg-vlm convert``: a folder of recordings -> epoch images, signals and manifest.csv.

Output folder::

    OUT_DIR/
      manifest.csv                 one row per epoch (eeg_vlm.dataset.manifest), split column empty
      convert.json                 settings, channel order, per-record counts, version
      images/<record_id>/<epoch:06d>.png
      signals/<record_id>.npy      float32 (n_epochs, C, T) µV, unscaled, manifest row order
      .parts/<record_id>.csv|.json one finished recording each (resume markers)

Recordings are converted in a process pool (``spawn``-safe), one recording per task. A
recording's part files are written atomically and only after all its images and its
signals, so a run that is killed or fails halfway leaves every finished recording
complete; running the same command again converts only the rest and assembles the same
manifest, byte for byte, as an uninterrupted run. The settings are checked against the
previous run's, so parts made with other settings are never mixed in (``overwrite``
starts afresh).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import multiprocessing
import os
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from eeg_vlm.cli import configure_logging
from eeg_vlm import __version__
from eeg_vlm.checks import check_option
from eeg_vlm.fileio import atomic_write, write_bytes_atomic, write_text_atomic
from eeg_vlm.imaging.render import DEFAULT_SIZE, PNG_COMPRESS_LEVEL, STYLES, band_rows, encode_png, render_epoch
from eeg_vlm.dataset.manifest import Row, read_manifest, sample_id, write_manifest
from eeg_vlm.imaging.robustness import ChannelFailure, apply_channel_failure, plan_channel_failure
from eeg_vlm.io.dreams import read_rate_table
from eeg_vlm.signals.labels import EPOCH_RULES

logger = logging.getLogger(__name__)

__all__ = ["ConvertConfig", "ConvertResult", "convert", "write_record", "build_parser", "main"]

MANIFEST = "manifest.csv"
CONVERT_JSON = "convert.json"
PARTS = ".parts"
_SCALE_CHUNK = 128  # epochs scaled at once: bounds the float32 copy to ~1.5 MB per channel
#: convert.json keys that must match for a rerun to resume instead of starting afresh.
CONFIG_KEYS = ("channels", "style", "sfreq", "epoch_length", "trim_wake", "fmt", "size", "line_width",
               "signals", "png_compress_level", "channel_failure", "epoch_rule", "source_sfreq", "source_rates")
#: Values of keys a convert.json of an older version lacks (it was made with these).
_ABSENT_KEYS = {"epoch_rule": "unanimous", "source_sfreq": None, "source_rates": {}}


@dataclass(frozen=True)
class ConvertConfig:
    """Settings of one conversion (all of them land in ``convert.json``).

    Attributes
    ----------
    channels : tuple of str
        Channel names or aliases, in image (band) and signal order.
    style : {'eeg-vlm', 'psg-llava'}
        One channel over the whole image, or channels stacked in bands.
    sfreq : float
        Target sampling rate in Hz.
    trim_wake : float or None
        Minutes of wake kept around the sleep period; ``None`` keeps all epochs.
    fmt : str
        Dataset format for discovery (``'auto'``, ``'sleep-edf'``, ...).
    size, line_width : int
        Image side in pixels and stroke width.
    signals : bool
        Also write ``signals/<record_id>.npy``.
    fail_channel : str or None
        Channel that fails for a share of subjects (:mod:`eeg_vlm.imaging.robustness`).
    fail_fraction : float
        Share of subjects whose channel fails.
    fail_seed : int
        Seed of the failure plan.
    epoch_rule, source_sfreq, source_rates, strict :
        See the field help.
    """

    channels: tuple[str, ...] = ("Fpz-Cz",)
    style: str = "eeg-vlm"
    sfreq: float = 100.0
    trim_wake: float | None = 30.0
    fmt: str = "auto"
    size: int = DEFAULT_SIZE
    line_width: int = 1
    signals: bool = True
    fail_channel: str | None = None
    fail_fraction: float = 0.7
    fail_seed: int = 0
    epoch_length: float = field(default=30.0, repr=False)
    epoch_rule: str = field(default="unanimous", metadata={"help": (
        "how finer scoring (DREAMS 5-s, MASS 20-s) makes a 30-s epoch: 'unanimous' (all parts agree) or "
        "'majority' (AASM: the stage filling most of the epoch; a tie is dropped as ambiguous)")})
    source_sfreq: float | None = field(default=None, metadata={"help": (
        "sampling rate (Hz) of recordings whose files do not store it (DREAMS text files); default: the "
        "dataset's documented rate")})
    source_rates: tuple[tuple[str, float], ...] = field(default=(), metadata={"help": (
        "per-file sampling rates (file name or stem, Hz) for such recordings; they win over source_sfreq")})
    strict: bool = field(default=False, metadata={"help": (
        "refuse an EDF whose data holds more records than its header says (default: read them all, warning)")})

    def __post_init__(self) -> None:
        channels = (self.channels,) if isinstance(self.channels, str) else tuple(self.channels)
        object.__setattr__(self, "channels", channels)
        if not channels:
            raise ValueError("convert: at least one channel is needed")
        if len(set(channels)) != len(channels):
            raise ValueError(f"convert: channels repeat: {', '.join(channels)}")
        check_option("style", self.style, STYLES, where="convert")
        band_rows(len(channels), int(self.size), self.style)  # one channel for 'eeg-vlm', fits in size
        if not self.sfreq > 0:
            raise ValueError(f"convert: sfreq must be > 0 Hz, got {self.sfreq!r}")
        if self.trim_wake is not None and self.trim_wake < 0:
            raise ValueError(f"convert: trim_wake must be >= 0 minutes or None, got {self.trim_wake!r}")
        if int(self.line_width) < 1:
            raise ValueError(f"convert: line_width must be >= 1, got {self.line_width!r}")
        if self.fail_channel is not None and self.fail_channel not in channels:
            raise ValueError(
                f"convert: fail channel {self.fail_channel!r} is not among the converted channels "
                f"({', '.join(channels)}); a failing channel that is not drawn changes nothing"
            )
        if not 0.0 <= self.fail_fraction <= 1.0:
            raise ValueError(f"convert: fail_fraction must be between 0 and 1, got {self.fail_fraction!r}")
        check_option("epoch_rule", self.epoch_rule, EPOCH_RULES, where="convert")
        if self.source_sfreq is not None and not self.source_sfreq > 0:
            raise ValueError(f"convert: source_sfreq must be > 0 Hz, got {self.source_sfreq!r}")
        rates = tuple(sorted(dict(self.source_rates).items()))
        object.__setattr__(self, "source_rates", tuple((str(k), float(v)) for k, v in rates))
        bad = [k for k, v in self.source_rates if not v > 0]
        if bad:
            raise ValueError(f"convert: source rates must be > 0 Hz; not for {', '.join(bad)}")

    def settings(self) -> dict:
        """The values compared between runs (:data:`CONFIG_KEYS`), JSON-ready."""
        failure = None
        if self.fail_channel is not None:
            failure = {"channel": self.fail_channel, "fraction": float(self.fail_fraction), "seed": int(self.fail_seed)}
        return {
            "channels": list(self.channels), "style": self.style, "sfreq": float(self.sfreq),
            "epoch_length": float(self.epoch_length),
            "trim_wake": None if self.trim_wake is None else float(self.trim_wake), "fmt": self.fmt,
            "size": int(self.size), "line_width": int(self.line_width), "signals": bool(self.signals),
            "png_compress_level": PNG_COMPRESS_LEVEL, "channel_failure": failure, "epoch_rule": self.epoch_rule,
            "source_sfreq": None if self.source_sfreq is None else float(self.source_sfreq),
            "source_rates": dict(self.source_rates),
        }


@dataclass
class ConvertResult:
    """What :func:`convert` produced.

    Attributes
    ----------
    manifest : Path
        ``OUT_DIR/manifest.csv``.
    n_epochs : int
        Rows in the manifest.
    records : list of str
        Record ids in the manifest, in order.
    converted : list of str
        Record ids converted by this run (the others were finished by an earlier run).
    skipped : list of dict
        ``{"record_id", "files", "error"}`` per recording skipped with ``skip_bad``.
    """

    manifest: Path
    n_epochs: int
    records: list[str]
    converted: list[str]
    skipped: list[dict]


# ----------------------------------------------------------------------------- one record
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
    from eeg_vlm.signals.epochs import minmax_scale

    out_dir = Path(out_dir)
    rid = epochs.record_id
    (out_dir / "images" / rid).mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    with ThreadPoolExecutor(max_workers=io_threads) if io_threads > 0 else contextlib.nullcontext() as pool:
        pending: list[Future] = []
        for start in range(0, len(epochs), _SCALE_CHUNK):
            scaled = minmax_scale(epochs.data[start:start + _SCALE_CHUNK])  # (chunk, C, T) in [-1, 1]
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
class _Task:
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


def _convert_one(task: _Task) -> dict:
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
                         trim_wake=cfg.trim_wake, rule=cfg.epoch_rule)
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
        "coverage": dict(sorted(ep.coverage.items())),
        "channel_failure": failure,
    }
    parts = out / PARTS
    write_text_atomic(parts / f"{src.record_id}.json", json.dumps(info, indent=2, sort_keys=True) + "\n")
    write_manifest(parts / f"{src.record_id}.csv", rows)  # written last: the record is done
    return {"record_id": src.record_id, "n_epochs": len(ep)}


# ----------------------------------------------------------------------------- driver
def _check_previous(out_dir: Path, settings: dict, overwrite: bool) -> None:
    """Refuse to mix outputs of different settings; clear them with ``overwrite``."""
    generated = [out_dir / MANIFEST, out_dir / CONVERT_JSON, out_dir / PARTS, out_dir / "images", out_dir / "signals"]
    if overwrite:
        for p in generated:
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
        return
    for p in (out_dir / CONVERT_JSON, out_dir / PARTS / "settings.json"):
        if not p.is_file():
            continue
        try:
            old = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"file {str(p)!r}: unreadable ({exc}); use --overwrite to convert afresh") from exc
        diff = [f"{k}: {old.get(k, _ABSENT_KEYS.get(k))!r} -> {settings[k]!r}" for k in CONFIG_KEYS
                if old.get(k, _ABSENT_KEYS.get(k)) != settings[k]]
        if diff:
            raise ValueError(
                f"folder {str(out_dir)!r}: was converted with other settings ({'; '.join(diff)}); "
                f"use --overwrite to convert afresh, or another output folder"
            )


def _progress(total: int, enabled: bool):
    if not enabled or total == 0:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm ships with the install
        return None
    return tqdm(total=total, unit="rec", desc="convert", disable=not sys.stderr.isatty())


def convert(input_dir: str | Path, out_dir: str | Path, channels: Sequence[str] | str = ("Fpz-Cz",),
            style: str = "eeg-vlm", sfreq: float = 100.0, fmt: str = "auto", trim_wake: float | None = 30.0,
            workers: int = 1, size: int = DEFAULT_SIZE, line_width: int = 1, signals: bool = True,
            skip_bad: bool = False, overwrite: bool = False, fail_channel: str | None = None,
            fail_fraction: float = 0.7, fail_seed: int = 0, progress: bool = False, epoch_rule: str = "unanimous",
            source_sfreq: float | None = None, source_rates: dict[str, float] | None = None,
            strict: bool = False) -> ConvertResult:
    """Convert every recording in ``input_dir`` into ``out_dir`` (see the module docstring).

    Parameters
    ----------
    input_dir, out_dir : path
        Recordings (found by :func:`eeg_vlm.io.find_recordings` with ``fmt``) and output.
    channels, style, sfreq, trim_wake, size, line_width, signals :
        As :class:`ConvertConfig`.
    fmt : str
        Dataset format or ``'auto'``.
    workers : int
        Processes (1 converts in this process).
    skip_bad : bool
        Continue past recordings that cannot be read or lack a channel and report them;
        otherwise the first such recording raises once the running ones finished.
    overwrite : bool
        Delete earlier output of this folder first (instead of resuming).
    fail_channel, fail_fraction, fail_seed :
        Channel failure (PSG-LLaVA 2.3.1): for ``round(fail_fraction * n_subjects)``
        seeded subjects the channel becomes white noise or zeros from a random time on.
    progress : bool
        Show a progress bar (only on a terminal).
    epoch_rule, source_sfreq, source_rates, strict :
        As :class:`ConvertConfig` (``source_rates``: file name or stem -> Hz).

    Returns
    -------
    ConvertResult

    Raises
    ------
    ValueError
        Bad settings, settings that differ from the previous run of ``out_dir``, or a bad
        recording (message naming its file; finished recordings stay on disk).
    """
    from eeg_vlm.io import find_recordings

    cfg = ConvertConfig(channels=channels, style=style, sfreq=float(sfreq), trim_wake=trim_wake, fmt=fmt,
                        size=int(size), line_width=int(line_width), signals=bool(signals),
                        fail_channel=fail_channel, fail_fraction=float(fail_fraction), fail_seed=int(fail_seed),
                        epoch_rule=epoch_rule, source_sfreq=source_sfreq,
                        source_rates=tuple((source_rates or {}).items()), strict=bool(strict))
    input_dir, out_dir = Path(input_dir), Path(out_dir)
    if not input_dir.is_dir():
        raise FileNotFoundError(f"folder {str(input_dir)!r}: not found")
    if int(workers) < 1:
        raise ValueError(f"convert: workers must be >= 1, got {workers!r}")
    sources = find_recordings(input_dir, fmt=fmt)
    ids = [s.record_id for s in sources]
    if len(set(ids)) != len(ids):
        dup = sorted(k for k, v in Counter(ids).items() if v > 1)
        raise ValueError(f"folder {str(input_dir)!r}: record ids repeat: {', '.join(dup)}")
    settings = cfg.settings()
    _check_previous(out_dir, settings, overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / PARTS / "settings.json", json.dumps(settings, indent=2, sort_keys=True) + "\n")

    plan: dict[str, ChannelFailure] = {}
    if cfg.fail_channel is not None:
        plan = plan_channel_failure([s.subject for s in sources], cfg.fail_channel, cfg.fail_fraction, cfg.fail_seed)

    def done(rid: str) -> bool:
        return (out_dir / PARTS / f"{rid}.csv").is_file() and (out_dir / PARTS / f"{rid}.json").is_file()

    todo = [s for s in sources if not done(s.record_id)]
    if len(todo) < len(sources):
        logger.info("resuming: %d of %d recordings already converted", len(sources) - len(todo), len(sources))
    tasks = [_Task(s, str(input_dir), str(out_dir), cfg, plan.get(s.subject)) for s in todo]
    results, errors = _run(tasks, int(workers), skip_bad, progress)
    skipped = list(errors)
    if errors and not skip_bad:
        n_done = sum(done(s.record_id) for s in sources)
        raise ValueError(
            f"{errors[0]['error']}; {n_done} of {len(sources)} recordings are converted and kept in "
            f"{str(out_dir)!r} (rerun to resume, or use --skip-bad)"
        )
    if skipped and not any(done(s.record_id) for s in sources):
        raise ValueError(f"folder {str(input_dir)!r}: no recording could be converted; {len(skipped)} skipped, "
                         f"the first: {skipped[0]['error']}")
    finished = {r["record_id"] for r in results}
    return _assemble(out_dir, input_dir, sources, cfg, plan, skipped, [s.record_id for s in sources if s.record_id in finished])


def _run(tasks: list[_Task], workers: int, skip_bad: bool, progress: bool) -> tuple[list[dict], list[dict]]:
    """Run tasks in order (in process) or in a spawn pool; stop submitting after an error."""
    results: list[dict] = []
    errors: list[dict] = []
    bar = _progress(len(tasks), progress)

    def handle(res: dict) -> None:
        if "error" in res:
            logger.error("%s", res["error"])
            errors.append(res)
        else:
            results.append(res)
        if bar is not None:
            bar.update(1)

    try:
        if workers == 1 or len(tasks) <= 1:
            for t in tasks:
                handle(_convert_one(t))
                if errors and not skip_bad:
                    break
        else:
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx) as pool:
                pending: set[Future] = set()
                queue = list(tasks)
                while queue or pending:
                    while queue and len(pending) < 2 * workers and not (errors and not skip_bad):
                        pending.add(pool.submit(_convert_one, queue.pop(0)))
                    if errors and not skip_bad:
                        queue.clear()
                    if not pending:
                        break
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in finished:
                        handle(f.result())
    finally:
        if bar is not None:
            bar.close()
    return results, errors


def _assemble(out_dir: Path, input_dir: Path, sources, cfg: ConvertConfig, plan: dict[str, ChannelFailure],
              skipped: list[dict], converted: list[str]) -> ConvertResult:
    """Concatenate finished parts in record order into manifest.csv and convert.json."""
    rows: list[Row] = []
    records: dict[str, dict] = {}
    for s in sources:
        part = out_dir / PARTS / f"{s.record_id}.csv"
        if not part.is_file():
            continue
        rows += read_manifest(part)
        records[s.record_id] = json.loads((out_dir / PARTS / f"{s.record_id}.json").read_text(encoding="utf-8"))
    manifest = write_manifest(out_dir / MANIFEST, rows)
    meta = dict(cfg.settings())
    meta.update({
        "eeg_vlm_version": __version__, "strict": cfg.strict,
        "image_mode": "L",
        "band_rows": [list(b) for b in band_rows(len(cfg.channels), cfg.size, cfg.style)],
        "n_epochs": len(rows),
        "stages": dict(sorted(Counter(r.stage or "unscored" for r in rows).items())),
        "records": records,
        "skipped": sorted(skipped, key=lambda e: e["record_id"]),
    })
    if cfg.fail_channel is not None:  # which subjects fail and how; per-night t_fail_s in records
        meta["channel_failure_subjects"] = {
            k: {"mode": v.mode, "t_fail_fraction": v.t_fail_fraction, "seed": v.seed} for k, v in plan.items()}
    write_text_atomic(out_dir / CONVERT_JSON, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    logger.info("wrote %s: %d epochs from %d recordings", manifest, len(rows), len(records))
    return ConvertResult(manifest, len(rows), list(records), converted, meta["skipped"])


# ----------------------------------------------------------------------------- CLI
def _trim(value: str) -> float | None:
    if value.strip().lower() in ("none", "0", "0.0", "off"):
        return None
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected minutes or 'none', got {value!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected minutes >= 0 or 'none', got {value!r}")
    return v


def _help(name: str) -> str:
    """A :class:`ConvertConfig` field's help text."""
    return next(f.metadata["help"] for f in fields(ConvertConfig) if f.name == name)


def build_parser() -> argparse.ArgumentParser:
    """The ``eeg-vlm convert`` argument parser."""
    ap = argparse.ArgumentParser(
        prog="eeg-vlm convert",
        description="Turn a folder of PSG recordings into 30-s epoch images, signals and manifest.csv.")
    ap.add_argument("input_dir", help="folder of recordings (Sleep-EDF, SHHS, ISRUC, MASS, DREAMS, EDF)")
    ap.add_argument("out_dir", help="output folder (manifest.csv, convert.json, images/, signals/)")
    ap.add_argument("--channels", nargs="+", default=["Fpz-Cz"],
                    help="channel names or aliases, in band order (default: Fpz-Cz)")
    ap.add_argument("--style", choices=STYLES, default="eeg-vlm",
                    help="eeg-vlm: one channel, full height; psg-llava: channels stacked in bands (default: %(default)s)")
    ap.add_argument("--sfreq", type=float, default=100.0, help="target sampling rate in Hz (default: %(default)s)")
    from eeg_vlm.io import FORMATS

    ap.add_argument("--fmt", choices=FORMATS, default="auto", help="dataset format (default: %(default)s)")
    ap.add_argument("--trim-wake", type=_trim, default=30.0,
                    help="minutes of wake kept around the sleep period; 0/none keeps all (default: 30)")
    ap.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                    help="processes, one recording each (default: %(default)s)")
    ap.add_argument("--size", type=int, default=DEFAULT_SIZE, help="image side in pixels (default: %(default)s)")
    ap.add_argument("--line-width", type=int, default=1, help="stroke width in pixels (default: %(default)s)")
    ap.add_argument("--no-signals", action="store_true", help="do not write signals/<record_id>.npy")
    ap.add_argument("--skip-bad", action="store_true", help="skip unreadable recordings and report them")
    ap.add_argument("--overwrite", action="store_true", help="delete earlier output in OUT_DIR and start afresh")
    ap.add_argument("--fail-channel", default=None,
                    help="robustness test: this channel fails for a share of subjects (white noise or zeros)")
    ap.add_argument("--fail-fraction", type=float, default=0.7, help="share of subjects that fail (default: %(default)s)")
    ap.add_argument("--fail-seed", type=int, default=0, help="seed of the failure plan (default: %(default)s)")
    ap.add_argument("--epoch-rule", choices=EPOCH_RULES, default="unanimous",
                    help=_help("epoch_rule") + " (default: %(default)s)")
    ap.add_argument("--source-sfreq", type=float, default=None, help=_help("source_sfreq"))
    ap.add_argument("--source-sfreq-table", default=None, metavar="FILE",
                    help="CSV 'file,sfreq' or JSON {file: Hz}: " + _help("source_rates"))
    ap.add_argument("--strict", action="store_true", help=_help("strict"))
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    ap.add_argument("-v", "--verbose", action="store_true", help="log each recording")
    return ap


def main(argv: list[str] | None = None) -> int:
    """``eeg-vlm convert``."""
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        rates = read_rate_table(args.source_sfreq_table) if args.source_sfreq_table else None
        res = convert(args.input_dir, args.out_dir, channels=args.channels, style=args.style, sfreq=args.sfreq,
                      fmt=args.fmt, trim_wake=args.trim_wake, workers=args.workers, size=args.size,
                      line_width=args.line_width, signals=not args.no_signals, skip_bad=args.skip_bad,
                      overwrite=args.overwrite, fail_channel=args.fail_channel, fail_fraction=args.fail_fraction,
                      fail_seed=args.fail_seed, progress=not args.no_progress, epoch_rule=args.epoch_rule,
                      source_sfreq=args.source_sfreq, source_rates=rates, strict=args.strict)
    except (ValueError, FileNotFoundError) as exc:
        print(f"eeg-vlm convert: error: {exc}", file=sys.stderr)
        return 1
    stages = Counter(r.stage or "unscored" for r in read_manifest(res.manifest))
    counts = ", ".join(f"{k} {stages[k]}" for k in ("W", "N1", "N2", "N3", "REM", "unscored") if stages.get(k))
    print(f"{res.n_epochs} epochs from {len(res.records)} recordings ({len(res.converted)} converted now) "
          f"-> {res.manifest}" + (f" [{counts}]" if counts else ""))
    for s in res.skipped:
        print(f"skipped {s['record_id']}: {s['error']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
