"""Every flag of the seed's fine-tuning command parses, with upstream meaning."""

from __future__ import annotations

import shlex
import warnings
from pathlib import Path

import pytest

from llava.train.arguments import parse_args, validate_args

ROOT = Path(__file__).resolve().parents[2]

# The authors' step-3 command (seed 002), verbatim apart from the launcher.
SEED = """
  --lora_enable True --lora_r 128 --lora_alpha 256 --mm_projector_lr 2e-5
  --deepspeed ./scripts/zero3.json
  --model_name_or_path your_checkpoints_path/LLaVA-v1.5-13b
  --version v1
  --data_path sleep_data/eeg_ft.json
  --image_folder sleep_data/eeg_images_ft
  --vision_tower openai/clip-vit-large-patch14-336
  --mm_projector_type mlp2x_gelu
  --mm_vision_select_layer -2
  --mm_use_im_start_end False
  --mm_use_im_patch_token False
  --image_aspect_ratio pad
  --group_by_modality_length True
  --bf16 True
  --output_dir ./checkpoints/your_checkpoints_save_path
  --num_train_epochs 2
  --per_device_train_batch_size 16
  --per_device_eval_batch_size 4
  --gradient_accumulation_steps 1
  --evaluation_strategy "no"
  --save_strategy "steps"
  --save_steps 50000
  --save_total_limit 1
  --learning_rate 3e-4
  --weight_decay 0.
  --warmup_ratio 0.03
  --lr_scheduler_type "cosine"
  --logging_steps 1
  --tf32 True
  --model_max_length 4096
  --gradient_checkpointing True
  --dataloader_num_workers 1
  --lazy_preprocess True
  --report_to wandb
"""


@pytest.fixture
def seed_argv(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    argv = shlex.split(SEED)
    argv[argv.index("--output_dir") + 1] = str(tmp_path / "out")
    return argv


def test_every_seed_flag_maps(seed_argv, caplog):
    with warnings.catch_warnings(record=True) as caught, caplog.at_level("INFO", logger="llava.train.arguments"):
        warnings.simplefilter("always")
        m, d, t = parse_args(seed_argv)
    assert not [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]  # the alias is ours
    assert "--evaluation_strategy is the old name of --eval_strategy" in caplog.text
    assert (t.lora_enable, t.lora_r, t.lora_alpha, t.mm_projector_lr) == (True, 128, 256, 2e-5)
    assert t.deepspeed == "./scripts/zero3.json"
    assert m.model_name_or_path == "your_checkpoints_path/LLaVA-v1.5-13b" and m.version == "v1"
    assert d.data_path == "sleep_data/eeg_ft.json" and d.image_folder == "sleep_data/eeg_images_ft"
    assert m.vision_tower == "openai/clip-vit-large-patch14-336" and m.mm_projector_type == "mlp2x_gelu"
    assert m.mm_vision_select_layer == -2 and m.mm_use_im_start_end is False and m.mm_use_im_patch_token is False
    assert d.image_aspect_ratio == "pad" and t.group_by_modality_length is True
    assert t.num_train_epochs == 2 and t.per_device_train_batch_size == 16 and t.per_device_eval_batch_size == 4
    assert t.gradient_accumulation_steps == 1 and str(t.eval_strategy.value) == "no"
    assert t.save_strategy.value == "steps" and t.save_steps == 50000 and t.save_total_limit == 1
    assert t.learning_rate == 3e-4 and t.weight_decay == 0.0
    assert t.warmup_steps == pytest.approx(0.03)  # transformers 5: a float < 1 is a ratio
    assert t.lr_scheduler_type.value == "cosine" and t.logging_steps == 1
    assert t.model_max_length == 4096 and t.gradient_checkpointing is True
    assert t.dataloader_num_workers == 1 and d.lazy_preprocess is True and t.report_to == ["wandb"]
    assert m.eeg_fusion == "add" and t.remove_unused_columns is False
    # CPU here: tf32/bf16 become warnings, not failures
    import torch

    if not torch.cuda.is_available():
        assert not t.bf16 and not t.tf32


def test_seed_flags_validate_once_data_exists(seed_argv, tmp_path):
    m, d, t = parse_args(seed_argv)
    with pytest.raises(ValueError, match=r"--data_path: file 'sleep_data/eeg_ft.json' not found") as err:
        validate_args(m, d, t)
    msg = str(err.value)
    assert "--image_folder: folder 'sleep_data/eeg_images_ft' not found" in msg  # all problems at once
    data = tmp_path / "eeg_ft.json"
    data.write_text("[]")
    (tmp_path / "imgs").mkdir()
    d.data_path, d.image_folder = str(data), str(tmp_path / "imgs")
    validate_args(m, d, t)


def test_validation_collects_every_problem(tmp_path):
    data = tmp_path / "d.json"
    data.write_text("[]")
    m, d, t = parse_args([
        "--model_name_or_path", "x", "--data_path", str(data), "--output_dir", str(tmp_path / "o"),
        "--version", "llava_v2", "--eeg_fusion", "concat", "--bits", "4", "--lora_bias", "some",
        "--image_aspect_ratio", "crop", "--mm_projector_type", "mlp2x_relu",
    ])
    with pytest.raises(ValueError) as err:
        validate_args(m, d, t)
    msg = str(err.value)
    for part in ("--version: invalid value for the 'version' parameter. Allowed values are", "'llava_v2'",
                 "--eeg_fusion: invalid value for the 'eeg_fusion' parameter. Allowed values are 'none', 'raw', 'add'",
                 "--bits 4: quantised weights cannot be trained", "--lora_bias", "--image_aspect_ratio",
                 "--mm_projector_type"):
        assert part in msg


def test_renamed_trainer_arguments(tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # our own mapping warns nothing
        m, d, t = parse_args(["--output_dir", str(tmp_path), "--evaluation_strategy", "steps", "--eval_steps", "5",
                              "--warmup_ratio", "0.1", "--group_by_length", "True"])
    assert t.eval_strategy.value == "steps" and t.warmup_steps == pytest.approx(0.1)
    assert t.train_sampling_strategy == "group_by_length"
    with pytest.raises(ValueError, match=r"--warmup_ratio: must be in \[0, 1\), got 1.5"):
        parse_args(["--output_dir", str(tmp_path), "--warmup_ratio", "1.5"])


def test_unknown_flag_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"unknown argument\(s\) '--lora_alpah' \(did you mean '--lora_alpha'\?\)"):
        parse_args(["--output_dir", str(tmp_path), "--lora_alpah", "8"])


def test_lora_vision_tower_needs_lora(tmp_path):
    data = tmp_path / "d.json"
    data.write_text("[]")
    m, d, t = parse_args(["--model_name_or_path", "x", "--data_path", str(data), "--output_dir", str(tmp_path / "o"),
                          "--lora_vision_tower", "True"])
    with pytest.raises(ValueError, match=r"--lora_vision_tower True: needs --lora_enable True"):
        validate_args(m, d, t)
    m, d, t = parse_args(["--model_name_or_path", "x", "--data_path", str(data), "--output_dir", str(tmp_path / "o"),
                          "--lora_vision_tower", "True", "--lora_enable", "True", "--freeze_mm_mlp_adapter", "True"])
    validate_args(m, d, t)
    assert t.lora_vision_tower and t.freeze_mm_mlp_adapter
