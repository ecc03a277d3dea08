"""End to end through the real launcher: ``deepspeed llava/train/train_mem.py`` with the seed's
flags, then ``python llava/eval/model_vqa.py --model-path CKPT --model-base BASE``.

The data is built so that the answer is recoverable ONLY from the injected features: every
image is the same grey picture, and each sample's [1, 1024] feature row is its class's
random prototype plus noise. With ``--eeg_fusion add`` (ZeRO-3) the fine-tuned model must
answer held-out questions far above chance; the vanilla ablation ``--eeg_fusion none``
(ZeRO-2, same data, same flags) cannot see the features and stays at chance. That proves
the second image slot carries the signal end to end: dataset -> collator -> projector ->
fusion -> LoRA checkpoint -> loader -> evaluation.

Tiny everything: a 2-layer, 64-wide Llama and a 2-layer CLIP tower of width 1024 (the
feature width) at 56 px (16 patches), so a step takes a fraction of a second on CPU.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("W", "N1", "N2", "N3", "REM")
pytestmark = pytest.mark.slow


def tiny_trainable_base(out: Path) -> Path:
    """The tiny base at 56 px (its lm_head is scaled like a pretrained model's: TinySpec)."""
    from llava.model.tiny import TinySpec, build_tiny_base

    return build_tiny_base(out, seed=0, spec=TinySpec(image_size=56))


def write_feature_only_data(root: Path, n_train: int, n_eval: int, seed: int = 0, dim: int = 1024,
                            image_size: tuple[int, int] = (56, 40)) -> None:
    """eeg_ft.json / eeg_eval.jsonl + ``dim``-wide features where only the features tell the stage."""
    from PIL import Image

    from llava.eeg_features import write_sidecar

    rng = np.random.default_rng(seed)
    prototypes = rng.normal(size=(len(STAGES), dim)).astype(np.float32)
    (root / "images").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", image_size, (128, 128, 128)).save(root / "images" / "epoch.png")
    question = "What is the sleep stage of this epoch?"
    for split, n in (("train", n_train), ("eval", n_eval)):
        rows, records = [], []
        for i in range(n):
            stage = STAGES[i % len(STAGES)]
            sid = f"{split.upper()}{i:04d}/000000"
            rows.append(prototypes[i % len(STAGES)] + 0.3 * rng.normal(size=dim).astype(np.float32))
            images = ["epoch.png", "epoch.png"]
            if split == "train":
                records.append({"id": sid, "image": images, "conversations": [
                    {"from": "human", "value": f"<image>\n<image>\n{question}"}, {"from": "gpt", "value": stage}]})
            else:
                records.append({"question_id": sid, "sample_id": sid, "image": images, "text": question,
                                "stage": stage})
        feats = np.stack(rows)[:, None, :]
        name = f"{split}_high_level_features.npy"
        np.save(root / name, feats)
        write_sidecar(root / name, [r.get("id", r.get("sample_id")) for r in records])
        if split == "train":
            (root / "eeg_ft.json").write_text(json.dumps(records))
        else:
            (root / "eeg_eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(cmd: list[str], log: Path, timeout: int = 420, env: dict[str, str] | None = None) -> None:
    env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false", WANDB_MODE="disabled",
               DS_ACCELERATOR="cpu", **(env or {}))
    with open(log, "w") as fh:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, env=env, timeout=timeout)
    if proc.returncode != 0:
        tail = log.read_text()[-4000:]
        raise AssertionError(f"{' '.join(cmd[:3])} ... failed with exit code {proc.returncode}:\n{tail}")


def seed_command(data: Path, base: Path, out: Path, zero: str, fusion: str) -> list[str]:
    """The authors' step-3 command; only sizes differ (via the same flags) and CPU needs --bf16 False."""
    launcher = shutil.which("deepspeed", path=str(Path(sys.executable).parent)) or "deepspeed"
    return [
        launcher, "--num_gpus", "1", "--master_port", str(free_port()), "llava/train/train_mem.py",
        "--lora_enable", "True", "--lora_r", "8", "--lora_alpha", "16", "--mm_projector_lr", "5e-3",
        "--deepspeed", f"./scripts/{zero}.json",
        "--model_name_or_path", str(base),
        "--version", "v1",
        "--data_path", str(data / "eeg_ft.json"),
        "--image_folder", str(data / "images"),
        "--vision_tower", str(base / "clip_vision_tower"),
        "--mm_projector_type", "mlp2x_gelu",
        "--mm_vision_select_layer", "-2",
        "--mm_use_im_start_end", "False",
        "--mm_use_im_patch_token", "False",
        "--image_aspect_ratio", "pad",
        "--group_by_modality_length", "True",
        "--bf16", "False",
        "--output_dir", str(out),
        "--num_train_epochs", "2",
        "--per_device_train_batch_size", "8",
        "--per_device_eval_batch_size", "4",
        "--gradient_accumulation_steps", "1",
        "--evaluation_strategy", "no",
        "--save_strategy", "steps",
        "--save_steps", "50000",
        "--save_total_limit", "1",
        "--learning_rate", "5e-3",
        "--weight_decay", "0.",
        "--warmup_ratio", "0.03",
        "--lr_scheduler_type", "cosine",
        "--logging_steps", "1",
        "--tf32", "True",
        "--model_max_length", "4096",
        "--gradient_checkpointing", "True",
        "--dataloader_num_workers", "1",
        "--lazy_preprocess", "True",
        "--report_to", "none",
        "--eeg_fusion", fusion,
    ]


def evaluate(ckpt: Path, base: Path | None, data: Path, answers: Path, conv_mode: str = "v1",
             extra: tuple[str, ...] = ()) -> float:
    """``model_vqa.py --score-labels`` on ``data/eeg_eval.jsonl`` (plus ``extra`` flags); returns the accuracy."""
    with_base = ["--model-base", str(base)] if base is not None else []
    run([sys.executable, "llava/eval/model_vqa.py", "--model-path", str(ckpt), *with_base,
         "--question-file", str(data / "eeg_eval.jsonl"), "--image-folder", str(data / "images"),
         "--answers-file", str(answers), "--conv-mode", conv_mode, "--score-labels", ",".join(STAGES),
         "--device", "cpu", *extra], answers.with_suffix(".log"))
    rows = [json.loads(line) for line in answers.read_text().splitlines()]
    questions = [json.loads(line) for line in (data / "eeg_eval.jsonl").read_text().splitlines()]
    assert sorted(r["question_id"] for r in rows) == sorted(q["question_id"] for q in questions)
    return sum(r["text"].strip() == r["metadata"]["stage"] for r in rows) / len(rows)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    base = tiny_trainable_base(root / "base")
    write_feature_only_data(root / "data", n_train=160, n_eval=25)
    return root, base, root / "data"


def test_features_carry_the_answer_through_deepspeed_training_and_eval(workspace):
    root, base, data = workspace
    results = {}
    for fusion, zero in (("add", "zero3"), ("none", "zero2")):
        out = root / f"ckpt_{fusion}"
        run(seed_command(data, base, out, zero, fusion), root / f"train_{fusion}.log")
        names = {p.name for p in out.iterdir()}
        assert {"config.json", "adapter_config.json", "adapter_model.safetensors",
                "non_lora_trainables.safetensors"} <= names
        assert json.loads((out / "config.json").read_text())["eeg_fusion"] == fusion
        results[fusion] = evaluate(out, base, data, root / f"answers_{fusion}.jsonl")
    chance = 1 / len(STAGES)
    assert results["add"] >= 0.8, results  # far above chance: the features are used
    assert results["none"] <= chance + 0.2, results  # vanilla LLaVA cannot see them
