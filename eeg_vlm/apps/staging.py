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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eeg_vlm.cli import add_verbosity, configure_logging
from eeg_vlm.checks import check_file
from eeg_vlm.apps.staging_inputs import RenderSettings, read_night, render_settings, truth_for_epochs
from eeg_vlm.apps.stage_config import STAGE_CONTEXTS, StageConfig
from eeg_vlm.apps.staging_models import llava_probs, vision_probs
from ondisk import write_text_atomic
from eeg_vlm.hypnogram.files import Hypnogram, write_hypnogram_csv, write_hypnogram_edf
from eeg_vlm.hypnogram.statistics import SleepStatistics, format_statistics, sleep_statistics
from eeg_vlm.imaging.scaling import DEFAULT_UV_RANGE
from eeg_vlm.stages import STAGES

logger = logging.getLogger(__name__)

#: ``--context`` choices of ``eeg-vlm stage``.

# The steps live in eeg_vlm.apps.staging_inputs / staging_models and the sleep statistics in
# eeg_vlm.hypnogram.statistics; their names are re-exported here for existing callers.
__all__ = [
    "RenderSettings",
    "STAGE_CONTEXTS",
    "SleepStatistics",
    "StageConfig",
    "StageResult",
    "sleep_statistics",
    "format_statistics",
    "render_settings",
    "truth_for_epochs",
    "stage_night",
    "build_parser",
    "main",
]


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
    #: the same statistics of the expert's hypnogram, when one was given
    expert_statistics: SleepStatistics | None = None


