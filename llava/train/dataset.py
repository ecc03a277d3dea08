"""The training dataset over an upstream-format conversation file (``eeg_ft.json``).

Each entry is ``{"id", "image", "conversations"}`` with ``"image"`` absent (text only), a
path, or a list ``[img, img]`` (EEG-VLM: the second entry is the placeholder whose slot
receives the sample's high-level features). Paths are relative to ``--image_folder`` and
never escape it.

Item ``i`` is prepared from entry ``i`` alone: its first image (the placeholder is never
loaded), its features row ``i`` of the memory-mapped :class:`llava.eeg_features.FeatureStore`
(checked against the file's ids at start-up), and its token ids / labels. Because nothing
depends on the order items are asked for, the pairing of a sample with its features is
right under any batch size, shuffling, gradient accumulation, DataLoader workers, number of
ranks, and resume.

``eeg_fusion='none'`` is the vanilla-LLaVA ablation from the same data: the second
``<image>`` tag and the features are dropped.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset

from llava.constants import (
    DEFAULT_IM_END_TOKEN,
    DEFAULT_IM_START_TOKEN,
    DEFAULT_IMAGE_TOKEN,
    EEG_FUSION_MODES,
    IGNORE_INDEX,
)
from llava.eeg_features import FeatureStore, default_features_path
from llava.mm_utils import load_image, process_images, resolve_image_path
from llava.train.labels import preprocess_conversation
from llava.train.sample_checks import check_samples
from llava.utils import check_option
from ondisk import read_ft_json

logger = logging.getLogger(__name__)

__all__ = [
    "DatasetOptions", "PreparedData", "prepare_data", "n_image_tags", "LazySupervisedDataset", "read_samples",
    "normalise_image_tags", "resolve_features_path",
]

#: Image tokens counted per image by the length heuristics (upstream's value).
IMAGE_LENGTH_BONUS = 128


@dataclass
class DatasetOptions:
    """What the dataset needs from the arguments (no argument objects are kept)."""

    data_path: str
    image_folder: str | None = None
    image_aspect_ratio: str = "pad"
    version: str = "v1"
    model_max_length: int | None = None
    eeg_fusion: str = "add"
    eeg_context: int = 0
    features_path: str | None = None
    mm_use_im_start_end: bool = False
    #: Visual tokens one image slot becomes in the model (576 for CLIP ViT-L/14-336); the
    #: text is truncated so that text + visual tokens fit ``model_max_length``.
    image_tokens: int = 0
    #: ``image_aspect_ratio='anyres'`` (LLaVA-NeXT): the grid resolutions [[width, height], ...]
    image_grid_pinpoints: list | None = None
    #: anyres: the model's :class:`llava.model.anyres.AnyresGeometry` (token count per image size)
    anyres: Any = None


def read_samples(data_path: str | Path) -> list[dict]:
    """Read and check the conversation file; every entry gets a normalised ``"image"`` list."""
    samples: list[dict] = []
    for item in read_ft_json(data_path):  # checked: a list of {"id", "conversations", "image"?}
        image = item.get("image")
        images = [] if image is None else [image] if isinstance(image, str) else list(image)
        samples.append({"id": str(item["id"]), "images": images, "conversations": item["conversations"]})
    return samples


def resolve_features_path(options: DatasetOptions, samples: list[dict]) -> Path | None:
    """The features file this run needs, or None when no sample uses the feature slot."""
    n_pairs = sum(len(s["images"]) == 2 for s in samples)
    if options.eeg_fusion == "none" or n_pairs == 0:
        if options.features_path and n_pairs == 0:
            logger.warning("--high_level_features_path given but %s has no two-image samples; not used",
                           options.data_path)
        return None
    path = Path(options.features_path) if options.features_path else default_features_path(options.data_path, "train")
    if not path.is_file():
        raise FileNotFoundError(
            f"data file {options.data_path!r}: {n_pairs} samples have two images (EEG-VLM feature slot), but the "
            f"features file {str(path)!r} is not there; write it with `eeg-vlm extract`, pass "
            f"--high_level_features_path, or train vanilla LLaVA with --eeg_fusion none"
        )
    return path


def normalise_image_tags(turns: list[dict], n_images: int, sample_id: str, use_im_start_end: bool = False) -> list[dict]:
    """Put a turn's ``<image>`` tags at its start (one line each) and keep ``n_images`` tags.

    Tags beyond ``n_images`` are removed from the end (``eeg_fusion='none'`` keeps only
    the real image's tag). Fewer tags than images is an error naming the sample.
    """
    turns = copy.deepcopy(turns)
    total = sum(str(t.get("value", "")).count(DEFAULT_IMAGE_TOKEN) for t in turns)
    if total < n_images or (n_images == 0 and total):
        raise ValueError(
            f"sample {sample_id!r}: {total} <image> tag(s) in the conversation for {n_images} image(s); "
            "one tag per image list entry is required"
        )
    drop = total - n_images
    for turn in reversed(turns):
        value = str(turn.get("value", ""))
        k = value.count(DEFAULT_IMAGE_TOKEN)
        if not k:
            continue
        keep = k - min(k, drop)
        drop -= k - keep
        body = value.replace(DEFAULT_IMAGE_TOKEN, "").strip()
        tag = f"{DEFAULT_IM_START_TOKEN}{DEFAULT_IMAGE_TOKEN}{DEFAULT_IM_END_TOKEN}" if use_im_start_end else DEFAULT_IMAGE_TOKEN
        turn["value"] = (tag + "\n") * keep + body
    return turns


def n_image_tags(sample: dict, eeg_fusion: str) -> int:
    """``<image>`` tags the sample keeps: one per image, the placeholder's dropped with ``none``."""
    n = len(sample["images"])
    return 1 if n == 2 and eeg_fusion == "none" else n


@dataclass
class PreparedData:
    """The checked samples of a data file and their opened features (or None)."""

    samples: list[dict]
    features: FeatureStore | None
    n_images: int


def prepare_data(options: DatasetOptions) -> PreparedData:
    """Read the data file, open its features and check every sample's files (no model needed).

    ``train()`` calls this before loading the model, so that a bad data file costs seconds,
    not a model load; all bad samples are listed at once (:mod:`llava.train.sample_checks`).
    """
    check_option("eeg_fusion", options.eeg_fusion, EEG_FUSION_MODES, where="dataset")
    samples = read_samples(options.data_path)
    counts = {n: sum(len(s["images"]) == n for s in samples) for n in (0, 1, 2)}
    if counts[1] and counts[2] and options.eeg_fusion != "none":
        raise ValueError(
            f"data file {options.data_path!r}: mixes {counts[1]} one-image and {counts[2]} two-image samples; "
            f"with --eeg_fusion {options.eeg_fusion} every image sample needs [image, placeholder] "
            "(or train vanilla with --eeg_fusion none)"
        )
    if (counts[1] or counts[2]) and not options.image_folder:
        raise ValueError(f"data file {options.data_path!r}: has image samples; --image_folder is required")
    features = None
    path = resolve_features_path(options, samples)
    if path is not None:
        # non-finite rows are listed with the other bad samples by check_samples
        features = FeatureStore(path, [s["id"] for s in samples], data_file=options.data_path, check_finite=False)
        logger.info("features %s: %d rows of width %d", path, len(features), features.dim)
    check_samples(samples, options.data_path, options.image_folder,
                  lambda sample: n_image_tags(sample, options.eeg_fusion), features)
    logger.info("data %s: %d samples (%d text-only, %d one-image, %d two-image), eeg_fusion=%s",
                options.data_path, len(samples), counts[0], counts[1], counts[2], options.eeg_fusion)
    return PreparedData(samples, features, counts[1] + counts[2])


class LazySupervisedDataset(Dataset):
    """Upstream's ``LazySupervisedDataset`` with the EEG-VLM feature slot.

    Parameters
    ----------
    options : DatasetOptions
    tokenizer : transformers fast tokenizer
    image_processor : CLIP image processor, optional
        Without one the dataset is text only (image entries raise).
    prepared : PreparedData, optional
        The result of :func:`prepare_data` for ``options`` (read and checked now when absent).

    Items are dicts with ``input_ids`` (L,), ``labels`` (L,), ``image`` (3, H, W) — for
    anyres (tiles, 3, H, W) — or None, ``image_size`` (width, height) or None,
    ``eeg_features`` (1, D) float32 or None, and ``index``.
    """

    def __init__(self, options: DatasetOptions, tokenizer: Any, image_processor: Any = None,
                 prepared: PreparedData | None = None):
        self.options = options
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        prepared = prepared if prepared is not None else prepare_data(options)
        self.samples, self.features = prepared.samples, prepared.features
        if prepared.n_images and image_processor is None:
            raise ValueError(f"data file {options.data_path!r}: has image samples but the model has no vision tower")
        self._blank: tuple[torch.Tensor, tuple[int, int]] | None = None

    def __len__(self) -> int:
        return len(self.samples)

    # -- length heuristics (upstream's, for length-grouped batching) --------------------
    def _words(self, sample: dict) -> int:
        return sum(len(str(t.get("value", "")).split()) for t in sample["conversations"])

    @property
    def lengths(self) -> list[int]:
        """Approximate sample lengths: words + 128 per image sample."""
        return [self._words(s) + (IMAGE_LENGTH_BONUS if s["images"] else 0) for s in self.samples]

    @property
    def modality_lengths(self) -> list[int]:
        """Word counts, positive for image samples and negative for text-only ones."""
        return [self._words(s) if s["images"] else -self._words(s) for s in self.samples]

    # -- items --------------------------------------------------------------------------
    def sample_ids(self) -> list[str]:
        return [s["id"] for s in self.samples]

    def _n_tags(self, sample: dict) -> int:
        return n_image_tags(sample, self.options.eeg_fusion)

    def _per_slot(self, image_size: tuple[int, int] | None) -> int:
        """Visual tokens of one image slot: fixed (1.5), or the anyres count of this image's size."""
        if self.options.anyres is not None and image_size is not None:
            return int(self.options.anyres.token_count(image_size))
        return self.options.image_tokens

    def _visual_tokens(self, n_tags: int, per: int) -> int:
        """Visual tokens the model splices in for ``n_tags`` image tags of ``per`` tokens."""
        rows = 2 * self.options.eeg_context + 1
        if n_tags == 2 and self.options.eeg_fusion == "raw":
            return per + rows
        if n_tags == 2:
            return 2 * per + rows - 1
        return per * n_tags

    def _text_budget(self, sid: str, n_tags: int, per: int) -> int | None:
        """Text tokens allowed (each image tag counts once) so that the spliced length fits."""
        if self.options.model_max_length is None:
            return None
        budget = self.options.model_max_length - (self._visual_tokens(n_tags, per) - n_tags if per else 0)
        if budget <= n_tags:
            raise ValueError(
                f"sample {sid!r}: model_max_length {self.options.model_max_length} cannot hold its "
                f"{self._visual_tokens(n_tags, per)} visual tokens; raise --model_max_length"
            )
        return budget

    def _processing(self) -> SimpleNamespace:
        return SimpleNamespace(image_aspect_ratio=self.options.image_aspect_ratio,
                               image_grid_pinpoints=self.options.image_grid_pinpoints)

    def _image(self, rel: str) -> tuple[torch.Tensor, tuple[int, int]]:
        """Pixels ((3, H, W), or (tiles, 3, H, W) for anyres) and the image's (width, height)."""
        img = load_image(resolve_image_path(self.options.image_folder, rel, f"data file {self.options.data_path!r}"))
        return process_images([img], self.image_processor, self._processing())[0], img.size

    def _blank_image(self) -> tuple[torch.Tensor, tuple[int, int]]:
        if self._blank is None:
            # the processed shape of any picture: a blank one run through the same path
            blank = Image.new("RGB", (8, 8))
            pixels = process_images([blank], self.image_processor, self._processing())[0]
            self._blank = (torch.zeros_like(pixels), blank.size)
        return self._blank

    def __getitem__(self, i: int) -> dict[str, Any]:
        sample = self.samples[i]
        sid = sample["id"]
        n_tags = self._n_tags(sample)
        image = size = None
        if sample["images"]:
            image, size = self._image(sample["images"][0])
        elif self.image_processor is not None:
            image, size = self._blank_image()
        per = self._per_slot(size) if n_tags else 0
        turns = normalise_image_tags(sample["conversations"], n_tags, sid, self.options.mm_use_im_start_end)
        tokens = preprocess_conversation(turns, self.tokenizer, self.options.version, sid,
                                         self._text_budget(sid, n_tags, per))
        if not any(lab != IGNORE_INDEX for lab in tokens.labels):
            raise ValueError(
                f"sample {sid!r}: no assistant token is left to learn after truncation to model_max_length "
                f"{self.options.model_max_length} ({self._visual_tokens(n_tags, per)} of them visual tokens); raise "
                "--model_max_length or shorten the conversation"
            )
        item: dict[str, Any] = {
            "input_ids": torch.tensor(tokens.input_ids, dtype=torch.long),
            "labels": torch.tensor(tokens.labels, dtype=torch.long),
            "image": image,
            "image_size": size,
            "eeg_features": None,
            "index": i,
        }
        if n_tags == 2 and self.features is not None:
            # (2K + 1, D): row i = sample i, then its night's neighbours (zeros where missing)
            item["eeg_features"] = torch.from_numpy(self.features.context_rows(i, self.options.eeg_context))
        return item
