"""Attribution over many epochs: per-sample heatmaps, per-stage means, channel-band shares.

:func:`explain_epochs` runs :func:`~eeg_vlm.explain.attribution.feature_ablation` on every
epoch and writes into ``out``:

=============================  ==============================================================
``samples.csv``                ``sample_id, stage, pred, correct, prob_W..prob_REM`` per epoch
``attributions.npy``           float32 ``(N, G, G)`` normalised scores, rows in ``samples.csv`` order
``heatmaps/<sample>.png``      the image beside its attribution (the first ``heatmaps`` epochs)
``stage_means.png`` / ``.npy`` mean map per true stage over correctly classified epochs (PSG-LLaVA Fig. 7)
``misclassified_means.png``    the same over misclassified epochs (Fig. 12)
``channel_bands.csv/.md/.png`` share of the attribution in each channel's band, per stage (Fig. 13;
                               stacked multi-channel images only)
``explain.json``               settings, counts, seconds per image
=============================  ==============================================================
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from eeg_vlm.evaluation.plots import save_png
from eeg_vlm.explain.attribution import Attribution, ProbsFn, feature_ablation
from eeg_vlm.explain.figures import band_figure, band_mass, overlay_figure, stage_grid_figure
from ondisk import write_bytes_atomic, write_text_atomic
from eeg_vlm.stages import STAGES

logger = logging.getLogger(__name__)

__all__ = ["ExplainConfig", "ExplainResult", "load_epoch_image", "explain_epochs", "explain_night"]


@dataclass
class ExplainConfig:
    """Settings of an attribution run (saved in ``explain.json``)."""

    top: float | None = field(default=0.3, metadata={"help": "share of patches shown in the maps (None: all)"})
    patch: int = field(default=14, metadata={"help": "patch side in pixels (336/14 = 576 patches)"})
    baseline: int = field(default=255, metadata={"help": "pixel value a masked patch is filled with (255: paper)"})
    batch_size: int = field(default=64, metadata={"help": "masked copies per forward pass"})
    heatmaps: int = field(default=20, metadata={"help": "per-sample heatmap PNGs written (-1: all)"})
    smooth: float = field(default=0.0, metadata={"help": "Gaussian smoothing (pixels) of the displayed maps"})

    def __post_init__(self) -> None:
        if self.top is not None and not 0.0 < float(self.top) <= 1.0:
            raise ValueError(f"explain: --top must be a fraction in (0, 1], got {self.top!r}")
        if int(self.heatmaps) < -1:
            raise ValueError(f"explain: --heatmaps must be -1 (all) or >= 0, got {self.heatmaps!r}")
        if float(self.smooth) < 0:
            raise ValueError(f"explain: --smooth must be >= 0, got {self.smooth!r}")


@dataclass
class ExplainResult:
    """What :func:`explain_epochs` wrote and measured."""

    out: Path
    n: int
    seconds_per_image: float
    band_shares: dict[str, list[float]] | None = None
    files: list[Path] = field(default_factory=list)


def load_epoch_image(path: str | Path) -> np.ndarray:
    """An epoch image as ``uint8 (H, W)`` grayscale (the renderer writes grayscale PNGs)."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("L"), dtype=np.uint8).copy()
    except FileNotFoundError:
        raise FileNotFoundError(f"image {str(path)!r}: not found") from None
    except OSError as exc:
        raise ValueError(f"image {str(path)!r}: cannot be read ({exc})") from None


def _safe_name(sample_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in sample_id)


def _samples_csv(ids: Sequence[str], truths: Sequence[str | None], attrs: Sequence[Attribution]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["sample_id", "stage", "pred", "correct", *(f"prob_{s}" for s in STAGES)])
    for sid, truth, a in zip(ids, truths, attrs):
        pred = STAGES[int(np.argmax(a.probs))]
        correct = "" if not truth else int(truth == pred)
        w.writerow([sid, truth or "", pred, correct, *(f"{p:.6f}" for p in a.probs)])
    return buf.getvalue()


def _stage_means(images, scores: np.ndarray, truths, preds, want_correct: bool):
    """``{stage: (example image, mean map, count)}`` over epochs (mis)classified as asked."""
    out = {}
    for stage in STAGES:
        idx = [i for i, (t, p) in enumerate(zip(truths, preds)) if t == stage and (t == p) == want_correct]
        if idx:
            out[stage] = (images[idx[0]], scores[idx].mean(axis=0), len(idx))
        else:
            out[stage] = (None, np.zeros(scores.shape[1:]), 0)
    return out


def _band_outputs(out: Path, scores: np.ndarray, truths, preds, patch: int, channels: Sequence[str],
                  height: int) -> tuple[dict[str, list[float]], list[Path]]:
    from eeg_vlm.imaging.render import band_rows

    bands = band_rows(len(channels), height, "psg-llava")
    shares = np.stack([band_mass(s, patch, bands) for s in scores])  # (N, C)
    table: dict[str, np.ndarray] = {}
    for stage in STAGES:
        idx = [i for i, (t, p) in enumerate(zip(truths, preds)) if t == stage and t == p]
        if idx:
            table[stage] = shares[idx].mean(axis=0)
    table["all"] = shares.mean(axis=0)
    cols = list(table)
    lines = ["channel," + ",".join(cols)] + [f"{ch}," + ",".join(f"{table[c][k]:.4f}" for c in cols)
                                             for k, ch in enumerate(channels)]
    md = [f"| channel | {' | '.join(cols)} |", "|" + " --- |" * (len(cols) + 1)]
    md += [f"| {ch} | " + " | ".join(f"{table[c][k]:.3f}" for c in cols) + " |" for k, ch in enumerate(channels)]
    md.append("")
    md.append("Share of each epoch's attribution in the channel's band, averaged over the correctly "
              "classified epochs of each stage ('all': every epoch).")
    write_text_atomic(out / "channel_bands.csv", "\n".join(lines) + "\n")
    write_text_atomic(out / "channel_bands.md", "\n".join(md) + "\n")
    png = save_png(band_figure(table, channels, "attribution share per channel band"), out / "channel_bands.png")
    return {c: [float(v) for v in table[c]] for c in cols}, [out / "channel_bands.csv", out / "channel_bands.md", png]


