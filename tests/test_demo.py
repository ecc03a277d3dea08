"""The README's main command, small: every step of `eeg-vlm demo` runs and leaves its files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from eeg_vlm.apps.demo import demo_commands, main, held_out_night

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


def test_dry_run_prints_commands_a_user_can_paste(capsys, tmp_path):
    assert main(["--dry-run", "--out", str(tmp_path / "d"), "--subjects", "6"]) == 0
    shown_lines = [line[2:] for line in capsys.readouterr().out.splitlines() if line.startswith("$ ")]
    assert len(shown_lines) == 13
    assert all(line.split()[0] in ("eeg-vlm", "python") for line in shown_lines), shown_lines
    unresolved = [line for line in shown_lines if re.search(r"\{[a-z_]+\}", line.replace("{label}", ""))]
    assert not unresolved and not any(sys.executable in line for line in shown_lines), unresolved
    assert "python llava/train/train_mem.py " in "\n".join(shown_lines)
    stage = next(line for line in shown_lines if line.startswith("eeg-vlm stage "))
    night = held_out_night(6, 0)
    assert f"{night}E0-PSG.edf" in stage and f"{night}EC-Hypnogram.edf" in stage


def test_test_night_is_the_first_test_subject_of_the_split():
    from eeg_vlm.dataset.splits import holdout_split

    for subjects, seed in ((5, 0), (6, 0), (10, 3)):
        split = holdout_split([f"sleep-edf/SC4{s:02d}" for s in range(subjects)], seed=seed)
        tests = sorted(k.split("/")[1] for k, v in split.items() if v == "test")
        assert held_out_night(subjects, seed) == tests[0] + "1"


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
