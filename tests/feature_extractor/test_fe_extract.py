"""Feature extraction: [N,1,1024] in data-file order, sidecar ids, resume, alignment checks."""

from __future__ import annotations

import csv
import json
import logging
import shutil

import numpy as np
import pytest
import torch
from fe_synthetic import tiny_train_args

from feature_extractor.checkpoint import load_model
from feature_extractor.extract import check_alignment, extract_features, main
from feature_extractor.images import ImageDataset, ImageTransform
from feature_extractor.samples import read_data_file
from feature_extractor.train import main as train_main


@pytest.fixture()
def llava_files(small_manifest, tmp_path):
    """eeg_ft.json / eeg_eval.jsonl in a sleep_data-like folder; images in the manifest's folder."""
    rows = list(csv.DictReader(open(small_manifest, newline="")))
    data = tmp_path / "sleep_data"
    data.mkdir()
    train = [r for r in rows if r["split"] == "train"][::-1]  # not manifest order
    ft = [{"id": r["sample_id"], "image": [r["image"], r["image"]],
           "conversations": [{"from": "human", "value": "<image>\n<image>\nStage?"}, {"from": "gpt", "value": r["stage"]}]}
          for r in train]
    (data / "eeg_ft.json").write_text(json.dumps(ft))
    test = [r for r in rows if r["split"] == "test"]
    lines = [{"question_id": r["sample_id"], "sample_id": r["sample_id"], "image": [r["image"], r["image"]],
              "text": "Stage?", "stage": r["stage"]} for r in test]
    (data / "eeg_eval.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return data, small_manifest.parent


def test_features_shape_order_sidecar_and_default_names(tiny_checkpoint, llava_files):
    data, images = llava_files
    out = extract_features(tiny_checkpoint, data / "eeg_ft.json", image_folder=images, batch_size=8, device="cpu")
    assert out == data / "train_high_level_features.npy"
    arr = np.load(out, allow_pickle=False)
    ft = json.loads((data / "eeg_ft.json").read_text())
    assert arr.dtype == np.float32 and arr.shape == (len(ft), 1, 1024)
    side = json.loads((data / "train_high_level_features.ids.json").read_text())
    assert side == {"count": len(ft), "sample_ids": [e["id"] for e in ft]}
    assert not list(data.glob("*.partial.npy")) and not list(data.glob("*.progress.json"))
    # row i is the feature of entry i's image
    model, cfg, _ = load_model(tiny_checkpoint)
    ds = ImageDataset(read_data_file(data / "eeg_ft.json", image_folder=images), ImageTransform.from_config(cfg))
    with torch.inference_mode():
        ref = model.forward_features(torch.stack([ds[i][0] for i in (0, 7)])).numpy()
    np.testing.assert_allclose(arr[[0, 7], 0], ref, rtol=1e-4, atol=1e-5)
    assert check_alignment(out, data / "eeg_ft.json") == len(ft)

    eval_out = extract_features(tiny_checkpoint, data / "eeg_eval.jsonl", image_folder=images, batch_size=8, device="cpu")
    assert eval_out == data / "eval_high_level_features.npy"
    assert np.load(eval_out).shape == (10, 1, 1024)


def test_same_seed_same_features(small_manifest, llava_files, tmp_path):
    data, images = llava_files
    feats = []
    for name, seed in (("a", "0"), ("b", "0"), ("c", "5")):
        assert train_main(tiny_train_args(small_manifest, tmp_path / name, "--epochs", "1", "--seed", seed)) == 0
        out = extract_features(tmp_path / name, data / "eeg_eval.jsonl", out=tmp_path / f"{name}.npy",
                               image_folder=images, device="cpu")
        feats.append(np.load(out))
    assert np.array_equal(feats[0], feats[1])
    assert not np.allclose(feats[0], feats[2])


def test_interrupted_extraction_resumes_to_the_identical_file(tiny_checkpoint, llava_files, tmp_path):
    data, images = llava_files
    full = extract_features(tiny_checkpoint, data / "eeg_ft.json", out=tmp_path / "full.npy", image_folder=images,
                            batch_size=3, device="cpu")
    out = tmp_path / "resumed" / "feats.npy"
    partial = extract_features(tiny_checkpoint, data / "eeg_ft.json", out=out, image_folder=images,
                               batch_size=3, device="cpu", max_batches=2)
    assert partial.name == "feats.partial.npy" and not out.exists()
    progress = json.loads((out.parent / "feats.progress.json").read_text())
    assert progress["done"] == 6 and progress["count"] == 20
    # the rerun keeps the batch size the file was started with
    assert extract_features(tiny_checkpoint, data / "eeg_ft.json", out=out, image_folder=images,
                            batch_size=16, device="cpu") == out
    assert out.read_bytes() == full.read_bytes()
    assert json.loads((out.parent / "feats.ids.json").read_text())["sample_ids"] == \
        json.loads((tmp_path / "full.ids.json").read_text())["sample_ids"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["feats.ids.json", "feats.npy"]


def test_alignment_errors_count_and_ids(tiny_checkpoint, llava_files, caplog):
    data, images = llava_files
    out = extract_features(tiny_checkpoint, data / "eeg_eval.jsonl", image_folder=images, device="cpu")
    lines = (data / "eeg_eval.jsonl").read_text().splitlines()
    (data / "fewer.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ValueError, match=r"features file .*eval_high_level_features.npy': 10 rows, but data file .*fewer.jsonl' has 9 samples"):
        check_alignment(out, data / "fewer.jsonl")
    swapped = lines[:]
    swapped[3], swapped[4] = swapped[4], swapped[3]
    (data / "swapped.jsonl").write_text("\n".join(swapped) + "\n")
    sid3 = json.loads(lines[3])["sample_id"]
    sid4 = json.loads(lines[4])["sample_id"]
    with pytest.raises(ValueError, match=rf"row 3 belongs to sample '{sid3}', but data file .*swapped.jsonl' has '{sid4}'"):
        check_alignment(out, data / "swapped.jsonl")
    # without a sidecar only the count can be checked, and that is said
    bare = data / "bare.npy"
    shutil.copy(out, bare)
    with caplog.at_level(logging.WARNING):
        assert check_alignment(bare, data / "swapped.jsonl") == 10
    assert "no sidecar" in caplog.text


def test_cli_extract_and_verify(tiny_checkpoint, llava_files, capsys):
    data, images = llava_files
    argv = ["--checkpoint", str(tiny_checkpoint / "best"), "--data", str(data / "eeg_eval.jsonl"),
            "--image-folder", str(images), "--device", "cpu", "--workers", "0", "--progress", "off", "--verify"]
    assert main(argv) == 0
    assert "10 rows aligned" in capsys.readouterr().out
    lines = (data / "eeg_eval.jsonl").read_text().splitlines()
    (data / "short.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    assert main(["--data", str(data / "short.jsonl"), "--out", str(data / "eval_high_level_features.npy"), "--verify"]) == 1
    assert "10 rows, but data file" in capsys.readouterr().err


def test_manifest_split_and_escaping_paths(tiny_checkpoint, small_manifest, llava_files, tmp_path):
    out = extract_features(tiny_checkpoint, small_manifest, out=tmp_path / "val.npy", split="val", device="cpu")
    assert np.load(out).shape == (10, 1, 1024)
    assert check_alignment(out, small_manifest, split="val") == 10
    data, images = llava_files
    (data / "evil.jsonl").write_text(json.dumps({"question_id": "x", "text": "?", "image": ["../../../etc/hostname"]}) + "\n")
    with pytest.raises(ValueError, match=r"data file .*evil.jsonl', line 1: image path '../../../etc/hostname' has a '\.\.' component"):
        extract_features(tiny_checkpoint, data / "evil.jsonl", image_folder=images, device="cpu")


def test_llava_feature_store_reads_what_extraction_writes(tiny_checkpoint, llava_files):
    from llava.eeg_features import FeatureStore, default_features_path

    data, images = llava_files
    out = extract_features(tiny_checkpoint, data / "eeg_ft.json", image_folder=images, device="cpu")
    assert out == default_features_path(data / "eeg_ft.json", "train")
    ids = [e["id"] for e in json.loads((data / "eeg_ft.json").read_text())]
    store = FeatureStore(out, sample_ids=ids, data_file=str(data / "eeg_ft.json"))
    assert len(store) == len(ids) and store.dim == 1024
    np.testing.assert_array_equal(store[3], np.load(out)[3])
    with pytest.raises(ValueError, match="row 0 belongs to sample"):
        FeatureStore(out, sample_ids=ids[::-1])
