"""Image loading, crash-safe resumable checkpoints, and baselines through the one training command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from fe_synthetic import tiny_train_args
from PIL import Image

from feature_extractor.checkpoint import resumable_folder, save_resumable
from feature_extractor.config import ModelConfig
from feature_extractor.images import ImageTransform
from feature_extractor.train import main as train_main


def test_grayscale_image_to_rgb_or_one_channel_with_resize(tmp_path):
    arr = np.zeros((40, 40), np.uint8)
    arr[:, 20:] = 255
    Image.fromarray(arr, "L").save(tmp_path / "e.png")
    rgb = ImageTransform.from_config(ModelConfig(image_size=20))(tmp_path / "e.png")
    assert rgb.shape == (3, 20, 20) and rgb.dtype == torch.float32
    assert torch.allclose(rgb[:, 0, 0], -torch.tensor([0.485, 0.456, 0.406]) / torch.tensor([0.229, 0.224, 0.225]))
    assert torch.allclose(rgb[:, 0, -1], (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225]))
    gray = ImageTransform.from_config(ModelConfig(image_size=40, in_chans=1))(tmp_path / "e.png")
    assert gray.shape == (1, 40, 40)
    assert gray[0, 0, 0].item() == pytest.approx(-0.449 / 0.226) and gray[0, 0, 39].item() == pytest.approx(0.551 / 0.226)


def test_unreadable_and_missing_images_are_named(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    t = ImageTransform.from_config(ModelConfig(image_size=16))
    with pytest.raises(ValueError, match=r"image '.*bad.png': cannot be read"):
        t(tmp_path / "bad.png")
    with pytest.raises(FileNotFoundError, match=r"image '.*gone.png': not found"):
        t(tmp_path / "gone.png")


def test_model_config_checks():
    with pytest.raises(ValueError, match="in_chans must be 1 or 3, got 2"):
        ModelConfig(in_chans=2)
    with pytest.raises(ValueError, match="mean/std need 1 values for in_chans=1, got 3 and 1"):
        ModelConfig(in_chans=1, mean=[0.5, 0.5, 0.5])


def test_resumable_checkpoint_is_replaced_only_when_complete(tmp_path):
    cfg = ModelConfig(model="resnet18", model_kwargs={"widths": [4, 4, 4, 4], "layers": [1, 1, 1, 1]}, image_size=32)
    model = cfg.build()
    opt = torch.optim.AdamW(model.parameters())
    last = tmp_path / "last"
    save_resumable(last, model, cfg, {"epoch": 1}, opt, {"epoch": 1, "step": 3})
    assert resumable_folder(last) == last
    # a run killed after moving the complete checkpoint aside, before the new one took its place
    (tmp_path / "last").rename(tmp_path / "last.old")
    (tmp_path / "last.new").mkdir()
    assert resumable_folder(last) == tmp_path / "last.old"
    save_resumable(last, model, cfg, {"epoch": 2}, opt, {"epoch": 2, "step": 6})
    assert resumable_folder(last) == last
    assert json.loads((last / "train_state.json").read_text())["epoch"] == 2
    assert not (tmp_path / "last.new").exists() and not (tmp_path / "last.old").exists()


BASELINES = {
    "resnet101": {"widths": [4, 8, 8, 16], "layers": [1, 1, 1, 1]},
    "convnext_base": {"depths": [1, 1, 1, 1], "dims": [8, 16, 32, 64]},
    "vit_base": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64, "patch_size": 8},
    "swin_tiny": {"embed_dim": 8, "depths": [1, 1, 1, 1], "num_heads": [1, 1, 2, 2], "window_size": 1},
}


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baselines_train_through_the_same_command(name, small_manifest, tmp_path):
    args = tiny_train_args(small_manifest, tmp_path / name, "--epochs", "1")
    args[args.index("--model") + 1] = name
    args[args.index("--model-kwargs") + 1] = json.dumps(BASELINES[name])
    assert train_main(args) == 0
    metrics = json.loads((tmp_path / name / "metrics.json").read_text())
    assert metrics["model"] == name and metrics["test"]["n"] == 10
    assert {"accuracy", "macro_f1", "kappa", "balanced_accuracy", "weighted_f1"} <= set(metrics["test"])
    assert (tmp_path / name / "predictions_test.csv").is_file()
