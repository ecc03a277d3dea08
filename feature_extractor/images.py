"""Epoch images -> normalised tensors, and the dataset used for training and extraction."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from feature_extractor.samples import Sample

logger = logging.getLogger(__name__)

__all__ = ["ImageTransform", "ImageDataset"]


@dataclass(frozen=True)
class ImageTransform:
    """Load an image file as a ``(C, S, S)`` float32 tensor ready for the model.

    Parameters
    ----------
    image_size : int
        Output side ``S`` in pixels; images of another size are resized (bilinear).
    in_chans : int
        3: loaded as RGB (a grayscale image is replicated into 3 channels); 1: loaded as
        grayscale (colour images are converted to luminance).
    mean, std : sequence of float
        Per-channel normalisation applied to pixels scaled to ``[0, 1]``.
    """

    image_size: int
    in_chans: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def from_config(cls, config) -> ImageTransform:
        return cls(int(config.image_size), int(config.in_chans), tuple(config.mean), tuple(config.std))

    def __call__(self, path: str | Path) -> torch.Tensor:
        try:
            with Image.open(path) as img:
                return self.from_image(img)
        except FileNotFoundError:
            raise FileNotFoundError(f"image {str(path)!r}: not found") from None
        except OSError as exc:
            raise ValueError(f"image {str(path)!r}: cannot be read ({exc})") from None

    def from_image(self, img: Image.Image) -> torch.Tensor:
        """The same transform on an image already in memory (e.g. a masked copy)."""
        img = img.convert("RGB" if self.in_chans == 3 else "L")
        if img.size != (self.image_size, self.image_size):
            img = img.resize((self.image_size, self.image_size), Image.Resampling.BILINEAR)
        arr = np.asarray(img, dtype=np.float32) / 255.0  # (S, S) or (S, S, 3)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        arr = (arr - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))  # (C, S, S)


class ImageDataset(Dataset):
    """``samples[i]`` -> ``(image (C, S, S), label, i)``; label -1 when unknown."""

    def __init__(self, samples: Sequence[Sample], transform: ImageTransform):
        self.samples = list(samples)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        s = self.samples[index]
        return self.transform(s.image), int(s.label), int(index)
