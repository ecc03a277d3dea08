"""scripts/eval.sh: the seed's step-4 command, chunked over GPUs and merged (model_vqa stubbed)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

STUB = """\
import json, os, sys
argv = sys.argv[1:]
assert argv[0] == "llava/eval/model_vqa.py", argv
opts = dict(zip(argv[1::2], argv[2::2]))
if opts["--chunk-idx"] == os.environ.get("FAIL_CHUNK"):
    sys.exit(3)
os.makedirs(os.path.dirname(opts["--answers-file"]), exist_ok=True)
with open(opts["--answers-file"], "a") as fh:
    fh.write(json.dumps({"chunk": int(opts["--chunk-idx"]), "gpu": os.environ.get("CUDA_VISIBLE_DEVICES"),
                         "argv": argv}) + "\\n")
"""


@pytest.fixture
def stub(tmp_path):
    if shutil.which("bash") is None:
        pytest.skip("bash not available")
    path = tmp_path / "stub.py"
    path.write_text(STUB)
    return path


def _run(stub, tmp_path, extra_env, *args):
    # $PYTHON is called with the script path first: a wrapper runs the stub in its place
    wrapper = tmp_path / "py.sh"
    wrapper.write_text(f'#!/usr/bin/env bash\nexec "{sys.executable}" "{stub}" "$@"\n')
    wrapper.chmod(0o755)
    env = {**os.environ, "PYTHON": str(wrapper), "ANSWERS": str(tmp_path / "ans" / "answers.jsonl"),
           "CKPT": "ck", "BASE": "base", **extra_env}
    return subprocess.run(["bash", "scripts/eval.sh", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_single_process_passes_the_seed_flags(stub, tmp_path):
    done = _run(stub, tmp_path, {}, "--score-labels", "W,N1,N2,N3,REM")
    assert done.returncode == 0, done.stderr
    (line,) = [json.loads(x) for x in (tmp_path / "ans" / "answers.jsonl").read_text().splitlines()]
    argv = line["argv"]
    opts = dict(zip(argv[1::2], argv[2::2]))
    assert opts["--model-path"] == "ck" and opts["--model-base"] == "base"
    assert opts["--question-file"] == "sleep_data/eeg_eval.jsonl"
    assert opts["--image-folder"] == "sleep_data/eeg_images_eval"
    assert opts["--num-chunks"] == "1" and opts["--chunk-idx"] == "0"
    assert argv[-2:] == ["--score-labels", "W,N1,N2,N3,REM"]


def test_chunks_run_on_their_gpus_and_merge_in_order(stub, tmp_path):
    (tmp_path / "ans").mkdir()
    done = _run(stub, tmp_path, {"NUM_CHUNKS": "3", "GPUS": "4,5"})
    assert done.returncode == 0, done.stderr
    lines = [json.loads(x) for x in (tmp_path / "ans" / "answers.jsonl").read_text().splitlines()]
    assert [x["chunk"] for x in lines] == [0, 1, 2]
    assert [x["gpu"] for x in lines] == ["4", "5", "4"]
    assert all(dict(zip(x["argv"][1::2], x["argv"][2::2]))["--num-chunks"] == "3" for x in lines)
    assert (tmp_path / "ans" / "answers.3_1.jsonl").is_file()  # chunk files stay for resuming


def test_a_failed_chunk_fails_the_script(stub, tmp_path):
    (tmp_path / "ans").mkdir()
    done = _run(stub, tmp_path, {"NUM_CHUNKS": "2", "FAIL_CHUNK": "1"})
    assert done.returncode == 1
    assert "a chunk failed; rerun the same command to resume" in done.stderr
    assert not (tmp_path / "ans" / "answers.jsonl").exists()