def stage_night(edf: str | Path, out: str | Path, config: StageConfig | None = None, *, progress: bool = False,
                **settings) -> StageResult:
    """Stage one night (see the module docstring).

    Parameters
    ----------
    edf : path
        The night's signal file (EDF, EDF+, BDF, or any format the readers know).
    out : path
        Output folder.
    config : StageConfig, optional
        Models, image settings for checkpoints that record none, span, LLaVA label
        scoring and night context (see its fields); default ``StageConfig(**settings)``.
    progress : bool
        Progress bars.
    **settings :
        :class:`StageConfig` fields, when ``config`` is not given.

    Raises
    ------
    FileNotFoundError
        A missing EDF, checkpoint or hypnogram.
    ValueError
        An unreadable EDF or a channel not in it (naming the file), settings that contradict
        the vision model's, a night shorter than one epoch.
    """
    from eeg_vlm.context.neighbours import load_neighbour_head
    from eeg_vlm.context.transitions import load_transitions
    from eeg_vlm.imaging.convert import ConvertConfig, write_record
    from eeg_vlm.imaging.records import clipped_share
    from eeg_vlm.signals.epochs import make_epochs
    from feature_extractor.checkpoint import find_checkpoint, load_model
    from feature_extractor.runtime import resolve_device

    c = config if config is not None else StageConfig(**settings)
    if config is not None and settings:
        raise TypeError(f"stage_night: give a StageConfig or settings, not both ({', '.join(sorted(settings))})")
    llava, hypnogram, start, context = c.llava, c.hypnogram, c.start, c.context
    edf = check_file(edf, "recording file")
    out = Path(out)
    if context.endswith("hmm"):  # a bad transitions file fails before any work
        load_transitions(c.transitions)
    head = None
    if context.startswith("neighbours"):
        head = load_neighbour_head(c.neighbour_head)
    ckpt = find_checkpoint(c.vision_model)
    meta = json.loads((ckpt / "config.json").read_text(encoding="utf-8"))
    settings = render_settings(meta, ckpt, c.channels, c.style, c.sfreq, c.size, c.line_width, c.scaling, c.uv_range)
    logger.info("image settings (%s): %s", settings.source, settings)
    dev = resolve_device(c.device)
    model, mconf, _ = load_model(ckpt, dev)
    if list(mconf.classes) != list(STAGES):
        raise ValueError(f"vision model {str(ckpt)!r}: classes {mconf.classes} are not the five stages {list(STAGES)}")
    if hypnogram is not None:
        check_file(hypnogram, "hypnogram file")

    rec = read_night(edf, settings.channels, float(start), c.duration, c.input_channels, c.source_sfreq)
    ep = make_epochs(rec, list(settings.channels), sfreq=settings.sfreq, trim_wake=None)
    if len(ep) == 0:
        raise ValueError(f"file {str(edf)!r}: shorter than one 30-s epoch after --start {start:g} s")
    onsets = ep.onset_s + float(start)
    cfg = ConvertConfig(channels=settings.channels, style=settings.style, sfreq=settings.sfreq, trim_wake_min=None,
                        size=settings.size, line_width=settings.line_width, signals=False,
                        scaling=settings.scaling, uv_range=settings.uv_range or DEFAULT_UV_RANGE,
                        display_filter=settings.display_filter)
    rows = write_record(ep, out, cfg)
    ids = [r.sample_id for r in rows]
    logger.info("%s: %d epochs rendered into %s", edf, len(rows), out / "images")

    from eeg_vlm.context.hmm import classifier_prior

    prior = classifier_prior(meta, ckpt) if head is None and not c.llava and c.context == "hmm" else None
    probs, path, trans_source = _probabilities(c, out, ckpt, (model, mconf), rows, settings, dev, head, progress,
                                               prior)
    del model
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
        result.scores = _scores(truth, stages, hypnogram)
        result.expert_statistics = sleep_statistics(truth, ep_length)
    title = f"{rec.record_id} ({'LLaVA label scoring' if llava else 'vision module'})"
    result.files += _figures(out, ep.epoch, stages, probs, truth, title, ep_length)
    if c.explain:
        from eeg_vlm.explain.run import explain_night

        result.files += explain_night(out / "explain", ids, [out / r.image for r in rows], ckpt, truths=truth,
                                      llava=c.llava, llava_base=c.llava_base, cot=c.cot, channels=settings.channels,
                                      stacked=settings.style == "psg-llava", score_template=c.score_template,
                                      conv_mode=c.conv_mode, device=str(dev), progress=progress)
    summary = {
        "edf": str(edf), "record_id": rec.record_id, "n_epochs": len(hyp), "start_s": float(start),
        "clipped_share": clipped_share(ep.data, cfg),
        "model": {"vision": str(ckpt), "llava": llava, "llava_base": c.llava_base},
        "context": {"mode": context, "transitions": trans_source or None,
                    "neighbour_head": None if head is None else str(c.neighbour_head),
                    "classifier_prior": None if prior is None else [float(x) for x in prior]},
        "image_settings": dataclasses.asdict(settings), "statistics": stats.as_dict(), "scores": result.scores,
        "expert_statistics": None if result.expert_statistics is None else result.expert_statistics.as_dict(),
        "hypnogram": None if hypnogram is None else str(hypnogram),
        "config": c.to_dict(),
    }
    write_text_atomic(out / "summary.json", json.dumps(_plain(summary), indent=2, sort_keys=True) + "\n")
    result.files.append(out / "summary.json")
    return result


