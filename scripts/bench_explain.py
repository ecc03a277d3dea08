"""Attribution time per image for the vision module: 576 masked copies, batched vs one by one.

Builds the vision module from its config with random weights (nothing downloaded), draws
a synthetic 336x336 epoch image, and times :func:`eeg_vlm.explain.feature_ablation` with
``--batch-size`` copies per pass and with one copy per pass, in the same run, on the same
image; prints both, the ratio, and the largest score difference between the two.

    python scripts/bench_explain.py                       # resnet18_1024 at 112 px input (the demo's)
    python scripts/bench_explain.py --image-size 336 --threads 2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="resnet18_1024", help="registered backbone (default: resnet18_1024)")
    ap.add_argument("--image-size", type=int, default=112, help="model input side; the image is 336 (default: 112)")
    ap.add_argument("--batch-size", type=int, default=64, help="masked copies per pass when batched (default: 64)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    ap.add_argument("--skip-single", action="store_true", help="time the batched run only")
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from eeg_vlm.explain import feature_ablation
    from eeg_vlm.explain.models import vision_probs_fn
    from eeg_vlm.imaging.render import render_epoch
    from feature_extractor.config import ModelConfig
    from feature_extractor.images import ImageTransform

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = ModelConfig(model=args.model, image_size=args.image_size)
    model = cfg.build().eval().to(memory_format=torch.channels_last)
    fn = vision_probs_fn(model, ImageTransform.from_config(cfg))
    t = np.arange(3000) / 100.0
    rng = np.random.default_rng(0)
    wave = np.sin(2 * np.pi * 1.2 * t) + 0.4 * np.sin(2 * np.pi * 11 * t) + 0.3 * rng.standard_normal(t.size)
    image = render_epoch((wave / np.abs(wave).max())[None].astype(np.float32), "eeg-vlm", 336)

    feature_ablation(fn, image, batch_size=args.batch_size)  # warm-up
    t0 = time.perf_counter()
    batched = feature_ablation(fn, image, batch_size=args.batch_size)
    tb = time.perf_counter() - t0
    print(f"{args.model} at {args.image_size} px, {args.threads} thread(s), 576 patches of 14x14 on 336x336")
    print(f"batched ({args.batch_size} copies per pass, {1 + -(-576 // args.batch_size)} passes): {tb:.2f} s per image")
    if not args.skip_single:
        t0 = time.perf_counter()
        single = feature_ablation(fn, image, batch_size=1)
        ts = time.perf_counter() - t0
        diff = float(np.abs(single.raw - batched.raw).max())
        print(f"one by one (577 passes): {ts:.2f} s per image; batched is {ts / tb:.1f}x faster; "
              f"largest score difference {diff:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
