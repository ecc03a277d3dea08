"""``eeg-vlm explain``: feature-ablation attribution of the vision module or the VLM over a split.

Examples
--------
The vision module on the test split, the paper's top 30 %::

    eeg-vlm explain --manifest conv/manifest.csv --split test --vision-model runs/resnet18_1024 --out explain/

The VLM's label-scoring probabilities (features of each masked image fill its feature slot)::

    eeg-vlm explain --manifest conv/manifest.csv --split test --vision-model runs/resnet18_1024 \\
        --llava checkpoints/eeg-vlm-lora --llava-base /models/llava-v1.5-13b --out explain_vlm/
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from eeg_vlm.explain.run import ExplainConfig, explain_epochs

logger = logging.getLogger(__name__)

__all__ = ["select_rows", "build_parser", "main"]


def select_rows(rows, split: str | None, per_stage: int, limit: int):
    """Manifest rows of ``split``, at most ``per_stage`` per stage (0: all), then at most ``limit``."""
    chosen, seen = [], {}
    for r in rows:
        if split and r.split != split:
            continue
        if per_stage and seen.get(r.stage, 0) >= per_stage:
            continue
        seen[r.stage] = seen.get(r.stage, 0) + 1
        chosen.append(r)
    return chosen[:limit] if limit else chosen


def _convert_channels(manifest: Path) -> tuple[list[str], bool]:
    """The channel order of the images (``convert.json`` beside the manifest) and whether they are stacked."""
    from ondisk import CONVERT_JSON, read_convert_json

    data = read_convert_json(manifest.parent)
    if data is None:
        logger.warning("explain: %s not found; channel bands are not computed", manifest.parent / CONVERT_JSON)
        return [], False
    return list(data["channels"]), data.get("style") == "psg-llava"


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="eeg-vlm explain", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", required=True, type=Path, help="manifest.csv of the epoch images")
    ap.add_argument("--split", default="test", help="split to explain ('' for every row; default: test)")
    ap.add_argument("--per-stage", type=int, default=0, help="at most this many epochs per stage (0: all)")
    ap.add_argument("--limit", type=int, default=0, help="at most this many epochs in all (0: all)")
    ap.add_argument("--vision-model", required=True, help="feature_extractor checkpoint (or its training folder)")
    ap.add_argument("--llava", default=None, help="LLaVA checkpoint: explain the VLM's label-scoring probabilities")
    ap.add_argument("--llava-base", default=None, help="base model the LLaVA LoRA checkpoint was trained from")
    ap.add_argument("--cot", default="none", choices=("none", "single", "stagewise"),
                    help="question variant the LLaVA checkpoint was trained with (default: none)")
    ap.add_argument("--score-template", default="Sleep stage: {label}", help="scored answer text per stage")
    ap.add_argument("--conv-mode", default="llava_v1", help="chat template of the LLaVA checkpoint")
    ap.add_argument("--out", required=True, type=Path, help="output folder")
    ap.add_argument("--top", type=float, default=0.3, help="share of patches kept in the maps (default: 0.3; 1 = all)")
    ap.add_argument("--patch", type=int, default=14, help="patch side in pixels (default: 14 -> 576 on 336x336)")
    ap.add_argument("--baseline", type=int, default=255, help="mask value 0..255 (default: 255, the background)")
    ap.add_argument("--batch-size", type=int, default=64, help="masked copies per forward pass (default: 64)")
    ap.add_argument("--heatmaps", type=int, default=20, help="per-sample heatmap PNGs (default: 20; -1 all)")
    ap.add_argument("--smooth", type=float, default=0.0, help="Gaussian smoothing of the shown maps, pixels")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    ap.add_argument("--progress", action="store_true", help="progress bar")
    from eeg_vlm.cli import add_verbosity

    add_verbosity(ap, "every step")
    return ap


def main(argv: list[str] | None = None) -> int:
    from eeg_vlm.checks import check_file
    from ondisk import join_inside
    from eeg_vlm.cli import configure_logging
    from eeg_vlm.dataset.manifest import read_manifest
    from eeg_vlm.explain.models import model_probs_fn

    args = build_parser().parse_args(argv)
    configure_logging(args)
    try:
        cfg = ExplainConfig(top=None if args.top == 1 else args.top, patch=args.patch, baseline=args.baseline,
                            batch_size=args.batch_size, heatmaps=args.heatmaps, smooth=args.smooth)
        manifest = check_file(args.manifest, "manifest")
        rows = select_rows(read_manifest(manifest), args.split, args.per_stage, args.limit)
        if not rows:
            raise ValueError(f"manifest {str(manifest)!r}: no epochs in split {args.split!r}")
        names, stacked = _convert_channels(manifest)
        channels = names if stacked else None
        probs_fn, name = model_probs_fn(args.vision_model, args.llava, args.llava_base, args.cot,
                                        names or ["Fpz-Cz"], args.score_template, args.conv_mode, args.device)
        images = [join_inside(manifest.parent, r.image, f"manifest {str(manifest)!r}", "image path") for r in rows]
        result = explain_epochs(probs_fn, [r.sample_id for r in rows], images, [r.stage for r in rows], args.out,
                                cfg, channels, name, args.progress)
    except (ValueError, FileNotFoundError) as exc:
        print(f"eeg-vlm explain: {exc}", file=sys.stderr)
        return 1
    print(f"{result.n} epochs explained ({result.seconds_per_image:.2f} s per image) -> {result.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