def _save_npy(path: Path, array: np.ndarray) -> Path:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
    write_bytes_atomic(path, buf.getvalue(), durable=False)
    return path


def explain_epochs(probs_fn: ProbsFn, ids: Sequence[str], images: Sequence[str | Path],
                   truths: Sequence[str | None] | None, out: str | Path, cfg: ExplainConfig | None = None,
                   channels: Sequence[str] | None = None, model_name: str = "model",
                   progress: bool = False) -> ExplainResult:
    """Attribute every epoch image to ``probs_fn`` and write the files of the module docstring.

    Parameters
    ----------
    probs_fn : callable
        ``uint8 (B, H, W) -> (B, 5)`` stage probabilities (:mod:`eeg_vlm.explain.models`).
    ids, images : sequences
        Sample ids and their image files (336 x 336 for 14-pixel patches).
    truths : sequence of str or None, optional
        Expert stages (``None``/empty: unknown; such epochs count in no stage mean).
    channels : sequence of str, optional
        Channel order of stacked (``psg-llava``) images; with two or more, the channel-band
        table and figure are written.
    """
    from tqdm.auto import tqdm

    cfg = cfg or ExplainConfig()
    out = Path(out)
    if len(ids) != len(images):
        raise ValueError(f"explain: {len(ids)} sample ids but {len(images)} images")
    truths = list(truths) if truths is not None else [None] * len(ids)
    result = ExplainResult(out, len(ids), 0.0)
    pixels, attrs = [], []
    started = time.perf_counter()
    for sid, path in tqdm(list(zip(ids, images)), desc="explain", disable=not progress, unit="img"):
        img = load_epoch_image(path)
        pixels.append(img)
        attrs.append(feature_ablation(probs_fn, img, cfg.patch, cfg.baseline, cfg.batch_size))
    result.seconds_per_image = (time.perf_counter() - started) / max(1, len(ids))
    preds = [STAGES[int(np.argmax(a.probs))] for a in attrs]
    scores = np.stack([a.scores for a in attrs]) if attrs else np.zeros((0, 1, 1))
    write_text_atomic(out / "samples.csv", _samples_csv(ids, truths, attrs))
    result.files += [out / "samples.csv", _save_npy(out / "attributions.npy", scores)]
    n_maps = len(ids) if cfg.heatmaps == -1 else min(cfg.heatmaps, len(ids))
    for i in range(n_maps):
        title = f"{ids[i]}: {model_name} says {preds[i]}" + (f", expert {truths[i]}" if truths[i] else "")
        fig = overlay_figure(pixels[i], attrs[i].scores, cfg.patch, cfg.top, title, cfg.smooth)
        result.files.append(save_png(fig, out / "heatmaps" / f"{_safe_name(ids[i])}.png"))
    if any(truths) and attrs:
        for name, correct, what in (("stage_means", True, "correctly classified"),
                                    ("misclassified_means", False, "misclassified")):
            means = _stage_means(pixels, scores, truths, preds, correct)
            _save_npy(out / f"{name}.npy", np.stack([means[s][1] for s in STAGES]))
            title = f"mean attribution per true stage, {what} epochs ({model_name})"
            result.files += [out / f"{name}.npy",
                             save_png(stage_grid_figure(means, cfg.patch, cfg.top, title, cfg.smooth),
                                      out / f"{name}.png")]
    if channels is not None and len(channels) > 1 and attrs:
        result.band_shares, files = _band_outputs(out, scores, truths, preds, cfg.patch, channels,
                                                  pixels[0].shape[0])
        result.files += files
    summary = {"config": asdict(cfg), "model": model_name, "n": len(ids), "seconds_per_image": result.seconds_per_image,
               "accuracy": (float(np.mean([t == p for t, p in zip(truths, preds) if t])) if any(truths) else None),
               "channels": list(channels) if channels else None, "band_shares": result.band_shares}
    write_text_atomic(out / "explain.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
    result.files.append(out / "explain.json")
    logger.info("explain: %d epochs, %.2f s per image, into %s", len(ids), result.seconds_per_image, out)
    return result


def explain_night(out: str | Path, ids: Sequence[str], images: Sequence[Path], vision_model: str | Path, *,
                  truths: Sequence[str | None] | None = None, llava: str | None = None,
                  llava_base: str | None = None, cot: str = "none", channels: Sequence[str] = ("Fpz-Cz",),
                  stacked: bool = False, score_template: str = "Sleep stage: {label}", conv_mode: str = "llava_v1",
                  device: str = "auto", cfg: ExplainConfig | None = None, progress: bool = False) -> list[Path]:
    """``eeg-vlm stage --explain``: heatmaps of every epoch of a staged night, for the model that staged it.

    ``cot`` and ``channels`` give the question the LLaVA checkpoint is asked
    (:func:`eeg_vlm.reasoning.cot.question`); ``stacked`` images also get the channel-band table.
    """
    from eeg_vlm.explain.models import model_probs_fn

    fn, name = model_probs_fn(vision_model, llava, llava_base, cot, channels, score_template, conv_mode, device)
    cfg = cfg or ExplainConfig(heatmaps=-1)
    return explain_epochs(fn, ids, images, truths, out, cfg, list(channels) if stacked else None, name,
                          progress).files
