"""Figures of a staging result: confusion matrix and per-class F1 (a night's hypnogram and
hypnodensity are in :mod:`eeg_vlm.hypnogram.figure`).

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot, no
global backend switch) and saved by :func:`save_png` byte-identically for identical inputs
(PNG metadata without the matplotlib version, atomic write).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ondisk import write_bytes_atomic
from eeg_vlm.stages import STAGES

logger = logging.getLogger(__name__)

__all__ = ["STAGE_COLORS", "new_figure", "save_png", "confusion_figure", "confusions_side_by_side", "f1_bars_figure"]

#: One colour per stage, used by every figure.
STAGE_COLORS: dict[str, str] = {"W": "#e9b949", "N1": "#8ecae6", "N2": "#3a86c8", "N3": "#1d3557",
                                "REM": "#e76f51"}


def new_figure(width: float, height: float) -> Figure:
    """An empty figure on the Agg canvas, ``width`` x ``height`` inches at 100 dpi."""
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Figure, path: str | Path, dpi: int = 100) -> Path:
    """Save ``fig`` as PNG; same figure content gives the same bytes (no version stamp)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    path = Path(path)
    write_bytes_atomic(path, buf.getvalue(), durable=False)
    logger.debug("wrote %s", path)
    return path


def confusion_figure(confusion: np.ndarray, unparseable: np.ndarray | None = None,
                     title: str = "") -> Figure:
    """Row-normalised confusion matrix with counts.

    Parameters
    ----------
    confusion : np.ndarray
        ``(5, 5)`` counts, rows truth, columns prediction, order ``W N1 N2 N3 REM``.
    unparseable : np.ndarray, optional
        ``(5,)`` unparseable predictions per true stage; shown as an extra column when any.
    title : str
        Figure title.
    """
    cm, cols = _with_unparsed(confusion, unparseable, unparseable is not None and int(np.sum(unparseable)) > 0)
    fig = new_figure(1.05 * len(cols) + 1.6, 5.2)
    ax = fig.add_subplot(1, 1, 1)
    im = _draw_confusion(ax, cm, cols, title or "Confusion matrix")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def _with_unparsed(confusion: np.ndarray, unparseable: np.ndarray | None, column: bool) -> tuple[np.ndarray, list[str]]:
    """``(5, 5)`` counts, plus an ``unparsed`` column ``(5, 6)`` when ``column``."""
    cm = np.asarray(confusion, dtype=np.int64)
    if not column:
        return cm, list(STAGES)
    extra = np.zeros(len(STAGES), np.int64) if unparseable is None else np.asarray(unparseable, dtype=np.int64)
    return np.concatenate([cm, extra[:, None]], axis=1), [*STAGES, "unparsed"]


def _draw_confusion(ax, cm: np.ndarray, cols: list[str], title: str):
    """Row-normalised ``cm`` (5, len(cols)) on ``ax`` with counts, colour scale 0..1; returns the image."""
    totals = cm.sum(1, keepdims=True)
    frac = np.divide(cm, totals, out=np.zeros(cm.shape, dtype=np.float64), where=totals > 0)
    im = ax.imshow(frac, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            color = "white" if frac[i, j] > 0.55 else "black"
            ax.text(j, i, f"{frac[i, j]:.2f}\n({cm[i, j]})", ha="center", va="center", fontsize=9, color=color)
    ax.set_xticks(range(len(cols)), labels=cols)
    ax.set_yticks(range(len(STAGES)), labels=[f"{s}\n(n={int(t)})" for s, t in zip(STAGES, totals[:, 0])])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (row-normalised)")
    ax.set_title(title, fontsize=11)
    return im


def confusions_side_by_side(runs: Mapping[str, tuple[np.ndarray, np.ndarray | None]], per_row: int = 4) -> Figure:
    """Confusion matrices side by side, one per run, on one colour scale (0..1, one colour bar).

    Parameters
    ----------
    runs : mapping
        Run name (the panel title) -> ``(confusion (5, 5), unparseable (5,) or None)``, in
        panel order (e.g. the untuned base's zero-shot answers beside the tuned model's).
        When any run has unparseable answers every panel gets the ``unparsed`` column.
    per_row : int
        Panels per row; more runs (an ablation grid) wrap onto further rows.
    """
    if not runs:
        raise ValueError("confusions_side_by_side: no runs given")
    column = any(u is not None and int(np.sum(u)) > 0 for _, u in runs.values())
    n_cols = len(STAGES) + int(column)
    across = min(len(runs), per_row)
    down = -(-len(runs) // across)
    fig = new_figure(across * (0.95 * n_cols + 1.2) + 1.0, 5.2 * down)
    fig.set_layout_engine("constrained")  # room for the shared colour bar
    axes = [fig.add_subplot(down, across, k + 1) for k in range(len(runs))]
    im = None
    for ax, (name, (confusion, unparseable)) in zip(axes, runs.items()):
        cm, cols = _with_unparsed(confusion, unparseable, column)
        im = _draw_confusion(ax, cm, cols, name)
    fig.colorbar(im, ax=axes, shrink=0.8, pad=0.01)
    return fig


def f1_bars_figure(runs: Mapping[str, Mapping[str, float]],
                   published: Mapping[str, Mapping[str, float]] | None = None) -> Figure:
    """Per-class F1 bars, one group per stage, one bar per run (published ones hatched).

    Parameters
    ----------
    runs : mapping
        Run name -> {stage: F1}; ``nan`` or missing stages are left empty.
    published : mapping, optional
        Published system -> {stage: F1} (only the stages the source prints).
    """
    series = [(n, v, False) for n, v in runs.items()] + [(n, v, True) for n, v in (published or {}).items()]
    fig = new_figure(max(7.0, 1.6 + 1.4 * len(STAGES) * max(1, len(series)) * 0.35), 4.4)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / max(1, len(series))
    cmap = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]
    for k, (name, vals, is_pub) in enumerate(series):
        xs = np.arange(len(STAGES)) - 0.4 + width * (k + 0.5)
        ys = np.array([vals.get(s, np.nan) for s in STAGES], dtype=np.float64)
        ax.bar(xs, np.nan_to_num(ys), width=width * 0.95, color=cmap[k % len(cmap)],
               hatch="//" if is_pub else None, edgecolor="white" if is_pub else None,
               label=f"{name} (published)" if is_pub else name)
        for x, y in zip(xs, ys):
            if np.isfinite(y):
                ax.text(x, y + 0.01, f"{y:.2f}", ha="center", va="bottom", fontsize=7, rotation=90)
    ax.set_xticks(range(len(STAGES)), labels=list(STAGES))
    ax.set_ylim(0, 1.3)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("F1")
    ax.set_title("Per-class F1", fontsize=11)
    ax.legend(fontsize=8, frameon=False, loc="upper center", ncols=3)
    fig.tight_layout()
    return fig
