#!/usr/bin/env python
"""Benchmark ``eeg-vlm convert`` on synthetic nights; prints figures, asserts nothing.

Measures, each in a fresh child process pinned to one CPU core (so "per core" is honest
and peak RSS is the conversion's own):

1. convert of one synthetic 8-hour night, 1 channel (eeg-vlm style): epochs/s, wall time,
   peak RSS;
2. the same night, 3 channels stacked (psg-llava style);
3. a 24-hour night, 3 channels: peak RSS (target < 1 GB);
4. the naive reference: a new matplotlib figure per epoch, saved as PNG, on a subset of
   epochs, extrapolated to the whole night, against the numpy rasteriser on the same
   epochs (render + encode + write), with the ratio.

Usage::

    python scripts/bench_convert.py [--hours 8] [--long-hours 24] [--mpl-epochs 100]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def render_epoch_matplotlib(scaled: np.ndarray, style: str = "eeg-vlm", size: int = 336,
                            line_width: float = 1.0) -> bytes:
    """Reference renderer: one new matplotlib figure per epoch, saved as PNG bytes.

    The straightforward way to plot epochs (what most sleep-image pipelines do). Kept only
    as the baseline of this benchmark (outside the package);
    :func:`eeg_vlm.imaging.render.render_epoch` is what the project uses. Same layout (full height, or stacked bands), no axes or text.
    """
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from eeg_vlm.checks import check_option
    from eeg_vlm.imaging.render import STYLES

    x = np.asarray(scaled, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    check_option("style", style, STYLES, where="render")
    if style == "eeg-vlm" and x.shape[0] != 1:
        raise ValueError(f"render: style 'eeg-vlm' draws one channel, got {x.shape[0]}")
    fig = Figure(figsize=(size / 100.0, size / 100.0), dpi=100, facecolor="white")
    FigureCanvasAgg(fig)
    n = x.shape[0]
    t = np.arange(x.shape[1])
    for i, row in enumerate(x):
        ax = fig.add_axes((0.0, 1.0 - (i + 1) / n, 1.0, 1.0 / n))
        ax.plot(t, row, color="black", linewidth=line_width)
        ax.set_xlim(0, x.shape[1] - 1)
        ax.set_ylim(-1.05, 1.05)
        ax.set_axis_off()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, facecolor="white")
    return buf.getvalue()


def _pin() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})


def _peak_rss_mb() -> float:
    """This process's peak resident memory in MB (VmHWM: unlike ru_maxrss it does not
    inherit the parent's size through fork + exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def child_convert(inp: str, out: str, channels: list[str], style: str) -> dict:
    _pin()
    from eeg_vlm.imaging.convert import convert

    t, c = time.perf_counter(), time.process_time()
    res = convert(inp, out, channels=channels, style=style, workers=1, trim_wake_min=None)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    return {"epochs": res.n_epochs, "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": _peak_rss_mb()}


def child_render(inp: str, out: str, n: int) -> dict:
    """Numpy rasteriser vs a new matplotlib figure per epoch, on the same n epochs."""
    _pin()
    from eeg_vlm.signals.epochs import make_epochs, minmax_scale
    from ondisk import write_bytes_atomic
    from eeg_vlm.imaging.render import encode_png, render_epoch
    from eeg_vlm.io import find_recordings

    src = find_recordings(inp)[0]
    t = time.perf_counter()
    ep = make_epochs(src.load(channels=["Fpz-Cz"]), ["Fpz-Cz"], trim_wake=None)
    read_s = time.perf_counter() - t
    sub = ep.data[:n]
    out_dir = Path(out)
    res = {"read_epoch_s": read_s, "night_epochs": len(ep), "subset": len(sub)}
    for name, fn in (("numpy", lambda x: encode_png(render_epoch(x))), ("matplotlib", render_epoch_matplotlib)):
        t, c = time.perf_counter(), time.process_time()
        for i, x in enumerate(sub):
            write_bytes_atomic(out_dir / name / f"{i:06d}.png", fn(minmax_scale(x)[0]), durable=False)
        res[f"{name}_s"] = time.perf_counter() - t
        res[f"{name}_cpu_s"] = time.process_time() - c
    return res


