"""What a training run is told and what it returns: :class:`TrainConfig` (the command line
is built from its fields, checked in ``__post_init__``, class weights included),
:class:`TrainResult`, and the image settings a checkpoint carries from its dataset's
``convert.json``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from feature_extractor.config import ModelConfig
from feature_extractor.stages import STAGES
from ondisk import read_convert_json

__all__ = ["TrainConfig", "TrainResult", "class_weights", "image_settings", "IMAGE_SETTING_KEYS"]

#: The keys of a dataset's ``convert.json`` that say how its images were drawn; training
#: copies them into every checkpoint's ``config.json`` (``image_settings``), so that images
#: drawn later for the model (``eeg-vlm stage``) are drawn the same way.
IMAGE_SETTING_KEYS: tuple[str, ...] = ("channels", "style", "sfreq", "size", "line_width", "scaling", "uv_range",
                                       "display_filter")


def image_settings(manifest: str | Path | None) -> dict | None:
    """The image settings recorded in the ``convert.json`` beside ``manifest`` (``None`` if absent)."""
    meta = read_convert_json(Path(manifest).parent) if manifest else None
    return None if meta is None else {k: meta[k] for k in IMAGE_SETTING_KEYS if k in meta}


@dataclass
class TrainConfig:
    """Everything a training run depends on (saved into every checkpoint's config.json)."""

    out: str = field(default="", metadata={"help": "output folder (best/, last/, metrics.json, predictions)"})
    manifest: str | None = field(default=None, metadata={"help": "manifest.csv (image paths relative to its folder)"})
    labels: str | None = field(default=None, metadata={"help": "labels CSV (sample_id and/or image, stage[, split]) instead of a manifest"})
    val_labels: str | None = field(default=None, metadata={"help": "labels CSV of the validation images (with --labels)"})
    image_folder: str | None = field(default=None, metadata={"help": "folder the labels CSV's images are relative to"})
    train_split: str = field(default="train", metadata={"help": "split value of the training rows"})
    val_split: str = field(default="val", metadata={"help": "split value of the validation rows"})
    predict_splits: list[str] = field(default_factory=lambda: ["val", "test"], metadata={"help": "splits to write predictions_<split>.csv for (with the best model)"})
    model: str = field(default="resnet18_1024", metadata={"help": "backbone name (see --list-models)"})
    model_kwargs: dict[str, Any] = field(default_factory=dict, metadata={"help": "extra backbone arguments, e.g. '{\"depths\": [1,1,1,1]}'"})
    plugin: list[str] = field(default_factory=list, metadata={"help": "modules to import that register extra backbones"})
    image_size: int = field(default=336, metadata={"help": "input side in pixels (images are resized to it)"})
    in_chans: int = field(default=3, metadata={"help": "3: RGB input (grayscale replicated); 1: grayscale input, 1-channel stem"})
    feature_dim: int = field(default=1024, metadata={"help": "width of the exported features"})
    init_weights: str | None = field(default=None, metadata={"help": "state-dict file (.safetensors/.pt/.bin) to initialise shape-compatible tensors from"})
    trainable: list[str] = field(default_factory=list, metadata={"help": "train only parameters whose names start with these prefixes (e.g. backbone.layer3 backbone.layer4 proj head); default all"})
    unfreeze: str | None = field(default=None, metadata={"help": "partial fine-tuning (feature_extractor.finetune): 'table3' (what PSG-LLaVA Table 3 unfroze for this backbone), 'head', 'all' or comma-separated prefixes"})
    preset: str | None = field(default=None, metadata={"help": "PSG-LLaVA Table 3 row whose batch size, lr, weight decay, epochs and --unfreeze fill the options not given ('table3': this model's row; see feature_extractor.presets)"})
    epochs: int = field(default=30, metadata={"help": "training epochs"})
    batch_size: int = field(default=64, metadata={"help": "images per training step"})
    eval_batch_size: int | None = field(default=None, metadata={"help": "images per evaluation step (default: --batch-size)"})
    lr: float = field(default=1e-3, metadata={"help": "peak learning rate (AdamW)"})
    weight_decay: float = field(default=1e-4, metadata={"help": "AdamW weight decay (not applied to biases and norms)"})
    warmup_ratio: float = field(default=0.03, metadata={"help": "fraction of all steps with linear warm-up"})
    min_lr_ratio: float = field(default=0.0, metadata={"help": "cosine decays to lr * this"})
    class_weights: str = field(default="none", metadata={"help": "'none', 'balanced' (inverse training frequency) or 5 comma-separated weights"})
    label_smoothing: float = field(default=0.0, metadata={"help": "cross-entropy label smoothing"})
    seed: int = field(default=0, metadata={"help": "random seed (weights, data order)"})
    deterministic: bool = field(default=True, metadata={"help": "use deterministic kernels where torch has them"})
    workers: int = field(default=2, metadata={"help": "DataLoader worker processes (0: load in the main process)"})
    device: str = field(default="auto", metadata={"help": "'auto', 'cpu', 'cuda' or 'cuda:N'"})
    amp: str = field(default="auto", metadata={"help": "'auto'/'bf16': bf16 autocast on CUDA; 'none': float32"})
    channels_last: bool = field(default=False, metadata={"help": "channels-last memory format (faster convolutions on CPU and GPU)"})
    resume: bool = field(default=False, metadata={"help": "continue from <out>/last after an interruption"})
    keep_last: bool = field(default=True, metadata={"help": "keep <out>/last (weights + optimizer state, "
                            "several times the model's size) once training has finished; only --resume needs it"})
    stop_after_epochs: int | None = field(default=None, metadata={"help": "stop after this many epochs in this run (time-boxed jobs; continue with --resume)"})
    progress: str = field(default="auto", metadata={"help": "progress bars: 'auto' (when a TTY), 'on', 'off'"})

    def __post_init__(self) -> None:
        problems = []
        if not self.out:
            problems.append("--out is required")
        if bool(self.manifest) == bool(self.labels):
            problems.append("give exactly one of --manifest or --labels")
        if self.labels and not self.image_folder:
            problems.append("--labels needs --image-folder")
        for name in ("epochs", "batch_size", "image_size", "feature_dim"):
            if int(getattr(self, name)) < 1:
                problems.append(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.unfreeze and self.trainable:
            problems.append("give --unfreeze or --trainable, not both")
        if self.workers < 0:
            problems.append(f"--workers must be >= 0, got {self.workers}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            problems.append(f"--warmup-ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.amp not in ("auto", "bf16", "none"):
            problems.append(f"--amp must be 'auto', 'bf16' or 'none', got {self.amp!r}")
        if self.progress not in ("auto", "on", "off"):
            problems.append(f"--progress must be 'auto', 'on' or 'off', got {self.progress!r}")
        try:
            class_weights(self.class_weights, [])
        except ValueError as exc:
            problems.append(str(exc))
        if problems:
            raise ValueError("training options: " + "; ".join(problems))

    def model_config(self) -> ModelConfig:
        return ModelConfig(
            model=self.model,
            model_kwargs=dict(self.model_kwargs),
            feature_dim=self.feature_dim,
            in_chans=self.in_chans,
            image_size=self.image_size,
            plugins=list(self.plugin),
        )


@dataclass
class TrainResult:
    """Where a run wrote its files, and its scores."""

    out: Path
    best_epoch: int
    metrics: dict[str, Any]
    history: list[dict[str, Any]]


def class_weights(spec: str, labels: Sequence[int], num_classes: int = len(STAGES)) -> torch.Tensor | None:
    """Cross-entropy class weights: ``'none'`` -> None; ``'balanced'`` -> N / (K * count_k); or a list."""
    spec = str(spec).strip()
    if spec == "none":
        return None
    if spec == "balanced":
        counts = np.bincount(np.asarray(labels, dtype=int), minlength=num_classes).astype(np.float64)
        weights = np.where(counts > 0, counts.sum() / (num_classes * np.maximum(counts, 1)), 0.0)
        return torch.tensor(weights, dtype=torch.float32)
    try:
        values = [float(v) for v in spec.split(",")]
    except ValueError:
        values = []
    if len(values) != num_classes or any(v < 0 for v in values):
        raise ValueError(f"--class-weights must be 'none', 'balanced' or {num_classes} non-negative numbers, got {spec!r}")
    return torch.tensor(values, dtype=torch.float32)
