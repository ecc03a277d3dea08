"""Epoch images: the stroke, bands, determinism, PNG encoding."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from eeg_vlm.imaging.render import band_rows, encode_png, render_epoch


def _scaled(seed: int, channels: int = 1, n: int = 3000) -> np.ndarray:
    x = np.cumsum(np.random.default_rng(seed).standard_normal((channels, n)), axis=-1)
    x += np.sin(np.linspace(0, 40 * np.pi, n))[None] * 5
    lo, hi = x.min(-1, keepdims=True), x.max(-1, keepdims=True)
    return 2 * (x - lo) / (hi - lo) - 1


def _ink_runs(col: np.ndarray) -> list[tuple[int, int]]:
    rows = np.flatnonzero(col == 0)
    if rows.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(rows) > 1)
    starts = np.r_[rows[0], rows[breaks + 1]]
    ends = np.r_[rows[breaks], rows[-1]]
    return list(zip(starts.tolist(), ends.tolist()))


def test_default_image_is_336_grayscale_two_tone():
    img = render_epoch(_scaled(0)[0])
    assert img.shape == (336, 336) and img.dtype == np.uint8
    assert set(np.unique(img)) == {0, 255}
    rgb = render_epoch(_scaled(0), rgb=True)
    assert rgb.shape == (336, 336, 3) and np.array_equal(rgb[..., 1], img)


def test_flat_epoch_is_one_horizontal_line():
    img = render_epoch(np.zeros(3000))
    inked_rows = np.flatnonzero((img == 0).any(axis=1))
    assert len(inked_rows) == 1
    assert (img[inked_rows[0]] == 0).all()  # full width
    assert abs(inked_rows[0] - 335 / 2) <= 0.5  # the middle of the image
    thick = render_epoch(np.zeros(3000), line_width=3)
    assert len(np.flatnonzero((thick == 0).any(axis=1))) == 3


def test_extremes_map_to_top_and_bottom_rows():
    up = render_epoch(np.ones(3000))
    down = render_epoch(-np.ones(3000))
    assert np.flatnonzero((up == 0).any(1)).tolist() == [0]
    assert np.flatnonzero((down == 0).any(1)).tolist() == [335]
    clipped = render_epoch(np.full(3000, 7.0))  # out of range: clipped, not wrapped
    assert np.array_equal(clipped, up)


def test_nothing_but_one_continuous_stroke():
    """Every column holds exactly one run of ink, touching its neighbour's: no text, no axes."""
    img = render_epoch(_scaled(1)[0], size=(200, 300))
    assert img.shape == (200, 300)
    runs = [_ink_runs(img[:, c]) for c in range(img.shape[1])]
    assert all(len(r) == 1 for r in runs)
    for (a0, a1), (b0, b1) in zip((r[0] for r in runs), (r[0] for r in runs[1:])):
        assert b0 <= a1 + 1 and a0 <= b1 + 1  # continuous from column to column


def test_stroke_follows_the_samples():
    x = _scaled(2)[0]
    img = render_epoch(x, size=100)
    for c in range(100):
        seg = x[c * 30:(c + 1) * 30]
        rows = np.flatnonzero(img[:, c] == 0)
        assert rows.min() <= np.rint((1 - seg.max()) * 49.5)  # covers the column's samples
        assert rows.max() >= np.rint((1 - seg.min()) * 49.5)


def test_short_epochs_fill_every_column():
    img = render_epoch(np.sin(np.linspace(0, 6, 50)), size=128)
    assert (img == 0).any(axis=0).all()