def _probabilities(c: StageConfig, out: Path, ckpt: Path, vision, rows, settings: RenderSettings, dev, head,
                   progress: bool, prior: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """Stage probabilities ``(N, 5)`` after the night context, the stage path and the transitions' source."""
    from eeg_vlm.context.hmm import night_context

    ids = [r.sample_id for r in rows]
    if c.llava:
        from eeg_vlm.reasoning.cot import question

        names = [Path(r.image).relative_to("images").as_posix() for r in rows]
        probs = llava_probs(out, ckpt, ids, names, question(c.cot, list(settings.channels)), c.llava,
                            c.llava_base, c.batch_size, str(dev), c.score_template, c.conv_mode, progress)
    else:
        model, mconf = vision
        probs = vision_probs(model, mconf, [out / r.image for r in rows], ids, c.batch_size, dev,
                             progress).astype(np.float64)
    if head is not None:  # the ±k head sees the module's probabilities of each epoch's neighbours
        probs = head.predict_proba(probs / probs.sum(axis=1, keepdims=True), ids)
    path, probs, trans_source = night_context(probs, "hmm" if c.context.endswith("hmm") else "none",
                                              None if c.transitions is None else str(c.transitions), prior)
    return probs, path, trans_source


def _scores(truth: list[str | None], stages: list[str], hypnogram: str | Path) -> dict:
    """Accuracy, kappa, macro-F1 and the confusion matrix over the epochs the expert scored."""
    from eeg_vlm.evaluation import metrics

    pairs = [(t, p) for t, p in zip(truth, stages) if t is not None]
    if not pairs:
        raise ValueError(f"hypnogram file {str(hypnogram)!r}: no scored epoch overlaps the staged epochs")
    sc = metrics.score([t for t, _ in pairs], [p for _, p in pairs])
    return {"n": sc.n, "accuracy": sc.accuracy, "kappa": sc.kappa, "macro_f1": sc.macro_f1,
            "per_class_f1": sc.per_class_f1, "confusion": sc.confusion.tolist(),
            "unscored_in_hypnogram": len(truth) - len(pairs)}


def _figures(out: Path, epochs: np.ndarray, stages: list[str], probs: np.ndarray,
             truth: list[str | None] | None, title: str, epoch_s: float) -> list[Path]:
    """``hypnogram.png`` (expert above predicted where scored) and ``hypnodensity.png``."""
    from eeg_vlm.evaluation.plots import save_png
    from eeg_vlm.hypnogram.figure import hypnodensity_figure, hypnogram_figure

    if truth is not None:  # expert above predicted, over the epochs the expert scored
        keep = [i for i, t in enumerate(truth) if t is not None]
        fig = hypnogram_figure(epochs[keep], [truth[i] for i in keep], [stages[i] for i in keep], title=title)
    else:
        fig = hypnogram_figure(epochs, None, stages, title, epoch_s)
    return [save_png(fig, out / "hypnogram.png"),
            save_png(hypnodensity_figure(epochs, probs, truth, title=title), out / "hypnodensity.png")]


# ----------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    """The ``eeg-vlm stage`` argument parser."""
    ap = argparse.ArgumentParser(prog="eeg-vlm stage", description="Stage a whole night from one unlabeled EDF.")
    ap.add_argument("edf", help="signal file of one night: EDF, EDF+, BDF, or any format the readers know (ISRUC .rec, "
                    "DREAMS excerpt .txt beside its hypnogram, SHHS/MASS pairs)")
    ap.add_argument("--out", required=True, help="output folder (hypnogram.csv/.edf/.png, hypnodensity.png, images/)")
    StageConfig.add_arguments(ap)
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_verbosity(ap, "each step")
    return ap


def main(argv: list[str] | None = None) -> int:
    """``eeg-vlm stage``."""
    args = build_parser().parse_args(argv)
    configure_logging(args)
    try:
        config = StageConfig.from_args(args)
        logger.info("stage settings: %s", config)
        res = stage_night(args.edf, args.out, config, progress=not args.no_progress and sys.stderr.isatty())
    except (ValueError, FileNotFoundError) as exc:
        print(f"eeg-vlm stage: error: {exc}", file=sys.stderr)
        return 1
    print(f"{len(res.hypnogram)} epochs of {args.edf} staged -> {res.out}")
    print(format_statistics(res.statistics, res.expert_statistics))
    if res.scores is not None:
        s = res.scores
        print(f"against {args.hypnogram}: accuracy {s['accuracy']:.3f}, kappa {s['kappa']:.3f}, "
              f"macro-F1 {s['macro_f1']:.3f} ({s['n']} scored epochs)")
    print("files: " + ", ".join(p.name for p in res.files))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
