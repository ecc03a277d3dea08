"""Signal data and training: manifest rows and their epochs, nights in order, outputs the report scores."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from signal_models.data import load_split, night_windows, resample
from signal_models.train import SignalTrainConfig, load_signal_model, predict_probs, train_signal_model


def test_rows_come_with_their_own_epochs_in_manifest_order(small_signals):
    rows = [r for r in csv.DictReader(open(small_signals)) if r["split"] == "test"]
    data = load_split(small_signals, "test")
    assert data.sample_ids == [r["sample_id"] for r in rows] and data.channels == ["Fpz-Cz", "Pz-Oz"]
    assert data.x.shape == (len(rows), 2, 3000)
    rid = rows[5]["sample_id"].split("/")[0]
    full = np.load(small_signals.parent / "signals" / f"{rid}.npy")
    k = [r["sample_id"] for r in csv.DictReader(open(small_signals)) if r["sample_id"].startswith(rid)].index(rows[5]["sample_id"])
    assert np.array_equal(data.x[5], full[k])
    # a subset manifest in the same folder finds the same epochs
    subset = small_signals.parent / "subset.csv"
    with open(subset, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows[5::7])
    part = load_split(subset, "test", ["Pz-Oz"])
    assert np.array_equal(part.x[0], data.x[5, 1:2]) and len(part) == len(rows[5::7])


def test_a_missing_channel_is_named_with_the_present_ones(small_signals):
    with pytest.raises(ValueError, match=r"channel 'Fpz-Oz' not found; present: 'Fpz-Cz', 'Pz-Oz' \(did you mean"):
        load_split(small_signals, "train", ["Fpz-Oz"])


def test_resampling_keeps_a_tone_and_doubles_the_samples():
    t = np.arange(3000) / 100.0
    x = np.sin(2 * np.pi * 7.0 * t)[None, None].astype(np.float32)
    y = resample(x, 100.0, 200.0)
    assert y.shape == (1, 1, 6000)
    assert np.allclose(y[0, 0, ::2], x[0, 0], atol=1e-4)


def test_night_windows_stay_inside_a_night_and_in_order(small_signals):
    data = load_split(small_signals, "train")
    windows = night_windows(data, 20)
    assert sum(len(w) for w in windows) == len(data)
    for w in windows:
        assert len({data.records[i] for i in w}) == 1
        assert list(data.epochs[w]) == sorted(data.epochs[w])
    assert len(night_windows(data, None)) == len(set(data.records))


@pytest.mark.parametrize("name", ["tinysleepnet", "cbramod"])
def test_training_writes_predictions_the_report_scores_and_a_model_that_reloads(small_signals, tmp_path, name):
    from eeg_vlm.evaluation.report import main as report_main

    out = tmp_path / name
    cfg = SignalTrainConfig(out=str(out), manifest=str(small_signals), model=name, tiny=True, epochs=1,
                            batch_size=8, lr=1e-3)
    assert cfg.weight_decay == {"tinysleepnet": 1e-3, "cbramod": 5e-2}[name]  # Table 3 fills what is not given
    summary = train_signal_model(cfg)
    assert summary["tiny"] is True and summary["preset"] == name and summary["test"]["n"] > 0
    rows = list(csv.DictReader(open(out / "predictions_test.csv")))
    assert list(rows[0])[:3] == ["sample_id", "stage", "pred"] and "prob_REM" in rows[0]
    model, conf = load_signal_model(out)
    assert conf["channels"] == (["Fpz-Cz"] if name == "tinysleepnet" else ["Fpz-Cz", "Pz-Oz"])  # single-channel model
    test = load_split(small_signals, "test", conf["channels"])
    assert [r["sample_id"] for r in rows] == test.sample_ids
    from signal_models.registry import scale_epochs

    test.x = scale_epochs(resample(test.x, 100.0, conf["sfreq"]), conf["units"])
    probs = predict_probs(model, test, torch.device("cpu"))
    assert np.allclose(probs, [[float(r[f"prob_{s}"]) for s in ("W", "N1", "N2", "N3", "REM")] for r in rows], atol=1e-5)
    assert report_main(["--predictions", str(out / "predictions_test.csv"), "--out", str(tmp_path / "report"),
                        "--no-plots", "--n-boot", "10"]) == 0


def test_options_are_checked_together():
    with pytest.raises(ValueError, match=r"signal model 'tinysleepnt': not registered \(did you mean 'tinysleepnet'\?\)"):
        SignalTrainConfig(out="x", manifest="m.csv", model="tinysleepnt")
    with pytest.raises(ValueError, match="--init-weights: sleepwavenet has no released checkpoint"):
        SignalTrainConfig(out="x", manifest="m.csv", model="sleepwavenet", init_weights="w.pth")


def test_a_sample_id_cannot_point_the_signals_outside_their_folder(small_signals, tmp_path):
    folder = tmp_path / "conv"
    folder.mkdir()
    (folder / "convert.json").write_text((small_signals.parent / "convert.json").read_text())
    rows = list(csv.DictReader(open(small_signals)))
    rows[0]["sample_id"] = "../../elsewhere/000000"
    with open(folder / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(ValueError, match=r"line 2: sample_id '\.\./\.\./elsewhere/000000' does not start with a plain record id"):
        load_split(folder / "manifest.csv", rows[0]["split"])


@pytest.mark.parametrize("name", ["multisleepnet", "sleepwavenet", "labram"])
def test_save_and_load_round_trip(tmp_path, name):
    from signal_models.registry import get_spec
    from signal_models.train import _save

    spec = get_spec(name)
    channels, samples = ["Fpz-Cz", "Pz-Oz"], int(30 * spec.sfreq)
    model = spec.build(channels, spec.sfreq, samples, **spec.tiny).eval()
    conf = {"model": name, "model_kwargs": spec.tiny, "channels": channels, "sfreq": spec.sfreq,
            "epoch_samples": samples, "units": spec.units}
    _save(tmp_path / "best", model, conf)
    again, conf2 = load_signal_model(tmp_path)
    x = torch.randn(2, 2, samples)
    with torch.no_grad():
        assert torch.allclose(model(x), again(x), atol=1e-5)
    assert conf2["model"] == name
