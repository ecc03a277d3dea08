"""One definition of every experiment command, at two scales: the paper's GPUs and a CPU in minutes.

:data:`GPU` holds the seed's settings (EEG-VLM's ``deepspeed llava/train/train_mem.py``
command: LLaVA-v1.5-13B, LoRA r=128/alpha=256, ZeRO-3, bf16, batch 16, 2 epochs, lr 3e-4;
the vision module at 336 px). :data:`TINY` is the same profile with a few values replaced
(``dataclasses.replace``): the 2-layer tiny LLaVA built from configs, no DeepSpeed, fp32,
a narrow vision module on small images, a handful of steps. The command builders below
take a profile and paths and return argv lists; nothing else differs between the scales.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

__all__ = ["Profile", "GPU", "TINY", "PROFILES", "get_profile", "vision_train_argv", "build_data_argv",
           "extract_argv", "finetune_argv", "eval_argv", "report_argv", "tiny_base_argv"]

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Profile:
    """Every setting a pipeline command takes that is not a path."""

    name: str = field(metadata={"help": "profile name"})
    base_model: str = field(metadata={"help": "LLaVA base (--model_name_or_path / --model-base)"})
    launcher: tuple[str, ...] = field(metadata={"help": "what runs train_mem.py: ('deepspeed',) or the Python"})
    deepspeed: str | None = field(metadata={"help": "DeepSpeed config (None: plain PyTorch)"})
    vision_tower: str | None = field(metadata={"help": "--vision_tower (None: the base's own)"})
    lora_r: int = field(metadata={"help": "LoRA rank"})
    lora_alpha: int = field(metadata={"help": "LoRA alpha"})
    mm_projector_lr: str = field(metadata={"help": "projector learning rate"})
    learning_rate: str = field(metadata={"help": "LoRA learning rate"})
    num_train_epochs: str = field(metadata={"help": "epochs"})
    max_steps: int | None = field(metadata={"help": "stop after this many steps (None: epochs decide)"})
    batch_size: int = field(metadata={"help": "per-device train batch"})
    eval_batch_size: int = field(metadata={"help": "per-device eval batch (a seed flag; unused with no eval)"})
    bf16: bool = field(metadata={"help": "bf16 training"})
    tf32: bool | None = field(metadata={"help": "--tf32 (None: flag left out)"})
    model_max_length: int = field(metadata={"help": "tokenizer max length"})
    gradient_checkpointing: bool = field(metadata={"help": "gradient checkpointing"})
    dataloader_num_workers: int = field(metadata={"help": "data loader workers"})
    report_to: str = field(metadata={"help": "wandb or none"})
    logging_steps: int = field(metadata={"help": "log every n steps"})
    vision_image_size: int = field(metadata={"help": "vision module input side"})
    vision_epochs: int = field(metadata={"help": "vision module epochs"})
    vision_batch: int = field(metadata={"help": "vision module batch"})
    vision_lr: str = field(metadata={"help": "vision module learning rate"})
    vision_kwargs: dict = field(metadata={"help": "backbone -> model kwargs (narrow tiny variants)"})
    feature_dim: int = field(metadata={"help": "exported feature width = the base's mm_hidden_size"})
    label_scoring_for_cot: bool = field(metadata={"help": "evaluate CoT cells by label scoring, not generation"})
    device: str = field(metadata={"help": "evaluation device"})
    cot_max_steps: int | None = field(default=None, metadata={"help": (
        "max_steps of chain-of-thought cells (None: as max_steps); their answers are ~10x longer")})
    extra_train: tuple[str, ...] = field(default=(), metadata={"help": "flags appended to train_mem.py"})

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))


GPU = Profile(
    name="gpu", base_model="your_checkpoints_path/LLaVA-v1.5-13b", launcher=("deepspeed",),
    deepspeed="./scripts/zero3.json", vision_tower="openai/clip-vit-large-patch14-336", lora_r=128, lora_alpha=256,
    mm_projector_lr="2e-5", learning_rate="3e-4", num_train_epochs="2", max_steps=None, batch_size=16,
    eval_batch_size=4, bf16=True, tf32=True, model_max_length=4096, gradient_checkpointing=True,
    dataloader_num_workers=1, report_to="wandb", logging_steps=1, vision_image_size=336, vision_epochs=30,
    vision_batch=64, vision_lr="1e-3", vision_kwargs={}, feature_dim=1024, label_scoring_for_cot=False,
    device="auto",
)

#: The same commands on a CPU in minutes: tiny LLaVA (64-wide CLIP), narrow vision modules.
TINY = replace(
    GPU, name="tiny", base_model="{out}/tiny-llava-v1.5", launcher=(sys.executable,), deepspeed=None,
    vision_tower=None, lora_r=16, lora_alpha=32, mm_projector_lr="2e-3", learning_rate="2e-3",
    num_train_epochs="1", max_steps=30, batch_size=8, eval_batch_size=4, bf16=False, tf32=None,
    model_max_length=2048, gradient_checkpointing=False, dataloader_num_workers=0, report_to="none",
    logging_steps=5, vision_image_size=112, vision_epochs=6, vision_batch=32, vision_lr="2e-3",
    vision_kwargs={"resnet18_1024": {"widths": [32, 64, 128, 64]},
                   "convnext_base": {"depths": [1, 1, 1, 1], "dims": [16, 32, 64, 64]}},
    feature_dim=64, label_scoring_for_cot=True, device="cpu", cot_max_steps=6,
)

PROFILES = {"gpu": GPU, "tiny": TINY}


def get_profile(name: str, out: Path, base_model: str | None = None) -> Profile:
    """The named profile with ``{out}`` filled in (and ``base_model`` overridden when given)."""
    from eeg_vlm.checks import check_option

    profile = PROFILES[check_option("profile", name, tuple(PROFILES), where="experiment")]
    base = base_model or profile.base_model.replace("{out}", str(out))
    return replace(profile, base_model=base)


def _b(value: bool) -> str:
    return "True" if value else "False"


def tiny_base_argv(p: Profile) -> list[str]:
    """Build the tiny base (CLIP as wide as the features)."""
    return [sys.executable, "-m", "llava.model.tiny", "--out", p.base_model, "--clip-width", str(p.feature_dim)]


def vision_train_argv(p: Profile, manifest: Path, out: Path, backbone: str, seed: int = 0) -> list[str]:
    argv = [sys.executable, "-m", "eeg_vlm", "train-features", "--manifest", str(manifest), "--out", str(out),
            "--model", backbone, "--image-size", str(p.vision_image_size), "--epochs", str(p.vision_epochs),
            "--batch-size", str(p.vision_batch), "--lr", p.vision_lr, "--class-weights", "balanced",
            "--feature-dim", str(p.feature_dim), "--seed", str(seed), "--predict-splits", "test",
            "--workers", "0", "--progress", "off"]
    if p.vision_kwargs.get(backbone):
        argv += ["--model-kwargs", json.dumps(p.vision_kwargs[backbone], separators=(",", ":"))]
    return argv


def build_data_argv(manifest: Path, out_dir: Path, cot: str) -> list[str]:
    return [sys.executable, "-m", "eeg_vlm", "build-data", "--manifest", str(manifest), "--out-dir", str(out_dir),
            "--cot", cot]


def extract_argv(p: Profile, checkpoint: Path, data: Path, image_folder: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "eeg_vlm", "extract", "--checkpoint", str(checkpoint), "--data", str(data),
            "--image-folder", str(image_folder), "--out", str(out), "--workers", "0", "--progress", "off"]


def finetune_argv(p: Profile, data: Path, image_folder: Path, output_dir: Path, fusion: str = "add",
                  features: Path | None = None, seed: int | None = None, cot: str = "none") -> list[str]:
    """``train_mem.py`` with the seed's flags, in the seed's order (EEG-VLM step 3).

    ``cot`` names the answers' chain-of-thought variant (only ``cot_max_steps`` depends on it).
    """
    argv = list(p.launcher) + [str(REPO / "llava/train/train_mem.py") if p.launcher[0] != "deepspeed"
                               else "llava/train/train_mem.py"]
    argv += ["--lora_enable", "True", "--lora_r", str(p.lora_r), "--lora_alpha", str(p.lora_alpha),
             "--mm_projector_lr", p.mm_projector_lr]
    if p.deepspeed:
        argv += ["--deepspeed", p.deepspeed]
    argv += ["--model_name_or_path", p.base_model, "--version", "v1", "--data_path", str(data),
             "--image_folder", str(image_folder)]
    if p.vision_tower:
        argv += ["--vision_tower", p.vision_tower]
    argv += ["--mm_projector_type", "mlp2x_gelu", "--mm_vision_select_layer", "-2",
             "--mm_use_im_start_end", "False", "--mm_use_im_patch_token", "False",
             "--image_aspect_ratio", "pad", "--group_by_modality_length", "True", "--bf16", _b(p.bf16),
             "--output_dir", str(output_dir), "--num_train_epochs", p.num_train_epochs,
             "--per_device_train_batch_size", str(p.batch_size), "--per_device_eval_batch_size", str(p.eval_batch_size),
             "--gradient_accumulation_steps", "1", "--evaluation_strategy", "no", "--save_strategy", "steps",
             "--save_steps", "50000", "--save_total_limit", "1", "--learning_rate", p.learning_rate,
             "--weight_decay", "0.", "--warmup_ratio", "0.03", "--lr_scheduler_type", "cosine",
             "--logging_steps", str(p.logging_steps)]
    if p.tf32 is not None:
        argv += ["--tf32", _b(p.tf32)]
    argv += ["--model_max_length", str(p.model_max_length), "--gradient_checkpointing", _b(p.gradient_checkpointing),
             "--dataloader_num_workers", str(p.dataloader_num_workers), "--lazy_preprocess", "True",
             "--report_to", p.report_to]
    if fusion != "add":
        argv += ["--eeg_fusion", fusion]
    if features is not None:
        argv += ["--high_level_features_path", str(features)]
    steps = p.cot_max_steps if cot != "none" and p.cot_max_steps is not None else p.max_steps
    if steps is not None:
        argv += ["--max_steps", str(steps)]
    if seed is not None:
        argv += ["--seed", str(seed)]
    return argv + list(p.extra_train)


def eval_argv(p: Profile, model_path: str | Path, questions: Path, image_folder: Path, answers: Path,
              features: Path | None = None, fusion: str | None = None, label_scoring: bool | None = True,
              base: bool = True) -> list[str]:
    """``model_vqa.py`` as in the seed (EEG-VLM step 4), plus label scoring (``True``), greedy
    generation (``False``) or nothing more (``None``: the seed's command as written)."""
    argv = [sys.executable, str(REPO / "llava/eval/model_vqa.py"), "--model-path", str(model_path)]
    if base:
        argv += ["--model-base", p.base_model]
    argv += ["--question-file", str(questions), "--image-folder", str(image_folder), "--answers-file", str(answers)]
    if features is not None:
        argv += ["--high-level-features", str(features)]
    if fusion is not None:
        argv += ["--eeg-fusion", fusion]
    if label_scoring:
        argv += ["--score-labels", "W,N1,N2,N3,REM", "--score-template", "Sleep stage: {label}"]
    elif label_scoring is False:
        argv += ["--temperature", "0", "--max_new_tokens", "1024"]
    if p.device != "auto":
        argv += ["--device", p.device]
    return argv


def report_argv(answers: list[Path], names: list[str], settings: list[str], manifest: Path, out: Path,
                dataset: str, n_boot: int = 50) -> list[str]:
    argv = [sys.executable, "-m", "eeg_vlm", "report"]
    for a in answers:
        argv += ["--answers", str(a)]
    argv += ["--names", *names]
    for s in settings:
        argv += ["--ablation", s]
    return argv + ["--manifest", str(manifest), "--dataset", dataset, "--out", str(out), "--n-boot", str(n_boot),
                   "--no-plots"]
