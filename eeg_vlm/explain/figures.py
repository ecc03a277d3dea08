"""Pictures of attributions: one epoch's heatmap, per-stage means (Figs. 7 and 12), channel bands (Fig. 13).

Figures use :mod:`eeg_vlm.evaluation.plots`' Agg canvas and byte-stable :func:`save_png`.
The heatmap is drawn over the grey epoch image with a transparent low end, so the
waveform stays readable where the model did not look; as in the paper (section 3.6) the
map shown may be smoothed (``smooth`` pixels, display only) and cut to its top patches
(:func:`~eeg_vlm.explain.attribution.keep_top`) — the stored scores are never altered.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from eeg_vlm.evaluation.plots import new_figure as _figure
from eeg_vlm.explain.attribution import keep_top, upsample

logger = logging.getLogger(__name__)

__all__ = ["heat_pixels", "draw_overlay", "overlay_figure", "stage_grid_figure", "band_mass", "band_figure"]


def heat_pixels(scores: np.ndarray, patch: int, top: float | None = None, smooth: float = 0.0) -> np.ndarray:
    """Patch scores ``(G, G)`` -> the displayed pixel map ``(G*patch, G*patch)`` in ``[0, 1]``."""
    pixels = upsample(keep_top(scores, top), patch)
    if smooth > 0:
        from scipy.ndimage import gaussian_filter

        pixels = gaussian_filter(pixels, sigma=float(smooth))
        peak = pixels.max()
        pixels = pixels / peak if peak > 0 else pixels
    return pixels


def draw_overlay(ax, image: np.ndarray, pixels: np.ndarray, title: str = "") -> None:
    """The epoch image (strokes in grey) under the heat map: jet colours, zero scores transparent."""
    from matplotlib import colormaps

    ax.imshow(image, cmap="gray", vmin=-255, vmax=255, interpolation="nearest")  # strokes mid-grey
    pixels = np.clip(pixels, 0.0, 1.0)
    rgba = colormaps["jet"](pixels)  # (H, W, 4): blue (low) .. red (high)
    rgba[..., 3] = np.where(pixels > 0, 0.25 + 0.45 * pixels, 0.0)
    ax.imshow(rgba, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def overlay_figure(image: np.ndarray, scores: np.ndarray, patch: int, top: float | None, title: str = "",
                   smooth: float = 0.0) -> Figure:
    """One epoch: image alone (left) and with its attribution (right)."""
    fig = _figure(6.4, 3.4)
    left, right = fig.subplots(1, 2)
    left.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    left.set_xticks([])
    left.set_yticks([])
    left.set_title("epoch image", fontsize=8)
    draw_overlay(right, image, heat_pixels(scores, patch, top, smooth),
                 f"attribution (top {top:.0%})" if top else "attribution")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def stage_grid_figure(means: Mapping[str, tuple[np.ndarray, np.ndarray, int]], patch: int, top: float | None,
                      title: str, smooth: float = 0.0) -> Figure:
    """One column per stage: an example image of the stage under the stage's mean attribution.

    ``means[stage] = (example image (H, W) uint8, mean scores (G, G), count)``; stages with
    no sample are left out.
    """
    stages = [s for s in means if means[s][2] > 0]
    fig = _figure(2.2 * max(3, len(stages)), 2.6)  # room for the title with few stages
    axes = np.atleast_1d(fig.subplots(1, max(1, len(stages))))
    for ax, stage in zip(axes, stages):
        image, mean, n = means[stage]
        draw_overlay(ax, image, heat_pixels(mean, patch, top, smooth), f"{stage} (n={n})")
    if not stages:
        axes[0].axis("off")
        axes[0].text(0.5, 0.5, "no epochs", ha="center", va="center")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def band_mass(scores: np.ndarray, patch: int, bands: Sequence[tuple[int, int]]) -> np.ndarray:
    """Share of one map's attribution in each channel band ``(C,)``, summing to 1.

    Each band is its ``(first_row, last_row)`` rows (:func:`eeg_vlm.imaging.render.band_rows`);
    the blank margins between bands are not counted. A map with no mass gives zeros.
    """
    pixels = upsample(scores, patch)  # (H, W)
    mass = np.array([pixels[top:bottom + 1].sum() for top, bottom in bands], dtype=np.float64)
    total = mass.sum()
    return mass / total if total > 0 else mass


def band_figure(table: Mapping[str, np.ndarray], channels: Sequence[str], title: str) -> Figure:
    """Attribution share per channel (rows, image order top to bottom) and stage (columns)."""
    stages = list(table)
    data = np.stack([table[s] for s in stages], axis=1) if stages else np.zeros((len(channels), 0))  # (C, S)
    fig = _figure(1.2 + 0.9 * max(1, len(stages)), 0.9 + 0.28 * len(channels))
    ax = fig.subplots()
    im = ax.imshow(data, cmap="viridis", vmin=0.0, aspect="auto")
    ax.set_yticks(range(len(channels)), list(channels), fontsize=7)
    ax.set_xticks(range(len(stages)), stages, fontsize=8)
    for (r, c), v in np.ndenumerate(data):
        ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=6,
                color="white" if v < 0.6 * max(data.max(), 1e-9) else "black")
    fig.colorbar(im, ax=ax, fraction=0.05)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
