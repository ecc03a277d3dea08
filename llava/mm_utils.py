"""Multimodal helpers shared by training and evaluation (upstream names and behaviour).

- :func:`tokenizer_image_token`: tokenise a prompt, putting ``IMAGE_TOKEN_INDEX`` (-200)
  where each ``<image>`` tag stood (one BOS at the start).
- :func:`process_images`: images -> pixel tensor (N, 3, H, W); with
  ``image_aspect_ratio == 'pad'`` each image is centred on a square filled with the
  processor's mean colour and resized, never centre-cropped (training and evaluation alike);
  with ``'anyres'`` (LLaVA-NeXT) each image becomes ``(1 + tiles, 3, H, W)``
  (:func:`process_anyres_image`; the geometry is :mod:`llava.model.anyres`).
- :func:`resolve_image_path`: a data file's image path inside the image folder, refusing
  anything that would leave it.
- :func:`load_image`, :func:`expand2square`, :func:`get_model_name_from_path`,
  :class:`KeywordsStoppingCriteria`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from transformers import StoppingCriteria

from ondisk import join_inside

from .constants import DEFAULT_IMAGE_TOKEN, IMAGE_TOKEN_INDEX
from .utils import check_option

logger = logging.getLogger(__name__)

__all__ = [
    "load_image",
    "resolve_image_path",
    "expand2square",
    "process_images",
    "process_anyres_image",
    "tokenizer_image_token",
    "get_model_name_from_path",
    "KeywordsStoppingCriteria",
]


def load_image(path: str | Path) -> Image.Image:
    """Open an image file as RGB (the file is read fully and closed)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path}: not found")
    with Image.open(path) as img:
        return img.convert("RGB")


def resolve_image_path(image_folder: str | Path, rel: str | Path, source: str | None = None) -> Path:
    """``image_folder / rel``, refusing paths that leave ``image_folder`` (:func:`ondisk.join_inside`).

    Empty, absolute and drive paths, ``..`` components and symbolic links resolving outside
    the folder raise ``ValueError`` naming ``source`` (default: the image folder) and the
    path. The file need not exist.
    """
    return join_inside(image_folder, rel, source or f"image folder {str(image_folder)!r}", "image path")


