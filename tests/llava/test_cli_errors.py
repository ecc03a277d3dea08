"""Input errors of the two LLaVA entry points end in one line naming the file, no traceback.

``train_mem.py`` stops before loading any model (flags, data file and every sample's files
are checked first), ``model_vqa.py`` before loading the checkpoint. Exit status 1 for bad
input, 2 for bad flags (argparse's code). One case per script runs the real script in a
subprocess; the others call the same code in-process through :func:`llava.utils.run_cli`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llava.utils import check_option, keep_bitsandbytes_unloaded, require, run_cli

ROOT = Path(__file__).resolve().parents[2]
TRAIN = "llava/train/train_mem.py"
VQA = "llava/eval/model_vqa.py"


def run_script(script: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    env.pop("LLAVA_TRACEBACK", None)
    return subprocess.run([sys.executable, script, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    """The script's code in-process: its ``main`` through ``run_cli``, stderr captured."""
    import contextlib
    import io

    if script == TRAIN:
        from llava.train.train import train as entry  # train_mem.main would also hide bitsandbytes here
        prog = "train_mem.py"
    else:
        from llava.eval.model_vqa import main as entry
        prog = "model_vqa.py"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            status = run_cli(entry, prog, list(args))
        except SystemExit as exc:  # argparse
            status = int(exc.code)
    return subprocess.CompletedProcess([script, *args], status, "", err.getvalue())


def one_line_error(proc: subprocess.CompletedProcess, status: int, prog: str, *parts: str) -> str:
    assert proc.returncode == status, (proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{prog}: error: "), last
    for part in parts:
        assert part in last, (part, last)
    return last


@pytest.fixture()
def train_data(tmp_path):
    (tmp_path / "images").mkdir()
    samples = [{"id": f"S{i}", "image": f"e{i}.png", "conversations": [
        {"from": "human", "value": "<image>\nStage?"}, {"from": "gpt", "value": "W"}]} for i in range(3)]
    samples[2]["image"] = "../../etc/passwd"
    data = tmp_path / "eeg_ft.json"
    data.write_text(json.dumps(samples))
    return data


def train_args(tmp_path: Path, data: Path, *extra: str) -> list[str]:
    return ["--model_name_or_path", str(tmp_path), "--data_path", str(data), "--image_folder",
            str(tmp_path / "images"), "--output_dir", str(tmp_path / "out"), *extra]


def test_train_missing_and_bad_json_files(tmp_path):
    missing = tmp_path / "nope.json"
    one_line_error(run(TRAIN, *train_args(tmp_path, missing)), 1, "train_mem.py", f"--data_path: file {str(missing)!r} not found")
    one_line_error(run(TRAIN, *train_args(tmp_path, missing)), 1, "train_mem.py",
                   f"--model_name_or_path: folder {str(tmp_path)!r} has no config.json")
    (tmp_path / "config.json").write_text("{}")  # the data file is read before any model is loaded
    bad = tmp_path / "bad.json"
    bad.write_text("[{")
    (tmp_path / "images").mkdir()
    one_line_error(run(TRAIN, *train_args(tmp_path, bad)), 1, "train_mem.py", f"data file {str(bad)!r}: not valid JSON")


def test_train_bad_samples_listed_before_the_model_loads(tmp_path, train_data):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "images" / "e0.png").write_bytes(b"x")
    last = one_line_error(run_script(TRAIN, *train_args(tmp_path, train_data)), 1, "train_mem.py",
                          f"data file {str(train_data)!r}: 2 of 3 samples have bad files or tags",
                          "sample 'S1': image", "e1.png' not found", "sample 'S2': image path '../../etc/passwd'")
    assert last.count(": error: ") == 1


def test_train_bad_flags(tmp_path, train_data):
    (tmp_path / "config.json").write_text("{}")
    one_line_error(run(TRAIN, *train_args(tmp_path, train_data, "--lora_alpah", "8")), 2, "train_mem.py",
                   "unknown argument(s) '--lora_alpah' (did you mean '--lora_alpha'?)")
    one_line_error(run(TRAIN, *train_args(tmp_path, train_data, "--eeg_fusion", "concat", "--version", "v2")), 1,
                   "train_mem.py", "--eeg_fusion: invalid value for the 'eeg_fusion' parameter", "--version: invalid")
    assert run(TRAIN, "--lora_r", "many").returncode == 2  # argparse's own type error


