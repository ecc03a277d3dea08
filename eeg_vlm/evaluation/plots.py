"""Figures of a staging result: confusion matrix, hypnograms, per-class F1, hypnodensity.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot, no
global backend switch) and saved by :func:`save_png` byte-identically for identical inputs
(PNG metadata without the matplotlib version, atomic write).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from eeg_vlm.fileio import write_bytes_atomic
from eeg_vlm.stages import STAGES

logger = logging.getLogger(__name__)

__all__ = ["STAGE_COLORS", "save_png", "confusion_figure", "hypnogram_figure", "f1_bars_figure",
           "hypnodensity_figure"]

#: One colour per stage, used by every figure.
STAGE_COLORS: dict[str, str] = {"W": "#e9b949", "N1": "#8ecae6", "N2": "#3a86c8", "N3": "#1d3557",
                                "REM": "#e76f51"}
# Hypnogram rows, top to bottom (the clinical layout: wake on top, REM beside light sleep).
_HYPNO_ORDER = ("W", "REM", "N1", "N2", "N3")
_HYPNO_Y = {s: len(_HYPNO_ORDER) - 1 - i for i, s in enumerate(_HYPNO_ORDER)}


def _figure(width: float, height: float) -> Figure:
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
    cm = np.asarray(confusion, dtype=np.int64)
    cols = list(STAGES)
    if unparseable is not None and int(np.sum(unparseable)) > 0:
        cm = np.concatenate([cm, np.asarray(unparseable, dtype=np.int64)[:, None]], axis=1)
        cols.append("unparsed")
    totals = cm.sum(1, keepdims=True)
    frac = np.divide(cm, totals, out=np.zeros(cm.shape, dtype=np.float64), where=totals > 0)
    fig = _figure(1.05 * len(cols) + 1.6, 5.2)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(frac, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            color = "white" if frac[i, j] > 0.55 else "black"
            ax.text(j, i, f"{frac[i, j]:.2f}\n({cm[i, j]})", ha="center", va="center", fontsize=9, color=color)
    ax.set_xticks(range(len(cols)), labels=cols)
    ax.set_yticks(range(len(STAGES)), labels=[f"{s}\n(n={int(t)})" for s, t in zip(STAGES, totals[:, 0])])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (row-normalised)")
    ax.set_title(title or "Confusion matrix", fontsize=11)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def _steps(epochs: np.ndarray, stages: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """x (epoch starts, with breaks at gaps) and y levels for a step plot."""
    xs: list[float] = []
    ys: list[float] = []
    prev = None
    for e, s in zip(epochs, stages):
        if prev is not None and e != prev + 1:
            xs.append(prev + 1)
            ys.append(np.nan)
        xs.append(float(e))
        ys.append(np.nan if s is None else float(_HYPNO_Y[s]))
        prev = e
    if prev is not None:  # close the last epoch
        xs.append(prev + 1)
        ys.append(ys[-1])
    return np.asarray(xs), np.asarray(ys)


def hypnogram_figure(epochs: Sequence[int], truth: Sequence[str], pred: Sequence[str | None],
                     title: str = "", epoch_s: float = 30.0) -> Figure:
    """Hypnogram of the expert's stages above the predicted ones, errors marked.

    Parameters
    ----------
    epochs : sequence of int
        Epoch index of each row within the night (gaps are drawn as gaps).
    truth, pred : sequence
        Stages per epoch; ``None`` in ``pred`` is an unparseable answer (grey tick on top).
    epoch_s : float
        Epoch length in seconds (x axis in hours).
    """
    order = np.argsort(np.asarray(epochs), kind="stable")
    ep = np.asarray(epochs)[order]
    tr = [truth[i] for i in order]
    pr = [pred[i] for i in order]
    to_h = epoch_s / 3600.0
    fig = _figure(10.0, 4.6)
    axes = fig.subplots(2, 1, sharex=True)
    for ax, stages, name, color in ((axes[0], tr, "expert", "black"), (axes[1], pr, "predicted", "#c44e52")):
        x, y = _steps(ep, stages)
        ax.step(x * to_h, y, where="post", color=color, linewidth=1.1)
        ax.set_yticks([_HYPNO_Y[s] for s in _HYPNO_ORDER], labels=list(_HYPNO_ORDER))
        ax.set_ylim(-0.6, len(_HYPNO_ORDER) - 0.2)
        ax.set_ylabel(name)
        ax.grid(axis="y", color="0.9", linewidth=0.6)
    wrong = np.array([p is not None and p != t for p, t in zip(pr, tr)], dtype=bool)
    unparsed = np.array([p is None for p in pr], dtype=bool)
    if wrong.any():
        axes[1].vlines((ep[wrong] + 0.5) * to_h, -0.55, -0.25, color="#d62728", linewidth=0.8,
                       label="disagrees with expert")
    for k, e in enumerate(ep[unparsed]):
        axes[1].axvspan(e * to_h, (e + 1) * to_h, color="0.85", zorder=0, linewidth=0,
                        label="unparseable answer" if k == 0 else None)
    if wrong.any() or unparsed.any():
        axes[1].legend(loc="lower right", bbox_to_anchor=(1.0, 0.98), ncols=2, fontsize=8, frameon=False)
    agree = float(np.mean([p == t for p, t in zip(pr, tr)])) if tr else float("nan")
    axes[0].set_title(f"{title}  (agreement {agree:.3f}, {len(tr)} epochs)".strip(), fontsize=11)
    axes[1].set_xlabel("time (h, from epoch 0)")
    fig.tight_layout()
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
    fig = _figure(max(7.0, 1.6 + 1.4 * len(STAGES) * max(1, len(series)) * 0.35), 4.4)
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


def hypnodensity_figure(epochs: Sequence[int], probs: np.ndarray, truth: Sequence[str] | None = None,
                        title: str = "", epoch_s: float = 30.0) -> Figure:
    """Hypnodensity: stacked stage probabilities per epoch, the expert's stages as a strip.

    Parameters
    ----------
    epochs : sequence of int
        Epoch index of each row within the night.
    probs : np.ndarray
        ``(n_epochs, 5)`` probabilities in STAGES order (rows need not sum exactly to 1).
    truth : sequence of str, optional
        Expert stages, drawn as a colour strip above the densities.
    """
    order = np.argsort(np.asarray(epochs), kind="stable")
    ep = np.asarray(epochs)[order].astype(np.float64)
    p = np.asarray(probs, dtype=np.float64)[order]
    if p.ndim != 2 or p.shape[1] != len(STAGES):
        raise ValueError(f"hypnodensity_figure: probs must have shape (n_epochs, 5), got {p.shape}")
    to_h = epoch_s / 3600.0
    fig = _figure(10.0, 3.8 if truth is None else 4.2)
    if truth is not None:
        ax_t, ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 7]})
        tr = [truth[i] for i in order]
        ax_t.bar(ep * to_h, np.ones_like(ep), width=to_h, align="edge",
                 color=[STAGE_COLORS[s] for s in tr], linewidth=0)
        ax_t.set_yticks([])
        ax_t.set_ylabel("expert", rotation=0, ha="right", va="center", fontsize=8)
        ax_t.set_title(title or "Hypnodensity", fontsize=11)
    else:
        ax = fig.add_subplot(1, 1, 1)
        ax.set_title(title or "Hypnodensity", fontsize=11)
    # one polygon per run of consecutive epochs, so that gaps stay empty
    breaks = np.flatnonzero(np.diff(ep) != 1) + 1
    for k, seg in enumerate(np.split(np.arange(ep.size), breaks)):
        x = np.repeat(ep[seg], 2) * to_h
        x[1::2] += to_h
        bottom = np.zeros(x.shape)
        for i, s in enumerate(STAGES):
            y = np.repeat(p[seg, i], 2)
            ax.fill_between(x, bottom, bottom + y, color=STAGE_COLORS[s], linewidth=0, label=s if k == 0 else None)
            bottom = bottom + y
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.set_xlabel("time (h, from epoch 0)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    return fig
