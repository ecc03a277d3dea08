"""``eeg-vlm stage``: sleep statistics, image settings, and a whole synthetic night end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from eeg_vlm.apps.staging import main, render_settings, truth_for_epochs
from eeg_vlm.hypnogram.statistics import format_statistics, sleep_statistics

TINY_RESNET = {"widths": [8, 16, 32, 64], "layers": [1, 1, 1, 1]}


# ----------------------------------------------------------------------------- statistics
def test_sleep_statistics_by_hand():
    #        0    1    2     3     4     5    6     7     8      9      10   11
    night = ["W", "W", "N1", "N2", "N2", "W", "N2", "N3", "REM", "REM", "W", "W"]
    s = sleep_statistics(night, epoch_length=30.0)
    assert s.time_in_bed == 6.0  # 12 epochs of half a minute
    assert s.total_sleep_time == 3.5  # epochs 2-4 and 6-9
    assert s.sleep_efficiency == pytest.approx(100 * 3.5 / 6.0)
    assert s.sleep_onset_latency == 1.0  # two wake epochs before the first N1
    assert s.waso == 0.5  # epoch 5; the wake at the end is after the last sleep epoch
    assert s.rem_latency == 3.0  # epoch 8 is six epochs after sleep onset
    assert s.stage_minutes == {"W": 2.5, "N1": 0.5, "N2": 1.5, "N3": 0.5, "REM": 1.0}
    assert s.stage_percent["N2"] == pytest.approx(100 * 1.5 / 3.5)
    assert sum(s.stage_percent.values()) == pytest.approx(100.0)


def test_stray_rem_at_lights_off_sets_aasm_onset_but_not_persistent_sleep():
    # one stray REM epoch at lights off, 20 min of wake, then N1 -> N2 for an hour, REM after
    night = ["REM"] + ["W"] * 40 + ["N1"] * 4 + ["N2"] * 116 + ["REM"] * 20 + ["W"] * 4
    s = sleep_statistics(night)
    assert s.sleep_onset_latency == 0.0 and s.rem_latency == 0.0  # AASM: the stray epoch is sleep onset
    assert s.persistent_sleep_latency == 20.5  # epoch 41 begins the first 10 min of unbroken sleep
    assert s.rem_latency_persistent == 60.0  # 120 epochs of N1/N2 before the REM period
    # a break before 10 minutes restarts the count; no 10-minute run -> None
    assert sleep_statistics(["N2"] * 19 + ["W"] + ["N2"] * 20).persistent_sleep_latency == 10.0
    assert sleep_statistics(["N2"] * 19 + ["W"]).persistent_sleep_latency is None
    text = format_statistics(s, expert=sleep_statistics(["W"] * 41 + night[41:]))
    header, *rows = text.splitlines()
    assert header.split() == ["model", "expert"]
    aasm = next(r for r in rows if r.startswith("sleep latency (AASM"))
    assert aasm.split()[-4:] == ["0.0", "min", "20.5", "min"]


def test_sleep_statistics_without_sleep_or_rem_and_with_unscored():
    awake = sleep_statistics(["W"] * 4)
    assert awake.total_sleep_time == 0 and awake.sleep_efficiency == 0
    assert awake.sleep_onset_latency is None and awake.rem_latency is None and awake.waso == 0
    assert math.isnan(awake.stage_percent["N2"])
    s = sleep_statistics([None, "N2", None, "N2", "N3"], epoch_length=20.0)
    assert s.time_in_bed == pytest.approx(5 / 3)  # unscored epochs are time in bed
    assert s.sleep_onset_latency == pytest.approx(1 / 3)
    assert s.waso == pytest.approx(1 / 3)  # the unscored epoch inside the sleep period
    assert s.rem_latency is None
    with pytest.raises(ValueError, match="stage 'S2' is not one of"):
        sleep_statistics(["W", "S2"])


# ----------------------------------------------------------------------------- settings
def test_render_settings_recorded_flags_and_clash(tmp_path):
    recorded = {"channels": ["Fpz-Cz", "Pz-Oz"], "style": "psg-llava", "sfreq": 128.0, "size": 64, "line_width": 2}
    meta = {"model": "resnet18", "image_settings": recorded}
    s = render_settings(meta, tmp_path / "vision")
    assert (s.channels, s.style, s.sfreq, s.size, s.line_width) == (("Fpz-Cz", "Pz-Oz"), "psg-llava", 128.0, 64, 2)
    assert s.source == str(tmp_path / "vision" / "config.json")
    assert render_settings(meta, tmp_path, size=64, style="psg-llava").size == 64  # agreeing flags are fine
    with pytest.raises(ValueError, match="--channels Fpz-Cz \\(trained on Fpz-Cz Pz-Oz\\)"):
        render_settings(meta, tmp_path, channels=["Fpz-Cz"])
    with pytest.raises(ValueError, match=r"--sfreq 100 \(trained on 128\); --size 336 \(trained on 64\)"):
        render_settings(meta, tmp_path / "vision", size=336, sfreq=100)
    plain = render_settings({"model": "resnet18"}, tmp_path, size=48)
    assert (plain.channels, plain.style, plain.sfreq, plain.size, plain.source) == (
        ("Fpz-Cz",), "eeg-vlm", 100.0, 48, "flags")
    old = {"model": "resnet18", "train_args": {"manifest": "conv/manifest.csv"}}  # settings not recorded
    with pytest.raises(ValueError, match=r"records no image settings .* pass the settings .*--channels, --style"):
        render_settings(old, tmp_path)


def test_training_copies_the_image_settings_into_the_checkpoint(tmp_path):
    from feature_extractor.train import image_settings

    (tmp_path / "convert.json").write_text(json.dumps(
        {"channels": ["C3"], "style": "eeg-vlm", "sfreq": 100.0, "size": 64, "line_width": 1, "scaling": "minmax",
         "uv_range": None, "records": {"x": {}}}))
    recorded = image_settings(tmp_path / "manifest.csv")
    assert recorded == {"channels": ["C3"], "style": "eeg-vlm", "sfreq": 100.0, "size": 64, "line_width": 1,
                        "scaling": "minmax", "uv_range": None}
    s = render_settings({"model": "resnet18", "image_settings": recorded}, tmp_path)
    assert (s.channels, s.size) == (("C3",), 64)
    assert image_settings(tmp_path / "elsewhere" / "manifest.csv") is None


# ----------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def night(tmp_path_factory) -> dict[str, Path]:
    """A 1-hour synthetic Sleep-EDF night, its 32-px conversion and a random-init vision model."""
    import torch

    from eeg_vlm.imaging.convert import convert
    from eeg_vlm.dataset.synthetic import write_synthetic_dataset
    from feature_extractor.checkpoint import save_model
    from feature_extractor.config import ModelConfig
    from feature_extractor.train import image_settings

    root = tmp_path_factory.mktemp("stage")
    psg, hyp = write_synthetic_dataset(root / "raw", n_subjects=1, hours=1.0, seed=3)
    res = convert(root / "raw", root / "conv", size=32, trim_wake_min=None)
    torch.manual_seed(0)
    mconf = ModelConfig(model="resnet18", model_kwargs=TINY_RESNET, image_size=32)
    model = mconf.build()
    save_model(root / "vision" / "best", model, mconf, extra={"train_args": {"manifest": str(res.manifest)},
                                                               "image_settings": image_settings(res.manifest)})
    save_model(root / "bare", model, mconf)  # the same weights, no record of the training images
    return {"root": root, "psg": psg, "hyp": hyp, "vision": root / "vision", "conv": root / "conv",
            "bare": root / "bare"}


def test_stage_whole_night(night, tmp_path, capsys):
    import torch

    from eeg_vlm.signals.epochs import label_epochs
    from eeg_vlm.hypnogram.files import read_hypnogram_csv
    from eeg_vlm.io import read_edf, read_edf_scoring

    out = tmp_path / "out"
    rc = main([str(night["psg"]), "--vision-model", str(night["vision"]), "--out", str(out),
               "--hypnogram", str(night["hyp"]), "--batch-size", "64", "--device", "cpu"])
    printed = capsys.readouterr().out
    assert rc == 0
    for name in ("hypnogram.csv", "hypnogram.edf", "hypnogram.png", "hypnodensity.png", "summary.json"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    duration = read_edf(night["psg"], channels=["Fpz-Cz"]).channel("Fpz-Cz").duration
    hyp = read_hypnogram_csv(out / "hypnogram.csv")
    assert len(hyp) == int(duration // 30) == 120
    np.testing.assert_array_equal(hyp.epoch, np.arange(120))
    np.testing.assert_allclose(hyp.onset_s, 30.0 * np.arange(120))
    np.testing.assert_allclose(hyp.probs.sum(axis=1), 1.0, atol=1e-5)
    assert hyp.stages == [["W", "N1", "N2", "N3", "REM"][i] for i in hyp.probs.argmax(axis=1)]
    assert len(list((out / "images" / "SC4001E0-PSG").glob("*.png"))) == 120
    # the images are the convert pipeline's (same renderer, settings read from convert.json)
    converted = night["conv"] / "images/SC4001E0/000010.png"
    assert (out / "images/SC4001E0-PSG/000010.png").read_bytes() == converted.read_bytes()
    # the probabilities are the vision module's on the convert pipeline's images of the same epochs
    from feature_extractor.checkpoint import load_model
    from feature_extractor.images import ImageDataset, ImageTransform
    from feature_extractor.predict import predict
    from feature_extractor.samples import read_manifest

    model, mconf, _ = load_model(night["vision"])
    samples = read_manifest(night["conv"] / "manifest.csv")
    direct = predict(model, ImageDataset(samples, ImageTransform.from_config(mconf)), 64, torch.device("cpu"))
    rows = [int(s.sample_id.rsplit("/", 1)[1]) for s in samples]
    np.testing.assert_allclose(hyp.probs[rows], direct, atol=2e-6)
    # the EDF+ hypnogram reads back as the same epochs
    back = label_epochs(read_edf_scoring(out / "hypnogram.edf"))
    assert back.stages == hyp.stages
    # scores against the expert hypnogram, computed here from the files
    truth = label_epochs(read_edf_scoring(night["hyp"]))
    expert = dict(zip(truth.onset_s.round(3), truth.stages))
    pairs = [(expert.get(round(t, 3)), p) for t, p in zip(hyp.onset_s, hyp.stages)]
    pairs = [(t, p) for t, p in pairs if t is not None]
    text = (out / "summary.json").read_text()
    summary = json.loads(text, parse_constant=lambda c: pytest.fail(f"summary.json holds {c}: not strict JSON"))
    assert summary["scores"]["n"] == len(pairs) > 100
    assert summary["scores"]["accuracy"] == pytest.approx(np.mean([t == p for t, p in pairs]))
    assert summary["image_settings"]["size"] == 32
    assert summary["statistics"]["time_in_bed"] == 60.0
    assert "sleep efficiency" in printed and "kappa" in printed and "WASO" in printed
    # the expert's statistics beside the model's, computed from the expert's stages
    want = sleep_statistics([expert.get(round(t, 3)) for t in hyp.onset_s]).as_dict()
    assert summary["expert_statistics"]["total_sleep_time"] == pytest.approx(want["total_sleep_time"])
    assert summary["expert_statistics"]["rem_latency"] == want["rem_latency"]
    assert next(line for line in printed.splitlines() if line.split()[-2:] == ["model", "expert"])


def test_stage_start_duration_and_flags_clash(night, tmp_path, capsys):
    from eeg_vlm.hypnogram.files import read_hypnogram_csv

    out = tmp_path / "part"
    assert main([str(night["psg"]), "--vision-model", str(night["vision"]), "--out", str(out),
                 "--start", "600", "--duration", "300", "--device", "cpu"]) == 0
    hyp = read_hypnogram_csv(out / "hypnogram.csv")
    assert len(hyp) == 10
    np.testing.assert_allclose(hyp.onset_s, 600 + 30.0 * np.arange(10))
    capsys.readouterr()
    assert main([str(night["psg"]), "--vision-model", str(night["vision"]), "--out", str(tmp_path / "x"),
                 "--size", "64"]) == 1
    assert "--size 64 (trained on 32)" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_truth_for_epochs_off_grid(night):
    from eeg_vlm.signals.epochs import label_epochs
    from eeg_vlm.io import read_edf_scoring

    grid = label_epochs(read_edf_scoring(night["hyp"]))
    # epochs starting 10 s into a scored epoch take the stage of the epoch holding their midpoint
    got = truth_for_epochs(night["hyp"], np.array([10.0, 310.0, 1e6]))
    assert got == [grid.stages[0], grid.stages[10], None]


def test_missing_channel_and_bad_edf_name_the_file(night, tmp_path, capsys):
    bare = night["bare"]  # no recorded settings: flags decide
    rc = main([str(night["psg"]), "--vision-model", str(bare), "--out", str(tmp_path / "o2"), "--channels", "C4-A1",
               "--size", "32"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "SC4001E0-PSG.edf" in err and "'C4-A1' not found" in err
    assert not (tmp_path / "o2" / "hypnogram.csv").exists()
    broken = tmp_path / "broken.edf"
    broken.write_bytes(b"0       this is not an EDF header" + b" " * 300)
    rc = main([str(broken), "--vision-model", str(bare), "--out", str(tmp_path / "o3"), "--size", "32"])
    err = capsys.readouterr().err
    assert rc == 1 and "broken.edf" in err
    assert not (tmp_path / "o3" / "hypnogram.csv").exists()
    rc = main([str(tmp_path / "nope.edf"), "--vision-model", str(bare), "--out", str(tmp_path / "o4")])
    assert rc == 1 and "nope.edf" in capsys.readouterr().err


def test_real_sleep_edf_excerpt(night, shared_data, tmp_path, capsys):
    """The first 300 s of the real SC4001E0 PSG with its real hypnogram (all wake there)."""
    from eeg_vlm.hypnogram.files import read_hypnogram_csv

    psg = shared_data / "sleep-edf" / "short_psg.edf"
    expert = shared_data / "sleep-edf" / "SC4001EC-Hypnogram.edf"
    out = tmp_path / "real"
    assert main([str(psg), "--vision-model", str(night["bare"]), "--out", str(out), "--size", "32",
                 "--channels", "Fpz-Cz", "--hypnogram", str(expert), "--device", "cpu"]) == 0
    assert len(read_hypnogram_csv(out / "hypnogram.csv")) == 10
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scores"]["n"] == 10
    confusion = summary["scores"]["confusion"]  # rows: the expert's stages; W for every epoch here
    assert sum(confusion[0]) == 10 and all(sum(row) == 0 for row in confusion[1:])
    assert summary["scores"]["accuracy"] == pytest.approx(confusion[0][0] / 10)


def test_stage_context_hmm_is_viterbi_of_the_plain_probabilities(night, tmp_path):
    from eeg_vlm.context.hmm import night_context
    from eeg_vlm.hypnogram.files import read_hypnogram_csv

    args = [str(night["psg"]), "--vision-model", str(night["vision"]), "--device", "cpu", "--duration", "1800"]
    assert main(args + ["--out", str(tmp_path / "plain")]) == 0
    assert main(args + ["--out", str(tmp_path / "hmm"), "--context", "hmm"]) == 0
    plain = read_hypnogram_csv(tmp_path / "plain" / "hypnogram.csv")
    hmm = read_hypnogram_csv(tmp_path / "hmm" / "hypnogram.csv")
    path, post, source = night_context(plain.probs, "hmm")
    assert hmm.stages == [["W", "N1", "N2", "N3", "REM"][i] for i in path]
    np.testing.assert_allclose(hmm.probs, post, atol=1e-5)
    summary = json.loads((tmp_path / "hmm" / "summary.json").read_text())
    assert summary["context"] == {"mode": "hmm", "transitions": source, "neighbour_head": None,
                                  "classifier_prior": None}  # the fixture's manifest has no train split
    assert json.loads((tmp_path / "plain" / "summary.json").read_text())["context"]["mode"] == "none"
    assert main(args + ["--out", str(tmp_path / "bad"), "--context", "hmm", "--transitions",
                        str(tmp_path / "nope.json")]) == 1


def test_stage_reads_a_dreams_excerpt_with_input_channels(night, shared_data, tmp_path):
    """A real DREAMS text excerpt (C3-A1 at 100 Hz) staged by a model trained on Fpz-Cz images."""
    from eeg_vlm.hypnogram.files import read_hypnogram_csv

    txt = shared_data / "dreams" / "excerpt1.txt"
    out = tmp_path / "dreams"
    args = [str(txt), "--vision-model", str(night["vision"]), "--out", str(out), "--device", "cpu"]
    assert main(args + ["--input-channels", "C3-A1", "--duration", "300"]) == 0
    assert len(read_hypnogram_csv(out / "hypnogram.csv")) == 10
    assert main(args + ["--input-channels", "C3-A1", "Fpz-Cz"]) == 1
    assert main(args) == 1  # the excerpt holds no Fpz-Cz: named in the error


def test_stage_context_neighbours_uses_the_head(night, tmp_path):
    from eeg_vlm.context.neighbours import fit_neighbour_head
    from eeg_vlm.hypnogram.files import read_hypnogram_csv

    args = [str(night["psg"]), "--vision-model", str(night["vision"]), "--device", "cpu", "--duration", "900"]
    assert main(args + ["--out", str(tmp_path / "plain")]) == 0
    plain = read_hypnogram_csv(tmp_path / "plain" / "hypnogram.csv")
    ids = [f"SC4001E0-PSG/{e:06d}" for e in plain.epoch]
    rng = np.random.default_rng(0)
    head = fit_neighbour_head(rng.dirichlet(np.ones(5), 60), [f"X/{i:06d}" for i in range(60)],
                              list(rng.choice(["W", "N1", "N2", "N3", "REM"], 60)), k=1)
    (tmp_path / "head.json").write_text(head.to_json())
    assert main(args + ["--out", str(tmp_path / "n"), "--context", "neighbours"]) == 1  # the head is required
    assert main(args + ["--out", str(tmp_path / "n"), "--context", "neighbours",
                        "--neighbour-head", str(tmp_path / "head.json")]) == 0
    got = read_hypnogram_csv(tmp_path / "n" / "hypnogram.csv")
    np.testing.assert_allclose(got.probs, head.predict_proba(plain.probs, ids), atol=1e-5)
    summary = json.loads((tmp_path / "n" / "summary.json").read_text())
    assert summary["context"]["mode"] == "neighbours" and summary["context"]["neighbour_head"].endswith("head.json")


@pytest.mark.slow
def test_stage_context_hmm_at_least_as_accurate_on_a_synthetic_night(tmp_path):
    """A small vision module trained on three calibrated synthetic subjects stages a fourth one's night."""
    from eeg_vlm.dataset.manifest import read_manifest, write_manifest
    from eeg_vlm.dataset.synthetic import write_synthetic_dataset
    from eeg_vlm.imaging.convert import convert
    from feature_extractor.train import TrainConfig, train

    files = write_synthetic_dataset(tmp_path / "raw", n_subjects=4, hours=1.0, seed=11,
                                    generator="calibrated")
    res = convert(tmp_path / "raw", tmp_path / "conv", size=32, trim_wake_min=None, signals=False)
    rows = read_manifest(res.manifest)
    import dataclasses

    held = sorted({r.subject for r in rows})[-1]
    write_manifest(res.manifest, [dataclasses.replace(r, split="test" if r.subject == held else "train")
                                  for r in rows])
    train(TrainConfig(out=str(tmp_path / "vision"), manifest=str(res.manifest), model="resnet18",
                      model_kwargs=TINY_RESNET, image_size=32, epochs=8, batch_size=32, lr=3e-3, workers=0,
                      device="cpu", progress="off", predict_splits=[], val_split="none", seed=0))
    psg, hyp = files[-2], files[-1]
    scores = {}
    for context in ("none", "hmm"):
        out = tmp_path / f"stage_{context}"
        assert main([str(psg), "--vision-model", str(tmp_path / "vision"), "--out", str(out), "--device", "cpu",
                     "--hypnogram", str(hyp), "--context", context]) == 0
        summary = json.loads((out / "summary.json").read_text())
        scores[context] = summary["scores"]["accuracy"]
    # the module was trained without class weights: the HMM divides its training prior out
    assert len(summary["context"]["classifier_prior"]) == 5
    assert scores["none"] > 0.4  # the module learned something
    assert scores["hmm"] >= scores["none"]
