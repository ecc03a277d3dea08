"""Train the specialized vision module (or a baseline) to classify sleep stages from images.

    python -m feature_extractor.train --manifest sleep_data/manifest.csv --out checkpoints/vision
    eeg-vlm train-features --manifest sleep_data/manifest.csv --out checkpoints/vision --model resnet101

Data: a ``manifest.csv`` (rows with split ``--train-split`` / ``--val-split``; images
relative to the manifest's folder) or ``--labels CSV --image-folder DIR`` (optional
``--val-labels``, or a ``split`` column). 5-class cross-entropy (optional class weights),
AdamW with linear warm-up then cosine decay (per step), bf16 autocast on CUDA, float32 on
CPU. Same seed, same data, same machine -> same weights on CPU.

Output folder::

    best/    model.safetensors + config.json   (highest validation macro-F1)
    last/    model.safetensors + config.json + optimizer.safetensors + train_state.json
    metrics.json                               (per-epoch history; val/test scores of best/)
    predictions_<split>.csv                    (sample_id, stage, pred, prob_W ... prob_REM)

``--resume`` continues from ``last/`` after an interruption, to the same weights as an
uninterrupted run.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from feature_extractor.checkpoint import copy_model, load_model, load_train_state, resumable_folder, save_resumable
from feature_extractor.cli_args import add_dataclass_arguments, add_verbosity, configure_logging, dataclass_from_args
from feature_extractor.train_config import IMAGE_SETTING_KEYS, TrainConfig, TrainResult, class_weights, image_settings
from ondisk import write_json_atomic
from feature_extractor.finetune import apply_unfreeze
from feature_extractor.images import ImageDataset, ImageTransform
from feature_extractor.metrics import classification_metrics
from feature_extractor.predict import predict, write_predictions
from feature_extractor.presets import fill_from_preset
from feature_extractor.registry import import_plugins, list_backbones
from feature_extractor.runtime import (
    amp_dtype,
    autocast,
    make_loader,
    progress_enabled,
    resolve_device,
    reproducible,
)
from feature_extractor.samples import Sample, read_labels_csv, read_manifest
from feature_extractor.weights import load_compatible

logger = logging.getLogger(__name__)

__all__ = ["TrainConfig", "TrainResult", "train", "lr_factor", "class_weights", "image_settings", "IMAGE_SETTING_KEYS",
           "main"]

def lr_factor(step: int, total_steps: int, warmup_steps: int, min_ratio: float = 0.0) -> float:
    """Learning-rate multiplier at ``step`` (0-based): linear warm-up, then cosine to ``min_ratio``."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(total_steps - warmup_steps, 1)
    progress = min(max(step - warmup_steps, 0) / span, 1.0)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _load_samples(cfg: TrainConfig) -> dict[str, list[Sample]]:
    """Samples per split name (train, val and the prediction splits)."""
    wanted = [cfg.train_split, cfg.val_split] + [s for s in cfg.predict_splits if s not in (cfg.train_split, cfg.val_split)]
    if cfg.manifest:
        rows = read_manifest(cfg.manifest, split=wanted)
        return {s: [r for r in rows if r.split == s] for s in wanted}
    labels, folder = str(cfg.labels), str(cfg.image_folder)  # both present: checked in TrainConfig
    if cfg.val_labels:
        out = {cfg.train_split: read_labels_csv(labels, folder), cfg.val_split: read_labels_csv(cfg.val_labels, folder)}
        return {s: out.get(s, []) for s in wanted}
    with open(labels, newline="", encoding="utf-8") as fh:
        has_split = "split" in [c.strip() for c in next(csv.reader(fh), [])]
    if not has_split:
        return {s: (read_labels_csv(labels, folder) if s == cfg.train_split else []) for s in wanted}
    rows = read_labels_csv(labels, folder, split=wanted)
    return {s: [r for r in rows if r.split == s] for s in wanted}


def _build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.999))


def _apply_trainable(model: nn.Module, prefixes: Sequence[str]) -> None:
    if not prefixes:
        return
    names = [n for n, _ in model.named_parameters()]
    for prefix in prefixes:
        if not any(n.startswith(prefix) for n in names):
            tops = sorted({n.split(".")[0] + "." + n.split(".")[1] if n.count(".") > 1 else n.split(".")[0] for n in names})
            raise ValueError(f"--trainable: prefix {prefix!r} matches no parameter; top-level names: {', '.join(tops)}")
    for n, p in model.named_parameters():
        p.requires_grad_(any(n.startswith(pre) for pre in prefixes))


