"""Benchmark: the data loader's share of a LoRA training step on the tiny LLaVA model.

Builds the tiny base (``llava.model.tiny``) and a synthetic EEG-VLM training set (one PNG
per sample, ``[image, placeholder]`` pairs, a features file), then times training steps
(forward + backward + AdamW step, LoRA + projector as ``train_mem.py`` sets them up) and,
separately, how long each step waited for its batch. Prints, per DataLoader worker count:
data ms/batch (loader alone), wait ms/step, compute ms/step and the loader's share.

    python scripts/bench_train.py                       # 336 px tower, batch 4, workers 0,1,2
    python scripts/bench_train.py --image-size 56 --batch-size 8 --workers 0,2
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def write_data(root: Path, n: int, size: int, seed: int = 0) -> Path:
    """n samples with their own waveform-like image, a stage answer and a feature row."""
    from PIL import Image, ImageDraw

    from llava.eeg_features import write_sidecar

    rng = np.random.default_rng(seed)
    stages = ("W", "N1", "N2", "N3", "REM")
    (root / "images").mkdir(parents=True, exist_ok=True)
    samples = []
    for i in range(n):
        img = Image.new("RGB", (size, size), "white")
        y = size / 2 + np.cumsum(rng.normal(size=size)) * size / 60
        ImageDraw.Draw(img).line(list(zip(range(size), np.clip(y, 0, size - 1).tolist())), fill="black")
        img.save(root / "images" / f"{i:05d}.png")
        stage = stages[i % 5]
        samples.append({"id": f"BENCH/{i:06d}", "image": [f"{i:05d}.png", f"{i:05d}.png"], "conversations": [
            {"from": "human", "value": "<image>\n<image>\nWhat is the sleep stage of this 30-second epoch?"},
            {"from": "gpt", "value": f"Step 1: the background rhythm is assessed. Final answer: {stage}"}]})
    (root / "eeg_ft.json").write_text(json.dumps(samples))
    np.save(root / "train_high_level_features.npy", rng.normal(size=(n, 1, 1024)).astype(np.float32))
    write_sidecar(root / "train_high_level_features.npy", [s["id"] for s in samples])
    return root / "eeg_ft.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=336, help="tower input size in pixels (336 = LLaVA-1.5)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per setting (after 2 warm-up steps)")
    parser.add_argument("--workers", default="0,1,2", help="comma-separated DataLoader worker counts")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)

    import torch
    from torch.utils.data import DataLoader

    from llava.model.tiny import TinySpec, build_tiny_base
    from llava.train.arguments import parse_args
    from llava.train.collator import DataCollatorForSupervisedDataset
    from llava.train.dataset import DatasetOptions, LazySupervisedDataset
    from llava.train.train import build_model, build_tokenizer

    if args.threads:
        torch.set_num_threads(args.threads)
    n = (args.steps + 2) * args.batch_size
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = build_tiny_base(root / "base", spec=TinySpec(image_size=args.image_size))
        data = write_data(root / "data", n, args.image_size)
        m, d, t = parse_args([
            "--model_name_or_path", str(base), "--vision_tower", str(base / "clip_vision_tower"),
            "--data_path", str(data), "--image_folder", str(data.parent / "images"), "--output_dir", str(root / "o"),
            "--mm_projector_type", "mlp2x_gelu", "--mm_vision_select_layer", "-2", "--image_aspect_ratio", "pad",
            "--lora_enable", "True", "--lora_r", "8", "--lora_alpha", "16", "--model_max_length", "4096",
            "--bf16", "False", "--report_to", "none"])
        tokenizer = build_tokenizer(m, t)
        model, processor = build_model(m, t, tokenizer, image_aspect_ratio="pad")
        model.train()
        tower = model.get_base_model().get_vision_tower()
        dataset = LazySupervisedDataset(
            DatasetOptions(str(data), str(data.parent / "images"), "pad", "v1", 4096, "add",
                           image_tokens=int(tower.num_patches)), tokenizer, processor)
        collate = DataCollatorForSupervisedDataset(tokenizer, 4096)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

        print(f"tiny model: {args.image_size} px tower ({tower.num_patches} patches/slot), batch {args.batch_size}, "
              f"{torch.get_num_threads()} torch threads, {n} samples")
        print(f"{'workers':>7} {'data ms/batch':>14} {'wait ms/step':>13} {'compute ms/step':>16} {'loader share':>13}")
        for workers in [int(w) for w in args.workers.split(",")]:
            def loader() -> DataLoader:
                return DataLoader(dataset, batch_size=args.batch_size, shuffle=True, num_workers=workers,
                                  collate_fn=collate, generator=torch.Generator().manual_seed(0))

            t0 = time.perf_counter()
            batches = sum(1 for _ in loader())
            data_ms = (time.perf_counter() - t0) * 1000 / batches

            waits, computes = [], []
            it = iter(loader())
            for step in range(args.steps + 2):
                t0 = time.perf_counter()
                batch = next(it)
                t1 = time.perf_counter()
                loss = model(**batch).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                t2 = time.perf_counter()
                if step >= 2:
                    waits.append((t1 - t0) * 1000)
                    computes.append((t2 - t1) * 1000)
            wait, compute = statistics.median(waits), statistics.median(computes)
            print(f"{workers:>7} {data_ms:>14.1f} {wait:>13.1f} {compute:>16.1f} {wait / (wait + compute):>12.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
