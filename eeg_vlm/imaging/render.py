"""Epoch images: a fast numpy rasteriser drawing min-max scaled waveforms dark on white.

Each pixel column covers an equal share of the epoch's samples and is filled from the
minimum to the maximum of those samples, extended half-way towards the neighbouring
columns' edge samples so that steep slopes stay one continuous stroke. No figure, no axes,
no text: the image holds the waveform and nothing else, so it cannot leak a label, a
title or an epoch number into what a model sees.

Styles
------
``'eeg-vlm'``
    One channel (EEG-VLM used Fpz-Cz) filling the whole image height.
``'psg-llava'``
    Several channels stacked top to bottom in equal, non-overlapping horizontal bands, in
    the order given (PSG-LLaVA section 2.1); every stroke is clipped to its own band, with a
    small blank margin between bands.

The same epoch always gives the same bytes: a minimal PNG with a fixed filter and
compression level and no metadata chunks (no time stamp, no software name).
"""

from __future__ import annotations

import logging
import struct
import zlib

import numpy as np

from eeg_vlm.checks import check_option

logger = logging.getLogger(__name__)

__all__ = [
    "STYLES",
    "DEFAULT_SIZE",
    "PNG_COMPRESS_LEVEL",
    "band_rows",
    "render_epoch",
    "encode_png",
]

