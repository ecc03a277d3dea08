"""Benchmark: one EEG-VLM training step of the tiny LLaVA models, by tower width and variant.

Builds tiny bases with ``llava.model.tiny`` (nothing downloaded) and times forward +
backward of a batch of EEG-VLM samples (two ``<image>`` slots, ``eeg_fusion='add'``):
the LLaVA-1.5 tiny with the default 1024-wide CLIP tower and with a 64-wide one
(``TinySpec(clip_hidden_size=64)``, features ``[N, 1, 64]``), and the tiny LLaVA-NeXT
variants (Mistral, Llama-3) on a 500x300 image (3 tiles, 1,560 tokens per slot).
Prints ms/step per variant and the ratio to the default.

    python scripts/bench_tiny_model.py                # batch 2, 5 timed steps
    python scripts/bench_tiny_model.py --batch-size 4 --steps 10
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

PROMPT = "USER: <image>\n<image>\nWhich sleep stage is this? ASSISTANT: The sleep stage is N2.</s>"


def _step_ms(base: Path, batch: int, steps: int, anyres_size: tuple[int, int] | None) -> float:
    from llava.mm_utils import tokenizer_image_token
    from llava.model.anyres import AnyresGeometry
    from llava.model.builder import load_pretrained_model

    tok, model, _, _ = load_pretrained_model(str(base), None, None, device="cpu")
    model.train()
    ids = tokenizer_image_token(PROMPT, tok, return_tensors="pt")[None].repeat(batch, 1)
    width = int(model.config.mm_hidden_size)
    if anyres_size is None:
        images: object = torch.randn(batch, 3, 336, 336)
        sizes = None
    else:
        tower = model.get_vision_tower()
        n = AnyresGeometry.from_config(model.config, tower.config.image_size, tower.config.patch_size).num_tiles(
            anyres_size)
        images, sizes = [torch.randn(n, 3, 336, 336) for _ in range(batch)], [anyres_size] * batch
    feats = torch.randn(batch, 1, width)
    times = []
    for i in range(steps + 1):
        start = time.perf_counter()
        out = model(input_ids=ids, labels=ids.clamp(min=0), images=images, image_sizes=sizes, eeg_features=feats)
        out.loss.backward()
        model.zero_grad(set_to_none=True)
        if i:  # the first step warms up
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    from llava.model.tiny import TinySpec, build_tiny_base

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=2, help="samples per step")
    parser.add_argument("--steps", type=int, default=5, help="timed steps (median reported)")
    args = parser.parse_args()
    variants = [
        ("LLaVA-1.5 tiny, CLIP 1024 (default)", TinySpec(), None),
        ("LLaVA-1.5 tiny, CLIP 64", TinySpec(clip_hidden_size=64, clip_intermediate_size=128), None),
        ("NeXT-Mistral tiny, CLIP 64, 500x300", TinySpec.next("mistral", clip_hidden_size=64,
                                                               clip_intermediate_size=128), (500, 300)),
        ("NeXT-Llama-3 tiny, CLIP 64, 500x300", TinySpec.next("llama3", clip_hidden_size=64,
                                                               clip_intermediate_size=128), (500, 300)),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        ref = None
        print(f"batch {args.batch_size}, {args.steps} steps, {torch.get_num_threads()} threads")
        for i, (name, spec, size) in enumerate(variants):
            ms = _step_ms(build_tiny_base(Path(tmp) / str(i), seed=0, spec=spec), args.batch_size, args.steps, size)
            ref = ref or ms
            print(f"{name:40s} {ms:8.1f} ms/step   x{ref / ms:5.2f} vs default")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