def _run_child(args: list[str]) -> dict:
    env = dict(os.environ, **_ONE_THREAD)
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=float, default=8.0, help="length of the main night (default: %(default)s)")
    ap.add_argument("--long-hours", type=float, default=24.0, help="night for the memory check; 0 skips (default: %(default)s)")
    ap.add_argument("--mpl-epochs", type=int, default=100, help="epochs drawn with matplotlib (default: %(default)s)")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        kind, rest = args.child[0], args.child[1:]
        if kind == "convert":
            out = child_convert(rest[0], rest[1], rest[3].split(","), rest[2])
        else:
            out = child_render(rest[0], rest[1], int(rest[2]))
        print(json.dumps(out))
        return 0

    from eeg_vlm.dataset.synthetic import write_synthetic_dataset

    with tempfile.TemporaryDirectory(prefix="bench_convert_") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        write_synthetic_dataset(tmp / "night", n_subjects=1, hours=args.hours, seed=0)
        print(f"synthetic {args.hours:g}-h night (4 channels, 100 Hz) written in {time.perf_counter() - t:.1f} s "
              f"(not part of the figures)\n")
        one = _run_child(["convert", str(tmp / "night"), str(tmp / "o1"), "eeg-vlm", "Fpz-Cz"])
        three = _run_child(["convert", str(tmp / "night"), str(tmp / "o3"), "psg-llava", "Fpz-Cz,Pz-Oz,EOG"])
        rend = _run_child(["render", str(tmp / "night"), str(tmp / "r"), str(args.mpl_epochs)])

        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"machine: {os.cpu_count()} cores, load average {load:.1f} (wall times suffer when it exceeds the "
              f"core count; CPU-time rates do not)\n")
        print("eeg-vlm convert, one process pinned to one core, trim-wake none, images + signals + manifest:")
        for label, r in (("1 channel  (eeg-vlm)  ", one), ("3 channels (psg-llava)", three)):
            print(f"  {label}: {r['epochs']} epochs, wall {r['wall_s']:.2f} s ({r['epochs'] / r['wall_s']:.0f} epochs/s), "
                  f"CPU {r['cpu_s']:.2f} s ({r['epochs'] / r['cpu_s']:.0f} epochs per CPU-second); "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB")
        n = rend["subset"]
        night = rend["night_epochs"]
        print(f"\nrenderers on the same {n} epochs (1 channel; render + PNG + atomic write), per CPU-second and wall:")
        rates = {}
        for name in ("numpy", "matplotlib"):
            rates[name] = (n / rend[f"{name}_cpu_s"], n / rend[f"{name}_s"])
            print(f"  {name:<10}: {rates[name][0]:8.1f} epochs/CPU-s   {rates[name][1]:8.1f} epochs/s wall"
                  + ("  (a new matplotlib figure per epoch)" if name == "matplotlib" else ""))
        print(f"  ratio     : {rates['numpy'][0] / rates['matplotlib'][0]:8.1f}x CPU      "
              f"{rates['numpy'][1] / rates['matplotlib'][1]:8.1f}x wall")
        mpl_night = rend["read_epoch_s"] + night / rates["matplotlib"][1]
        print(f"\nwhole {args.hours:g}-h night, 1 channel ({night} epochs), wall time:")
        print(f"  numpy pipeline (measured): {one['wall_s']:7.1f} s")
        print(f"  matplotlib pipeline (EXTRAPOLATED: {n} epochs timed, plus the measured read/epoching "
              f"{rend['read_epoch_s']:.1f} s): {mpl_night:7.1f} s")
        print(f"  ratio: {mpl_night / one['wall_s']:.1f}x")

        if args.long_hours > 0:
            t = time.perf_counter()
            write_synthetic_dataset(tmp / "long", n_subjects=1, hours=args.long_hours, seed=1)
            print(f"\nsynthetic {args.long_hours:g}-h night written in {time.perf_counter() - t:.1f} s")
            lg = _run_child(["convert", str(tmp / "long"), str(tmp / "ol"), "psg-llava", "Fpz-Cz,Pz-Oz,EOG"])
            print(f"  {args.long_hours:g}-h night, 3 channels (psg-llava): {lg['epochs']} epochs, wall {lg['wall_s']:.1f} s, "
                  f"CPU {lg['cpu_s']:.1f} s ({lg['epochs'] / lg['cpu_s']:.0f} epochs per CPU-second); "
                  f"peak RSS {lg['peak_rss_mb']:.0f} MB (target < 1024 MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
