"""Train and evaluate a signal model on a converted dataset, PSG-LLaVA Table 3 settings by default.

    python -m signal_models.train --manifest conv/manifest.csv --out runs/tinysleepnet --model tinysleepnet

Reads the manifest's splits (``--train-split``, ``--val-split``, ``--predict-splits``) and
their raw epochs (:mod:`signal_models.data`), resampled and scaled as the model expects
(:mod:`signal_models.registry`). Batch size, learning rate, weight decay and epochs come
from the model's Table 3 row unless given. AdamW, cosine decay after a short warm-up;
the epoch with the best validation macro-F1 is kept. Sequence models (TinySleepNet) train
on windows of ``--seq-len`` consecutive epochs of one night and are evaluated night by
night, whole and in order.

Output folder::

    best/model.safetensors, best/config.json   weights and how to rebuild / feed the model
    metrics.json                                history, run description, scores per split
    predictions_<split>.csv                     sample_id, stage, pred, prob_W ... prob_REM
                                                (the file ``eeg-vlm report --predictions`` scores)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from feature_extractor.cli_args import add_dataclass_arguments, dataclass_from_args
from ondisk import write_json_atomic
from feature_extractor.metrics import classification_metrics
from feature_extractor.predict import write_predictions
from feature_extractor.presets import get_preset
from feature_extractor.runtime import reproducible, resolve_device
from feature_extractor.samples import Sample
from feature_extractor.train import class_weights, lr_factor
from signal_models.data import STAGES, SignalSet, load_split, night_windows
from signal_models.registry import get_spec, scale_epochs

logger = logging.getLogger(__name__)

__all__ = ["SignalTrainConfig", "train_signal_model", "load_signal_model", "predict_probs", "main"]


@dataclass
class SignalTrainConfig:
    """A signal-model run (saved in ``best/config.json`` and ``metrics.json``)."""

    out: str = field(default="", metadata={"help": "output folder"})
    manifest: str = field(default="", metadata={"help": "manifest.csv of a folder written by 'eeg-vlm convert' (with signals)"})
    model: str = field(default="tinysleepnet", metadata={"help": "signal model (tinysleepnet, multisleepnet, sleepwavenet, labram, cbramod)"})
    model_kwargs: dict[str, Any] = field(default_factory=dict, metadata={"help": "architecture overrides, e.g. '{\"hidden\": 64}'"})
    tiny: bool = field(default=False, metadata={"help": "the model's tiny CPU configuration (runs are labelled tiny)"})
    channels: list[str] = field(default_factory=list, metadata={"help": "converted channels to use, in order (default: all; the first for single-channel models)"})
    train_split: str = field(default="train", metadata={"help": "split of the training rows"})
    val_split: str = field(default="val", metadata={"help": "split of the model-selection rows"})
    predict_splits: list[str] = field(default_factory=lambda: ["val", "test"], metadata={"help": "splits to write predictions for"})
    preset: str = field(default="", metadata={"help": "PSG-LLaVA Table 3 row for the options not given (default: the model's own row)"})
    epochs: int | None = field(default=None, metadata={"help": "training epochs (default: Table 3)"})
    batch_size: int | None = field(default=None, metadata={"help": "epochs (sequences for sequence models) per step (default: Table 3)"})
    lr: float | None = field(default=None, metadata={"help": "peak learning rate (default: Table 3)"})
    weight_decay: float | None = field(default=None, metadata={"help": "AdamW weight decay (default: Table 3)"})
    class_weights: str = field(default="none", metadata={"help": "'none', 'balanced' (inverse training frequency) or 5 comma-separated weights"})
    seq_len: int = field(default=20, metadata={"help": "consecutive epochs per training sequence (sequence models; TinySleepNet: 20)"})
    init_weights: str | None = field(default=None, metadata={"help": "released foundation-model checkpoint (local file, published key names)"})
    seed: int = field(default=0, metadata={"help": "random seed"})
    device: str = field(default="auto", metadata={"help": "'auto', 'cpu', 'cuda' or 'cuda:N'"})

    def __post_init__(self) -> None:
        problems = []
        if not self.out:
            problems.append("--out is required")
        if not self.manifest:
            problems.append("--manifest is required")
        try:
            spec = get_spec(self.model)
            row = get_preset(self.preset or spec.preset)
        except ValueError as exc:
            problems.append(str(exc))
        else:
            for key, value in row.options().items():
                if getattr(self, key) is None:
                    setattr(self, key, value)
            self.preset = row.name
            if self.init_weights and spec.load_pretrained is None:
                problems.append(f"--init-weights: {self.model} has no released checkpoint to load (foundation models only)")
        for key in ("epochs", "batch_size", "seq_len"):
            if getattr(self, key) is not None and int(getattr(self, key)) < 1:
                problems.append(f"--{key.replace('_', '-')} must be at least 1, got {getattr(self, key)}")
        if problems:
            raise ValueError("signal training options: " + "; ".join(problems))


def _load(cfg: SignalTrainConfig, split: str, channels: list[str] | None) -> SignalSet:
    spec = get_spec(cfg.model)
    data = load_split(cfg.manifest, split, channels, spec.sfreq)
    data.x = scale_epochs(data.x, spec.units)
    return data


def _batches(data: SignalSet, cfg: SignalTrainConfig, sequence: bool, rng: np.random.Generator) -> list[np.ndarray]:
    """Row-index batches for one training epoch: (b,) epochs, or (b, L) windows of one length."""
    if not sequence:
        order = rng.permutation(len(data))
        return [order[s:s + cfg.batch_size] for s in range(0, len(order), cfg.batch_size)]
    by_len: dict[int, list[np.ndarray]] = {}
    for w in night_windows(data, cfg.seq_len):
        by_len.setdefault(len(w), []).append(w)
    out = []
    for length in sorted(by_len):
        ws = [by_len[length][i] for i in rng.permutation(len(by_len[length]))]
        out += [np.stack(ws[s:s + cfg.batch_size]) for s in range(0, len(ws), cfg.batch_size)]
    return [out[i] for i in rng.permutation(len(out))]


def _logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model(x)
    return out.reshape(-1, out.shape[-1])  # sequence models: (B, L, K) -> (B*L, K)


def predict_probs(model: nn.Module, data: SignalSet, device: torch.device, batch_size: int = 64) -> np.ndarray:
    """Class probabilities (N, 5) in ``data`` order; sequence models run each night whole, in order."""
    model.eval()
    probs = np.zeros((len(data), len(STAGES)), np.float32)
    groups = night_windows(data, None) if getattr(model, "sequence", False) else \
        [np.arange(s, min(s + batch_size, len(data))) for s in range(0, len(data), batch_size)]
    with torch.inference_mode():
        for rows in groups:
            x = torch.from_numpy(data.x[rows]).to(device)
            if getattr(model, "sequence", False):
                x = x.unsqueeze(0)  # (1, night length, C, T)
            probs[rows] = torch.softmax(_logits(model, x).float(), dim=1).cpu().numpy()
    return probs


def _build(cfg: SignalTrainConfig, channels: list[str], sfreq: float, samples: int) -> tuple[nn.Module, dict]:
    spec = get_spec(cfg.model)
    kwargs = {**(spec.tiny if cfg.tiny else {}), **cfg.model_kwargs}
    model = spec.build(channels, sfreq, samples, **kwargs)
    return model, {"model": cfg.model, "model_kwargs": kwargs, "channels": channels, "sfreq": sfreq,
                   "epoch_samples": samples, "units": spec.units, "tiny": cfg.tiny, "classes": list(STAGES)}


def load_signal_model(folder: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """A model saved by :func:`train_signal_model` (``folder`` or ``folder/best``) and its config."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / "config.json").is_file() and (folder / "best" / "config.json").is_file():
        folder = folder / "best"
    path = folder / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"signal model {str(folder)!r}: no config.json")
    conf = json.loads(path.read_text(encoding="utf-8"))
    spec = get_spec(conf["model"])
    model = spec.build(conf["channels"], conf["sfreq"], conf["epoch_samples"], **conf["model_kwargs"])
    model.load_state_dict(load_file(str(folder / "model.safetensors"), device="cpu"))
    return model.to(device).eval(), conf


