"""Feature-ablation attribution over the patches of an epoch image (PSG-LLaVA section 2.3.2).

The image is cut into non-overlapping square patches (336 / 14 = a 24 x 24 grid, 576
patches). For every patch ``p_i`` a copy of the image is made with that patch set to a
baseline value, and the patch's score is the Euclidean distance between the model's class
probabilities on the original and on the masked copy::

    S(p_i) = || f(I) - f(M_i(I)) ||_2

Scores are min-max normalised to ``[0, 1]`` over the image (equation 12); a flat score
map (no patch changes the output) normalises to all zeros. :func:`keep_top` keeps the
highest ``fraction`` of patches (the paper shows the top 30 %).

The model is any function from a batch of ``uint8`` images ``(B, H, W)`` to probabilities
``(B, K)``: the vision module and the VLM's label-scoring probabilities both fit
(:mod:`eeg_vlm.explain.models`). The 576 masked copies go through it ``batch_size`` at a
time, so one image costs ``ceil(576 / batch_size) + 1`` calls, not 577.

The default baseline is the paper colour of the renderer (255, white): masking a patch
erases the stroke inside it and leaves nothing a model could read as signal.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["ProbsFn", "Attribution", "patch_grid", "masked_copies", "feature_ablation", "normalise",
           "keep_top", "upsample"]

#: ``uint8 (B, H, W)`` images -> ``float (B, K)`` class probabilities.
ProbsFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Attribution:
    """One image's attribution.

    Attributes
    ----------
    raw : np.ndarray
        ``(G, G)`` float64 distances ``S(p_i)``, patch row-major.
    scores : np.ndarray
        ``(G, G)`` float64 min-max normalised ``raw``, in ``[0, 1]``.
    probs : np.ndarray
        ``(K,)`` the model's probabilities on the unmasked image.
    patch : int
        Patch side in pixels.
    """

    raw: np.ndarray
    scores: np.ndarray
    probs: np.ndarray
    patch: int


def patch_grid(height: int, width: int, patch: int) -> tuple[int, int]:
    """``(rows, cols)`` of non-overlapping ``patch`` x ``patch`` patches; the sides must divide.

    >>> patch_grid(336, 336, 14)
    (24, 24)
    """
    if int(patch) < 1:
        raise ValueError(f"explain: patch must be >= 1 pixel, got {patch!r}")
    if height % patch or width % patch:
        raise ValueError(f"explain: a {height}x{width} image does not split into {patch}x{patch} patches; "
                         f"use an image side divisible by {patch} (336 for 14-pixel patches)")
    return height // patch, width // patch


def masked_copies(image: np.ndarray, indices: np.ndarray, patch: int, baseline: int) -> np.ndarray:
    """Copies of ``image`` ``(H, W)`` with patch ``indices[j]`` set to ``baseline``: ``(n, H, W)``."""
    _, cols = patch_grid(image.shape[0], image.shape[1], patch)
    out = np.repeat(image[None], len(indices), axis=0)  # (n, H, W)
    for j, idx in enumerate(indices):
        r, c = divmod(int(idx), cols)
        out[j, r * patch:(r + 1) * patch, c * patch:(c + 1) * patch] = baseline
    return out


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"explain: the image must be a uint8 (H, W) grayscale array, got {image.dtype} "
                         f"of shape {image.shape}")
    return image


def feature_ablation(probs_fn: ProbsFn, image: np.ndarray, patch: int = 14, baseline: int = 255,
                     batch_size: int = 64) -> Attribution:
    """Attribution of every patch of ``image`` to ``probs_fn``'s output.

    Parameters
    ----------
    probs_fn : callable
        ``uint8 (B, H, W) -> (B, K)`` class probabilities.
    image : np.ndarray
        ``uint8 (H, W)`` epoch image (255 background, 0 stroke).
    patch : int
        Patch side in pixels (default 14: 576 patches on 336 x 336).
    baseline : int
        Pixel value a masked patch is filled with (default 255, the background).
    batch_size : int
        Masked copies per ``probs_fn`` call; 1 masks one patch per call.

    Returns
    -------
    Attribution
    """
    image = _check_image(image)
    if int(batch_size) < 1:
        raise ValueError(f"explain: batch_size must be >= 1, got {batch_size!r}")
    if not 0 <= int(baseline) <= 255:
        raise ValueError(f"explain: baseline must be a pixel value in 0..255, got {baseline!r}")
    rows, cols = patch_grid(image.shape[0], image.shape[1], patch)
    original = np.asarray(probs_fn(image[None]), dtype=np.float64)[0]  # (K,)
    raw = np.empty(rows * cols, dtype=np.float64)
    for start in range(0, rows * cols, batch_size):
        idx = np.arange(start, min(start + batch_size, rows * cols))
        probs = np.asarray(probs_fn(masked_copies(image, idx, patch, int(baseline))), dtype=np.float64)  # (n, K)
        raw[idx] = np.linalg.norm(probs - original[None], axis=1)
    raw = raw.reshape(rows, cols)
    logger.debug("explain: %d patches in %d calls", rows * cols, 1 + math.ceil(rows * cols / batch_size))
    return Attribution(raw=raw, scores=normalise(raw), probs=original, patch=int(patch))


def normalise(raw: np.ndarray) -> np.ndarray:
    """Min-max scaling to ``[0, 1]`` (equation 12); a constant map becomes zeros."""
    raw = np.asarray(raw, dtype=np.float64)
    lo, hi = float(raw.min()), float(raw.max())
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return np.zeros_like(raw)
    return (raw - lo) / (hi - lo)


def keep_top(scores: np.ndarray, fraction: float | None) -> np.ndarray:
    """Zero all but the ``ceil(fraction * N)`` highest-scoring patches (ties: earlier patch first).

    ``fraction`` ``None`` or 1 keeps everything.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if fraction is None:
        return scores.copy()
    if not 0.0 < float(fraction) <= 1.0:
        raise ValueError(f"explain: top must be a fraction in (0, 1], got {fraction!r}")
    flat = scores.ravel()
    keep = math.ceil(float(fraction) * flat.size - 1e-9)
    order = np.argsort(-flat, kind="stable")[:keep]
    out = np.zeros_like(flat)
    out[order] = flat[order]
    return out.reshape(scores.shape)


def upsample(scores: np.ndarray, patch: int) -> np.ndarray:
    """Patch scores ``(G, G)`` -> a pixel map ``(G * patch, G * patch)`` (each patch one value)."""
    return np.kron(np.asarray(scores, dtype=np.float64), np.ones((patch, patch)))
