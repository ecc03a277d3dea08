"""``eeg-vlm stage``: the hypnogram of a whole night from one unlabeled EDF.

    eeg-vlm stage PSG.edf --vision-model checkpoints/vision --out night/
    eeg-vlm stage PSG.edf --vision-model checkpoints/vision \\
        --llava checkpoints/eeg-vlm-lora --llava-base llava-v1.5-13b --out night/

Steps (each reuses the training pipeline's own code, so that images and inputs are the
ones the models were trained on):

1. read the EDF/EDF+/BDF (:func:`eeg_vlm.io.read_edf`; annotations inside the file are
   ignored) and cut 30-s epochs from the file start, or from ``--start``
   (:func:`eeg_vlm.signals.epochs.make_epochs`);
2. render each epoch into ``OUT/images/<record_id>/<epoch:06d>.png`` exactly as
   ``eeg-vlm convert`` does (:func:`eeg_vlm.imaging.convert.write_record`); channels, style,
   sampling rate, image size and line width come from the ``convert.json`` of the
   manifest the vision model was trained on (recorded in its ``config.json``), else from
   the flags; a flag that contradicts the recorded value is an error;
3. stage probabilities from the vision module (:func:`feature_extractor.predict.predict`),
   or, with ``--llava``, its features (:func:`feature_extractor.extract.extract_features`)
   fed to LLaVA label scoring (:func:`llava.eval.model_vqa.eval_model` with
   ``--score-labels``);
4. ``OUT/hypnogram.csv``, ``OUT/hypnogram.edf`` (EDF+ annotations, Sleep-EDF labels),
   ``OUT/hypnogram.png``, ``OUT/hypnodensity.png`` and ``OUT/summary.json`` (sleep
   statistics; with ``--hypnogram``, accuracy and kappa against it).

Every output file is written atomically; a failed run leaves no half-written file.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eeg_vlm.cli import configure_logging
from eeg_vlm.checks import check_file, check_option
from eeg_vlm.fileio import read_jsonl, write_text_atomic
from eeg_vlm.hypnogram.files import Hypnogram, write_hypnogram_csv, write_hypnogram_edf
from eeg_vlm.imaging.render import DEFAULT_SIZE, STYLES
from eeg_vlm.stages import STAGES

logger = logging.getLogger(__name__)

__all__ = [
    "RenderSettings",
    "SleepStatistics",
    "StageResult",
    "sleep_statistics",
    "format_statistics",
    "render_settings",
    "truth_for_epochs",
    "stage_night",
    "build_parser",
    "main",
]

_SLEEP = ("N1", "N2", "N3", "REM")
_DEFAULTS = {"channels": ("Fpz-Cz",), "style": "eeg-vlm", "sfreq": 100.0, "size": DEFAULT_SIZE, "line_width": 1}


# ----------------------------------------------------------------------------- statistics
@dataclass(frozen=True)
class SleepStatistics:
    """Standard sleep statistics of one hypnogram (times in minutes).

    Attributes
    ----------
    time_in_bed : float
        All epochs (the staged recording period, taken as lights off to lights on).
    total_sleep_time : float
        Epochs of N1, N2, N3 or REM.
    sleep_efficiency : float
        ``100 * total_sleep_time / time_in_bed`` in percent (``nan`` without epochs).
    sleep_onset_latency : float or None
        From the first epoch to the first sleep epoch; ``None`` without sleep.
    waso : float
        Wake after sleep onset: epochs that are not sleep between the first and the last
        sleep epoch.
    rem_latency : float or None
        From sleep onset to the first REM epoch; ``None`` without REM.
    stage_minutes : dict
        Stage -> minutes.
    stage_percent : dict
        Sleep stage -> percent of the total sleep time (``nan`` without sleep).
    """

    time_in_bed: float
    total_sleep_time: float
    sleep_efficiency: float
    sleep_onset_latency: float | None
    waso: float
    rem_latency: float | None
    stage_minutes: dict[str, float]
    stage_percent: dict[str, float]

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def sleep_statistics(stages: Sequence[str | None], epoch_length: float = 30.0) -> SleepStatistics:
    """Sleep statistics of consecutive epochs.

    Parameters
    ----------
    stages : sequence of (str or None)
        Stage per consecutive epoch (:data:`eeg_vlm.stages.STAGES`); ``None`` (unscored)
        counts as time in bed and as not asleep.
    epoch_length : float
        Seconds per epoch.

    Returns
    -------
    SleepStatistics
    """
    bad = [s for s in stages if s is not None and s not in STAGES]
    if bad:
        raise ValueError(f"sleep_statistics: stage {bad[0]!r} is not one of {', '.join(STAGES)}")
    per_min = epoch_length / 60.0
    n = len(stages)
    minutes = {s: per_min * sum(1 for x in stages if x == s) for s in STAGES}
    tst = sum(minutes[s] for s in _SLEEP)
    asleep = [i for i, s in enumerate(stages) if s in _SLEEP]
    sol = rem_lat = None
    waso = 0.0
    if asleep:
        first, last = asleep[0], asleep[-1]
        sol = first * per_min
        waso = per_min * sum(1 for s in stages[first:last + 1] if s not in _SLEEP)
        rem = next((i for i in range(first, n) if stages[i] == "REM"), None)
        rem_lat = None if rem is None else (rem - first) * per_min
    percent = {s: (100.0 * minutes[s] / tst if tst > 0 else float("nan")) for s in _SLEEP}
    tib = n * per_min
    return SleepStatistics(
        time_in_bed=tib, total_sleep_time=tst, sleep_efficiency=100.0 * tst / tib if n else float("nan"),
        sleep_onset_latency=sol, waso=waso, rem_latency=rem_lat, stage_minutes=minutes, stage_percent=percent,
    )


def format_statistics(stats: SleepStatistics) -> str:
    """The statistics as a few lines of text (what the command prints)."""
    def minutes(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.1f} min"

    lines = [f"time in bed {minutes(stats.time_in_bed)}, total sleep time {minutes(stats.total_sleep_time)}, "
             f"sleep efficiency {stats.sleep_efficiency:.1f} %",
             f"sleep onset latency {minutes(stats.sleep_onset_latency)}, WASO {minutes(stats.waso)}, "
             f"REM latency {minutes(stats.rem_latency)}"]
    parts = []
    for s in STAGES:
        pct = stats.stage_percent.get(s)
        parts.append(f"{s} {stats.stage_minutes[s]:.1f} min" + (f" ({pct:.1f} % of TST)" if pct is not None and
                                                                 np.isfinite(pct) else ""))
    lines.append("; ".join(parts))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class RenderSettings:
    """How epochs are drawn (must match the images the vision model was trained on).

    Attributes
    ----------
    channels : tuple of str
        Channel names or aliases, in band order.
    style : str
        ``'eeg-vlm'`` or ``'psg-llava'``.
    sfreq : float
        Sampling rate of the drawn signal in Hz.
    size, line_width : int
        Image side and stroke width in pixels.
    source : str
        Where the values come from: a ``convert.json`` path, or ``'flags'``.
    """

    channels: tuple[str, ...]
    style: str
    sfreq: float
    size: int
    line_width: int
    source: str = "flags"


def _recorded_convert_json(vision_model: Path, train_meta: dict) -> Path | None:
    """The ``convert.json`` beside the manifest the vision model was trained on, if found."""
    manifest = (train_meta.get("train_args") or {}).get("manifest")
    if not manifest:
        return None
    candidates = [Path(manifest)]
    if not Path(manifest).is_absolute():  # relative to where training ran: try near the checkpoint too
        candidates += [p / manifest for p in (vision_model, *vision_model.parents)]
    for m in candidates:
        if (m.parent / "convert.json").is_file():
            return m.parent / "convert.json"
    logger.warning("vision model was trained on %r, whose convert.json is not found; image settings from flags",
                   manifest)
    return None


def render_settings(vision_meta: dict, vision_model: str | Path, channels: Sequence[str] | None = None,
                    style: str | None = None, sfreq: float | None = None, size: int | None = None,
                    line_width: int | None = None) -> RenderSettings:
    """Image settings: the training images' (from ``convert.json``) when recorded, else flags.

    Parameters
    ----------
    vision_meta : dict
        The vision checkpoint's ``config.json`` (its ``train_args.manifest`` names the
        training manifest).
    vision_model : path
        The checkpoint folder (relative manifest paths are also tried from it).
    channels, style, sfreq, size, line_width : optional
        Values given on the command line (``None``: not given).

    Raises
    ------
    ValueError
        A given value contradicts the recorded one (the model would see other pictures
        than it learned from).
    """
    given = {"channels": tuple(channels) if channels else None, "style": style,
             "sfreq": None if sfreq is None else float(sfreq), "size": size, "line_width": line_width}
    path = _recorded_convert_json(Path(vision_model), vision_meta)
    recorded: dict = {}
    if path is not None:
        meta = json.loads(path.read_text(encoding="utf-8"))
        recorded = {"channels": tuple(meta["channels"]), "style": meta["style"], "sfreq": float(meta["sfreq"]),
                    "size": int(meta["size"]), "line_width": int(meta.get("line_width", 1))}
        def show(v) -> str:
            return " ".join(v) if isinstance(v, tuple) else f"{v:g}" if isinstance(v, float) else str(v)

        clash = [f"--{k.replace('_', '-')} {show(given[k])} (trained on {show(recorded[k])})"
                 for k in recorded if given[k] is not None and given[k] != recorded[k]]
        if clash:
            raise ValueError(f"vision model {str(vision_model)!r}: was trained on images made with other settings "
                             f"({str(path)!r}): {'; '.join(clash)}; leave these flags out to use the recorded ones")
    values = {k: recorded.get(k, given[k] if given[k] is not None else _DEFAULTS[k]) for k in _DEFAULTS}
    if values["style"] not in STYLES:
        raise ValueError(f"stage: style {values['style']!r} is not one of {', '.join(STYLES)}")
    return RenderSettings(source=str(path) if path is not None else "flags", **values)


# ----------------------------------------------------------------------------- steps
def _read_night(edf: Path, channels: Sequence[str], start: float, duration: float | None):
    """The recording with only ``channels``, no scoring, cut to ``[start, start + duration)``."""
    from eeg_vlm.io import Channel, read_edf

    rec = read_edf(edf, channels=list(channels))
    if start < 0 or (duration is not None and duration <= 0):
        raise ValueError(f"file {str(edf)!r}: --start must be >= 0 and --duration > 0 s, got {start} and {duration}")
    cut = {}
    for name, ch in rec.channels.items():
        a = int(round(start * ch.sfreq))
        b = None if duration is None else a + int(round(duration * ch.sfreq))
        if a >= len(ch.data):
            raise ValueError(f"file {str(edf)!r}: --start {start:g} s is past the end of channel {name!r} "
                             f"({ch.duration:.0f} s)")
        cut[name] = Channel(ch.name, ch.data[a:b], ch.sfreq, ch.unit)
    return dataclasses.replace(rec, channels=cut, scoring=None)


def truth_for_epochs(hypnogram: str | Path, onset_s: np.ndarray, reference_start=None,
                     epoch_length: float = 30.0) -> list[str | None]:
    """The expert stage of each epoch (the scored epoch holding its midpoint), ``None`` if unscored.

    Parameters
    ----------
    hypnogram : path
        EDF+ hypnogram (Sleep-EDF ``*-Hypnogram.edf`` or a file from this command).
    onset_s : np.ndarray
        Epoch onsets in seconds from the signal file start.
    reference_start : datetime, optional
        Signal file start; hypnograms starting at another time are shifted.
    """
    from eeg_vlm.signals.epochs import label_epochs
    from eeg_vlm.io import read_edf_scoring

    grid = label_epochs(read_edf_scoring(hypnogram, reference_start=reference_start), epoch_length)
    mid = np.asarray(onset_s, dtype=float) + epoch_length / 2
    idx = np.searchsorted(grid.onset_s, mid, side="right") - 1
    out: list[str | None] = []
    for m, i in zip(mid, idx):
        inside = i >= 0 and m < grid.onset_s[i] + epoch_length
        out.append(grid.stages[i] if inside else None)
    return out


def _vision_probs(model, mconf, images: list[Path], ids: list[str], batch_size: int, device,
                  progress: bool) -> np.ndarray:
    """The vision module's own stage probabilities ``(N, 5)``, batched, in inference mode."""
    import torch

    from feature_extractor.images import ImageDataset, ImageTransform
    from feature_extractor.predict import predict
    from feature_extractor.samples import Sample

    model.to(memory_format=torch.channels_last)  # faster convolutions on CPU and GPU
    dataset = ImageDataset([Sample(i, p) for i, p in zip(ids, images)], ImageTransform.from_config(mconf))
    return predict(model, dataset, batch_size, device, channels_last=True, progress=progress)


