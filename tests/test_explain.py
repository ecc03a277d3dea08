"""Feature-ablation attribution: where the mass goes, batching, --top, the files of `eeg-vlm explain`."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from eeg_vlm.explain import feature_ablation, keep_top, masked_copies, normalise, patch_grid
from eeg_vlm.explain.models import vision_probs_fn
from eeg_vlm.explain.run import ExplainConfig, explain_epochs
from feature_extractor.images import ImageTransform
from feature_extractor.registry import FeatureClassifier

# the region the test model looks at: patch rows 9..14, patch columns 6..9 (pixels 126..209, 84..139)
ROWS, COLS = slice(126, 210), slice(84, 140)


def _strokes(seed: int = 0, size: int = 336) -> np.ndarray:
    """A random black-on-white image: every patch holds some stroke."""
    rng = np.random.default_rng(seed)
    return np.where(rng.random((size, size)) < 0.2, 0, 255).astype(np.uint8)


class RegionBackbone(nn.Module):
    """Sees only ``ROWS x COLS`` of the input image: everything else cannot change its output."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 336, 336) -> (B, 24)
        region = x[:, :, ROWS, COLS]  # (B, 1, 84, 56)
        return nn.functional.avg_pool2d(region, 14).flatten(1)  # one value per patch: (B, 6 * 4)


def _region_model():
    torch.manual_seed(0)
    model = FeatureClassifier(RegionBackbone(), 24, feature_dim=24).eval()
    return vision_probs_fn(model, ImageTransform(336, 1, (0.5,), (0.5,)))


