"""scripts/reproduce_*.sh: the dry run is the seed's commands flag for flag; the tiny profile runs end to end."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT.parent / "shared" / "seeds"


def _flags(argv: list[str]) -> dict[str, str]:
    """``--flag value`` pairs (a flag followed by another flag maps to '')."""
    out, i = {}, 0
    while i < len(argv):
        if argv[i].startswith("--"):
            value = argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith("--") else ""
            out[argv[i]] = value.rstrip("/").removeprefix("./")
            i += 2 if value else 1
        else:
            i += 1
    return out


def _seed_commands() -> list[list[str]]:
    files = sorted(SEEDS.glob("002_*"))
    if not files:
        pytest.skip(f"seed commands not found in {SEEDS}")
    blocks = re.findall(r"```bash\n(.*?)```", files[0].read_text(), flags=re.S)
    return [shlex.split(b.replace("\\\n", " ")) for b in blocks]


def _dry_run(script: str, *args: str) -> str:
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(ROOT)}
    res = subprocess.run(["bash", str(ROOT / "scripts" / script), *args, "--dry-run"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout


def _command(out: str, marker: str) -> list[str]:
    line = next(l for l in out.splitlines() if l.startswith("$ ") and marker in l)
    return shlex.split(line[2:])


def test_eeg_vlm_dry_run_is_the_seed_commands_flag_for_flag():
    train_seed, eval_seed = _seed_commands()
    out = _dry_run("reproduce_eeg_vlm.sh", "--profile", "gpu", "--data", "/data/sleep-edfx")
    train = _command(out, "train_mem.py")
    assert train[:2] == train_seed[:2] == ["deepspeed", "llava/train/train_mem.py"]
    assert _flags(train) == _flags(train_seed)
    ev = _command(out, "model_vqa.py")
    assert Path(ev[1]).name == Path(eval_seed[1]).name == "model_vqa.py"
    assert _flags(ev) == _flags(eval_seed)
    for step in ("convert /data/sleep-edfx sleep_data/sleep-edf --channels Fpz-Cz --style eeg-vlm",
                 "train-features", "build-data", "--cot stagewise", "sleep_data/train_high_level_features.npy",
                 "sleep_data/eval_high_level_features.npy", " report "):
        assert step in out, step


def test_psg_llava_dry_run_calls_the_finetune_script():
    out = _dry_run("reproduce_psg_llava.sh", "--profile", "gpu", "--data", "/data/isruc", "--psg-dataset", "isruc")
    assert "scripts/finetune_psg_llava.sh --eeg_fusion none" in out
    assert "--style psg-llava" in out and "C3-A2" in out and "--conv-mode mistral_instruct" in out
    assert "--dataset ISRUC" in out


@pytest.mark.slow
@pytest.mark.parametrize("script", ["reproduce_eeg_vlm.sh", "reproduce_psg_llava.sh"])
def test_tiny_profile_runs_end_to_end(script, tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(ROOT)}
    args = ["bash", str(ROOT / "scripts" / script), "--profile", "tiny", "--work", str(tmp_path),
            "--subjects", "4", "--hours", "0.4"]
    res = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "report.md" in {p.name for p in (tmp_path / "reports").rglob("*.md")}
    again = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "0 steps run" in again.stdout  # every step found done
