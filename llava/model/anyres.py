"""LLaVA-NeXT ``anyres`` geometry: grid choice, tiles, unpadding, token counts, tile packing.

The one place for this geometry: ``llava/mm_utils.py`` (pixels: :func:`select_best_resolution`,
:func:`resized_size`, :func:`paste_offset`, :func:`tile_boxes`) and the dataset (token
budgets: :meth:`AnyresGeometry.token_count`) import it; the model packs its tile features
with :func:`pack_tiles`.

An image of ``image_size = (width, height)`` pixels (PIL's order, as upstream LLaVA) is
shown to CLIP (tile side ``tile`` = 336 px, ``side`` = 24 patches per tile side) as

1. the base view: the whole image resized to one tile (24 x 24 = 576 tokens);
2. a grid: the image resized to fit the best of ``image_grid_pinpoints`` (each
   ``[width, height]``, multiples of ``tile``), centre-padded, cut into ``cols x rows`` tiles.

``mm_patch_merge_type`` then turns the (1 + rows * cols) tile features into tokens:

- ``flat``: every tile's 576 tokens in order: ``(1 + rows * cols) * 576``;
- ``spatial``: base, then the grid as one (rows * 24) x (cols * 24) map read row by row:
  the same count, spatially ordered;
- ``spatial_unpad``: base, then the map with the padding rows/columns removed
  (:func:`unpadded_shape`) and the learned ``image_newline`` row appended after each row:
  ``576 + h' * (w' + 1)``.

A single 4-D image batch (LLaVA-1.5) never goes through here. transformers'
``LlavaNext`` orders sizes and pinpoints as (height, width); :mod:`llava.model.convert_hf`
swaps them. Upstream truncates ``original * scale`` with ``int()``; transformers rounds
it to 7 digits first, so the two can differ by one row for rare sizes: this module
follows upstream.
"""

from __future__ import annotations

import ast
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..utils import check_option
from .configuration_llava import MERGE_TYPES

logger = logging.getLogger(__name__)

__all__ = [
    "parse_grid_pinpoints", "select_best_resolution", "resized_size", "paste_offset", "tile_boxes", "grid_shape",
    "num_tiles",
    "unpadded_shape", "image_token_count", "pack_tiles", "image_sizes_list", "AnyresGeometry",
]

Size = tuple[int, int]  # (width, height) in pixels


def parse_grid_pinpoints(pinpoints: Any, tile: int | None = None) -> list[Size]:
    """``image_grid_pinpoints`` (a list of [width, height], or its text: JSON or upstream's
    ``[(336, 672), ...]``) as a list of (w, h). With ``tile`` given, every side must be a
    positive multiple of it.
    """
    if isinstance(pinpoints, str):
        try:
            pinpoints = ast.literal_eval(pinpoints.strip())  # literals only: never runs code
        except (ValueError, SyntaxError) as err:
            raise ValueError(f"image_grid_pinpoints: not a list of [width, height]: {pinpoints!r}") from err
    if not isinstance(pinpoints, (list, tuple)) or not pinpoints:
        raise ValueError(f"image_grid_pinpoints: expected a non-empty list of [width, height], got {pinpoints!r}")
    out = []
    for p in pinpoints:
        if not isinstance(p, (list, tuple)) or len(p) != 2 or not all(isinstance(v, int) and v > 0 for v in p):
            raise ValueError(f"image_grid_pinpoints: entry {p!r} is not [width, height] in positive pixels")
        if tile is not None and (p[0] % tile or p[1] % tile):
            raise ValueError(f"image_grid_pinpoints: entry {list(p)} is not a multiple of the tile size {tile} px")
        out.append((int(p[0]), int(p[1])))
    return out


def select_best_resolution(image_size: Size, pinpoints: Sequence[Size]) -> Size:
    """The pinpoint keeping most of the image's pixels, then wasting fewest: (width, height).

    For each candidate the image is scaled to fit; its effective resolution is the scaled
    pixel count (at most the original's); ties go to the smaller padding, then list order.
    """
    width, height = image_size
    if width <= 0 or height <= 0:
        raise ValueError(f"anyres: image size {width}x{height} px must be positive")
    best, best_effective, best_wasted = None, -1, None
    for cand_w, cand_h in pinpoints:
        scale = min(cand_w / width, cand_h / height)
        effective = min(int(width * scale) * int(height * scale), width * height)
        wasted = cand_w * cand_h - effective
        if effective > best_effective or (effective == best_effective and wasted < best_wasted):
            best, best_effective, best_wasted = (cand_w, cand_h), effective, wasted
    return best


def resized_size(image_size: Size, target: Size) -> Size:
    """(width, height) of the image scaled to fit ``target`` (the rest is centre padding)."""
    width, height = image_size
    target_w, target_h = target
    scale_w, scale_h = target_w / width, target_h / height
    if scale_w < scale_h:  # float products, as upstream
        return target_w, min(math.ceil(height * scale_w), target_h)
    return min(math.ceil(width * scale_h), target_w), target_h


def paste_offset(resized: Size, target: Size) -> Size:
    """(left, top) where the resized image sits, centred, on the ``target`` canvas."""
    return (target[0] - resized[0]) // 2, (target[1] - resized[1]) // 2


def tile_boxes(canvas: Size, tile: int) -> list[tuple[int, int, int, int]]:
    """(left, top, right, bottom) of the ``tile`` px tiles of a ``canvas``, row by row."""
    width, height = canvas
    return [(x, y, x + tile, y + tile) for y in range(0, height, tile) for x in range(0, width, tile)]