STYLES: tuple[str, ...] = ("eeg-vlm", "psg-llava")
DEFAULT_SIZE = 336
#: zlib level of every PNG written (1: fastest; mostly white images compress well anyway).
PNG_COMPRESS_LEVEL = 1
_PAPER = 255  # background; the stroke is 0
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def band_rows(n_channels: int, height: int, style: str = "psg-llava") -> list[tuple[int, int]]:
    """Rows available to each channel's stroke, top to bottom.

    Parameters
    ----------
    n_channels : int
        Number of channels ``C``.
    height : int
        Image height in pixels.
    style : str
        ``'eeg-vlm'`` (one channel, full height) or ``'psg-llava'`` (stacked bands).

    Returns
    -------
    list of (int, int)
        ``(first_row, last_row)`` inclusive per channel. Bands are disjoint; with more than
        one channel each band keeps a blank margin of ``max(1, band_height // 25)`` rows at
        its top and bottom.
    """
    check_option("style", style, STYLES, where="render")
    if style == "eeg-vlm":
        if n_channels != 1:
            raise ValueError(
                f"render: style 'eeg-vlm' draws one channel, got {n_channels}; "
                f"use style 'psg-llava' to stack several channels"
            )
        return [(0, height - 1)]
    edges = [round(i * height / n_channels) for i in range(n_channels + 1)]
    out = []
    for i in range(n_channels):
        top, bottom = edges[i], edges[i + 1] - 1
        margin = max(1, (bottom - top + 1) // 25) if n_channels > 1 else 0
        if bottom - top + 1 - 2 * margin < 3:
            raise ValueError(
                f"render: {n_channels} channels do not fit in {height} pixel rows; "
                f"use a larger size or fewer channels"
            )
        out.append((top + margin, bottom - margin))
    return out


def _column_extents(y: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest (fractional) row touched by the stroke in each pixel column.

    ``y`` holds row coordinates of the samples, shape ``(T,)`` with ``T >= width``.
    """
    t = y.shape[0]
    starts = (np.arange(width) * t + width - 1) // width  # first sample of each column
    lo = np.minimum.reduceat(y, starts)
    hi = np.maximum.reduceat(y, starts)
    first = y[starts]
    last = y[np.append(starts[1:] - 1, t - 1)]
    # join each column to its neighbours half-way between the adjoining edge samples
    mid = 0.5 * (last[:-1] + first[1:])
    lo[1:] = np.minimum(lo[1:], mid)
    hi[1:] = np.maximum(hi[1:], mid)
    lo[:-1] = np.minimum(lo[:-1], mid)
    hi[:-1] = np.maximum(hi[:-1], mid)
    return lo, hi


def render_epoch(scaled: np.ndarray, style: str = "eeg-vlm", size: int | tuple[int, int] = DEFAULT_SIZE,
                 line_width: int = 1, rgb: bool = False) -> np.ndarray:
    """Draw one min-max scaled epoch as a waveform image.

    Parameters
    ----------
    scaled : numpy.ndarray
        The epoch scaled per channel to [-1, 1] (``eeg_vlm.signals.epochs.minmax_scale``), shape
        ``(C, T)`` or ``(T,)`` for one channel. Values outside [-1, 1] are clipped; NaN is
        drawn as 0. +1 is the top row of the channel's band, -1 its bottom row.
    style : {'eeg-vlm', 'psg-llava'}
        One channel over the full height, or channels stacked in bands (in array order).
    size : int or (int, int)
        Image size in pixels, square, or ``(height, width)``. Default 336 (LLaVA-1.5's CLIP).
    line_width : int
        Stroke thickness in pixels (>= 1).
    rgb : bool
        Return ``(H, W, 3)`` instead of grayscale ``(H, W)``.

    Returns
    -------
    numpy.ndarray
        ``uint8`` image: 255 background, 0 stroke.
    """
    x = np.asarray(scaled, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"render: epoch must have shape (C, T) or (T,) with T >= 2, got {np.shape(scaled)}")
    height, width = (size, size) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))
    if height < 4 or width < 4:
        raise ValueError(f"render: size must be at least 4x4 pixels, got {height}x{width}")
    line_width = int(line_width)
    if line_width < 1:
        raise ValueError(f"render: line_width must be >= 1, got {line_width}")
    bands = band_rows(x.shape[0], height, style)
    if not np.isfinite(x).all():
        x = np.nan_to_num(x, nan=0.0)
    x = np.clip(x, -1.0, 1.0)
    if x.shape[1] < width:  # fewer samples than columns: interpolate so every column has one
        grid = np.linspace(0, x.shape[1] - 1, width)
        x = np.stack([np.interp(grid, np.arange(x.shape[1]), row) for row in x])
    img = np.full((height, width), _PAPER, dtype=np.uint8)  # margins between bands stay blank
    a, b = (line_width - 1) // 2, line_width - 1 - (line_width - 1) // 2
    for row, (top, bottom) in zip(x, bands):
        y = top + (1.0 - row) * (0.5 * (bottom - top))
        lo, hi = _column_extents(y, width)
        lo = np.rint(lo).astype(np.int64) - a
        hi = np.rint(hi).astype(np.int64) + b
        if line_width > 1:  # widen horizontally too: union over neighbouring columns
            lo_p = np.pad(lo, (b, a), mode="edge")
            hi_p = np.pad(hi, (b, a), mode="edge")
            lo = np.min(np.lib.stride_tricks.sliding_window_view(lo_p, line_width), axis=1)
            hi = np.max(np.lib.stride_tricks.sliding_window_view(hi_p, line_width), axis=1)
        lo = np.clip(lo, top, bottom)
        hi = np.clip(hi, top, bottom)
        # ink where lo <= row <= hi, as one unsigned comparison: (row - lo) mod 2**16 <= hi - lo
        rows = np.arange(top, bottom + 1, dtype=np.int32)[:, None]
        off = (rows - lo[None, :]).astype(np.uint16)
        paper = off > (hi - lo).astype(np.uint16)[None, :]
        img[top:bottom + 1] = paper.view(np.uint8) * np.uint8(_PAPER)
    if rgb:
        return np.repeat(img[:, :, None], 3, axis=2)
    return img


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(img: np.ndarray) -> bytes:
    """Encode a ``uint8`` image ``(H, W)`` or ``(H, W, 3)`` as PNG bytes, deterministically.

    A minimal PNG (IHDR, one IDAT, IEND; 8-bit grayscale or RGB, no interlace) with the
    "up" filter on every row and zlib level :data:`PNG_COMPRESS_LEVEL`: about four times
    faster than Pillow's encoder on these mostly white images, at the same size. No time
    stamp, text or other metadata chunk, so equal arrays give equal bytes. Any PNG reader
    (Pillow, imageio, browsers) opens it.
    """
    arr = np.asarray(img)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3) or 0 in arr.shape:
        raise ValueError(f"encode_png: expected a non-empty uint8 (H, W) or (H, W, 3) array, got {arr.dtype} {arr.shape}")
    height, width = arr.shape[:2]
    rows = arr.reshape(height, -1)
    raw = np.empty((height, rows.shape[1] + 1), dtype=np.uint8)
    raw[:, 0] = 2  # filter type "up": each byte minus the byte above it (mod 256)
    raw[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=raw[1:, 1:])
    color = 0 if arr.ndim == 2 else 2
    header = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    return b"".join((_PNG_SIGNATURE, _png_chunk(b"IHDR", header),
                     _png_chunk(b"IDAT", zlib.compress(raw.tobytes(), PNG_COMPRESS_LEVEL)),
                     _png_chunk(b"IEND", b"")))
