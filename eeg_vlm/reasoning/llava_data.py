"""``eeg-vlm build-data``: a manifest split -> LLaVA training conversations and eval questions.

Output folder (the seed's names, ``sleep_data`` by default)::

    OUT_DIR/
      eeg_ft.json          upstream LLaVA conversations, one per training epoch
      eeg_ft.ids.json      {"count": N, "sample_ids": [...]} in eeg_ft.json order
      eeg_eval.jsonl       one question per evaluation epoch
      eeg_eval.ids.json    sample ids in eeg_eval.jsonl order
      eeg_images_ft/<record_id>/<image>     the training images (hard links or copies)
      eeg_images_eval/<record_id>/<image>   the evaluation images
      build_data.json      settings and counts of this build

Every sample carries ``"image": [img, img]`` and two ``<image>`` tags: the second entry is
the placeholder whose slot receives the sample's high-level features (row ``i`` of the
features file belongs to sample ``i`` of these files, as their ``.ids.json`` sidecars say).

Training answers are chain-of-thought rationales (:mod:`eeg_vlm.reasoning.cot`) reasoned from each
epoch's own signal (``signals/<record_id>.npy`` beside the manifest, written by
``eeg-vlm convert``), or external rationales from ``--rationales``. All files are written
atomically and the same inputs always give the same bytes.
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from eeg_vlm.cli import configure_logging
from eeg_vlm.reasoning import cot
from eeg_vlm.checks import check_option, safe_join
from eeg_vlm.reasoning.detectors import describe_epochs
from eeg_vlm.fileio import write_text_atomic
from eeg_vlm.dataset.manifest import Row, read_manifest

logger = logging.getLogger(__name__)

__all__ = [
    "FT_JSON",
    "FT_IDS",
    "FT_IMAGES",
    "EVAL_JSONL",
    "EVAL_IDS",
    "EVAL_IMAGES",
    "BUILD_JSON",
    "IMAGE_TAG",
    "LINK_MODES",
    "BuildConfig",
    "BuildResult",
    "select_rows",
    "image_name",
    "training_record",
    "eval_record",
    "build_data",
    "build_parser",
    "main",
]

FT_JSON = "eeg_ft.json"
FT_IDS = "eeg_ft.ids.json"
FT_IMAGES = "eeg_images_ft"
EVAL_JSONL = "eeg_eval.jsonl"
EVAL_IDS = "eeg_eval.ids.json"
EVAL_IMAGES = "eeg_images_eval"
BUILD_JSON = "build_data.json"
IMAGE_TAG = "<image>"
LINK_MODES: tuple[str, ...] = ("hard", "copy")
CONVERT_JSON = "convert.json"


@dataclass
class BuildConfig:
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

    manifest: Path
    out_dir: Path = Path("sleep_data")
    cot: str = "stagewise"
    rationales: Path | None = None
    train_split: tuple[str, ...] = ("train",)
    eval_split: tuple[str, ...] = ("test",)
    eeg_channel: str | None = None
    link: str = "hard"
    workers: int = 1

    def __post_init__(self) -> None:
        self.manifest = Path(self.manifest)
        self.out_dir = Path(self.out_dir)
        self.rationales = Path(self.rationales) if self.rationales is not None else None
        self.train_split = _split_spec(self.train_split, "train_split")
        self.eval_split = _split_spec(self.eval_split, "eval_split")
        check_option("cot", self.cot, cot.COT_VARIANTS, where="build-data")
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


def image_name(row: Row) -> str:
    """The path of a row's image inside an image folder: ``<record_id>/<file name>``."""
    return f"{row.record_id}/{PurePosixPath(row.image).name}"


def training_record(sample_id: str, image: str, question: str, answer: str) -> dict:
    """One ``eeg_ft.json`` entry: two image slots, the question, the answer."""
    return {
        "id": sample_id,
        "image": [image, image],
        "conversations": [
            {"from": "human", "value": f"{IMAGE_TAG}\n{IMAGE_TAG}\n{question}"},
            {"from": "gpt", "value": answer},
        ],
    }


def eval_record(sample_id: str, image: str, question: str, stage: str) -> dict:
    """One ``eeg_eval.jsonl`` line (no ``<image>`` tags: the evaluator adds them)."""
    rec = {"question_id": sample_id, "sample_id": sample_id, "image": [image, image], "text": question}
    if stage:
        rec["stage"] = stage
    return rec


# ----------------------------------------------------------------------------- inputs


def _read_convert_json(manifest: Path) -> dict:
    path = manifest.parent / CONVERT_JSON
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"file {str(path)!r}: not valid JSON ({exc.msg})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"file {str(path)!r}: expected a JSON object")
    return meta


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


