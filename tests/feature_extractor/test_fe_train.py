"""Training: outputs, resume to identical weights, options, schedule and class weights."""

from __future__ import annotations

import csv
import json
import re

import pytest
import torch
from safetensors.torch import load_file

from feature_extractor.train import TrainConfig, class_weights, lr_factor, main
from fe_synthetic import tiny_train_args


def tensors(path):
    return load_file(str(path))


def test_resume_after_interruption_gives_identical_weights(small_manifest, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(tiny_train_args(small_manifest, straight)) == 0
    assert main(tiny_train_args(small_manifest, resumed, "--stop-after-epochs", "1")) == 0
    state = json.loads((resumed / "last" / "train_state.json").read_text())
    assert state["epoch"] == 1 and not json.loads((resumed / "metrics.json").read_text())["finished"]
    assert main(tiny_train_args(small_manifest, resumed, "--resume")) == 0

    a, b = tensors(straight / "last/model.safetensors"), tensors(resumed / "last/model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    oa, ob = tensors(straight / "last/optimizer.safetensors"), tensors(resumed / "last/optimizer.safetensors")
    for k in oa:
        assert torch.equal(oa[k], ob[k]), k
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (straight, resumed))
    assert ma["test"] == mb["test"] and ma["best_epoch"] == mb["best_epoch"]
    # a different seed trains different weights (the comparison above can fail)
    other = tmp_path / "other"
    assert main(tiny_train_args(small_manifest, other, "--seed", "1", "--epochs", "1")) == 0
    c = tensors(other / "last/model.safetensors")
    assert not torch.equal(a["head.weight"], c["head.weight"])


def test_outputs_checkpoint_config_metrics_and_predictions(small_manifest, tmp_path):
    out = tmp_path / "run"
    assert not torch.are_deterministic_algorithms_enabled()
    assert main(tiny_train_args(small_manifest, out, "--epochs", "1", "--class-weights", "balanced")) == 0
    assert not torch.are_deterministic_algorithms_enabled()  # process-wide setting put back
    cfg = json.loads((out / "best" / "config.json").read_text())
    assert cfg["model"] == "resnet18" and cfg["feature_dim"] == 1024 and cfg["epoch"] == 1
    assert cfg["classes"] == ["W", "N1", "N2", "N3", "REM"]
    assert cfg["mean"] == [0.485, 0.456, 0.406] and cfg["std"] == [0.229, 0.224, 0.225]
    assert set(cfg["metrics"]) >= {"accuracy", "macro_f1", "kappa"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["finished"] and metrics["best_epoch"] == 1
    for split, n in (("val", 10), ("test", 10)):
        assert metrics[split]["n"] == n and 0.0 <= metrics[split]["macro_f1"] <= 1.0
        with open(out / f"predictions_{split}.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert list(rows[0]) == ["sample_id", "stage", "pred", "prob_W", "prob_N1", "prob_N2", "prob_N3", "prob_REM"]
        assert len(rows) == n and rows[0]["sample_id"].startswith("SYN0")
        assert abs(sum(float(rows[0][f"prob_{s}"]) for s in ("W", "N1", "N2", "N3", "REM")) - 1) < 1e-4
        acc = sum(r["stage"] == r["pred"] for r in rows) / n
        assert acc == pytest.approx(metrics[split]["accuracy"])


def test_no_keep_last_drops_the_optimizer_state_of_a_finished_run(small_manifest, tmp_path):
    out = tmp_path / "lean"
    assert main(tiny_train_args(small_manifest, out, "--epochs", "1", "--no-keep-last")) == 0
    assert (out / "best" / "model.safetensors").is_file() and not (out / "last").exists()
    # an interrupted run keeps last/ whatever the flag: --resume needs it
    part = tmp_path / "part"
    assert main(tiny_train_args(small_manifest, part, "--stop-after-epochs", "1", "--no-keep-last")) == 0
    assert (part / "last" / "optimizer.safetensors").is_file()


def test_resume_refuses_changed_options(small_manifest, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(tiny_train_args(small_manifest, out, "--stop-after-epochs", "1")) == 0
    assert main(tiny_train_args(small_manifest, out, "--resume", "--lr", "1e-2")) == 1
    assert re.search(r"--resume: options differ .* lr: 0.003 -> 0.01", capsys.readouterr().err)
    assert main(tiny_train_args(small_manifest, tmp_path / "fresh", "--resume")) == 1
    assert "--resume: no complete checkpoint in" in capsys.readouterr().err


def test_labels_csv_with_image_folder_and_partial_training(small_manifest, tmp_path, capsys):
    rows = list(csv.DictReader(open(small_manifest, newline="")))
    with open(tmp_path / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "stage", "split"])
        for r in rows:
            w.writerow([r["image"], r["stage"], r["split"]])
    out = tmp_path / "run"
    args = ["--labels", str(tmp_path / "labels.csv"), "--image-folder", str(small_manifest.parent), "--out", str(out),
            "--model", "resnet18", "--model-kwargs", '{"widths": [8, 16, 32, 64], "layers": [1, 1, 1, 1]}',
            "--image-size", "32", "--epochs", "1", "--batch-size", "8", "--workers", "0", "--progress", "off",
            "--trainable", "backbone.layer4", "proj", "head"]
    assert main(args) == 0
    cfg = json.loads((out / "best/config.json").read_text())
    assert cfg["train_args"]["trainable"] == ["backbone.layer4", "proj", "head"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["n"] == 10
    assert main(args[:-3] + ["backbone.layer9"]) == 1
    assert "--trainable: prefix 'backbone.layer9' matches no parameter" in capsys.readouterr().err


def test_config_errors_are_collected():
    with pytest.raises(ValueError, match=r"--out is required; give exactly one of --manifest or --labels"):
        TrainConfig()
    with pytest.raises(ValueError, match="--labels needs --image-folder"):
        TrainConfig(out="x", labels="l.csv")
    with pytest.raises(ValueError, match=r"--class-weights must be 'none', 'balanced' or 5 non-negative numbers, got '1,2'"):
        TrainConfig(out="x", manifest="m.csv", class_weights="1,2")


def test_cli_bad_options_exit_2(capsys):
    assert main(["--out", "x"]) == 2
    assert "give exactly one of --manifest or --labels" in capsys.readouterr().err


def test_class_weights():
    w = class_weights("balanced", [0, 0, 0, 2, 4, 4])
    # N / (K * count): 6 / (5 * 3), absent classes weigh 0
    assert w.tolist() == pytest.approx([0.4, 0.0, 1.2, 0.0, 0.6])
    assert class_weights("none", [0]) is None
    assert class_weights("1,2,3,4,5", []).tolist() == [1, 2, 3, 4, 5]


def test_lr_schedule_warms_up_then_decays_to_min():
    total, warm = 100, 10
    f = [lr_factor(s, total, warm, 0.1) for s in range(total)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(f[:9], f[1:10]))
    assert all(a >= b for a, b in zip(f[10:], f[11:]))
    assert lr_factor(total, total, warm, 0.1) == pytest.approx(0.1)
