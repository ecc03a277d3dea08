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
import json
import logging
import os
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import fields
from pathlib import Path

from eeg_vlm import __version__
from eeg_vlm.cli import add_verbosity, configure_logging
from eeg_vlm.config import minutes_or_none
from eeg_vlm.dataset.manifest import Row, read_manifest, write_manifest
from ondisk import write_text_atomic
from eeg_vlm.imaging.convert_config import (CONFIG_KEYS, CONVERT_JSON, MANIFEST, PARTS, ConvertConfig,
                                            ConvertResult, previous_value)
from eeg_vlm.imaging.records import RecordTask, convert_record, write_record
from eeg_vlm.imaging.render import band_rows
from eeg_vlm.imaging.robustness import ChannelFailure, plan_channel_failure
from eeg_vlm.pool import process_pool
from eeg_vlm.io.dreams import read_rate_table

logger = logging.getLogger(__name__)

# ConvertConfig / ConvertResult live in eeg_vlm.imaging.convert_config and write_record in
# eeg_vlm.imaging.records; they are re-exported here, where users have imported them.
__all__ = ["convert_sources", "ConvertConfig", "ConvertResult", "convert", "write_record", "build_parser", "main"]


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
        diff = [f"{k}: {previous_value(old, k)!r} -> {settings[k]!r}" for k in CONFIG_KEYS
                if previous_value(old, k) != settings[k]]
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


def _config(config: ConvertConfig | None, settings: dict) -> ConvertConfig:
    """``config``, or one built from keyword settings; a renamed setting is named."""
    if "trim_wake" in settings:
        raise TypeError("convert: 'trim_wake' is now 'trim_wake_min' (minutes of wake kept around the sleep "
                        "period; 0 keeps none, None keeps every epoch)")
    if config is not None:
        if settings:
            raise TypeError(f"convert: give a ConvertConfig or settings, not both ({', '.join(sorted(settings))})")
        return config
    if isinstance(settings.get("source_rates"), dict):
        settings["source_rates"] = tuple(settings["source_rates"].items())
    return ConvertConfig(**settings)


