"""Batching of :class:`llava.train.dataset.LazySupervisedDataset` items.

Right padding: ``input_ids`` with the pad token (the unk token when the tokenizer has no
pad token), ``labels`` with ``IGNORE_INDEX``; the attention mask comes from the true
lengths, never from comparing ids with the pad id. Images are stacked to
``(B, 3, H, W)`` (one per sample; text-only samples carry a blank image that the model
never splices); anyres images stay a list of ``(tiles, 3, H, W)`` with ``image_sizes``, features to ``(B, 1, D)`` when any sample of the batch has them (rows of
text-only samples are zeros and unused).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from llava.constants import IGNORE_INDEX

logger = logging.getLogger(__name__)

__all__ = ["DataCollatorForSupervisedDataset", "pad_token_id"]


def pad_token_id(tokenizer: Any) -> int:
    """The tokenizer's pad id, falling back to unk (upstream's choice for Llama)."""
    for name in ("pad_token_id", "unk_token_id"):
        value = getattr(tokenizer, name, None)
        if value is not None:
            return int(value)
    raise ValueError(f"tokenizer {type(tokenizer).__name__}: has neither a pad nor an unk token to pad with")


@dataclass
class DataCollatorForSupervisedDataset:
    """Collate items into the keyword arguments of the model's ``forward``."""

    tokenizer: Any
    model_max_length: int | None = None

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        pad = pad_token_id(self.tokenizer)
        ids = [it["input_ids"][: self.model_max_length] for it in items]
        labels = [it["labels"][: self.model_max_length] for it in items]
        longest = max(int(x.shape[0]) for x in ids)
        batch = len(items)
        input_ids = torch.full((batch, longest), pad, dtype=torch.long)
        label_ids = torch.full((batch, longest), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((batch, longest), dtype=torch.long)
        for b, (x, y) in enumerate(zip(ids, labels)):
            n = int(x.shape[0])
            input_ids[b, :n] = x
            label_ids[b, :n] = y
            mask[b, :n] = 1
        out: dict[str, torch.Tensor] = {"input_ids": input_ids, "labels": label_ids, "attention_mask": mask}

        images = [it.get("image") for it in items]
        if any(im is not None for im in images):
            if any(im is None for im in images):
                raise ValueError("collator: some samples of the batch have an image tensor and others none; "
                                 "a multimodal model needs one (blank for text-only samples) per sample")
            if images[0].dim() == 4:  # anyres: (tiles, 3, H, W) each, tile counts differ
                out["images"] = list(images)
                out["image_sizes"] = [it["image_size"] for it in items]
            else:
                shapes = {tuple(im.shape) for im in images}
                if len(shapes) != 1:
                    raise ValueError(f"collator: images of different shapes in one batch: {sorted(shapes)}")
                out["images"] = torch.stack(images)  # (B, 3, H, W)

        feats = [it.get("eeg_features") for it in items]
        present = [f for f in feats if f is not None]
        if present:
            dims = {tuple(f.shape) for f in present}
            if len(dims) != 1:
                raise ValueError(f"collator: eeg_features of different shapes in one batch: {sorted(dims)}")
            zero = torch.zeros_like(present[0])
            out["eeg_features"] = torch.stack([zero if f is None else f for f in feats]).float()  # (B, 1, D)
        return out
