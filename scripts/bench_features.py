#!/usr/bin/env python
"""Images per second of the specialized vision module on this machine.

Measures training (forward + backward + AdamW step) and inference (features under
``torch.inference_mode``) throughput of the paper's modified ResNet-18 (``resnet18_1024``)
and a plain ResNet-18 (``resnet18``, 512 -> 1024 projection) in the same run, at 336x336,
with channels-last off and on, and prints the figures and their ratios.

    .venv/bin/python scripts/bench_features.py                 # defaults: 336 px, CPU threads as set
    .venv/bin/python scripts/bench_features.py --models resnet18_1024 convnext_base --size 224
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from feature_extractor.registry import build_backbone


def _rate(fn, batch: int, warmup: int, iters: int) -> float:
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    return batch * iters / (time.perf_counter() - t0)


def bench(name: str, size: int, batch: int, train_batch: int, channels_last: bool, warmup: int, iters: int,
          train_iters: int) -> tuple[float, float]:
    torch.manual_seed(0)
    model = build_backbone(name, image_size=size)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    x = torch.randn(batch, 3, size, size).contiguous(memory_format=fmt)
    xt = torch.randn(train_batch, 3, size, size).contiguous(memory_format=fmt)
    y = torch.randint(0, 5, (train_batch,))
    model.eval()

    def infer():
        with torch.inference_mode():
            model.forward_features(x)

    inf = _rate(infer, batch, warmup, iters)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        logits, _ = model(xt)
        loss = torch.nn.functional.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    tr = _rate(step, train_batch, 1, train_iters)
    return tr, inf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["resnet18_1024", "resnet18"])
    ap.add_argument("--size", type=int, default=336, help="input side in pixels")
    ap.add_argument("--batch-size", type=int, default=16, help="inference batch")
    ap.add_argument("--train-batch-size", type=int, default=8, help="training batch")
    ap.add_argument("--iters", type=int, default=4, help="timed inference batches")
    ap.add_argument("--train-iters", type=int, default=3, help="timed training steps")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {load:.1f}; input {args.size}x{args.size}; "
          f"inference batch {args.batch_size}, training batch {args.train_batch_size}")
    print(f"{'model':<16}{'channels_last':>14}{'train img/s':>13}{'infer img/s':>13}")
    results = {}
    for name in args.models:
        for cl in (False, True):
            tr, inf = bench(name, args.size, args.batch_size, args.train_batch_size, cl, args.warmup, args.iters,
                            args.train_iters)
            results[(name, cl)] = (tr, inf)
            print(f"{name:<16}{str(cl):>14}{tr:>13.2f}{inf:>13.2f}", flush=True)
    print("ratios")
    for name in args.models:
        (t0, i0), (t1, i1) = results[(name, False)], results[(name, True)]
        print(f"  {name}: channels_last speed-up train x{t1 / t0:.2f}, inference x{i1 / i0:.2f}")
    if len(args.models) > 1:
        ref = args.models[-1]
        for name in args.models[:-1]:
            for cl in (False, True):
                (ta, ia), (tb, ib) = results[(name, cl)], results[(ref, cl)]
                print(f"  {name} / {ref} (channels_last={cl}): train x{ta / tb:.2f}, inference x{ia / ib:.2f}")


if __name__ == "__main__":
    main()