def _save(folder: Path, model: nn.Module, conf: dict) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"))
    write_json_atomic(folder / "config.json", conf)


def train_signal_model(cfg: SignalTrainConfig) -> dict[str, Any]:
    """Run training as configured; returns ``metrics.json``'s content."""
    with reproducible(cfg.seed, True):
        return _train(cfg)


def _train(cfg: SignalTrainConfig) -> dict[str, Any]:
    spec, out, device = get_spec(cfg.model), Path(cfg.out), resolve_device(cfg.device)
    channels = cfg.channels or None
    train = _load(cfg, cfg.train_split, channels)
    if not len(train):
        raise ValueError(f"manifest {cfg.manifest!r}: no rows with split {cfg.train_split!r}")
    chosen = train.channels[:1] if spec.single_channel and not cfg.channels else train.channels
    if chosen != train.channels:
        train = _load(cfg, cfg.train_split, chosen)
    sets = {s: _load(cfg, s, chosen) for s in dict.fromkeys([cfg.val_split, *cfg.predict_splits])}
    model, conf = _build(cfg, chosen, spec.sfreq, train.x.shape[-1])
    if cfg.init_weights:
        spec.load_pretrained(model, cfg.init_weights)
    model.to(device)
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    rest = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}],
                            lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed)
    keep = train.labels >= 0
    steps = len(_batches(train, cfg, spec.sequence, np.random.default_rng(0))) * cfg.epochs
    warmup, step, history, best = max(int(0.03 * steps), 0), 0, [], (-1.0, 0, None)
    weights = class_weights(cfg.class_weights, train.labels[keep].tolist())
    loss_fn = nn.CrossEntropyLoss(weight=None if weights is None else weights.to(device), ignore_index=-1)
    val = sets[cfg.val_split]
    logger.info("training %s (%s) on %s: %d epochs, channels %s, %s", cfg.model, "tiny" if cfg.tiny else "reference",
                device, len(train), chosen, {k: getattr(cfg, k) for k in ("epochs", "batch_size", "lr", "weight_decay")})
    for epoch in range(cfg.epochs):
        t0, model_loss, seen = time.perf_counter(), 0.0, 0
        model.train()
        for rows in _batches(train, cfg, spec.sequence, rng):
            for g in opt.param_groups:
                g["lr"] = cfg.lr * lr_factor(step, steps, warmup)
            x = torch.from_numpy(train.x[rows]).to(device)
            y = torch.from_numpy(np.where(keep[rows], train.labels[rows], -1)).to(device).reshape(-1)
            loss = loss_fn(_logits(model, x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            model_loss, seen = model_loss + float(loss.detach()) * y.numel(), seen + y.numel()
        record: dict[str, Any] = {"epoch": epoch + 1, "train_loss": model_loss / max(seen, 1)}
        score = float(epoch)
        if len(val):
            record["val"] = classification_metrics(val.labels, predict_probs(model, val, device).argmax(1))
            score = record["val"]["macro_f1"] or 0.0
        record["seconds"] = round(time.perf_counter() - t0, 3)
        history.append(record)
        if score > best[0]:
            best = (score, epoch + 1, {k: v.detach().clone() for k, v in model.state_dict().items()})
        logger.info("epoch %d: loss %.4f, val macro-F1 %s", epoch + 1, record["train_loss"],
                    record.get("val", {}).get("macro_f1"))
    model.load_state_dict(best[2])
    _save(out / "best", model, {**conf, "epoch": best[1], "train_args": asdict(cfg)})
    summary: dict[str, Any] = {"model": cfg.model, "kind": spec.kind, "tiny": cfg.tiny, "preset": cfg.preset,
                               "input": f"raw signal {conf['channels']} at {spec.sfreq:g} Hz", "best_epoch": best[1],
                               "selection": "validation macro_f1", "train_args": asdict(cfg), "history": history}
    for split in cfg.predict_splits:
        data = sets[split]
        if not len(data):
            continue
        probs = predict_probs(model, data, device)
        samples = [Sample(sid, Path(""), int(lab)) for sid, lab in zip(data.sample_ids, data.labels)]
        write_predictions(out / f"predictions_{split}.csv", samples, probs, STAGES)
        summary[split] = classification_metrics(data.labels, probs.argmax(1))
    write_json_atomic(out / "metrics.json", summary)
    return summary


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m signal_models.train",
                                     description="Train a signal or EEG foundation model on a converted dataset.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    add_dataclass_arguments(parser, SignalTrainConfig)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = dataclass_from_args(SignalTrainConfig, args)
        logger.info("configuration: %s", json.dumps(asdict(cfg), sort_keys=True))
        summary = train_signal_model(cfg)
    except (ValueError, FileNotFoundError) as exc:
        print(f"signal_models.train: {exc}", file=sys.stderr)
        return 1
    for split in cfg.predict_splits:
        if split in summary:
            m = summary[split]
            print(f"{split}: accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}  (n={m['n']})")
    print(f"best epoch {summary['best_epoch']}; outputs in {cfg.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
