"""``eeg-vlm stage --llava``: vision features -> LLaVA label scoring -> the night's probabilities."""

from __future__ import annotations

import json

import numpy as np


def test_stage_with_llava_label_scoring(tiny_base, tmp_path, capsys):
    import torch

    from eeg_vlm.hypnogram.files import read_hypnogram_csv
    from eeg_vlm.apps.staging import main
    from eeg_vlm.stages import STAGES
    from eeg_vlm.dataset.synthetic import synth_night, write_night_edf
    from feature_extractor.checkpoint import save_model
    from feature_extractor.config import ModelConfig
    from llava.eeg_features import FeatureStore

    signals, _ = synth_night(n_epochs=30, seed=5)
    psg = tmp_path / "night-PSG.edf"
    write_night_edf(psg, tmp_path / "night-Hypnogram.edf", signals, ["W"] * 30)
    torch.manual_seed(0)
    mconf = ModelConfig(model="resnet18", model_kwargs={"widths": [8, 16, 32, 64], "layers": [1, 1, 1, 1]},
                        image_size=32, feature_dim=1024)
    save_model(tmp_path / "vision", mconf.build(), mconf)

    out = tmp_path / "out"
    rc = main([str(psg), "--vision-model", str(tmp_path / "vision"), "--llava", str(tiny_base), "--out", str(out),
               "--size", "32", "--start", "300", "--duration", "150", "--batch-size", "5", "--device", "cpu"])
    assert rc == 0, capsys.readouterr().err
    hyp = read_hypnogram_csv(out / "hypnogram.csv")
    assert len(hyp) == 5
    np.testing.assert_allclose(hyp.onset_s, 300 + 30.0 * np.arange(5))
    np.testing.assert_allclose(hyp.probs.sum(axis=1), 1.0, atol=1e-5)
    # the probabilities are label scoring's, from model_vqa's answers, in epoch order
    answers = [json.loads(line) for line in (out / "llava" / "answers.jsonl").read_text().splitlines()]
    assert [a["question_id"] for a in answers] == [f"night-PSG/{k:06d}" for k in range(5)]
    scored = np.array([[a["metadata"]["probs"][s] for s in STAGES] for a in answers])
    np.testing.assert_allclose(hyp.probs, scored, atol=1e-5)
    assert hyp.stages == [a["metadata"]["pred"] for a in answers]
    # the feature slot got the vision module's features of these very epochs
    store = FeatureStore(out / "llava" / "eval_high_level_features.npy", [a["question_id"] for a in answers])
    assert store[0].shape == (1, 1024)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"]["llava"] == str(tiny_base) and summary["n_epochs"] == 5