def _generated_answers(rows: Sequence[Row], train: Sequence[Row], config: BuildConfig, meta: dict) -> dict[str, str]:
    """Rationales for the ``train`` rows, reasoned from each record's signals."""
    if config.cot == "none":
        return {r.sample_id: cot.rationale(None, r.stage, "none") for r in train}
    tasks = _record_tasks(rows, train, config, meta)
    answers: dict[str, str] = {}
    if config.workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            answers.update(_record_answers(task))
        return answers
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(config.workers, len(tasks)), mp_context=ctx) as pool:
        for part in pool.map(_record_answers, tasks):
            answers.update(part)
    return answers


def _check_images(rows: Sequence[Row], manifest: Path, folder: str) -> list[tuple[Path, str]]:
    """Source path and folder-relative name per row; every image must exist, names must not clash."""
    out: list[tuple[Path, str]] = []
    seen: dict[str, str] = {}
    for r in rows:
        where = f"manifest {str(manifest)!r}, sample {r.sample_id!r}"
        src = safe_join(manifest.parent, r.image, where=where)
        if not src.is_file():
            raise FileNotFoundError(f"{where}: image {r.image!r} not found ({str(src)!r})")
        name = image_name(r)
        if name in seen:
            raise ValueError(f"{where}: image name {name!r} in {folder}/ is also the image of sample {seen[name]!r}")
        seen[name] = r.sample_id
        out.append((src, name))
    return out


# ----------------------------------------------------------------------------- outputs


def _place_image(src: Path, dst: Path, link: str) -> bool:
    """Put ``src`` at ``dst`` (hard link or copy, atomically); ``False`` when already there."""
    if dst.is_file() and (os.path.samefile(src, dst) or filecmp.cmp(src, dst, shallow=False)):
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    os.close(fd)
    try:
        os.unlink(tmp)
        if link == "hard":
            try:
                os.link(src, tmp)
            except OSError:  # another file system, or links not allowed: copy
                shutil.copyfile(src, tmp)
        else:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    return True


