"""scripts/finetune_*.sh: the commands they run (launcher stubbed) parse as train_mem.py flags.

A stub launcher records its argv; the test then parses that argv with the real
:func:`llava.train.arguments.parse_args`, so a flag the scripts pass but training does not
know fails here. PSG-LLaVA's Table 2 values and the full fine-tune's switches are checked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STUB = 'import json, sys\njson.dump(sys.argv[1:], open(sys.argv[0] + ".json", "w"))\n'


def run_script(tmp_path: Path, script: str, env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess, list]:
    if shutil.which("bash") is None:
        pytest.skip("bash not available")
    stub = tmp_path / "launch.py"
    stub.write_text(STUB)
    launcher = tmp_path / "launch.sh"
    launcher.write_text(f'#!/usr/bin/env bash\nexec "{sys.executable}" "{stub}" "$@"\n')
    launcher.chmod(0o755)
    full_env = {**os.environ, "LAUNCHER": str(launcher), **env}
    done = subprocess.run(["bash", script, *args], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=60)
    argv = json.loads((tmp_path / "launch.py.json").read_text()) if done.returncode == 0 else []
    return done, argv


def parsed(argv: list, tmp_path: Path):
    from llava.train.arguments import parse_args, parse_pinpoints

    assert argv[0] == "llava/train/train_mem.py"
    m, d, t = parse_args(argv[1:])
    return m, d, t, parse_pinpoints(d.image_grid_pinpoints)


def test_psg_llava_script_has_table_2(tmp_path):
    done, argv = run_script(tmp_path, "scripts/finetune_psg_llava.sh", {"OUT": str(tmp_path / "o")}, "--seed", "7")
    assert done.returncode == 0, done.stderr
    m, d, t, pinpoints = parsed(argv, tmp_path)
    assert (t.lora_enable, t.lora_vision_tower, t.freeze_mm_mlp_adapter) == (True, True, True)
    assert t.lora_r == 16 and t.per_device_train_batch_size == 2 and t.gradient_accumulation_steps == 8
    assert t.learning_rate == 1e-4 and t.num_train_epochs == 3 and t.warmup_ratio == 0.1
    assert t.lr_scheduler_type.value == "cosine" and t.seed == 7
    assert m.version == "mistral_instruct" and d.image_aspect_ratio == "anyres"
    assert m.mm_patch_merge_type == "spatial_unpad" and [336, 672] in pinpoints
    assert "--bf16" in argv and argv[argv.index("--bf16") + 1] == "True"  # bf16 on a GPU (CPU turns it off)


def test_psg_llava_shhs_and_overrides(tmp_path):
    done, argv = run_script(tmp_path, "scripts/finetune_psg_llava.sh",
                            {"OUT": str(tmp_path / "o"), "EPOCHS": "1", "VERSION": "llava_llama_3"})
    assert done.returncode == 0, done.stderr
    m, d, t, _ = parsed(argv, tmp_path)
    assert t.num_train_epochs == 1 and m.version == "llava_llama_3"


def test_next_full_script_trains_without_lora(tmp_path):
    done, argv = run_script(tmp_path, "scripts/finetune_next_full.sh", {"OUT": str(tmp_path / "o")})
    assert done.returncode == 0, done.stderr
    m, d, t, _ = parsed(argv, tmp_path)
    assert t.lora_enable is False and not t.lora_vision_tower and not t.freeze_mm_mlp_adapter
    assert m.version == "llava_llama_3" and d.image_aspect_ratio == "anyres"


@pytest.mark.parametrize("script", ["scripts/finetune_psg_llava.sh", "scripts/finetune_next_full.sh"])
def test_tiny_profile_is_a_cpu_run(tmp_path, script):
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text("{}")  # present: the profile does not build one
    done, argv = run_script(tmp_path, script, {"PROFILE": "tiny", "BASE": str(base), "OUT": str(tmp_path / "o")})
    assert done.returncode == 0, done.stderr
    opts = dict(zip(argv[1::2], argv[2::2]))
    assert opts["--bf16"] == "False" and opts["--tf32"] == "False" and opts["--report_to"] == "none"
    assert opts["--num_train_epochs"] == "1" and opts["--model_name_or_path"] == str(base)
    bad = subprocess.run(["bash", script], cwd=ROOT, env={**os.environ, "PROFILE": "huge"}, capture_output=True,
                         text=True, timeout=30)
    assert bad.returncode == 2 and "PROFILE must be gpu or tiny, got 'huge'" in bad.stderr


@pytest.mark.parametrize("script", ["scripts/finetune_lora.sh", "scripts/finetune_psg_llava.sh",
                                    "scripts/finetune_next_full.sh"])
def test_deepspeed_launch_line_is_shared_by_every_script(tmp_path, script):
    """With the default LAUNCHER, each script runs `deepspeed` (stubbed on PATH) with the
    config named by ZERO, NUM_GPUS / MASTER_PORT only when set, and without a GPU names
    DeepSpeed's CPU accelerator (scripts/train_launcher.sh)."""
    if shutil.which("bash") is None:
        pytest.skip("bash not available")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "deepspeed.json"
    stub = bin_dir / "deepspeed"
    stub.write_text(f'#!{sys.executable}\nimport json, os, sys\n'
                    f'json.dump({{"argv": sys.argv[1:], "accel": os.environ.get("DS_ACCELERATOR")}}, '
                    f'open({str(record)!r}, "w"))\n')
    stub.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("LAUNCHER", "NUM_GPUS", "MASTER_PORT", "DS_ACCELERATOR")}
    env["PATH"] = f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin"  # no nvidia-smi here
    for extra, want in (({}, []), ({"NUM_GPUS": "2", "MASTER_PORT": "29701", "ZERO": "zero2"},
                                   ["--num_gpus", "2", "--master_port", "29701"])):
        done = subprocess.run(["bash", script], cwd=ROOT, env={**env, **extra}, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        got = json.loads(record.read_text())
        argv = got["argv"]
        cut = argv.index("llava/train/train_mem.py")
        assert argv[:cut] == ["--log_level", "warning", *want]
        assert argv[cut + 1:cut + 3] == ["--deepspeed", f"./scripts/{extra.get('ZERO', 'zero3')}.json"]
        assert got["accel"] == "cpu"
        from llava.train.arguments import parse_args

        _, _, training = parse_args(argv[cut + 3:])  # the rest are train_mem.py's flags
        assert training.output_dir