def _small_cnn():
    torch.manual_seed(1)
    backbone = nn.Sequential(nn.Conv2d(1, 4, 5, stride=4), nn.ReLU(), nn.Conv2d(4, 8, 3, stride=2), nn.ReLU(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten())
    model = FeatureClassifier(backbone, 8, feature_dim=8).double().eval()  # float64: no kernel noise
    nn.init.normal_(model.head.weight, std=5.0)
    return vision_probs_fn(model, ImageTransform(112, 1, (0.5,), (0.5,)))


def test_a_model_that_looks_at_one_region_puts_all_the_mass_there():
    att = feature_ablation(_region_model(), _strokes(), patch=14, batch_size=96)
    assert att.scores.shape == (24, 24)
    inside = np.zeros((24, 24), bool)
    inside[9:15, 6:10] = True
    assert np.all(att.raw[~inside] < 1e-6)  # float noise between batch sizes only
    assert np.all(att.raw[inside] > 1e-3)
    assert att.scores[inside].sum() / att.scores.sum() > 0.999
    assert att.scores.max() == 1.0 and att.scores.min() == 0.0
    assert att.probs.shape == (5,) and abs(att.probs.sum() - 1) < 1e-6


def test_batched_scores_equal_one_patch_at_a_time():
    fn, image = _small_cnn(), _strokes(1)
    batched = feature_ablation(fn, image, batch_size=64)
    single = feature_ablation(fn, image, batch_size=1)
    assert batched.raw.std() > 0  # the CNN sees the whole image: many patches matter
    np.testing.assert_allclose(batched.raw, single.raw, rtol=1e-9, atol=1e-12)


def test_batch_size_sets_the_number_of_forward_passes():
    calls = []

    def counting(images):
        calls.append(len(images))
        return np.tile([0.2, 0.2, 0.2, 0.2, 0.2], (len(images), 1))

    att = feature_ablation(counting, _strokes(), batch_size=64)
    assert calls == [1] + [64] * 9  # the original, then 576 copies in 9 passes
    assert np.all(att.scores == 0)  # nothing changes the output: a flat map, not NaN


@pytest.mark.parametrize("top", [0.3, 0.05, 1.0])
def test_top_keeps_the_right_share_of_patches(top):
    scores = np.random.default_rng(2).random((24, 24))
    kept = keep_top(scores, top)
    n = math.ceil(top * 576)
    assert np.count_nonzero(kept) == n
    assert kept[kept > 0].min() >= np.sort(scores.ravel())[::-1][n - 1]
    np.testing.assert_array_equal(kept[kept > 0], scores[kept > 0])


def test_bad_settings_are_errors():
    with pytest.raises(ValueError, match="does not split into 14x14 patches"):
        patch_grid(330, 336, 14)
    with pytest.raises(ValueError, match="top must be a fraction"):
        keep_top(np.ones((2, 2)), 0.0)
    with pytest.raises(ValueError, match="uint8 \\(H, W\\)"):
        feature_ablation(lambda x: x, np.zeros((336, 336), np.float32))
    with pytest.raises(ValueError, match="--top must be a fraction"):
        ExplainConfig(top=1.5)


def test_masked_copies_and_normalise():
    image = np.zeros((28, 28), np.uint8)
    copies = masked_copies(image, np.array([0, 3]), 14, 255)
    assert copies[0, :14, :14].min() == 255 and copies[0, 14:].max() == 0
    assert copies[1, 14:, 14:].min() == 255 and copies[1, :14].max() == 0
    np.testing.assert_allclose(normalise(np.array([1.0, 3.0, 2.0])), [0.0, 1.0, 0.5])


def test_explain_epochs_writes_maps_means_and_channel_bands(tmp_path):
    paths = []
    for i in range(4):
        path = tmp_path / f"e{i}.png"
        Image.fromarray(_strokes(i)).save(path)
        paths.append(path)
    ids = [f"rec/{i:06d}" for i in range(4)]
    fn = _region_model()
    preds = ["W", "N1", "N2", "N3", "REM"]
    pred0 = preds[int(np.argmax(fn(_strokes(0)[None])[0]))]
    truths = [pred0, "N2", "REM", None]
    # 3 stacked channels: the model's region (rows 126..209) lies inside the second band (116..219)
    res = explain_epochs(fn, ids, paths, truths, tmp_path / "out", ExplainConfig(heatmaps=2),
                         channels=["C3", "C4", "EOG"])
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "heatmaps").iterdir()) == ["rec_000000.png", "rec_000001.png"]
    for name in ("stage_means.png", "misclassified_means.png", "channel_bands.png", "attributions.npy"):
        assert (out / name).is_file(), name
    assert np.load(out / "attributions.npy", allow_pickle=False).shape == (4, 24, 24)
    np.testing.assert_allclose(res.band_shares["all"], [0.0, 1.0, 0.0])
    rows = list(csv.DictReader(open(out / "samples.csv")))
    assert [r["correct"] for r in rows] == ["1", str(int(rows[1]["pred"] == "N2")),
                                            str(int(rows[2]["pred"] == "REM")), ""]
    assert "| C4 |" in (out / "channel_bands.md").read_text()
    assert json.loads((out / "explain.json").read_text())["n"] == 4


def test_stage_explain_writes_a_heatmap_per_epoch(tmp_path, capsys):
    from eeg_vlm.apps.staging import main as stage_main
    from eeg_vlm.dataset.synthetic import write_synthetic_dataset
    from eeg_vlm.imaging.convert import convert
    from feature_extractor.checkpoint import save_model
    from feature_extractor.config import ModelConfig
    from feature_extractor.train import image_settings

    psg, _ = write_synthetic_dataset(tmp_path / "raw", n_subjects=1, hours=0.5, seed=3)
    res = convert(tmp_path / "raw", tmp_path / "conv", trim_wake_min=None)  # 336 x 336
    torch.manual_seed(0)
    mconf = ModelConfig(model="resnet18", model_kwargs={"widths": [8, 16, 32, 64], "layers": [1, 1, 1, 1]},
                        image_size=32)
    save_model(tmp_path / "vision", mconf.build(), mconf, extra={"train_args": {"manifest": str(res.manifest)},
                                                                 "image_settings": image_settings(res.manifest)})
    out = tmp_path / "night"
    assert stage_main([str(psg), "--vision-model", str(tmp_path / "vision"), "--out", str(out), "--start", "600",
                       "--duration", "90", "--device", "cpu", "--explain"]) == 0
    assert len(list((out / "explain" / "heatmaps").glob("*.png"))) == 3
    assert np.load(out / "explain" / "attributions.npy").shape == (3, 24, 24)
    assert "explain.json" in capsys.readouterr().out