def convert(input_dir: str | Path, out_dir: str | Path, config: ConvertConfig | None = None, *, workers: int = 1,
            skip_bad: bool = False, overwrite: bool = False, progress: bool = False,
            **settings) -> ConvertResult:
    """Convert every recording in ``input_dir`` into ``out_dir`` (see the module docstring).

    Parameters
    ----------
    input_dir, out_dir : path
        Recordings (found by :func:`eeg_vlm.io.find_recordings` with ``config.fmt``) and output.
    config : ConvertConfig, optional
        The conversion settings (default: ``ConvertConfig(**settings)``); they are
        recorded in ``convert.json``.
    workers : int
        Processes (1 converts in this process).
    skip_bad : bool
        Continue past recordings that cannot be read or lack a channel and report them;
        otherwise the first such recording raises once the running ones finished.
    overwrite : bool
        Delete earlier output of this folder first (instead of resuming).
    progress : bool
        Show a progress bar (only on a terminal).
    **settings :
        :class:`ConvertConfig` fields, when ``config`` is not given
        (``convert(a, b, channels=["Fpz-Cz"], trim_wake_min=None)``).

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

    cfg = _config(config, settings)
    fmt = cfg.fmt
    input_dir, out_dir = Path(input_dir), Path(out_dir)
    if input_dir.exists() and not input_dir.is_dir():
        raise ValueError(f"folder {str(input_dir)!r}: is a file; give the folder that holds the recordings")
    if not input_dir.is_dir():
        raise FileNotFoundError(f"folder {str(input_dir)!r}: not found")
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"folder {str(out_dir)!r}: output folder exists as a file; give a folder (new or earlier "
                         "output)")
    if int(workers) < 1:
        raise ValueError(f"convert: workers must be >= 1, got {workers!r}")
    sources = find_recordings(input_dir, fmt=fmt)
    return convert_sources(sources, out_dir, cfg, input_dir=input_dir, workers=int(workers), skip_bad=skip_bad,
                           overwrite=overwrite, progress=progress)


def convert_sources(sources: Sequence, out_dir: Path, cfg: ConvertConfig, input_dir: Path | None = None,
                    workers: int = 1, skip_bad: bool = False, overwrite: bool = False,
                    progress: bool = False) -> ConvertResult:
    """Convert recording sources (anything with ``record_id``, ``subject``, ``paths`` and
    ``load(...)`` like :class:`eeg_vlm.io.RecordingSource`) into ``out_dir``.

    :func:`convert` finds them in a folder; :func:`eeg_vlm.imaging.memory.convert_recordings`
    wraps recordings already in memory. ``input_dir`` makes file paths in ``convert.json``
    relative; the other arguments are those of :func:`convert`.
    """
    where = f"folder {str(input_dir)!r}" if input_dir is not None else "recordings"
    input_dir = Path(input_dir) if input_dir is not None else Path(out_dir)
    ids = [s.record_id for s in sources]
    if len(set(ids)) != len(ids):
        dup = sorted(k for k, v in Counter(ids).items() if v > 1)
        raise ValueError(f"{where}: record ids repeat: {', '.join(dup)}")
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
    tasks = [RecordTask(s, str(input_dir), str(out_dir), cfg, plan.get(s.subject)) for s in todo]
    results, errors = _run(tasks, int(workers), skip_bad, progress)
    skipped = list(errors)
    if errors and not skip_bad:
        n_done = sum(done(s.record_id) for s in sources)
        raise ValueError(
            f"{errors[0]['error']}; {n_done} of {len(sources)} recordings are converted and kept in "
            f"{str(out_dir)!r} (rerun to resume, or use --skip-bad)"
        )
    if skipped and not any(done(s.record_id) for s in sources):
        raise ValueError(f"{where}: no recording could be converted; {len(skipped)} skipped, "
                         f"the first: {skipped[0]['error']}")
    finished = {r["record_id"] for r in results}
    return _assemble(out_dir, input_dir, sources, cfg, plan, skipped, [s.record_id for s in sources if s.record_id in finished])


def _run(tasks: list[RecordTask], workers: int, skip_bad: bool, progress: bool) -> tuple[list[dict], list[dict]]:
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
                handle(convert_record(t))
                if errors and not skip_bad:
                    break
        else:
            with process_pool(min(workers, len(tasks))) as pool:  # workers exit if this process dies
                pending: set[Future] = set()
                queue = list(tasks)
                while queue or pending:
                    while queue and len(pending) < 2 * workers and not (errors and not skip_bad):
                        pending.add(pool.submit(convert_record, queue.pop(0)))
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


def _quality_totals(records: dict[str, dict]) -> dict[str, int]:
    """Epochs found non-finite, flat, clipped over all records; how many were dropped or kept flagged."""
    total: Counter = Counter()
    for info in records.values():
        total.update({k: int(v) for k, v in info.get("quality", {}).items()})
        total.update({f"dropped_{k}": int(info.get("dropped", {}).get(k, 0)) for k in ("nonfinite", "flat", "clipped")})
        total["kept_flagged"] += len(info.get("flagged", {}))
    return dict(sorted(total.items()))


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
        "quality": _quality_totals(records),
    })
    if cfg.scaling == "fixed":  # share of all samples clipped, weighted by each record's epochs
        n = sum(r.get("n_epochs", 0) for r in records.values())
        meta["clipped_share"] = round(sum((r.get("clipped_share") or 0.0) * r.get("n_epochs", 0)
                                          for r in records.values()) / n, 6) if n else 0.0
    if cfg.fail_channel is not None:  # which subjects fail and how; per-night t_fail_s in records
        meta["channel_failure_subjects"] = {
            k: {"mode": v.mode, "t_fail_fraction": v.t_fail_fraction, "seed": v.seed} for k, v in plan.items()}
    write_text_atomic(out_dir / CONVERT_JSON, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    logger.info("wrote %s: %d epochs from %d recordings", manifest, len(rows), len(records))
    return ConvertResult(manifest, len(rows), list(records), converted, meta["skipped"])


# ----------------------------------------------------------------------------- CLI
def _old_trim_wake(value: str) -> float | None:
    """``--trim-wake`` of earlier versions, where 0 meant "keep every epoch"."""
    minutes = minutes_or_none(value)
    if minutes == 0:
        raise argparse.ArgumentTypeError("'--trim-wake 0' used to keep every epoch; say --trim-wake-min none "
                                         "(every epoch) or --trim-wake-min 0 (no wake outside the sleep period)")
    return minutes


def build_parser() -> argparse.ArgumentParser:
    """The ``eeg-vlm convert`` argument parser: :class:`ConvertConfig`'s fields, then the run options."""
    ap = argparse.ArgumentParser(
        prog="eeg-vlm convert",
        description="Turn a folder of PSG recordings into 30-s epoch images, signals and manifest.csv.")
    ap.add_argument("input_dir", help="folder of recordings (Sleep-EDF, SHHS, ISRUC, MASS, DREAMS, EDF)")
    ap.add_argument("out_dir", help="output folder (manifest.csv, convert.json, images/, signals/)")
    ConvertConfig.add_arguments(ap)
    ap.add_argument("--trim-wake", dest="trim_wake_min", type=_old_trim_wake, help=argparse.SUPPRESS)
    ap.add_argument("--keep-bad-epochs", dest="bad_epochs", action="store_const", const="keep",
                    help="the same as --bad-epochs keep")
    ap.add_argument("--source-sfreq-table", default=None, metavar="FILE",
                    help="CSV 'file,sfreq' or JSON {file: Hz}: " + _help("source_rates"))
    run = ap.add_argument_group("run")
    run.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                     help="processes, one recording each (default: %(default)s)")
    run.add_argument("--skip-bad", action="store_true", help="skip unreadable recordings and report them")
    run.add_argument("--overwrite", action="store_true", help="delete earlier output in OUT_DIR and start afresh")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_verbosity(ap, "each recording")
    return ap


def _help(name: str) -> str:
    """A :class:`ConvertConfig` field's help text."""
    return next(f.metadata["help"] for f in fields(ConvertConfig) if f.name == name)


def main(argv: list[str] | None = None) -> int:
    """``eeg-vlm convert``."""
    args = build_parser().parse_args(argv)
    configure_logging(args)
    try:
        rates = read_rate_table(args.source_sfreq_table) if args.source_sfreq_table else {}
        config = ConvertConfig.from_args(args, source_rates=tuple(rates.items()))
        logger.info("convert settings: %s", config)
        res = convert(args.input_dir, args.out_dir, config, workers=args.workers, skip_bad=args.skip_bad,
                      overwrite=args.overwrite, progress=not args.no_progress)
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