def test_stacked_bands_do_not_overlap():
    x = _scaled(3, channels=3)
    bands = band_rows(3, 336)
    assert all(b[1] < c[0] for b, c in zip(bands, bands[1:]))
    img = render_epoch(x, "psg-llava", line_width=3)
    # full-swing signals stay inside their own band
    swing = np.tile(np.array([1.0, -1.0]), 1500)
    full = render_epoch(np.stack([swing] * 3), "psg-llava", line_width=3)
    for top, bottom in bands:
        assert (full[top:bottom + 1] == 0).any()
    outside = np.ones(336, bool)
    for top, bottom in bands:
        outside[top:bottom + 1] = False
    assert not (full[outside] == 0).any()
    # changing one channel changes its band only
    y = x.copy()
    y[1] = -y[1]
    other = render_epoch(y, "psg-llava", line_width=3)
    t1, b1 = bands[1]
    assert np.array_equal(np.delete(img, np.s_[t1:b1 + 1], axis=0), np.delete(other, np.s_[t1:b1 + 1], axis=0))
    assert not np.array_equal(img[t1:b1 + 1], other[t1:b1 + 1])


def test_channel_order_is_band_order():
    flat_top = np.ones(3000)
    zeros = np.zeros(3000)
    img = render_epoch(np.stack([flat_top, zeros]), "psg-llava", size=100)
    (t0, _), (t1, b1) = band_rows(2, 100)
    assert (img[t0] == 0).all()  # channel 0 at +1: top row of the first band
    middle = int(np.rint((t1 + b1) / 2))
    assert (img[middle] == 0).all()  # channel 1 flat at 0: middle of the second band
    assert np.flatnonzero((img[t1:b1 + 1] == 0).any(1)).tolist() == [middle - t1]


def test_same_epoch_same_bytes_in_process():
    x = _scaled(4, channels=2)
    a = encode_png(render_epoch(x, "psg-llava"))
    b = encode_png(render_epoch(x.copy(), "psg-llava"))
    assert a == b
    assert a != encode_png(render_epoch(_scaled(5, channels=2), "psg-llava"))


def test_same_bytes_across_processes():
    code = (
        "import hashlib, numpy as np\n"
        "from eeg_vlm.imaging.render import render_epoch, encode_png\n"
        "x = np.sin(np.arange(3000) * 0.37) * np.cos(np.arange(3000) * 0.011)\n"
        "print(hashlib.sha256(encode_png(render_epoch(x, line_width=2))).hexdigest())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    x = np.sin(np.arange(3000) * 0.37) * np.cos(np.arange(3000) * 0.011)
    assert out == hashlib.sha256(encode_png(render_epoch(x, line_width=2))).hexdigest()


@pytest.mark.parametrize("rgb", [False, True])
def test_png_decodes_to_the_array(rgb):
    img = render_epoch(_scaled(6, channels=2), "psg-llava", size=(120, 90), rgb=rgb)
    data = encode_png(img)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    for chunk in (b"tIME", b"tEXt", b"iTXt", b"zTXt"):
        assert chunk not in data  # no metadata
    dec = Image.open(io.BytesIO(data))
    assert dec.mode == ("RGB" if rgb else "L")
    assert np.array_equal(np.asarray(dec), img)
    assert np.array_equal(np.asarray(dec.convert("RGB"))[..., 0], img if not rgb else img[..., 0])


def test_errors():
    with pytest.raises(ValueError, match="style 'eeg-vlm' draws one channel, got 3"):
        render_epoch(_scaled(0, channels=3))
    with pytest.raises(ValueError, match="Allowed values are 'eeg-vlm', 'psg-llava'"):
        render_epoch(_scaled(0), "psg")
    with pytest.raises(ValueError, match="line_width must be >= 1"):
        render_epoch(_scaled(0), line_width=0)
    with pytest.raises(ValueError, match="do not fit in 12 pixel rows"):
        render_epoch(_scaled(0, channels=6), "psg-llava", size=12)
    with pytest.raises(ValueError, match=r"shape \(C, T\)"):
        render_epoch(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="expected a non-empty uint8"):
        encode_png(np.zeros((4, 4), dtype=np.float32))


def test_matplotlib_reference_renders_png():
    """The benchmark's baseline renderer (scripts/bench_convert.py, not part of the package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "bench_convert.py"
    spec = importlib.util.spec_from_file_location("bench_convert", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    data = bench.render_epoch_matplotlib(_scaled(7)[0])
    img = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
    assert img.shape == (336, 336)
    assert (img < 128).any() and (img > 200).mean() > 0.5
