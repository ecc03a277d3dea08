"""Class probabilities for a list of images, and the predictions CSV a report scores."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ondisk import write_text_atomic
from feature_extractor.images import ImageDataset
from feature_extractor.runtime import autocast, make_loader
from feature_extractor.samples import Sample
from feature_extractor.stages import STAGES

logger = logging.getLogger(__name__)

__all__ = ["predict", "write_predictions"]


def predict(
    model: nn.Module,
    dataset: ImageDataset,
    batch_size: int,
    device: torch.device,
    workers: int = 0,
    amp: torch.dtype | None = None,
    channels_last: bool = False,
    progress: bool = False,
) -> np.ndarray:
    """Class probabilities ``(N, num_classes)`` for every image of ``dataset``, in order."""
    from tqdm.auto import tqdm

    model.eval()
    out = []
    loader = make_loader(dataset, batch_size, workers=workers, shuffle=False)
    with torch.inference_mode():
        for x, _, _ in tqdm(loader, desc="eval", disable=not progress, leave=False):
            x = x.to(device, non_blocking=True)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(device, amp):
                logits, _ = model(x)
            out.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(STAGES)), np.float32)


def write_predictions(path: str | Path, samples: Sequence[Sample], probs: np.ndarray, classes: Sequence[str] = STAGES) -> Path:
    """CSV with ``sample_id, stage, pred, prob_<class>...`` (stage empty when unknown)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["sample_id", "stage", "pred"] + [f"prob_{c}" for c in classes])
    for s, p in zip(samples, probs):
        truth = classes[s.label] if s.label >= 0 else ""
        w.writerow([s.sample_id, truth, classes[int(np.argmax(p))]] + [f"{v:.6f}" for v in p])
    write_text_atomic(path, buf.getvalue())
    return Path(path)
