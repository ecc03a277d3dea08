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