def _write_ids(path: Path, ids: Sequence[str]) -> Path:
    # the same {"count", "sample_ids"} sidecar the features files carry (llava.eeg_features)
    write_text_atomic(path, json.dumps({"count": len(ids), "sample_ids": list(ids)}))
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_data(config: BuildConfig) -> BuildResult:
    """Write the training and evaluation files of one manifest split.

    Parameters
    ----------
    config : BuildConfig
        What to build (see its attributes).

    Returns
    -------
    BuildResult

    Raises
    ------
    FileNotFoundError
        A missing manifest, image, signals file, convert.json (when rationales are
        generated) or rationales file; the message names it.
    ValueError
        No rows in a requested split, an unlabelled training row, a sample in both sets,
        a signals file that does not match the manifest, a bad external rationale.
    """
    manifest = config.manifest
    rows = read_manifest(manifest)
    train = select_rows(rows, config.train_split, config.eval_split)
    evals = select_rows(rows, config.eval_split, config.train_split)
    present = sorted({r.split or "(empty)" for r in rows})
    for name, spec, chosen in (("train", config.train_split, train), ("eval", config.eval_split, evals)):
        if spec != ("none",) and not chosen:
            raise ValueError(
                f"manifest {str(manifest)!r}: no rows for {name} split {','.join(spec)!r}; splits present: "
                f"{', '.join(present)} (assign splits with 'eeg-vlm split')"
            )
    both = {r.sample_id for r in train} & {r.sample_id for r in evals}
    if both:
        raise ValueError(f"manifest {str(manifest)!r}: {len(both)} samples are in both sets, e.g. {sorted(both)[0]!r}")
    shared = {r.subject for r in train} & {r.subject for r in evals}
    if shared:
        logger.warning("%d subjects have epochs in both sets (e.g. %r): results will not be subject-wise",
                       len(shared), sorted(shared)[0])
    for r in train:
        if not r.stage:
            raise ValueError(f"manifest {str(manifest)!r}, sample {r.sample_id!r}: training rows need a stage; it is empty")

    train_images = _check_images(train, manifest, FT_IMAGES)
    eval_images = _check_images(evals, manifest, EVAL_IMAGES)
    meta = _read_convert_json(manifest)
    channels = meta.get("channels") if isinstance(meta.get("channels"), list) else []
    question = cot.question(config.cot, channels)
    answers: dict[str, str] = {}
    if train:
        if config.rationales is not None:
            answers = cot.load_rationales(config.rationales, {r.sample_id: r.stage for r in rows if r.stage})
            missing = [r.sample_id for r in train if r.sample_id not in answers]
            if missing:
                raise ValueError(
                    f"rationales file {str(config.rationales)!r}: no rationale for {len(missing)} of {len(train)} "
                    f"training samples, e.g. {', '.join(repr(s) for s in missing[:3])}"
                )
        else:
            answers = _generated_answers(rows, train, config, meta)

    out = config.out_dir
    out.mkdir(parents=True, exist_ok=True)
    result = BuildResult(out_dir=out, images={FT_IMAGES: 0, EVAL_IMAGES: 0, "kept": 0})
    for folder, placed in ((FT_IMAGES, train_images), (EVAL_IMAGES, eval_images)):
        for src, name in placed:
            dst = safe_join(out / folder, name, where=f"{folder}/")
            if _place_image(src, dst, config.link):
                result.images[folder] += 1
            else:
                result.images["kept"] += 1
    if config.train_split != ("none",):
        records = [training_record(r.sample_id, name, question, answers[r.sample_id]) for r, (_, name) in zip(train, train_images)]
        write_text_atomic(out / FT_JSON, json.dumps(records, indent=2, ensure_ascii=False) + "\n")
        result.train_ids = [r.sample_id for r in train]
        result.files += [out / FT_JSON, _write_ids(out / FT_IDS, result.train_ids)]
    if config.eval_split != ("none",):
        lines = [json.dumps(eval_record(r.sample_id, name, question, r.stage), ensure_ascii=False)
                 for r, (_, name) in zip(evals, eval_images)]
        write_text_atomic(out / EVAL_JSONL, "".join(line + "\n" for line in lines))
        result.eval_ids = [r.sample_id for r in evals]
        result.files += [out / EVAL_JSONL, _write_ids(out / EVAL_IDS, result.eval_ids)]
    summary = {
        "manifest": manifest.name,
        "manifest_sha256": _sha256(manifest),
        "cot": config.cot,
        "rationales": None if config.rationales is None else config.rationales.name,
        "rationales_sha256": None if config.rationales is None else _sha256(config.rationales),
        "train_split": list(config.train_split),
        "eval_split": list(config.eval_split),
        "eeg_channel": config.eeg_channel,
        "question": question,
        "n_train": len(train),
        "n_eval": len(evals),
        "train_stages": dict(sorted(Counter(r.stage for r in train).items())),
        "eval_stages": dict(sorted(Counter(r.stage or "unscored" for r in evals).items())),
    }
    write_text_atomic(out / BUILD_JSON, json.dumps(summary, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    result.files.append(out / BUILD_JSON)
    logger.info("build-data: %d training and %d evaluation samples in %s", len(train), len(evals), out)
    return result


# ----------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    """The ``eeg-vlm build-data`` argument parser."""
    ap = argparse.ArgumentParser(
        prog="eeg-vlm build-data",
        description="Write eeg_ft.json (training conversations with chain-of-thought answers) and "
        "eeg_eval.jsonl (questions) with their image folders from a manifest split.",
    )
    ap.add_argument("--manifest", required=True, help="manifest.csv (images, signals/ and convert.json beside it)")
    ap.add_argument("--out-dir", default="sleep_data", help="output folder (default: %(default)s)")
    ap.add_argument("--cot", choices=cot.COT_VARIANTS, default="stagewise",
                    help="training answers: stage-wise chain-of-thought, one paragraph, or the stage only "
                    "(default: %(default)s)")
    ap.add_argument("--rationales", default=None,
                    help="JSON lines {\"sample_id\", \"text\"} replacing the generated answers")
    ap.add_argument("--train-split", default="train",
                    help="split value(s) of the training rows, comma-separated; 'rest' = all split rows not "
                    "in --eval-split; 'none' = no training file (default: %(default)s)")
    ap.add_argument("--eval-split", default="test",
                    help="split value(s) of the evaluation rows; 'all' = every row; 'none' = no eval file "
                    "(default: %(default)s)")
    ap.add_argument("--eeg-channel", default=None, help="EEG channel the rationales measure (default: the first EEG)")
    ap.add_argument("--copy", action="store_true", help="copy images instead of hard-linking them")
    ap.add_argument("--workers", type=int, default=1,
                    help="processes measuring the signals, one record each (default: %(default)s)")
    ap.add_argument("-v", "--verbose", action="store_true", help="log progress")
    return ap


def main(argv: list[str] | None = None) -> int:
    """``eeg-vlm build-data``."""
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        config = BuildConfig(
            manifest=Path(args.manifest), out_dir=Path(args.out_dir), cot=args.cot,
            rationales=Path(args.rationales) if args.rationales else None, train_split=(args.train_split,),
            eval_split=(args.eval_split,), eeg_channel=args.eeg_channel, link="copy" if args.copy else "hard", workers=args.workers,
        )
        logger.info("build-data settings: %s", config)
        res = build_data(config)
    except (ValueError, FileNotFoundError) as exc:
        print(f"eeg-vlm build-data: error: {exc}", file=sys.stderr)
        return 1
    if res.train_ids:
        print(f"{len(res.train_ids)} training samples ({config.cot}) -> {res.out_dir / FT_JSON}, images in {res.out_dir / FT_IMAGES}")
    if res.eval_ids:
        print(f"{len(res.eval_ids)} evaluation questions -> {res.out_dir / EVAL_JSONL}, images in {res.out_dir / EVAL_IMAGES}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
