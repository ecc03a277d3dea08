"""LLaVA-NeXT (1.6) end to end on tiny models, through the DeepSpeed launcher.

1. PSG-LLaVA on a tiny LLaVA-NeXT: ``scripts/finetune_psg_llava.sh`` (``deepspeed
llava/train/train_mem.py`` with LoRA on the CLIP tower and the Mistral LM, projector frozen,
anyres tiles, ``mistral_instruct``) on stacked synthetic PSG images, then ``model_vqa.py
--model-base`` answers held-out epochs by label scoring.

The images are the project's own: synthetic nights (``eeg_vlm.dataset.synthetic``), epoched,
min-max scaled and drawn as four stacked channel bands (``render_epoch(style='psg-llava')``),
224 x 112 px: a tile is 112 px here, so each image is a base view plus a 2 x 1 grid. Only
the picture tells the stage (every question is the same). Checked: held-out accuracy clearly
above chance; the projector bit-identical to the base's; the tower's LoRA weights trained;
``non_lora_trainables`` empty.

2. The EEG-VLM feature slot with anyres: the seed's LoRA command with NeXT settings, on data
   where every image is the same grey picture and only the [1, 64] feature rows tell the
   stage. The tuned checkpoint answers far above chance; the same checkpoint evaluated with
   ``--eeg-fusion none`` (the slot dropped, nothing else changed) falls to chance: the
   features change the answers only through the slot.

Tiny everything (CLIP 64 wide at 112 px, a 2-layer 64-wide Mistral): minutes on 2 CPU cores.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from test_e2e_deepspeed import STAGES, evaluate, free_port, run, seed_command, write_feature_only_data

pytestmark = pytest.mark.slow
TILE = 112
PINPOINTS = [[TILE, 2 * TILE], [2 * TILE, TILE], [2 * TILE, 2 * TILE], [3 * TILE, TILE], [TILE, 3 * TILE]]
QUESTION = "What is the sleep stage of this PSG epoch?"


def tiny_next_base(out: Path, language_model: str = "mistral") -> Path:
    from llava.model.tiny import TinySpec, build_tiny_base

    spec = TinySpec.next(language_model, image_size=TILE, clip_hidden_size=64, clip_intermediate_size=128)
    return build_tiny_base(out, seed=0, spec=spec)


def psg_epochs(per_stage: int, seed: int) -> list[tuple[np.ndarray, str]]:
    """``per_stage`` stacked-PSG images (H, W) uint8 of each stage, from synthetic nights."""
    from eeg_vlm.dataset.synthetic import CHANNELS, synth_night
    from eeg_vlm.imaging.render import render_epoch
    from eeg_vlm.signals.epochs import minmax_scale

    picked: dict[str, list[np.ndarray]] = {s: [] for s in STAGES}
    night = seed
    while any(len(v) < per_stage for v in picked.values()):
        signals, stages = synth_night(n_epochs=240, seed=night)
        night += 1
        data = np.stack([signals[c] for c in CHANNELS])  # (4, T) µV, 100 Hz
        for e, stage in enumerate(stages):
            if stage in picked and len(picked[stage]) < per_stage:
                epoch = minmax_scale(data[:, e * 3000:(e + 1) * 3000])
                picked[stage].append(render_epoch(epoch, style="psg-llava", size=(TILE, 2 * TILE), rgb=True))
    return [(img, stage) for stage in STAGES for img in picked[stage]]


def write_psg_data(root: Path, per_stage_train: int, per_stage_eval: int) -> Path:
    """eeg_ft.json (one image, no feature slot) / eeg_eval.jsonl and their images."""
    from PIL import Image

    images = root / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, per_stage, seed in (("train", per_stage_train, 0), ("eval", per_stage_eval, 100)):
        rows = psg_epochs(per_stage, seed)
        order = rng.permutation(len(rows))
        records = []
        for k in order:
            img, stage = rows[k]
            sid = f"{split}{k:04d}/000000"
            name = f"{split}_{k:04d}.png"
            Image.fromarray(img).save(images / name)
            if split == "train":
                records.append({"id": sid, "image": name, "conversations": [
                    {"from": "human", "value": f"<image>\n{QUESTION}"}, {"from": "gpt", "value": stage}]})
            else:
                records.append({"question_id": sid, "sample_id": sid, "image": name, "text": QUESTION, "stage": stage})
        if split == "train":
            (root / "eeg_ft.json").write_text(json.dumps(records))
        else:
            (root / "eeg_eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return root


def test_psg_llava_lora_on_tower_and_lm_with_frozen_projector(tmp_path):
    from safetensors.torch import load_file

    from llava.model.builder import load_pretrained_model

    base = tiny_next_base(tmp_path / "base")
    data = write_psg_data(tmp_path / "data", per_stage_train=24, per_stage_eval=8)
    out = tmp_path / "ckpt"
    env = {"PROFILE": "tiny", "BASE": str(base), "OUT": str(out), "DATA": str(data / "eeg_ft.json"),
           "IMAGES": str(data / "images"), "PINPOINTS": json.dumps(PINPOINTS), "BATCH": "8", "EPOCHS": "12",
           "LR": "5e-3", "LORA_R": "16", "MASTER_PORT": str(free_port()), "NUM_GPUS": "1",
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    run(["bash", "scripts/finetune_psg_llava.sh", "--model_max_length", "1024", "--seed", "0",
         "--dataloader_num_workers", "0"], tmp_path / "train.log", timeout=900, env=env)

    names = {p.name for p in out.iterdir()}
    assert {"config.json", "adapter_config.json", "adapter_model.safetensors",
            "non_lora_trainables.safetensors"} <= names
    config = json.loads((out / "config.json").read_text())
    assert config["lora_vision_tower"] is True and config["image_aspect_ratio"] == "anyres"
    assert list(load_file(str(out / "non_lora_trainables.safetensors"))) == []
    adapter = load_file(str(out / "adapter_model.safetensors"))
    tower_b = {k: v for k, v in adapter.items() if "vision_tower" in k and "lora_B" in k}
    assert tower_b and any(v.abs().max() > 0 for v in tower_b.values())  # B starts at zero: it trained
    assert not any("mm_projector" in k for k in adapter)

    _, merged, _, _ = load_pretrained_model(str(out), str(base), None, device="cpu")
    base_state = load_file(str(base / "model.safetensors"))
    projector = {k: v for k, v in merged.state_dict().items() if "mm_projector" in k}
    assert projector and all(torch.equal(v, base_state[k]) for k, v in projector.items())  # bit-identical

    accuracy = evaluate(out, base, data, tmp_path / "answers.jsonl", conv_mode="mistral_instruct")
    chance = 1 / len(STAGES)
    (tmp_path / "accuracy.txt").write_text(f"{accuracy:.3f}\n")
    # clearly above chance (0.2): 16 of 40 is 3 standard deviations above it; 0.50 and 0.575 measured
    assert accuracy >= chance + 0.2, accuracy


def next_command(data: Path, base: Path, out: Path, fusion: str) -> list[str]:
    """The seed's LoRA command (tests/llava/test_e2e_deepspeed.py) with LLaVA-NeXT's settings."""
    cmd = seed_command(data, base, out, "zero2", fusion)
    for flag, value in (("--version", "mistral_instruct"), ("--image_aspect_ratio", "anyres"),
                        ("--model_max_length", "1024"), ("--num_train_epochs", "6")):
        cmd[cmd.index(flag) + 1] = value
    return cmd + ["--image_grid_pinpoints", json.dumps(PINPOINTS), "--mm_patch_merge_type", "spatial_unpad",
                  "--gradient_checkpointing", "False"]


def test_feature_slot_with_next_changes_answers_only_through_the_slot(tmp_path):
    base = tiny_next_base(tmp_path / "base")
    data = tmp_path / "data"
    write_feature_only_data(data, n_train=120, n_eval=25, dim=64, image_size=(2 * TILE, TILE))
    out = tmp_path / "ckpt"
    run(next_command(data, base, out, "add"), tmp_path / "train.log", timeout=900)
    config = json.loads((out / "config.json").read_text())
    assert config["eeg_fusion"] == "add" and config["mm_patch_merge_type"] == "spatial_unpad"
    with_slot = evaluate(out, base, data, tmp_path / "answers_add.jsonl", conv_mode="mistral_instruct")
    # the same checkpoint with the slot dropped (one <image> tag, no features), nothing else changed
    without_slot = evaluate(out, base, data, tmp_path / "answers_none.jsonl", conv_mode="mistral_instruct",
                            extra=("--eeg-fusion", "none"))
    chance = 1 / len(STAGES)
    (tmp_path / "accuracy.txt").write_text(f"add {with_slot:.3f} none {without_slot:.3f}\n")
    assert with_slot >= 0.6, (with_slot, without_slot)  # 3x chance; 1.00 measured (6 epochs)
    assert without_slot <= chance + 0.2, (with_slot, without_slot)