def expand2square(img: Image.Image, background_color: tuple[int, ...]) -> Image.Image:
    """Centre ``img`` on a square canvas of its longer side, filled with ``background_color``."""
    width, height = img.size
    if width == height:
        return img
    side = max(width, height)
    canvas = Image.new(img.mode, (side, side), background_color)
    canvas.paste(img, ((side - width) // 2, (side - height) // 2))
    return canvas


def _processor_size(image_processor: Any) -> tuple[int, int]:
    """(height, width) the processor's output has (its crop size, else its resize size)."""
    for attr in ("crop_size", "size"):
        size = getattr(image_processor, attr, None)
        if size is None:
            continue
        if isinstance(size, dict):
            if "height" in size and "width" in size:
                return int(size["height"]), int(size["width"])
            if "shortest_edge" in size:
                return int(size["shortest_edge"]), int(size["shortest_edge"])
        elif hasattr(size, "height") and getattr(size, "height", None):
            return int(size.height), int(size.width)
        elif hasattr(size, "shortest_edge") and getattr(size, "shortest_edge", None):
            return int(size.shortest_edge), int(size.shortest_edge)
        elif isinstance(size, int):
            return size, size
    raise ValueError(f"image processor {type(image_processor).__name__}: no crop_size/size to resize to")


def process_anyres_image(image: Image.Image, image_processor: Any, grid_pinpoints: Any) -> torch.Tensor:
    """One image -> LLaVA-NeXT anyres views (1 + cols * rows, 3, S, S), S the processor's crop size.

    View 0 is the whole image resized to S x S (no padding). The grid: the image is scaled
    to fit the best of ``grid_pinpoints`` (:func:`llava.model.anyres.select_best_resolution`),
    centred on a black canvas of that size and cut into S x S tiles, row by row. Every view
    then goes through the processor (normalisation). Same pixels as upstream LLaVA-NeXT.
    """
    from llava.model.anyres import (
        paste_offset,
        parse_grid_pinpoints,
        resized_size,
        select_best_resolution,
        tile_boxes,
    )

    tile, width = _processor_size(image_processor)
    if tile != width:
        raise ValueError(f"anyres: the image processor's crop size must be square, got {tile}x{width}")
    image = image.convert("RGB")
    target = select_best_resolution(image.size, parse_grid_pinpoints(grid_pinpoints, tile))
    new_size = resized_size(image.size, target)
    canvas = Image.new("RGB", target, (0, 0, 0))
    canvas.paste(image.resize(new_size, Image.Resampling.BICUBIC), paste_offset(new_size, target))
    tiles = [canvas.crop(box) for box in tile_boxes(target, tile)]
    views = [image.resize((tile, tile), Image.Resampling.BICUBIC)] + tiles
    out = image_processor(views, return_tensors="pt")["pixel_values"]
    return torch.stack([torch.as_tensor(x) for x in out]) if isinstance(out, (list, tuple)) else out


def process_images(images: Sequence[Image.Image] | Image.Image, image_processor: Any,
                   model_cfg: Any) -> torch.Tensor | list[torch.Tensor]:
    """PIL images -> pixel values for the vision tower.

    ``model_cfg.image_aspect_ratio``:

    - ``'pad'`` (LLaVA-1.5): each image is centred on a square of its longer side filled
      with the processor's mean colour, resized (bicubic) to the processor's crop size and
      normalised. Nothing is cropped away. Returns (N, 3, H, W).
    - ``'anyres'`` (LLaVA-NeXT, ``model_cfg.image_grid_pinpoints``): each image becomes
      (1 + tiles, 3, H, W) (:func:`process_anyres_image`); returns (N, tiles, 3, H, W) when
      every image has the same number of tiles, else a list (as upstream). The model also
      needs each image's ``(width, height)`` (``image_sizes``).
    - ``None``, ``'square'``: the processor's own resize + centre crop. Returns (N, 3, H, W).
    """
    if isinstance(images, Image.Image):
        images = [images]
    images = [im.convert("RGB") for im in images]
    aspect = getattr(model_cfg, "image_aspect_ratio", None)
    check_option("image_aspect_ratio", aspect, ("pad", "square", "anyres", None, ""), where="process_images")
    if aspect == "anyres":
        views = [process_anyres_image(im, image_processor, getattr(model_cfg, "image_grid_pinpoints", None))
                 for im in images]
        return torch.stack(views) if len({tuple(v.shape) for v in views}) == 1 else views
    if aspect == "pad":
        height, width = _processor_size(image_processor)
        fill = tuple(int(round(c * 255)) for c in image_processor.image_mean)
        squared = [expand2square(im, fill).resize((width, height), Image.Resampling.BICUBIC) for im in images]
        out = image_processor(squared, do_resize=False, do_center_crop=False, return_tensors="pt")["pixel_values"]
    else:
        out = image_processor(images, return_tensors="pt")["pixel_values"]
    if isinstance(out, (list, tuple)):
        out = torch.stack([torch.as_tensor(x) for x in out])
    return out


def tokenizer_image_token(prompt: str, tokenizer: Any, image_token_index: int = IMAGE_TOKEN_INDEX,
                          return_tensors: str | None = None) -> list[int] | torch.Tensor:
    """Token ids of ``prompt`` with ``image_token_index`` at each ``<image>`` tag.

    The text between tags is tokenised piece by piece (as upstream LLaVA); the tokenizer's
    BOS, when it adds one, appears once, at the start.
    """
    check_option("return_tensors", return_tensors, ("pt", None), where="tokenizer_image_token")
    chunks = prompt.split(DEFAULT_IMAGE_TOKEN)
    first = tokenizer(chunks[0]).input_ids
    bos = getattr(tokenizer, "bos_token_id", None)
    ids: list[int] = []
    if first and bos is not None and first[0] == bos:
        ids.append(bos)
    for i, chunk in enumerate(chunks):
        if i > 0:
            ids.append(image_token_index)
        ids.extend(tokenizer(chunk, add_special_tokens=False).input_ids if chunk else [])
    return torch.tensor(ids, dtype=torch.long) if return_tensors == "pt" else ids


def get_model_name_from_path(model_path: str | Path) -> str:
    """``.../name`` -> ``name``; ``.../name/checkpoint-500`` -> ``name_checkpoint-500`` (a label only)."""
    parts = str(model_path).rstrip("/\\").replace("\\", "/").split("/")
    if len(parts) > 1 and parts[-1].startswith("checkpoint-"):
        return f"{parts[-2]}_{parts[-1]}"
    return parts[-1]


class KeywordsStoppingCriteria(StoppingCriteria):
    """Stop a sequence once its generated text ends with (or contains, near its end) a keyword.

    Parameters
    ----------
    keywords : list of str
        E.g. ``["</s>"]`` or the conversation separator.
    tokenizer
        Decodes the last generated tokens.
    input_ids : Tensor, optional
        The prompt (B, L), accepted for upstream compatibility; generation from
        ``inputs_embeds`` yields only new tokens, so nothing depends on its length.
    """

    def __init__(self, keywords: Sequence[str], tokenizer: Any, input_ids: torch.Tensor | None = None) -> None:
        self.keywords = [k for k in keywords if k]
        if not self.keywords:
            raise ValueError("KeywordsStoppingCriteria: at least one non-empty keyword is required")
        self.tokenizer = tokenizer
        self.keyword_ids = []
        for k in self.keywords:
            ids = tokenizer(k, add_special_tokens=False).input_ids
            if ids:
                self.keyword_ids.append(torch.tensor(ids, dtype=torch.long))
        self.window = max([len(ids) for ids in self.keyword_ids] + [len(k) for k in self.keywords]) + 3
        self.start_len = 0 if input_ids is None else int(input_ids.shape[1])

    def _hit(self, row: torch.Tensor) -> bool:
        for ids in self.keyword_ids:
            if row.shape[0] >= ids.shape[0] and torch.equal(row[-ids.shape[0]:].cpu(), ids):
                return True
        text = self.tokenizer.decode(row[-self.window:].tolist(), skip_special_tokens=False)
        return any(k in text for k in self.keywords)

    def __call__(self, output_ids: torch.LongTensor, scores: Any = None, **kwargs: Any) -> torch.BoolTensor:
        done = [self._hit(row) if row.numel() else False for row in output_ids]
        return torch.tensor(done, dtype=torch.bool, device=output_ids.device)