def grid_shape(image_size: Size, pinpoints: Sequence[Size], tile: int) -> tuple[int, int]:
    """(cols, rows) of tiles of the best resolution for ``image_size``."""
    best_w, best_h = select_best_resolution(image_size, pinpoints)
    return best_w // tile, best_h // tile


def num_tiles(image_size: Size, pinpoints: Sequence[Size], tile: int) -> int:
    """Tiles CLIP sees for one image: the base view plus cols * rows grid tiles."""
    cols, rows = grid_shape(image_size, pinpoints, tile)
    return 1 + cols * rows


def unpadded_shape(rows: int, cols: int, image_size: Size) -> tuple[int, int]:
    """(rows', cols') of a ``rows x cols`` token map once the padding around the image is cut."""
    width, height = image_size
    if width / height > cols / rows:  # wider than the map: padding above and below
        new_rows = int(height * (cols / width))
        pad = (rows - new_rows) // 2
        return rows - 2 * pad, cols
    new_cols = int(width * (rows / height))
    pad = (cols - new_cols) // 2
    return rows, cols - 2 * pad


def image_token_count(image_size: Size, pinpoints: Sequence[Size], tile: int, side: int, merge_type: str) -> int:
    """Visual tokens of one anyres image (see the module docstring for the three formulas)."""
    check_option("mm_patch_merge_type", merge_type, MERGE_TYPES, where="anyres")
    cols, rows = grid_shape(image_size, pinpoints, tile)
    if merge_type != "spatial_unpad":
        return (1 + cols * rows) * side * side
    h, w = unpadded_shape(rows * side, cols * side, image_size)
    return side * side + h * (w + 1)


def pack_tiles(features: torch.Tensor, image_size: Size, pinpoints: Sequence[Size], tile: int, merge_type: str,
               newline: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Tile features (1 + rows * cols, side * side, hidden) -> tokens (T, hidden) and patch mask (T,).

    The mask is False on the ``image_newline`` rows (``spatial_unpad``), True on CLIP patch tokens.
    """
    n, per_tile, hidden = features.shape
    side = int(round(per_tile ** 0.5))
    cols, rows = grid_shape(image_size, pinpoints, tile)
    if side * side != per_tile or n != 1 + cols * rows:
        raise ValueError(f"anyres: image {image_size[0]}x{image_size[1]} px needs 1 + {cols}x{rows} tiles of a "
                         f"square patch grid; got {n} tile(s) of {per_tile} tokens")
    if merge_type == "flat":
        tokens = features.reshape(n * per_tile, hidden)
        return tokens, torch.ones(tokens.shape[0], dtype=torch.bool, device=tokens.device)
    base, grid = features[0], features[1:]  # (576, hidden), (rows * cols, 576, hidden)
    grid = grid.view(rows, cols, side, side, hidden).permute(0, 2, 1, 3, 4)  # (rows, side, cols, side, hidden)
    grid = grid.reshape(rows * side, cols * side, hidden)  # the whole map, row-major
    is_patch = torch.ones(grid.shape[:2], dtype=torch.bool, device=grid.device)
    if merge_type == "spatial_unpad":
        if newline is None:
            raise ValueError("anyres: 'spatial_unpad' needs the model's image_newline parameter")
        h, w = unpadded_shape(rows * side, cols * side, image_size)
        top, left = (rows * side - h) // 2, (cols * side - w) // 2
        grid = grid[top:top + h, left:left + w]  # (h', w', hidden)
        grid = torch.cat([grid, newline.to(grid.dtype).expand(h, 1, hidden)], dim=1)  # (h', w' + 1, hidden)
        is_patch = torch.ones(h, w + 1, dtype=torch.bool, device=grid.device)
        is_patch[:, -1] = False
    tokens = torch.cat([base, grid.reshape(-1, hidden)])
    mask = torch.cat([torch.ones(per_tile, dtype=torch.bool, device=grid.device), is_patch.reshape(-1)])
    return tokens, mask


def image_sizes_list(image_sizes: Any, n: int) -> list[tuple[int, int]]:
    """``image_sizes`` [(width, height), ...] (a list or an (n, 2) tensor), one per image."""
    if image_sizes is None or len(image_sizes) != n:
        raise ValueError(f"image_sizes: anyres images need one (width, height) per image; got "
                         f"{'none' if image_sizes is None else len(image_sizes)} for {n} image(s)")
    return [(int(w), int(h)) for w, h in (s.tolist() if torch.is_tensor(s) else s for s in image_sizes)]


@dataclass(frozen=True)
class AnyresGeometry:
    """The anyres settings of one model: ``pinpoints`` (w, h), ``tile`` px, ``side`` patches, ``merge_type``."""

    pinpoints: tuple[Size, ...]
    tile: int = 336
    side: int = 24
    merge_type: str = "spatial_unpad"

    @classmethod
    def from_config(cls, config: Any, tile: int, patch: int) -> AnyresGeometry:
        """From a LLaVA config and the tower's image size ``tile`` and ``patch`` size (px)."""
        pinpoints = tuple(parse_grid_pinpoints(getattr(config, "image_grid_pinpoints", None), tile))
        return cls(pinpoints, tile, tile // patch, getattr(config, "mm_patch_merge_type", "flat") or "flat")

    def num_tiles(self, image_size: Size) -> int:
        return num_tiles(image_size, self.pinpoints, self.tile)

    def token_count(self, image_size: Size) -> int:
        return image_token_count(image_size, self.pinpoints, self.tile, self.side, self.merge_type)

    def pack(self, features: torch.Tensor, image_size: Size, newline: torch.Tensor | None) -> tuple[torch.Tensor,
                                                                                                  torch.Tensor]:
        return pack_tiles(features, image_size, self.pinpoints, self.tile, self.merge_type, newline)