def _check_resume(saved: dict[str, Any], cfg: TrainConfig) -> None:
    """Options that change what is trained must match the interrupted run."""
    before = saved.get("train_args", {})
    fixed = ("model", "model_kwargs", "image_size", "in_chans", "feature_dim", "epochs", "batch_size", "lr", "seed",
             "trainable", "unfreeze", "class_weights", "train_split", "manifest", "labels")
    diffs = [f"{k}: {before.get(k)!r} -> {getattr(cfg, k)!r}" for k in fixed if k in before and before[k] != getattr(cfg, k)]
    if diffs:
        raise ValueError(f"--resume: options differ from the interrupted run in {cfg.out!r}: " + "; ".join(diffs))


def train(cfg: TrainConfig) -> TrainResult:
    """Run (or resume) training as configured; see the module docstring for the outputs."""
    with reproducible(cfg.seed, cfg.deterministic):
        return _train(cfg)


def _train(cfg: TrainConfig) -> TrainResult:
    from tqdm.auto import tqdm

    out = Path(cfg.out)
    show = progress_enabled(cfg.progress)
    import_plugins(cfg.plugin)
    device = resolve_device(cfg.device)
    amp = amp_dtype(cfg.amp, device)
    splits = _load_samples(cfg)
    train_samples, val_samples = splits[cfg.train_split], splits[cfg.val_split]
    if not train_samples:
        source = cfg.manifest or cfg.labels
        raise ValueError(f"training data {source!r}: no samples with split {cfg.train_split!r}; "
                         f"give the rows a split (e.g. with 'eeg-vlm split') or choose --train-split")
    if not val_samples:
        logger.warning("no validation samples (split %r): best/ will hold the last epoch", cfg.val_split)
    logger.info("samples: %s", {k: len(v) for k, v in splits.items()})

    mconf = cfg.model_config()
    model = mconf.build()
    init_report = load_compatible(model, cfg.init_weights) if cfg.init_weights else None
    _apply_trainable(model, cfg.trainable)
    if cfg.unfreeze:
        apply_unfreeze(model, cfg.unfreeze)
        if cfg.unfreeze != "all" and not cfg.init_weights:
            logger.warning("--unfreeze %s without --init-weights: the frozen layers keep random weights", cfg.unfreeze)
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = _build_optimizer(model, cfg)
    weights = class_weights(cfg.class_weights, [s.label for s in train_samples])
    loss_fn = nn.CrossEntropyLoss(weight=None if weights is None else weights.to(device), label_smoothing=cfg.label_smoothing)

    transform = ImageTransform.from_config(mconf)
    train_ds = ImageDataset(train_samples, transform)
    drop_last = len(train_ds) % cfg.batch_size == 1  # a 1-image batch would break BatchNorm
    steps_per_epoch = len(train_ds) // cfg.batch_size + (0 if drop_last or len(train_ds) % cfg.batch_size == 0 else 1)
    total_steps = steps_per_epoch * cfg.epochs
    warmup_steps = int(round(cfg.warmup_ratio * total_steps))
    eval_bs = cfg.eval_batch_size or cfg.batch_size
    train_args = asdict(cfg)
    images = image_settings(cfg.manifest)
    schedule = {"name": "linear_warmup_cosine", "total_steps": total_steps, "warmup_steps": warmup_steps,
                "min_lr_ratio": cfg.min_lr_ratio, "peak_lr": cfg.lr}

    start_epoch, step, history, best = 0, 0, [], {"epoch": 0, "score": -1.0}
    if cfg.resume:
        last = resumable_folder(out / "last")
        if last is None:
            raise FileNotFoundError(f"--resume: no complete checkpoint in {str(out / 'last')!r}")
        saved_cfg = json.loads((last / "config.json").read_text(encoding="utf-8"))
        _check_resume(saved_cfg, cfg)
        saved_model, _, _ = load_model(last, device)
        model.load_state_dict(saved_model.state_dict())
        del saved_model
        state = load_train_state(last, optimizer)
        start_epoch, step, history, best = state["epoch"], state["step"], state["history"], state["best"]
        if state.get("scheduler", schedule) != schedule:
            raise ValueError(f"--resume: the learning-rate schedule changed ({state['scheduler']} -> {schedule}); "
                             "the training data or its size differ from the interrupted run")
        best_cfg = out / "best" / "config.json"
        best_epoch_saved = json.loads(best_cfg.read_text(encoding="utf-8")).get("epoch") if best_cfg.is_file() else None
        if best["epoch"] == start_epoch and best_epoch_saved != start_epoch:  # killed before best/ was updated
            copy_model(last, out / "best")
        logger.info("resuming from %s at epoch %d (step %d)", last, start_epoch, step)

    logger.info("training %s on %s (%d images, %d steps/epoch, amp=%s, channels_last=%s)",
                cfg.model, device, len(train_ds), steps_per_epoch, amp, cfg.channels_last)
    epochs_this_run = 0
    for epoch in range(start_epoch, cfg.epochs):
        if cfg.stop_after_epochs is not None and epochs_this_run >= cfg.stop_after_epochs:
            logger.info("stopping after %d epoch(s) as asked; continue with --resume", epochs_this_run)
            break
        t0 = time.perf_counter()
        model.train()
        loader = make_loader(train_ds, cfg.batch_size, workers=cfg.workers, shuffle=True,
                             seed=cfg.seed * 100003 + epoch, drop_last=drop_last, pin_memory=device.type == "cuda")
        total_loss, seen = 0.0, 0
        for x, y, _ in tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not show, leave=False):
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * lr_factor(step, total_steps, warmup_steps, cfg.min_lr_ratio)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if cfg.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(device, amp):
                logits, _ = model(x)
            loss = loss_fn(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            total_loss += float(loss.detach()) * len(y)
            seen += len(y)
        record: dict[str, Any] = {"epoch": epoch + 1, "train_loss": total_loss / max(seen, 1),
                                  "lr": optimizer.param_groups[0]["lr"]}
        if val_samples:
            probs = predict(model, ImageDataset(val_samples, transform), eval_bs, device, cfg.workers, amp, cfg.channels_last, show)
            record["val"] = classification_metrics([s.label for s in val_samples], probs.argmax(1))
            score = record["val"]["macro_f1"]
        else:
            score = float(epoch)
        record["seconds"] = round(time.perf_counter() - t0, 3)
        history.append(record)
        logger.info("epoch %d: loss %.4f%s", epoch + 1, record["train_loss"],
                    "".join(f", val {k} {record['val'][k]:.4f}" for k in ("accuracy", "macro_f1") if "val" in record))
        extra = {"epoch": epoch + 1, "metrics": record.get("val", {}), "train_args": train_args}
        if images is not None:
            extra["image_settings"] = images
        improved = score > best["score"]
        if improved:
            best = {"epoch": epoch + 1, "score": score}
        save_resumable(out / "last", model, mconf, extra, optimizer,
                       {"epoch": epoch + 1, "step": step, "history": history, "best": best, "scheduler": schedule})
        if improved:
            copy_model(out / "last", out / "best")
        epochs_this_run += 1

    finished = len(history) >= cfg.epochs
    summary: dict[str, Any] = {"model": cfg.model, "best_epoch": best["epoch"], "selection": "validation macro_f1",
                               "finished": finished, "history": history}
    if init_report is not None:
        summary["init_weights"] = {"file": cfg.init_weights, "loaded": len(init_report.loaded),
                                   "shape_mismatch": [k for k, _, _ in init_report.shape_mismatch],
                                   "unexpected": init_report.unexpected, "missing": init_report.missing}
    if finished:
        best_model, _, _ = load_model(out / "best", device)
        if cfg.channels_last:
            best_model.to(memory_format=torch.channels_last)
        for split in cfg.predict_splits:
            samples = splits.get(split, [])
            if not samples:
                continue
            probs = predict(best_model, ImageDataset(samples, transform), eval_bs, device, cfg.workers, amp, cfg.channels_last, show)
            write_predictions(out / f"predictions_{split}.csv", samples, probs, mconf.classes)
            summary[split] = classification_metrics([s.label for s in samples], probs.argmax(1))
    write_json_atomic(out / "metrics.json", summary)
    if finished and not cfg.keep_last:
        shutil.rmtree(out / "last", ignore_errors=True)
    return TrainResult(out=out, best_epoch=best["epoch"], metrics={k: summary[k] for k in cfg.predict_splits if k in summary}, history=history)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m feature_extractor.train",
        description="Train the specialized vision module (or a baseline) on sleep-epoch images.",
    )
    parser.add_argument("--list-models", action="store_true", help="print the registered backbone names and exit")
    add_verbosity(parser, "each epoch")
    add_dataclass_arguments(parser, TrainConfig)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args)
    if args.list_models:
        import_plugins(getattr(args, "plugin", []))
        print("\n".join(list_backbones()))
        return 0
    try:
        cfg = dataclass_from_args(TrainConfig, fill_from_preset(args))
    except ValueError as exc:
        print(f"feature_extractor.train: {exc}", file=sys.stderr)
        return 2
    logger.info("training %s -> %s (full configuration at -vv and in %s)", cfg.model, cfg.out,
                Path(cfg.out) / "best" / "config.json")
    logger.debug("configuration: %s", json.dumps(asdict(cfg), sort_keys=True))
    try:
        result = train(cfg)
    except (ValueError, FileNotFoundError) as exc:
        print(f"feature_extractor.train: {exc}", file=sys.stderr)
        return 1
    for split, m in result.metrics.items():
        print(f"{split}: accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}  kappa {m['kappa'] if m['kappa'] is None else round(m['kappa'], 4)}  (n={m['n']})")
    print(f"best epoch {result.best_epoch}; outputs in {result.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
