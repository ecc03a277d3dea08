#!/usr/bin/env python
"""Benchmark the Table 1 baselines on the same epochs: training and inference epochs/s; asserts nothing.

One synthetic night is generated and converted once (``eeg-vlm synth`` + ``eeg-vlm convert``,
Fpz-Cz + Pz-Oz, images and signals); every model then runs on the same epochs, held in
memory in the form it reads (raw signal at its rate and units, or the epoch image), so the
figures compare the models, not the readers:

- training: forward + backward + AdamW step on batches of ``--batch`` epochs (TinySleepNet:
  one night window of ``--batch`` consecutive epochs per step), after one warm-up step;
- inference: forward passes without gradients over the same epochs.

Printed: model, input, parameters, train and inference epochs/s, and each model's speed
relative to the paper's modified ResNet-18 (``resnet18_1024``).

Usage::

    python scripts/bench_baselines.py [--profile tiny|reference] [--hours 0.5] [--image-size 64]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

IMAGE_TINY = {
    "resnet18_1024": {}, "resnet101": {"widths": [16, 32, 64, 128]}, "convnext_base": {"depths": [1, 1, 3, 1]},
    "maxvit_base": {"depths": [1, 1, 2, 1], "channels": [32, 32, 64, 64], "stem_channels": 16, "window": 2},
    "vim_base": {"embed_dim": 64, "depth": 4, "patch_size": 8},
    "vit_base": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128},
    "swin_tiny": {"embed_dim": 32, "depths": [1, 1, 2, 1], "num_heads": [1, 2, 4, 8], "window_size": 2},
}


def _data(folder: Path, hours: float, size: int) -> Path:
    from eeg_vlm.cli import main as eeg_vlm

    assert eeg_vlm(["synth", "--out", str(folder / "psg"), "--subjects", "1", "--hours", str(hours)]) == 0
    assert eeg_vlm(["convert", str(folder / "psg"), str(folder / "conv"), "--channels", "Fpz-Cz", "Pz-Oz",
                    "--style", "psg-llava", "--size", str(size)]) == 0
    rows = (folder / "conv" / "manifest.csv").read_text().splitlines()
    (folder / "conv" / "manifest.csv").write_text("\n".join([rows[0]] + [r.rstrip(",") + ",train" for r in rows[1:]]) + "\n")
    return folder / "conv" / "manifest.csv"


def _time(fn, n_epochs: int, repeats: int) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return n_epochs * repeats / (time.perf_counter() - t0)


def _rates(model: torch.nn.Module, batch: torch.Tensor, n_epochs: int, repeats: int, forward) -> tuple[float, float]:
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    y = torch.randint(0, 5, (n_epochs,))

    def step():
        model.train()
        loss = torch.nn.functional.cross_entropy(forward(model, batch).reshape(n_epochs, -1), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def infer():
        model.eval()
        with torch.inference_mode():
            forward(model, batch)

    return _time(step, n_epochs, repeats), _time(infer, n_epochs, repeats)


def _image_rows(manifest: Path, names: list[str], size: int, batch: int, repeats: int, reference: bool):
    from feature_extractor.config import ModelConfig
    from feature_extractor.images import ImageTransform
    from feature_extractor.samples import read_manifest

    samples = read_manifest(manifest, split=["train"])[:batch]
    for name in names:
        cfg = ModelConfig(model=name, model_kwargs={} if reference else IMAGE_TINY[name], image_size=size)
        transform = ImageTransform.from_config(cfg)
        x = torch.stack([transform(s.image) for s in samples])  # (B, 3, size, size)
        model = cfg.build()
        tr, inf = _rates(model, x, len(samples), repeats, lambda m, b: m(b)[0])
        yield name, f"image {size}x{size}", sum(p.numel() for p in model.parameters()), tr, inf


def _signal_rows(manifest: Path, names: list[str], batch: int, repeats: int, reference: bool):
    from signal_models.data import load_split
    from signal_models.registry import get_spec, scale_epochs

    for name in names:
        spec = get_spec(name)
        data = load_split(manifest, "train", ["Fpz-Cz"] if spec.single_channel else None, spec.sfreq)
        x = torch.from_numpy(scale_epochs(data.x[:batch], spec.units))  # (B, C, T)
        model = spec.build(data.channels, spec.sfreq, x.shape[-1], **({} if reference else spec.tiny))
        if spec.sequence:
            x = x.unsqueeze(0)  # one window of consecutive epochs of the night
        tr, inf = _rates(model, x, batch, repeats, lambda m, b: m(b))
        yield name, f"signal {len(data.channels)}ch {spec.sfreq:g} Hz", sum(p.numel() for p in model.parameters()), tr, inf


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", choices=["tiny", "reference"], default="tiny",
                    help="tiny CPU configurations (default) or the published sizes")
    ap.add_argument("--hours", type=float, default=0.5, help="length of the synthetic night (default 0.5)")
    ap.add_argument("--image-size", type=int, default=64, help="image side (default 64; the paper: 336)")
    ap.add_argument("--batch", type=int, default=16, help="epochs per step (default 16)")
    ap.add_argument("--repeats", type=int, default=3, help="timed steps per model (default 3)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    reference = args.profile == "reference"
    with tempfile.TemporaryDirectory() as tmp:
        manifest = _data(Path(tmp), args.hours, args.image_size)
        rows = list(_image_rows(manifest, list(IMAGE_TINY), args.image_size, args.batch, args.repeats, reference))
        rows += list(_signal_rows(manifest, ["tinysleepnet", "multisleepnet", "sleepwavenet", "labram", "cbramod"],
                                  args.batch, args.repeats, reference))
    base = next(r for r in rows if r[0] == "resnet18_1024")
    print(f"profile {args.profile}, {args.batch} epochs per step, {args.threads} thread(s), torch {torch.__version__}")
    print(f"{'model':<15} {'input':<22} {'params':>11} {'train ep/s':>11} {'infer ep/s':>11} {'train x':>8} {'infer x':>8}")
    for name, kind, n, tr, inf in rows:
        print(f"{name:<15} {kind:<22} {n:>11,} {tr:>11.1f} {inf:>11.1f} {tr / base[3]:>8.2f} {inf / base[4]:>8.2f}")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
