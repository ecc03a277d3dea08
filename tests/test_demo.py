"""The README's main command, small: every step of `eeg-vlm demo` runs and leaves its files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from eeg_vlm.apps.demo import demo_commands

ROOT = Path(__file__).resolve().parents[1]


def test_dry_run_lists_the_seed_commands(tmp_path):
    steps = demo_commands(tmp_path, subjects=6, hours=2.0, seed=0, fast=False)
    joined = [" ".join(cmd) for _, cmd in steps]
    train = next(c for c in joined if "llava/train/train_mem.py" in c)
    for flag in ("--lora_enable True", "--version v1", "--image_aspect_ratio pad", "--evaluation_strategy no",
                 "--group_by_modality_length True", "--mm_projector_type mlp2x_gelu"):
        assert flag in train
    assert any("llava/eval/model_vqa.py" in c and "--model-base" in c for c in joined)
    assert any(" stage " in c for c in joined)


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    out = tmp_path / "demo_out"
    result = subprocess.run([sys.executable, "-m", "eeg_vlm", "demo", "--out", str(out), "--subjects", "5",
                             "--hours", "1", "--fast"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "whole pipeline in" in result.stdout
    data = out / "sleep_data"
    questions = (data / "eeg_eval.jsonl").read_text().splitlines()
    answers = [json.loads(line) for line in (data / "answers" / "eeg_answers.jsonl").read_text().splitlines()]
    assert len(answers) == len(questions) > 0
    assert all(abs(sum(a["metadata"]["probs"].values()) - 1) < 1e-4 for a in answers)
    assert (data / "train_high_level_features.npy").is_file() and (data / "eval_high_level_features.ids.json").is_file()
    assert (out / "checkpoints" / "eeg-vlm-lora" / "adapter_config.json").is_file()
    report = (out / "report" / "report.md").read_text()
    assert "eeg-vlm (tiny LLaVA)" in report and "resnet18_1024 (vision module)" in report
    assert (out / "sample_images.png").is_file()
    assert "Sleep stage:" in (out / "sleep_data_cot" / "eeg_ft.json").read_text()
    for name in ("hypnogram.csv", "hypnogram.edf", "hypnogram.png", "hypnodensity.png"):
        assert (out / "night" / name).is_file(), name
