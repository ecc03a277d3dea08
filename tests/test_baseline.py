"""eeg-vlm baseline: every Table 1 row by name, trained on one manifest; the report places the rows."""

from __future__ import annotations

import csv
import json

import pytest

from eeg_vlm.apps.baseline import BASELINES, main
from eeg_vlm.evaluation.report import main as report_main


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Two 40-minute synthetic nights, images and signals (Fpz-Cz, Pz-Oz), split by subject."""
    from eeg_vlm.dataset import splits
    from eeg_vlm.dataset.synthetic import write_synthetic_dataset
    from eeg_vlm.imaging.convert import convert

    root = tmp_path_factory.mktemp("baseline")
    write_synthetic_dataset(root / "psg", n_subjects=3, hours=0.67, seed=1)
    convert(root / "psg", root / "conv", channels=("Fpz-Cz", "Pz-Oz"), style="psg-llava", size=32, workers=1)
    manifest = root / "conv" / "manifest.csv"
    assert splits.main([str(manifest), "--test-fraction", "0.34", "--val-fraction", "0.34"]) == 0
    return manifest


def test_list_names_every_row_with_its_input_and_preset(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    for b in BASELINES.values():
        assert b.name in out and b.row in out
    assert len(BASELINES) == 13
    line = next(x for x in out.splitlines() if x.startswith("clip "))
    assert "CLIP (vision encoder)" in line and "clip_vit_l14_336" in line and "final three encoder blocks" in line
    line = next(x for x in out.splitlines() if x.startswith("tinysleepnet"))
    assert "raw signal" in line and "batch 32, lr 0.0001, wd 0.001, 200 epochs" in line
    line = next(x for x in out.splitlines() if x.startswith("vit "))
    assert "image" in line and "final three encoder blocks" in line and "50 epochs" in line


def test_unknown_name_and_missing_options_are_one_line(capsys):
    assert main(["tinysleepnt", "--manifest", "m.csv", "--out", "o"]) == 2
    assert "unknown baseline 'tinysleepnt' (did you mean 'tinysleepnet'?)" in capsys.readouterr().err
    assert main(["maxvit"]) == 2
    assert "--manifest is required; --out is required" in capsys.readouterr().err


def test_image_and_signal_rows_train_on_the_same_epochs_and_fill_table1(converted, tmp_path, capsys):
    runs = {}
    for name in ("resnet101", "tinysleepnet", "cbramod"):
        out = tmp_path / name
        assert main([name, "--manifest", str(converted), "--out", str(out), "--tiny", "--epochs", "1",
                     "--batch-size", "8"]) == 0
        runs[name] = out
        info = json.loads((out / "baseline.json").read_text())
        assert info["tiny"] is True and info["split"] == "test"
    assert "full training from random weights" in json.loads((runs["resnet101"] / "baseline.json").read_text())["strategy"]
    ids = [[r["sample_id"] for r in csv.DictReader(open(runs[n] / "predictions_test.csv"))] for n in runs]
    assert ids[0] == ids[1] == ids[2] and ids[0]  # epoch for epoch
    report = tmp_path / "report"
    argv = ["--out", str(report), "--no-plots", "--n-boot", "10", "--manifest", str(converted)]
    for out in runs.values():
        argv += ["--baseline", str(out)]
    assert report_main(argv) == 0
    table = (report / "psg_llava_table1.md").read_text()
    assert "Image based (this run) | Resnet101 (tiny)" in table
    assert "Signal based (this run) | TinySleepNet (tiny)" in table and "Foundation (this run) | CBraMod (tiny)" in table
    assert "TinySleepNet | " in table  # the published row beside ours
    assert "subject-wise (this run)" in table
    assert ("TinySleepNet (tiny): Table 3 preset 'tinysleepnet' with batch size 8, epochs 1, full training; "
            "tiny CPU configuration") in table


def test_clip_row_fine_tunes_a_local_folder_and_sits_beside_fig3(converted, tmp_path):
    from transformers import CLIPVisionConfig, CLIPVisionModel

    folder = tmp_path / "tiny-clip"
    CLIPVisionModel(CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                     image_size=56, patch_size=14)).save_pretrained(folder)
    out = tmp_path / "clip"
    assert main(["clip", "--manifest", str(converted), "--out", str(out), "--tiny", "--init-weights", str(folder),
                 "--image-size", "56", "--epochs", "1", "--batch-size", "8"]) == 0
    info = json.loads((out / "baseline.json").read_text())
    assert info["strategy"] == "partial fine-tuning (--unfreeze table3) from tiny-clip"
    assert info["group"] == "Ablation" and info["input"] == "image"
    report = tmp_path / "report"
    assert report_main(["--out", str(report), "--no-plots", "--n-boot", "10", "--manifest", str(converted),
                        "--baseline", str(out)]) == 0
    table = (report / "psg_llava_table1.md").read_text()
    assert "Ablation (this run) | CLIP (vision encoder) (tiny)" in table
    assert "CLIP (vision encoder) | " in table  # the published Fig. 3 row beside ours