def test_model_vqa_input_errors(tmp_path):
    missing = tmp_path / "q.jsonl"
    one_line_error(run(VQA, "--model-path", str(tmp_path), "--question-file", str(missing)), 1, "model_vqa.py",
                   f"question file {str(missing)!r}: not found")
    missing.write_text('{"question_id": 1, "text": "a"}\n{"question_id": 2,\n')
    one_line_error(run(VQA, "--model-path", str(tmp_path), "--question-file", str(missing)), 1, "model_vqa.py",
                   f"question file {str(missing)!r}, line 2: not valid JSON")
    (tmp_path / "img").mkdir()
    missing.write_text('{"question_id": 1, "text": "a", "image": "x.png"}\n'
                       '{"question_id": 2, "text": "b", "image": "/etc/passwd"}\n')
    last = one_line_error(run_script(VQA, "--model-path", str(tmp_path), "--question-file", str(missing), "--image-folder",
                              str(tmp_path / "img"), "--answers-file", str(tmp_path / "a.jsonl")), 1, "model_vqa.py",
                          f"question file {str(missing)!r}: 2 bad image path(s)", "x.png' not found",
                          "'/etc/passwd' is absolute")
    assert "question 1" in last and "question 2" in last
    proc = run(VQA, "--question-file", str(missing))
    assert proc.returncode == 2 and "--model-path" in proc.stderr and "Traceback" not in proc.stderr
    one_line_error(run(VQA, "--model-path", "x", "--num-chunks", "0"), 2, "model_vqa.py", "--num-chunks must be >= 1")


def test_model_vqa_defaults_are_the_projects():
    from llava.eval.model_vqa import build_parser

    args = build_parser().parse_args(["--model-path", "ckpt"])
    assert args.question_file == "sleep_data/eeg_eval.jsonl"
    assert args.image_folder == "sleep_data/eeg_images_eval"
    assert args.answers_file == "sleep_data/answers/eeg_answers.jsonl"


def test_check_option_wording():
    assert check_option("eeg_fusion", "raw", ("none", "raw", "add")) == "raw"
    with pytest.raises(ValueError, match=r"^dataset: invalid value for the 'eeg_fusion' parameter\. Allowed values are "
                                         r"'none', 'raw', 'add', but got 'ad' instead \(did you mean 'add'\?\)$"):
        check_option("eeg_fusion", "ad", ("none", "raw", "add"), where="dataset")


def test_require_names_the_pip_command():
    with pytest.raises(ImportError, match=r"^--deepspeed needs no_such_pkg_xyz, which is not installed .*; pip install no_such_pkg_xyz$"):
        require("no_such_pkg_xyz", "--deepspeed")


def test_run_cli_statuses(capsys):
    from llava.utils import UsageError

    def bad_file(argv):
        raise FileNotFoundError("data file 'x.json': not found")

    def bad_flag(argv):
        raise UsageError("unknown argument(s) '--x'")

    assert run_cli(bad_file, "prog") == 1 and run_cli(bad_flag, "prog") == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["prog: error: data file 'x.json': not found", "prog: error: unknown argument(s) '--x'"]


def test_bitsandbytes_stays_unloaded_unless_quantising():
    code = ("import sys\nfrom llava.utils import keep_bitsandbytes_unloaded\nkeep_bitsandbytes_unloaded()\n"
            "import transformers, peft, importlib.util\nfrom transformers import Trainer\n"
            "print(sys.modules.get('bitsandbytes'), importlib.util.find_spec('bitsandbytes'))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "None None"
    assert "gemm_4bit" not in proc.stderr
    assert callable(keep_bitsandbytes_unloaded)


def test_core_list_holds_the_tokenizer_dependencies():
    """Core install = what the entry points need (tests/llava/test_core_install.py proves it, opt-in)."""
    from test_core_install import core_requirements

    names = {r.split(">")[0].split("=")[0].split("<")[0] for r in core_requirements()}
    assert {"protobuf", "tiktoken", "sentencepiece", "transformers", "peft"} <= names
    assert not names & {"deepspeed", "bitsandbytes", "wandb", "flash-attn"}  # optional: extras
