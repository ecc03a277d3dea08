"""Figures of one night: the hypnogram (expert above predicted, or predicted alone) and the
hypnodensity (stacked stage probabilities).

Both ``eeg-vlm report`` and ``eeg-vlm stage`` draw nights with these functions. Figures
use :class:`matplotlib.figure.Figure` with the Agg canvas; save them with
:func:`eeg_vlm.evaluation.plots.save_png` (byte-identical for identical inputs).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from eeg_vlm.evaluation.plots import STAGE_COLORS, new_figure
from eeg_vlm.stages import STAGES

logger = logging.getLogger(__name__)

__all__ = ["hypnogram_figure", "hypnodensity_figure"]

# Hypnogram rows, top to bottom (the clinical layout: wake on top, REM beside light sleep).
_HYPNO_ORDER = ("W", "REM", "N1", "N2", "N3")
_HYPNO_Y = {s: len(_HYPNO_ORDER) - 1 - i for i, s in enumerate(_HYPNO_ORDER)}


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


def hypnogram_figure(epochs: Sequence[int], truth: Sequence[str] | None, pred: Sequence[str | None],
                     title: str = "", epoch_s: float = 30.0) -> Figure:
    """Hypnogram of the expert's stages above the predicted ones, errors marked.

    With ``truth=None`` (a night without expert scoring) only the predicted stages are
    drawn, one step trace in clinical row order.

    Parameters
    ----------
    epochs : sequence of int
        Epoch index of each row within the night (gaps are drawn as gaps).
    truth, pred : sequence
        Stages per epoch; ``None`` in ``pred`` is an unparseable answer (grey tick on top).
    epoch_s : float
        Epoch length in seconds (x axis in hours).
    """
    if truth is None:
        return _predicted_only_figure(np.asarray(epochs), pred, title, epoch_s)
    order = np.argsort(np.asarray(epochs), kind="stable")
    ep = np.asarray(epochs)[order]
    tr = [truth[i] for i in order]
    pr = [pred[i] for i in order]
    to_h = epoch_s / 3600.0
    fig = new_figure(10.0, 4.6)
    axes = fig.subplots(2, 1, sharex=True)
    for ax, stages, name, color in ((axes[0], tr, "expert", "black"), (axes[1], pr, "predicted", "#4c72b0")):
        x, y = _steps(ep, stages)
        ax.step(x * to_h, y, where="post", color=color, linewidth=1.1, label=f"{name} stage")
        ax.set_yticks([_HYPNO_Y[s] for s in _HYPNO_ORDER], labels=list(_HYPNO_ORDER))
        ax.set_ylim(-0.6, len(_HYPNO_ORDER) - 0.2)
        ax.set_ylabel(name)
        ax.grid(axis="y", color="0.9", linewidth=0.6)
    wrong = np.array([p is not None and p != t for p, t in zip(pr, tr)], dtype=bool)
    unparsed = np.array([p is None for p in pr], dtype=bool)
    if wrong.any():
        # only the disagreeing epochs are red: a thick bar at the predicted level, and a tick
        # under the axis so that single epochs stay visible on a whole night
        level = np.array([_HYPNO_Y[p] for p in np.asarray(pr, dtype=object)[wrong]], dtype=np.float64)
        start = ep[wrong] * to_h
        axes[1].hlines(level, start, start + to_h, color="#d62728", linewidth=3.0,
                       label=f"disagrees with expert ({int(wrong.sum())} epochs)")
        axes[1].vlines(start + 0.5 * to_h, -0.55, -0.3, color="#d62728", linewidth=0.8)
    for k, e in enumerate(ep[unparsed]):
        axes[1].axvspan(e * to_h, (e + 1) * to_h, color="0.85", zorder=0, linewidth=0,
                        label="unparseable answer" if k == 0 else None)
    axes[1].legend(loc="lower right", bbox_to_anchor=(1.0, 0.98), ncols=3, fontsize=8, frameon=False)
    agree = float(np.mean([p == t for p, t in zip(pr, tr)])) if tr else float("nan")
    axes[0].set_title(f"{title}  (agreement {agree:.3f}, {len(tr)} epochs)".strip(), fontsize=11)
    axes[1].set_xlabel("time (h, from epoch 0)")
    fig.tight_layout()
    return fig


def _predicted_only_figure(epochs: np.ndarray, stages: Sequence[str], title: str, epoch_s: float):
    """Predicted stages as a step plot (clinical row order), when there is no expert scoring."""
    rows = ("N3", "N2", "N1", "REM", "W")  # bottom to top
    y = np.array([rows.index(s) for s in stages], dtype=float)
    x = np.asarray(epochs, dtype=float) * epoch_s / 3600.0
    fig = new_figure(10.0, 2.8)
    ax = fig.add_subplot(1, 1, 1)
    if len(x):
        ax.step(np.append(x, x[-1] + epoch_s / 3600.0), np.append(y, y[-1]), where="post", color="#c44e52",
                linewidth=1.1)
    ax.set_yticks(range(len(rows)), labels=list(rows))
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel("time (h, from epoch 0)")
    ax.set_title(title, fontsize=11)
    ax.grid(axis="y", color="0.9", linewidth=0.6)
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
        Expert stages, drawn as a colour strip above the densities; ``None`` marks an epoch
        the expert did not score (left white).
    """
    order = np.argsort(np.asarray(epochs), kind="stable")
    ep = np.asarray(epochs)[order].astype(np.float64)
    p = np.asarray(probs, dtype=np.float64)[order]
    if p.ndim != 2 or p.shape[1] != len(STAGES):
        raise ValueError(f"hypnodensity_figure: probs must have shape (n_epochs, 5), got {p.shape}")
    to_h = epoch_s / 3600.0
    fig = new_figure(10.0, 3.8 if truth is None else 4.2)
    if truth is not None:
        ax_t, ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 7]})
        tr = [truth[i] for i in order]
        ax_t.bar(ep * to_h, np.ones_like(ep), width=to_h, align="edge",  # unscored epochs stay white
                 color=[STAGE_COLORS[s] if s is not None else "white" for s in tr], linewidth=0)
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