def _llava_probs(out: Path, vision_model: Path, ids: list[str], names: list[str], question: str,
                 llava: str, llava_base: str | None, batch_size: int, device: str, score_template: str,
                 conv_mode: str, progress: bool) -> np.ndarray:
    """Features -> LLaVA label scoring; probabilities ``(N, 5)`` in STAGES order."""
    from eeg_vlm.reasoning.llava_data import eval_record
    from feature_extractor.extract import extract_features
    from llava.eval.model_vqa import eval_model, parse_args

    work = out / "llava"
    questions = work / "eeg_eval.jsonl"
    lines = [json.dumps(eval_record(i, n, question, "")) + "\n" for i, n in zip(ids, names)]
    write_text_atomic(questions, "".join(lines))
    features = extract_features(vision_model, questions, out=work / "eval_high_level_features.npy",
                                image_folder=out / "images", batch_size=batch_size, device=device, progress=progress)
    answers = work / "answers.jsonl"
    argv = ["--model-path", str(llava), "--question-file", str(questions), "--image-folder", str(out / "images"),
            "--answers-file", str(answers), "--high-level-features", str(features), "--overwrite",
            "--score-labels", ",".join(STAGES), "--score-template", score_template, "--conv-mode", conv_mode,
            "--batch-size", str(batch_size), "--device", device]
    if llava_base:
        argv += ["--model-base", str(llava_base)]
    eval_model(parse_args(argv))
    probs: dict[str, list[float]] = {}
    for _, rec in read_jsonl(answers, "answers file"):
        p = rec["metadata"]["probs"]
        probs[str(rec["question_id"])] = [float(p[s]) for s in STAGES]
    missing = [i for i in ids if i not in probs]
    if missing:
        raise ValueError(f"answers file {str(answers)!r}: no answer for {len(missing)} epochs, e.g. {missing[0]!r}")
    return np.array([probs[i] for i in ids], dtype=np.float64)


