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
import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from eeg_vlm.cli import add_verbosity, configure_logging
from eeg_vlm.dataset.manifest import Row, read_manifest
from eeg_vlm.reasoning import cot
from eeg_vlm.reasoning.build_config import LINK_MODES, BuildConfig, BuildResult, select_rows
from eeg_vlm.reasoning.signal_answers import generated_answers
from ondisk import join_inside, read_convert_json, replace_with_link, write_ids_file, write_text_atomic

logger = logging.getLogger(__name__)

# BuildConfig, BuildResult and select_rows live in eeg_vlm.reasoning.build_config; the
# rationales from signals in eeg_vlm.reasoning.signal_answers. Re-exported here.
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


def _check_images(rows: Sequence[Row], manifest: Path, folder: str) -> list[tuple[Path, str]]:
    """Source path and folder-relative name per row; every image must exist, names must not clash."""
    out: list[tuple[Path, str]] = []
    seen: dict[str, str] = {}
    for r in rows:
        where = f"manifest {str(manifest)!r}, sample {r.sample_id!r}"
        src = join_inside(manifest.parent, r.image, where, "image path")
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
    replace_with_link(src, dst, link=link == "hard")
    return True


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
    train, evals = _chosen_rows(rows, config)
    train_images = _check_images(train, manifest, FT_IMAGES)
    eval_images = _check_images(evals, manifest, EVAL_IMAGES)
    meta = read_convert_json(manifest.parent) or {}
    channels = meta.get("channels") if isinstance(meta.get("channels"), list) else []
    question = cot.question(config.cot, channels)
    answers = _answers(rows, train, config, meta) if train else {}

    out = config.out_dir
    out.mkdir(parents=True, exist_ok=True)
    result = BuildResult(out_dir=out, images={FT_IMAGES: 0, EVAL_IMAGES: 0, "kept": 0})
    for folder, placed in ((FT_IMAGES, train_images), (EVAL_IMAGES, eval_images)):
        for src, name in placed:
            dst = join_inside(out / folder, name, f"{folder}/", "image name")
            if _place_image(src, dst, config.link):
                result.images[folder] += 1
            else:
                result.images["kept"] += 1
    if config.train_split != ("none",):
        records = [training_record(r.sample_id, name, question, answers[r.sample_id]) for r, (_, name) in zip(train, train_images)]
        write_text_atomic(out / FT_JSON, json.dumps(records, indent=2, ensure_ascii=False) + "\n")
        result.train_ids = [r.sample_id for r in train]
        result.files += [out / FT_JSON, write_ids_file(out / FT_IDS, result.train_ids)]
    if config.eval_split != ("none",):
        lines = [json.dumps(eval_record(r.sample_id, name, question, r.stage), ensure_ascii=False)
                 for r, (_, name) in zip(evals, eval_images)]
        write_text_atomic(out / EVAL_JSONL, "".join(line + "\n" for line in lines))
        result.eval_ids = [r.sample_id for r in evals]
        result.files += [out / EVAL_JSONL, write_ids_file(out / EVAL_IDS, result.eval_ids)]
    write_text_atomic(out / BUILD_JSON, json.dumps(_summary(config, question, train, evals), indent=2,
                                                   sort_keys=True, ensure_ascii=False) + "\n")
    result.files.append(out / BUILD_JSON)
    logger.info("build-data: %d training and %d evaluation samples in %s", len(train), len(evals), out)
    return result


def _chosen_rows(rows: list[Row], config: BuildConfig) -> tuple[list[Row], list[Row]]:
    """The training and evaluation rows; both non-empty when asked for, disjoint, training rows labelled."""
    manifest = config.manifest
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
    return train, evals


def _answers(rows: list[Row], train: list[Row], config: BuildConfig, meta: dict) -> dict[str, str]:
    """The training answers: external rationales (every training sample needs one) or generated."""
    if config.rationales is None:
        return generated_answers(rows, train, config, meta)
    answers = cot.load_rationales(config.rationales, {r.sample_id: r.stage for r in rows if r.stage})
    missing = [r.sample_id for r in train if r.sample_id not in answers]
    if missing:
        raise ValueError(
            f"rationales file {str(config.rationales)!r}: no rationale for {len(missing)} of {len(train)} "
            f"training samples, e.g. {', '.join(repr(s) for s in missing[:3])}"
        )
    return answers


def _summary(config: BuildConfig, question: str, train: list[Row], evals: list[Row]) -> dict:
    """``build_data.json``: the settings and counts of this build."""
    return {
        "manifest": config.manifest.name,
        "manifest_sha256": _sha256(config.manifest),
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


# ----------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    """The ``eeg-vlm build-data`` argument parser."""
    ap = argparse.ArgumentParser(
        prog="eeg-vlm build-data",
        description="Write eeg_ft.json (training conversations with chain-of-thought answers) and "
        "eeg_eval.jsonl (questions) with their image folders from a manifest split.",
    )
    BuildConfig.add_arguments(ap)
    ap.add_argument("--copy", dest="link", action="store_const", const="copy", help="the same as --link copy")
    add_verbosity(ap, "progress")
    return ap


def main(argv: list[str] | None = None) -> int:
    """``eeg-vlm build-data``."""
    args = build_parser().parse_args(argv)
    configure_logging(args)
    try:
        config = BuildConfig.from_args(args)
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
