"""Experiment drivers: the ablation grid's cells and commands, resumable steps, the tiny grid end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eeg_vlm.experiments import ablation
from eeg_vlm.experiments.profiles import GPU, TINY, finetune_argv, get_profile
from eeg_vlm.experiments.steps import Step, StepFailed, run_steps

ROOT = Path(__file__).resolve().parents[1]


def test_the_grid_has_15_cells_and_zero_shot_in_a_fixed_order():
    cells = ablation.all_cells()
    names = [c.name for c in cells]
    assert len(cells) == 16 and len(set(names)) == 16 and names[-1] == "zero-shot"
    assert [c.name for c in cells if c.fusion == "none"] == ["none-none", "none-single", "none-stagewise"]
    assert sum(c.fusion in ("raw", "add") for c in cells) == 12
    assert {c.backbone for c in cells if c.fusion == "add"} == {"resnet18_1024", "convnext_base"}
    assert [c.name for c in ablation.select_cells("zero-shot,none-none")] == ["none-none", "zero-shot"]
    with pytest.raises(ValueError, match="unknown cell 'add-none'"):
        ablation.select_cells("add-none")


def test_gpu_and_tiny_profiles_share_one_command_builder(tmp_path):
    gpu = finetune_argv(get_profile("gpu", tmp_path), Path("d.json"), Path("imgs"), Path("ckpt"), "raw")
    tiny = finetune_argv(get_profile("tiny", tmp_path), Path("d.json"), Path("imgs"), Path("ckpt"), "raw")
    joined = " ".join(gpu)
    for flag in ("deepspeed llava/train/train_mem.py", "--deepspeed ./scripts/zero3.json", "--bf16 True",
                 "--model_name_or_path your_checkpoints_path/LLaVA-v1.5-13b", "--lora_r 128 --lora_alpha 256",
                 "--per_device_train_batch_size 16", "--tf32 True", "--gradient_checkpointing True",
                 "--eeg_fusion raw"):
        assert flag in joined, flag
    assert "--deepspeed" not in tiny and "--bf16 False" in " ".join(tiny) and str(tmp_path) in " ".join(tiny)
    # the flag names are the same, only values (and the DeepSpeed/tf32/vision-tower flags) differ
    names = lambda argv: [a for a in argv if a.startswith("--")]  # noqa: E731
    assert set(names(tiny)) - set(names(gpu)) == {"--max_steps"}
    assert set(names(gpu)) - set(names(tiny)) == {"--deepspeed", "--tf32", "--vision_tower"}
    assert GPU.name == "gpu" and TINY.lora_r < GPU.lora_r


def test_dry_run_prints_every_command_and_runs_nothing(tmp_path, capsys):
    from eeg_vlm.experiments.command import main

    assert main(["ablation", "--out", str(tmp_path / "g"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("LoRA fine-tuning") == 15 and "zero-shot: untuned base answers" in out
    assert out.count("vision module ") == 2 and "--eeg_fusion raw" in out and "[45/45] report" in out
    assert not (tmp_path / "g").exists()
    assert main(["ablation", "--out", str(tmp_path / "h"), "--profile", "gpu", "--manifest", "m.csv",
                 "--dry-run", "--cells", "add-stagewise-convnext_base"]) == 0
    gpu = capsys.readouterr().out
    assert "deepspeed llava/train/train_mem.py" in gpu and "--temperature 0" in gpu  # CoT cells generate


def test_steps_skip_when_done_and_rerun_when_interrupted(tmp_path):
    log = tmp_path / "log.txt"
    py = sys.executable

    def step(name: str, code: str) -> Step:
        return Step(name, [py, "-c", code], tmp_path / ".done" / f"{name}.json")

    steps = [step("a", f"open({str(log)!r}, 'a').write('a')"), step("b", "raise SystemExit(3)")]
    with pytest.raises(StepFailed, match="step 'b': exit status 3"):
        run_steps(steps)
    assert log.read_text() == "a" and steps[0].done() and not steps[1].done()
    steps[1] = step("b", f"open({str(log)!r}, 'a').write('b')")
    assert run_steps(steps) == {"run": 1, "skipped": 1}
    assert log.read_text() == "ab"
    # a changed command is not "done"
    steps[0] = step("a", f"open({str(log)!r}, 'a').write('A')")
    assert run_steps(steps) == {"run": 1, "skipped": 1} and log.read_text() == "abA"
    assert json.loads((tmp_path / ".done" / "a.json").read_text())["argv"] == steps[0].argv


def _answers(path: Path, pairs: list[tuple[str, str]]) -> Path:
    lines = [json.dumps({"question_id": f"s/{i:06d}", "prompt": "", "text": f"Sleep stage: {p}", "answer_id": str(i),
                         "model_id": "m", "metadata": {"sample_id": f"s/{i:06d}", "stage": t, "pred": p}})
             for i, (t, p) in enumerate(pairs)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_folds_aggregate_pools_epochs_and_averages_folds(tmp_path):
    from eeg_vlm.experiments.folds import aggregate_folds

    a = _answers(tmp_path / "a.jsonl", [("W", "W"), ("N2", "N2"), ("N3", "N2"), ("REM", "REM")])  # acc 0.75
    b = _answers(tmp_path / "b.jsonl", [("W", "N1"), ("N2", "N2")])  # acc 0.5
    res = aggregate_folds(tmp_path, [("fold0", a), ("fold1", b)], "cell")
    assert res["folds"]["fold0"]["accuracy"] == 0.75 and res["folds"]["fold1"]["accuracy"] == 0.5
    assert res["mean_across_folds"]["accuracy"] == pytest.approx(0.625)
    assert res["sd_across_folds"]["accuracy"] == pytest.approx(np.std([0.75, 0.5], ddof=1))
    assert res["pooled_over_all_test_epochs"]["accuracy"] == pytest.approx(4 / 6)  # not the mean of folds
    md = (tmp_path / "folds.md").read_text()
    assert "**pooled over all test epochs** | 6 |" in md and "**mean ± sd across folds**" in md


def test_folds_and_robustness_dry_runs(tmp_path, capsys):
    from eeg_vlm.experiments.command import main

    assert main(["folds", "--out", str(tmp_path / "f"), "--seeds", "0,1,2", "--cell", "none-none", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("holdout split, seed") == 3 and out.count("none-none: LoRA fine-tuning") == 3
    assert "aggregate over folds" in out and not (tmp_path / "f").exists()
    assert main(["robustness", "--out", str(tmp_path / "r"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "--fail-channel Fpz-Cz --fail-fraction 0.7 --fail-seed 0" in out
    assert out.count("LoRA fine-tuning") == 2 and "VLM (clean) on failure questions" in out
    assert "experiment predict --vision-model" in out


def test_a_rerun_step_invalidates_what_depends_on_it(tmp_path):
    py = sys.executable
    answers = tmp_path / "answers.jsonl"
    answers.write_text("stale\n")
    evaluate = Step("eval", [py, "-c", f"open({str(answers)!r}, 'a').write('new\\n')"], tmp_path / "eval.json")
    train = Step("train", [py, "-c", "pass"], tmp_path / "train.json", invalidates=[evaluate.marker, answers])
    evaluate.marker.write_text(json.dumps({"argv": evaluate.argv}))  # evaluated before, by an older model
    assert run_steps([train, evaluate]) == {"run": 2, "skipped": 0}
    assert answers.read_text() == "new\n"


@pytest.mark.slow
def test_the_whole_tiny_grid_from_one_command_killed_during_a_cell_then_rerun(tmp_path):
    """All 16 rows of the CPU profile from one command (6 synthetic one-hour nights, one
    held-out subject): killed with SIGKILL while a cell trains, run again, it finishes; the
    killed cell run anew uninterrupted gives the same table; `add` beats `none` there."""
    import os
    import signal
    import time

    args = [sys.executable, "-m", "eeg_vlm", "experiment", "ablation", "--out", str(tmp_path)]
    victim = "add-none-resnet18_1024"
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    seen = []
    for line in proc.stdout:  # the driver prints each step's title before running it
        seen.append(line)
        if f"{victim}: LoRA fine-tuning" in line:
            time.sleep(8)  # well inside its ~25 s of training
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)[-3000:]
    cell = tmp_path / "cells" / victim
    assert not (cell / ".done" / "train.json").exists() and not (cell / "answers.jsonl").exists()

    def run() -> str:
        done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=1500)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout + done.stderr

    log = run()
    assert "none-none: LoRA fine-tuning: done, skipped" in log and f"{victim}: LoRA fine-tuning\n" in log
    table = (tmp_path / "ablation.md").read_text()
    assert "tiny model on synthetic data" in table
    ours = {row.split(" | ")[0][2:] for row in table.splitlines() if row.startswith("| ") and "| this run |" in row}
    assert ours == {c.name for c in ablation.all_cells()[:-1]} | {"zero-shot (untuned base)"}
    assert len(ours) == 16 and table.count("| published: EEG-VLM") >= 4
    for c in ablation.all_cells():
        assert json.loads((tmp_path / "cells" / c.name / "cell.json").read_text())["cell"]["name"] == c.name

    pooled = {k: v["pooled"] for k, v in json.loads((tmp_path / "report" / "metrics.json").read_text())["runs"].items()}
    for backbone in ablation.BACKBONES:  # the features carry the signal on held-out subjects
        add, none = pooled[f"add-none-{backbone}"], pooled["none-none"]
        assert add["n"] == none["n"] >= 100
        assert add["accuracy"] > none["accuracy"] and add["kappa"] > none["kappa"], (backbone, add, none)

    import shutil

    shutil.rmtree(cell)  # the killed cell again, in one uninterrupted run
    (tmp_path / ".done" / "report.json").unlink()
    log = run()
    assert log.count("LoRA fine-tuning: done, skipped") == 14
    assert (tmp_path / "ablation.md").read_text() == table


@pytest.mark.slow
def test_robustness_on_synthetic_nights_is_seeded_end_to_end(tmp_path):
    """The robustness grid twice into two folders: byte-identical table, CSV and plot; the
    vision module's score on the failure test set differs from its clean score."""
    outs = []
    for name in ("a", "b"):
        args = [sys.executable, "-m", "eeg_vlm", "experiment", "robustness", "--out", str(tmp_path / name),
                "--subjects", "4", "--hours", "0.5", "--max-steps", "4"]
        done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=1200)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        outs.append(tmp_path / name)
    for f in ("robustness.md", "robustness.csv", "robustness.json", "robustness.png"):
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f
    rows = json.loads((outs[0] / "robustness.json").read_text())
    assert {r["condition"] for r in rows.values()} == {"clean", "clean->failure", "failure"}
    clean, degraded = rows["vision module | clean"], rows["vision module | clean->failure"]
    assert clean["n"] == degraded["n"] > 0
    assert (clean["accuracy"], clean["kappa"]) != (degraded["accuracy"], degraded["kappa"])
