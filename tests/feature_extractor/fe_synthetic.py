"""Synthetic sleep-epoch images for the feature_extractor tests.

Each stage gets a waveform with its own look (fast low-amplitude activity for W, theta for
N1, spindles and K-complexes for N2, large slow waves for N3, sawtooth waves for REM), drawn
as a min-max scaled trace the way epoch images are rendered. Subjects differ in amplitude,
frequency and noise, so held-out subjects test generalisation.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from feature_extractor.stages import STAGES

FS = 100.0  # Hz
EPOCH_S = 30.0


def synth_epoch(stage: str, rng: np.random.Generator, subject_scale: float = 1.0, subject_shift: float = 0.0) -> np.ndarray:
    """One 30-s epoch of a synthetic EEG trace for ``stage``, in µV, shape (3000,)."""
    t = np.arange(int(FS * EPOCH_S)) / FS
    f = 1.0 + subject_shift + 0.1 * rng.standard_normal()
    noise = rng.standard_normal(t.size) * (4 + 2 * rng.random())
    if stage == "W":
        x = 12 * np.sin(2 * np.pi * 10 * f * t) + 3 * noise
    elif stage == "N1":
        x = 20 * np.sin(2 * np.pi * 5.5 * f * t + rng.random() * 6) + noise
    elif stage == "N2":
        x = 10 * np.sin(2 * np.pi * 6 * f * t) + noise
        for c in rng.uniform(2, 28, size=3):
            x += 80 * np.exp(-((t - c) ** 2) / 0.08) * np.sin(2 * np.pi * 1.0 * (t - c))
            s = c + 1.5
            x += 15 * np.exp(-((t - s) ** 2) / 0.2) * np.sin(2 * np.pi * 13 * t)
    elif stage == "N3":
        x = 75 * np.sin(2 * np.pi * 0.8 * f * t + rng.random() * 6) + 20 * np.sin(2 * np.pi * 1.7 * f * t) + noise
    elif stage == "REM":
        saw = 2 * ((t * 2.5 * f) % 1.0) - 1
        x = 18 * saw * (np.sin(2 * np.pi * 0.3 * t) > 0) + 8 * np.sin(2 * np.pi * 6 * f * t) + 2 * noise
    else:
        raise ValueError(stage)
    return subject_scale * x


def render(signal: np.ndarray, size: int) -> Image.Image:
    """Min-max scale to [-1, 1] and draw as a black trace on white, ``size`` x ``size``."""
    lo, hi = float(signal.min()), float(signal.max())
    y = (signal - lo) / (hi - lo + 1e-12) * 2 - 1
    xs = np.linspace(0, size - 1, signal.size)
    ys = (1 - (y + 1) / 2) * (size - 1)
    img = Image.new("L", (size, size), 255)
    ImageDraw.Draw(img).line(list(zip(xs.tolist(), ys.tolist())), fill=0, width=1)
    return img


def write_synthetic_set(root: Path, subjects: dict[str, list[int]], per_stage: int, size: int, seed: int = 0) -> Path:
    """Images + ``manifest.csv`` under ``root``; ``subjects`` maps split -> subject numbers."""
    rng = np.random.default_rng(seed)
    rows = []
    for split, numbers in subjects.items():
        for subj in numbers:
            srng = np.random.default_rng(1000 + subj)
            scale, shift = float(srng.uniform(0.6, 1.6)), float(srng.uniform(-0.15, 0.15))
            record = f"SYN{subj:02d}"
            epoch = 0
            for _ in range(per_stage):
                for stage in STAGES:
                    rel = f"images/{record}/{epoch:06d}.png"
                    (root / rel).parent.mkdir(parents=True, exist_ok=True)
                    render(synth_epoch(stage, rng, scale, shift), size).save(root / rel, compress_level=1)
                    rows.append({"sample_id": f"{record}/{epoch:06d}", "dataset": "synthetic", "subject": record,
                                 "night": "1", "epoch": epoch, "onset_s": epoch * 30, "stage": stage,
                                 "image": rel, "split": split})
                    epoch += 1
    manifest = root / "manifest.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return manifest


TINY_RESNET = {"widths": [8, 16, 32, 64], "layers": [1, 1, 1, 1]}


def tiny_train_args(manifest: Path, out: Path, *extra: str) -> list[str]:
    """CLI arguments for a seconds-long training run of a narrow ResNet-18 on 32x32 images."""
    import json

    return ["--manifest", str(manifest), "--out", str(out), "--model", "resnet18",
            "--model-kwargs", json.dumps(TINY_RESNET), "--image-size", "32", "--epochs", "2",
            "--batch-size", "8", "--workers", "0", "--lr", "3e-3", "--progress", "off", *extra]