def _single_hypnogram_figure(epochs: np.ndarray, stages: Sequence[str], title: str, epoch_s: float):
    """Predicted stages as a step plot (clinical row order), when there is no expert scoring."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = ("N3", "N2", "N1", "REM", "W")  # bottom to top
    y = np.array([rows.index(s) for s in stages], dtype=float)
    x = np.asarray(epochs, dtype=float) * epoch_s / 3600.0
    fig = Figure(figsize=(10.0, 2.8), dpi=100)
    FigureCanvasAgg(fig)
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


def _plain(value):
    """JSON-ready copy: numpy scalars as Python numbers, NaN as null (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


@dataclass
class StageResult:
    """What :func:`stage_night` wrote and computed."""

    out: Path
    hypnogram: Hypnogram
    statistics: SleepStatistics
    settings: RenderSettings
    scores: dict | None = None
    files: list[Path] = dataclasses.field(default_factory=list)


def stage_night(edf: str | Path, vision_model: str | Path, out: str | Path, *, llava: str | None = None,
                llava_base: str | None = None, channels: Sequence[str] | None = None, style: str | None = None,
                sfreq: float | None = None, size: int | None = None, line_width: int | None = None,
                start: float = 0.0, duration: float | None = None, hypnogram: str | Path | None = None,
                batch_size: int = 32, device: str = "auto", cot_variant: str = "none",
                score_template: str = "Sleep stage: {label}", conv_mode: str = "llava_v1",
                context: str = "none", transitions: str | Path | None = None,
                progress: bool = False) -> StageResult:
    """Stage one night (see the module docstring).

    Parameters
    ----------
    edf : path
        EDF, EDF+ or BDF signal file.
    vision_model : path
        feature_extractor checkpoint folder or training output folder (its ``best/``).
    out : path
        Output folder.
    llava, llava_base : str, optional
        LLaVA checkpoint (and the base a LoRA checkpoint was trained from): stage by label
        scoring on the vision module's features instead of the vision module's own head.
    channels, style, sfreq, size, line_width : optional
        Image settings when the vision model does not record them (see :func:`render_settings`).
    start, duration : float
        Seconds from the file start where staging begins, and how long (default: to the end).
    hypnogram : path, optional
        Expert EDF+ hypnogram to score against (accuracy, kappa, macro-F1).
    batch_size : int
        Images (or questions) per forward pass.
    device : str
        ``'auto'``, ``'cpu'``, ``'cuda'``, ``'cuda:N'``.
    cot_variant, score_template, conv_mode : str
        The question variant the LLaVA checkpoint was trained with
        (:func:`eeg_vlm.reasoning.cot.question`), the scored answer text and the chat template.
    context : str
        ``'none'``: each epoch's most probable stage; ``'hmm'``: the Viterbi path through the
        stage-transition HMM (:mod:`eeg_vlm.context.hmm`), and forward-backward posteriors
        as the hypnodensity.
    transitions : path, optional
        Transitions file for ``'hmm'`` (default: the shipped Sleep-EDF-197 matrix).
    progress : bool
        Progress bars.

    Raises
    ------
    FileNotFoundError
        A missing EDF, checkpoint or hypnogram.
    ValueError
        An unreadable EDF or a channel not in it (naming the file), settings that contradict
        the vision model's, a night shorter than one epoch.
    """
    from eeg_vlm.context.hmm import CONTEXTS, night_context
    from eeg_vlm.context.transitions import load_transitions
    from eeg_vlm.evaluation import metrics, plots
    from eeg_vlm.imaging.convert import ConvertConfig, write_record
    from eeg_vlm.signals.epochs import make_epochs
    from feature_extractor.checkpoint import find_checkpoint, load_model
    from feature_extractor.runtime import resolve_device

    edf = check_file(edf, "EDF file")
    out = Path(out)
    if int(batch_size) < 1:
        raise ValueError(f"stage: batch_size must be >= 1, got {batch_size!r}")
    check_option("context", context, CONTEXTS, "stage")
    if context == "hmm":  # a bad transitions file fails before any work
        load_transitions(transitions)
    ckpt = find_checkpoint(vision_model)
    meta = json.loads((ckpt / "config.json").read_text(encoding="utf-8"))
    settings = render_settings(meta, ckpt, channels, style, sfreq, size, line_width)
    logger.info("image settings (%s): %s", settings.source, settings)
    dev = resolve_device(device)
    model, mconf, _ = load_model(ckpt, dev)
    if list(mconf.classes) != list(STAGES):
        raise ValueError(f"vision model {str(ckpt)!r}: classes {mconf.classes} are not the five stages {list(STAGES)}")
    if hypnogram is not None:
        check_file(hypnogram, "hypnogram file")

    rec = _read_night(edf, settings.channels, float(start), duration)
    ep = make_epochs(rec, list(settings.channels), sfreq=settings.sfreq, trim_wake=None)
    if len(ep) == 0:
        raise ValueError(f"file {str(edf)!r}: shorter than one 30-s epoch after --start {start:g} s")
    onsets = ep.onset_s + float(start)
    cfg = ConvertConfig(channels=settings.channels, style=settings.style, sfreq=settings.sfreq, trim_wake=None,
                        size=settings.size, line_width=settings.line_width, signals=False)
    rows = write_record(ep, out, cfg)
    images = [out / r.image for r in rows]
    ids = [r.sample_id for r in rows]
    logger.info("%s: %d epochs rendered into %s", edf, len(rows), out / "images")

    if llava:
        from eeg_vlm.reasoning.cot import question

        names = [Path(r.image).relative_to("images").as_posix() for r in rows]
        probs = _llava_probs(out, ckpt, ids, names, question(cot_variant, list(settings.channels)), llava,
                             llava_base, batch_size, str(dev), score_template, conv_mode, progress)
    else:
        probs = _vision_probs(model, mconf, images, ids, batch_size, dev, progress).astype(np.float64)
    del model
    path, probs, trans_source = night_context(probs, context, None if transitions is None else str(transitions))
    stages = [STAGES[int(i)] for i in path]
    ep_length = float(ep.data.shape[-1] / ep.sfreq)  # 30 s
    hyp = Hypnogram(ep.epoch, onsets, stages, probs, ep_length)
    stats = sleep_statistics(stages, ep_length)

    result = StageResult(out, hyp, stats, settings)
    result.files.append(write_hypnogram_csv(out / "hypnogram.csv", hyp))
    result.files.append(write_hypnogram_edf(out / "hypnogram.edf", hyp, start=rec.meta.get("start"),
                                            patient=rec.subject.replace(" ", "_") or "X"))
    truth = None
    if hypnogram is not None:
        truth = truth_for_epochs(hypnogram, onsets, rec.meta.get("start"), ep_length)
        pairs = [(t, p) for t, p in zip(truth, stages) if t is not None]
        if not pairs:
            raise ValueError(f"hypnogram file {str(hypnogram)!r}: no scored epoch overlaps the staged epochs")
        sc = metrics.score([t for t, _ in pairs], [p for _, p in pairs])
        result.scores = {"n": sc.n, "accuracy": sc.accuracy, "kappa": sc.kappa, "macro_f1": sc.macro_f1,
                         "per_class_f1": sc.per_class_f1, "confusion": sc.confusion.tolist(),
                         "unscored_in_hypnogram": len(truth) - len(pairs)}
    title = f"{rec.record_id} ({'LLaVA label scoring' if llava else 'vision module'})"
    if truth is not None:  # expert above predicted, over the epochs the expert scored
        keep = [i for i, t in enumerate(truth) if t is not None]
        fig = plots.hypnogram_figure(ep.epoch[keep], [truth[i] for i in keep], [stages[i] for i in keep], title=title)
    else:
        fig = _single_hypnogram_figure(ep.epoch, stages, title, ep_length)
    result.files.append(plots.save_png(fig, out / "hypnogram.png"))
    strip = truth if truth is not None and all(t is not None for t in truth) else None
    result.files.append(plots.save_png(plots.hypnodensity_figure(ep.epoch, probs, strip, title=title),
                                       out / "hypnodensity.png"))
    summary = {
        "edf": str(edf), "record_id": rec.record_id, "n_epochs": len(hyp), "start_s": float(start),
        "model": {"vision": str(ckpt), "llava": llava, "llava_base": llava_base},
        "context": {"mode": context, "transitions": trans_source or None},
        "image_settings": dataclasses.asdict(settings), "statistics": stats.as_dict(), "scores": result.scores,
        "hypnogram": None if hypnogram is None else str(hypnogram),
    }
    write_text_atomic(out / "summary.json", json.dumps(_plain(summary), indent=2, sort_keys=True) + "\n")
    result.files.append(out / "summary.json")
    return result


# ----------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    """The ``eeg-vlm stage`` argument parser."""
    ap = argparse.ArgumentParser(prog="eeg-vlm stage", description="Stage a whole night from one unlabeled EDF.")
    ap.add_argument("edf", help="EDF, EDF+ or BDF file of one night")
    ap.add_argument("--vision-model", required=True,
                    help="feature_extractor checkpoint (folder with model.safetensors + config.json, or a training "
                         "output folder: its best/ is used)")
    ap.add_argument("--llava", default=None, help="LLaVA checkpoint: stage by label scoring on the vision features")
    ap.add_argument("--llava-base", default=None, help="base model a LoRA --llava checkpoint was trained from")
    ap.add_argument("--out", required=True, help="output folder (hypnogram.csv/.edf/.png, hypnodensity.png, images/)")
    ap.add_argument("--hypnogram", default=None, help="expert EDF+ hypnogram: also score accuracy and kappa against it")
    img = ap.add_argument_group("image settings (default: those recorded with the vision model's training images)")
    img.add_argument("--channels", nargs="+", default=None, help="channel names or aliases, in band order (Fpz-Cz)")
    img.add_argument("--style", choices=STYLES, default=None, help="eeg-vlm or psg-llava (eeg-vlm)")
    img.add_argument("--sfreq", type=float, default=None, help="sampling rate of the drawn signal in Hz (100)")
    img.add_argument("--size", type=int, default=None, help=f"image side in pixels ({DEFAULT_SIZE})")
    img.add_argument("--line-width", type=int, default=None, help="stroke width in pixels (1)")
    ap.add_argument("--start", type=float, default=0.0, help="seconds from the file start where staging begins (0)")
    ap.add_argument("--duration", type=float, default=None, help="seconds to stage (default: to the end of the file)")
    ap.add_argument("--batch-size", type=int, default=32, help="images or questions per forward pass (32)")
    ap.add_argument("--device", default="auto", help="'auto', 'cpu', 'cuda' or 'cuda:N' (auto)")
    lv = ap.add_argument_group("LLaVA label scoring")
    from eeg_vlm.reasoning.cot import COT_VARIANTS

    lv.add_argument("--cot", choices=COT_VARIANTS, default="none",
                    help="question variant the LLaVA checkpoint was trained with (none)")
    lv.add_argument("--score-template", default="Sleep stage: {label}", help="answer text scored per stage")
    lv.add_argument("--conv-mode", default="llava_v1", help="chat template (llava_v1)")
    ctx = ap.add_argument_group("night context")
    ctx.add_argument("--context", choices=("none", "hmm"), default="none",
                     help="none: each epoch's most probable stage; hmm: Viterbi path through stage-transition "
                          "probabilities of expert hypnograms (none)")
    ctx.add_argument("--transitions", default=None,
                     help="transitions file for --context hmm (default: the shipped Sleep-EDF-197 matrix; build "
                          "one with eeg-vlm transitions)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    ap.add_argument("-v", "--verbose", action="store_true", help="log each step")
    return ap


def main(argv: list[str] | None = None) -> int:
    """``eeg-vlm stage``."""
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    if args.llava_base and not args.llava:
        print("eeg-vlm stage: error: --llava-base needs --llava", file=sys.stderr)
        return 2
    try:
        res = stage_night(
            args.edf, args.vision_model, args.out, llava=args.llava, llava_base=args.llava_base,
            channels=args.channels, style=args.style, sfreq=args.sfreq, size=args.size, line_width=args.line_width,
            start=args.start, duration=args.duration, hypnogram=args.hypnogram, batch_size=args.batch_size,
            device=args.device, cot_variant=args.cot, score_template=args.score_template, conv_mode=args.conv_mode,
            context=args.context, transitions=args.transitions, progress=not args.no_progress and sys.stderr.isatty())
    except (ValueError, FileNotFoundError) as exc:
        print(f"eeg-vlm stage: error: {exc}", file=sys.stderr)
        return 1
    print(f"{len(res.hypnogram)} epochs of {args.edf} staged -> {res.out}")
    print(format_statistics(res.statistics))
    if res.scores is not None:
        s = res.scores
        print(f"against {args.hypnogram}: accuracy {s['accuracy']:.3f}, kappa {s['kappa']:.3f}, "
              f"macro-F1 {s['macro_f1']:.3f} ({s['n']} scored epochs)")
    print("files: " + ", ".join(p.name for p in res.files))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
