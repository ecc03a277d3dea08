"""Write the high-level features ``[N, 1, 1024]`` of every sample of a data file, in its order.

    python -m feature_extractor.extract --checkpoint checkpoints/vision \\
        --data sleep_data/eeg_ft.json --image-folder sleep_data/eeg_images_ft
    # -> sleep_data/train_high_level_features.npy (+ .ids.json)
    python -m feature_extractor.extract --checkpoint checkpoints/vision \\
        --data sleep_data/eeg_eval.jsonl --image-folder sleep_data/eeg_images_eval
    # -> sleep_data/eval_high_level_features.npy (+ .ids.json)
    python -m feature_extractor.extract --data sleep_data/eeg_eval.jsonl --verify

``--data`` is an ``eeg_ft.json`` (first image of each entry, id ``"id"``), an
``eeg_eval.jsonl`` (``"sample_id"`` or ``"question_id"``) or a ``manifest.csv`` (with
``--split``). Rows are written into ``<out stem>.partial.npy`` (memory-mapped) batch by
batch, with ``<out stem>.progress.json`` recording how many are done; a killed run, rerun
with the same arguments, continues where it stopped and ends with the same file. The
finished array is renamed to ``--out`` and its sidecar ``<out stem>.ids.json`` lists the
sample ids, which :func:`check_alignment` (``--verify``) compares with a data file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np
import torch

from feature_extractor.checkpoint import WEIGHTS_NAME, find_checkpoint, load_model
from feature_extractor.images import ImageDataset, ImageTransform
from feature_extractor.runtime import make_loader, progress_enabled, resolve_device
from feature_extractor.cli_args import add_verbosity, configure_logging
from feature_extractor.samples import data_kind, read_data_file, read_sample_ids
from ondisk import (EVAL_FEATURES_NAME, TRAIN_FEATURES_NAME, FeatureStore, default_features_path, sidecar_path,
                    write_json_atomic, write_sidecar)
from ondisk.features import sibling_path

logger = logging.getLogger(__name__)

__all__ = [
    "TRAIN_FEATURES_NAME",
    "EVAL_FEATURES_NAME",
    "default_output",
    "extract_features",
    "check_alignment",
    "main",
]

def default_output(data_file: str | Path, split: str | None = None) -> Path:
    """The seed's file name beside the data file.

    ``train_high_level_features.npy`` for a training ``.json`` (or a manifest's ``train``
    split), ``eval_high_level_features.npy`` for an ``.jsonl`` (or any other split).
    """
    data_file = Path(data_file)
    kind = data_kind(data_file)
    train = kind == "json" or (kind == "csv" and split == "train")
    return default_features_path(data_file, "train" if train else "eval")


def _fingerprint(sample_ids: list[str], images: list[str], checkpoint: Path, extra: dict) -> str:
    """What the result depends on: ids, images, weights and input settings."""
    h = hashlib.sha256()
    h.update(json.dumps([sample_ids, images, extra], sort_keys=True).encode())
    with open(checkpoint / WEIGHTS_NAME, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def extract_features(
    checkpoint: str | Path,
    data_file: str | Path,
    out: str | Path | None = None,
    image_folder: str | Path | None = None,
    split: str | None = None,
    batch_size: int = 64,
    workers: int = 0,
    device: str = "auto",
    channels_last: bool = True,
    progress: bool = False,
    max_batches: int | None = None,
) -> Path:
    """Write ``float32 (N, 1, feature_dim)`` features for the samples of ``data_file``.

    Parameters
    ----------
    checkpoint : path
        A checkpoint folder (``model.safetensors`` + ``config.json``) or a training output
        folder (its ``best/`` is used).
    data_file : path
        ``eeg_ft.json``, ``eeg_eval.jsonl`` or ``manifest.csv``.
    out : path, optional
        Output ``.npy``; default :func:`default_output`.
    image_folder : path, optional
        Folder the data file's image paths are relative to (default: the data file's folder).
    split : str, optional
        Manifest rows to take.
    batch_size, workers, device, channels_last, progress
        Inference settings. A resumed run keeps the batch size it started with, so the
        finished file is the same as an uninterrupted run's.
    max_batches : int, optional
        Stop after this many batches in this call (time-boxed jobs); call again to continue.

    Returns
    -------
    Path
        ``out`` when finished, else the ``.partial.npy`` being filled.
    """
    from tqdm.auto import tqdm

    data_file = Path(data_file)
    samples = read_data_file(data_file, image_folder=image_folder, split=split)
    if not samples:
        raise ValueError(f"data file {str(data_file)!r}: no samples" + (f" with split {split!r}" if split else ""))
    ids = [s.sample_id for s in samples]
    out = Path(out) if out is not None else default_output(data_file, split)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial, progress_file = sibling_path(out, ".partial.npy"), sibling_path(out, ".progress.json")

    ckpt = find_checkpoint(checkpoint)
    dev = resolve_device(device)
    model, mconf, _ = load_model(ckpt, dev)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    n, dim = len(samples), int(mconf.feature_dim)
    fingerprint = _fingerprint(ids, [str(s.image) for s in samples], ckpt, {"dim": dim})

    done = 0
    state = json.loads(progress_file.read_text()) if progress_file.is_file() else None
    if state and state.get("fingerprint") == fingerprint and partial.is_file():
        arr = np.load(partial, mmap_mode="r+", allow_pickle=False)
        if arr.shape == (n, 1, dim) and arr.dtype == np.float32:
            done, batch_size = int(state["done"]), int(state["batch_size"])
            logger.info("continuing %s at row %d of %d (batch size %d)", partial, done, n, batch_size)
        else:
            del arr
    if done == 0:
        arr = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float32, shape=(n, 1, dim))
    write_json_atomic(progress_file, {"fingerprint": fingerprint, "done": done, "count": n, "batch_size": batch_size})

    dataset = ImageDataset(samples[done:], ImageTransform.from_config(mconf))
    loader = make_loader(dataset, batch_size, workers=workers, shuffle=False, pin_memory=dev.type == "cuda")
    bar = tqdm(total=n, initial=done, desc="features", unit="img", disable=not progress)
    batches = 0
    with torch.inference_mode():
        for x, _, _ in loader:
            if max_batches is not None and batches >= max_batches:
                break
            x = x.to(dev, non_blocking=True)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            feats = model.forward_features(x).float().cpu().numpy()  # (B, dim)
            arr[done : done + len(feats), 0, :] = feats
            arr.flush()
            done += len(feats)
            batches += 1
            write_json_atomic(progress_file, {"fingerprint": fingerprint, "done": done, "count": n, "batch_size": batch_size})
            bar.update(len(feats))
    bar.close()
    arr.flush()
    del arr
    if done < n:
        logger.info("stopped at row %d of %d; rerun to continue", done, n)
        return partial
    side = sidecar_path(out)
    if side.exists():
        side.unlink()
    os.replace(partial, out)
    write_sidecar(out, ids)
    progress_file.unlink()
    logger.info("wrote %s: (%d, 1, %d) float32 + %s", out, n, dim, side.name)
    return out


def check_alignment(features_path: str | Path, data_file: str | Path, split: str | None = None) -> int:
    """Raise ``ValueError`` unless the features file's rows line up with the data file's samples.

    The checks of :class:`ondisk.FeatureStore`: a plain float32 ``(N, 1, D)`` array with no
    non-finite row, ``N`` equal to the number of samples, and the sidecar's ids (when
    present; without one only the count is checked, with a warning) equal to the data
    file's ids one for one. Returns ``N``.
    """
    ids = read_sample_ids(data_file, split=split)
    return len(FeatureStore(features_path, ids, data_file=str(data_file)))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m feature_extractor.extract",
        description="Write [N,1,1024] high-level features for the samples of a data file, in its order.",
    )
    p.add_argument("--checkpoint", help="checkpoint folder, or a training output folder (uses its best/)")
    p.add_argument("--data", required=True, help="eeg_ft.json, eeg_eval.jsonl or manifest.csv")
    p.add_argument("--image-folder", help="folder the data file's image paths are relative to (default: its folder)")
    p.add_argument("--out", help="output .npy (default: sleep_data-style name beside --data)")
    p.add_argument("--split", help="manifest split to extract (train/val/test or a fold)")
    p.add_argument("--batch-size", type=int, default=64, help="images per forward pass")
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    p.add_argument("--device", default="auto", help="'auto', 'cpu', 'cuda' or 'cuda:N'")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True, help="channels-last memory format")
    p.add_argument("--verify", action="store_true",
                   help="check --out against --data (count and ids); without --checkpoint only this check runs")
    p.add_argument("--progress", default="auto", choices=("auto", "on", "off"), help="progress bar")
    add_verbosity(p, "each step")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args)
    out = Path(args.out) if args.out else default_output(args.data, args.split)
    try:
        if args.checkpoint:
            out = extract_features(
                args.checkpoint, args.data, out=out, image_folder=args.image_folder, split=args.split,
                batch_size=args.batch_size, workers=args.workers, device=args.device,
                channels_last=args.channels_last, progress=progress_enabled(args.progress),
            )
            print(f"wrote {out}")
        elif not args.verify:
            print("feature_extractor.extract: --checkpoint is required (or --verify to only check a file)", file=sys.stderr)
            return 2
        if args.verify:
            n = check_alignment(out, args.data, split=args.split)
            print(f"{out}: {n} rows aligned with {args.data}")
    except (ValueError, FileNotFoundError) as exc:
        print(f"feature_extractor.extract: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
