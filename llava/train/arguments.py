"""Command-line arguments of ``llava/train/train_mem.py`` (upstream LLaVA v1.5 flags).

Three dataclasses, parsed together by ``transformers.HfArgumentParser``:
:class:`ModelArguments`, :class:`DataArguments` and :class:`TrainingArguments` (a
``transformers.TrainingArguments`` with upstream's LoRA/quantisation fields). Every flag
of the authors' fine-tuning command and of upstream's scripts is accepted with its
upstream meaning. Trainer arguments that current transformers renamed or removed are
mapped, not rejected: ``--evaluation_strategy`` -> ``eval_strategy``, ``--warmup_ratio`` ->
``warmup_steps`` (a float below 1 is a ratio), ``--group_by_length`` ->
``train_sampling_strategy``, ``--gradient_checkpointing`` -> ``activation_checkpointing``; ``--tf32``/``--bf16`` without CUDA are turned off with a
warning instead of failing.

:func:`parse_args` turns argv into the three objects and :func:`validate_args` checks them,
collecting every problem and raising once.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import transformers

from llava.constants import EEG_FUSION_MODES
from llava.model.configuration_llava import ASPECT_RATIOS, MERGE_TYPES
from llava.utils import UsageError, check_option

logger = logging.getLogger(__name__)

__all__ = ["ModelArguments", "DataArguments", "TrainingArguments", "parse_args", "parse_pinpoints", "validate_args"]

PROJECTOR_TYPE = re.compile(r"^(linear|identity|mlp\d+x_gelu)$")


@dataclass
class ModelArguments:
    """The base checkpoint, its vision tower and projector, and the EEG feature slot."""

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Base checkpoint folder (upstream LLaVA v1.5 base or a Vicuna/Llama)."}
    )
    version: str = field(
        default="v1", metadata={"help": "Conversation template: v1, vicuna_v1, llava_v1, plain (or default)."}
    )
    freeze_backbone: bool = field(default=False, metadata={"help": "Freeze the language model's weights."})
    tune_mm_mlp_adapter: bool = field(
        default=False, metadata={"help": "Train only the multimodal projector (pretraining stage)."}
    )
    vision_tower: str | None = field(
        default=None, metadata={"help": "CLIP vision tower (name or folder); default: the base's mm_vision_tower."}
    )
    mm_vision_select_layer: int = field(
        default=-1, metadata={"help": "Hidden-state layer of the vision tower used as image features (LLaVA-1.5: -2)."}
    )
    pretrain_mm_mlp_adapter: str | None = field(
        default=None, metadata={"help": "Projector weights (mm_projector.bin/.safetensors) from a pretraining run."}
    )
    mm_projector_type: str = field(
        default="linear", metadata={"help": "Projector: linear, identity or mlp<N>x_gelu (LLaVA-1.5: mlp2x_gelu)."}
    )
    mm_use_im_start_end: bool = field(
        default=False, metadata={"help": "Wrap each <image> tag in <im_start> ... <im_end> tokens."}
    )
    mm_use_im_patch_token: bool = field(default=True, metadata={"help": "Add the <im_patch> token to the vocabulary."})
    mm_patch_merge_type: str = field(
        default="flat",
        metadata={"help": "How an image's patch features become tokens: flat (LLaVA-1.5), or for anyres "
                  "spatial / spatial_unpad (LLaVA-NeXT: padding cut, a learned newline row per row)."},
    )
    mm_vision_select_feature: str = field(
        default="patch", metadata={"help": "patch (drop CLS, 576 tokens) or cls_patch (keep CLS)."}
    )
    eeg_context: int = field(
        default=0,
        metadata={
            "help": "EEG-VLM neighbour context K: slot 2 also carries the projected feature rows of epochs "
            "t-K .. t+K of the same night (2K extra tokens with 'add'; zeros where an epoch is missing, never "
            "another night's). 0 (default) is the paper's slot; recorded in the checkpoint config."
        },
    )
    eeg_fusion: str = field(
        default="add",
        metadata={
            "help": "EEG-VLM feature slot: 'add' (projected features added to every patch token of slot 2), "
            "'raw' (slot 2 = the projected features, one token), 'none' (vanilla LLaVA: one image, "
            "no features; the second <image> tag is dropped)."
        },
    )


@dataclass
class DataArguments:
    """Training conversations, their images and the high-level features."""

    data_path: str | None = field(default=None, metadata={"help": "Training conversations (upstream eeg_ft.json)."})
    lazy_preprocess: bool = field(
        default=False, metadata={"help": "Accepted for compatibility; samples are always prepared lazily."}
    )
    is_multimodal: bool = field(default=False, metadata={"help": "Set automatically when a vision tower is used."})
    image_folder: str | None = field(
        default=None, metadata={"help": "Folder the json's image paths are relative to (never escaped)."}
    )
    image_aspect_ratio: str = field(
        default="square",
        metadata={"help": "'pad' (centre on a mean-colour square; LLaVA-1.5), 'square', or 'anyres' (LLaVA-NeXT: "
                  "a base view plus tiles of the best of --image_grid_pinpoints)."},
    )
    image_grid_pinpoints: str | None = field(
        default=None,
        metadata={"help": "anyres resolutions as a list of [width, height] in pixels, e.g. "
                  "'[[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]' (upstream's tuple spelling "
                  "is accepted). Default: the base checkpoint's."},
    )
    high_level_features_path: str | None = field(
        default=None,
        metadata={
            "help": "float32 [N,1,1024] .npy, row i = sample i of --data_path (sidecar .ids.json checked). "
            "Default: train_high_level_features.npy beside --data_path."
        },
    )


@dataclass
class TrainingArguments(transformers.TrainingArguments):
    """``transformers.TrainingArguments`` plus upstream LLaVA's training fields."""

    cache_dir: str | None = field(default=None, metadata={"help": "Cache folder for downloaded weights."})
    optim: str = field(default="adamw_torch", metadata={"help": "Optimizer name (transformers OptimizerNames)."})
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Must stay False: images and eeg_features reach forward()."}
    )
    freeze_mm_mlp_adapter: bool = field(default=False, metadata={"help": "Keep the projector frozen."})
    mpt_attn_impl: str | None = field(default="triton", metadata={"help": "Accepted for compatibility; unused."})
    model_max_length: int = field(
        default=512, metadata={"help": "Maximum text tokens per sample (right-truncated)."}
    )
    double_quant: bool = field(default=True, metadata={"help": "Double quantisation of the 4-bit statistics."})
    quant_type: str = field(default="nf4", metadata={"help": "4-bit data type: nf4 or fp4."})
    bits: int = field(default=16, metadata={"help": "Load the language model in 4, 8 or 16 bits (4/8 = QLoRA)."})
    lora_enable: bool = field(default=False, metadata={"help": "Train LoRA adapters on the language model."})
    lora_vision_tower: bool = field(
        default=False,
        metadata={"help": "With --lora_enable: LoRA also on every Linear of the CLIP vision tower (PSG-LLaVA; "
                  "pair with --freeze_mm_mlp_adapter True to keep the projector frozen)."},
    )
    lora_r: int = field(default=64, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling alpha."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_weight_path: str = field(default="", metadata={"help": "Accepted for compatibility; unused upstream too."})
    lora_bias: str = field(default="none", metadata={"help": "LoRA bias: none, all or lora_only."})
    mm_projector_lr: float | None = field(
        default=None, metadata={"help": "Learning rate of the projector (default: --learning_rate)."}
    )
    group_by_modality_length: bool = field(
        default=False, metadata={"help": "Batch image and text-only samples separately, grouped by length."}
    )
    # Names current transformers removed; mapped in __post_init__.
    evaluation_strategy: str | None = field(
        default=None, metadata={"help": "Old name of --eval_strategy (mapped, with a warning)."}
    )
    warmup_ratio: float | None = field(
        default=None, metadata={"help": "Warmup as a fraction of the total steps (mapped onto --warmup_steps)."}
    )
    group_by_length: bool = field(
        default=False, metadata={"help": "Old name of --train_sampling_strategy group_by_length."}
    )

    def __post_init__(self):
        if self.evaluation_strategy is not None:
            logger.info("--evaluation_strategy is the old name of --eval_strategy; using it as such")
            self.eval_strategy = self.evaluation_strategy
        if self.warmup_ratio is not None:
            if not 0 <= self.warmup_ratio < 1:
                raise ValueError(f"--warmup_ratio: must be in [0, 1), got {self.warmup_ratio}")
            if self.warmup_steps and self.warmup_ratio:
                logger.warning("both --warmup_steps and --warmup_ratio given; --warmup_steps wins")
            else:
                self.warmup_steps = float(self.warmup_ratio)
        if self.group_by_length:
            self.train_sampling_strategy = "group_by_length"
        # upstream's --gradient_checkpointing is transformers' activation_checkpointing now
        for old, new in (("gradient_checkpointing", "activation_checkpointing"),
                         ("gradient_checkpointing_kwargs", "activation_checkpointing_kwargs")):
            if getattr(self, new, None) is None and getattr(self, old, None) is not None:
                setattr(self, new, getattr(self, old))
        _require_optional(self)
        cuda = _cuda_available()
        if not cuda and self.dataloader_pin_memory:
            self.dataloader_pin_memory = False  # nothing to pin to (and torch warns)
        if self.tf32 and not cuda:
            logger.warning("--tf32 needs a CUDA GPU; none found, so it is ignored")
            self.tf32 = None
        if self.bf16 and not cuda and not self.use_cpu:
            logger.warning("--bf16 needs a CUDA GPU here; none found, training in float32")
            self.bf16 = False
        super().__post_init__()


def _require_optional(args: "TrainingArguments") -> None:
    """Name the missing optional package (and its pip command) of a feature the flags ask for."""
    from llava.utils import require

    if args.deepspeed:
        require("deepspeed", "--deepspeed")
    report_to = [args.report_to] if isinstance(args.report_to, str) else list(args.report_to or [])
    if "wandb" in report_to or "all" in report_to:
        require("wandb", "--report_to wandb")
    if args.bits in (4, 8):
        require("bitsandbytes", f"--bits {args.bits}")


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def parse_pinpoints(text: str) -> list[list[int]]:
    """``--image_grid_pinpoints`` text -> ``[[width, height], ...]`` (JSON or upstream's tuples)."""
    import ast

    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        value = None
    ok = isinstance(value, (list, tuple)) and value and all(
        isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(v, int) and v > 0 for v in p) for p in value)
    if not ok:
        raise ValueError(f"--image_grid_pinpoints: expected a list of [width, height] in pixels, got {text!r}")
    return [[int(w), int(h)] for w, h in value]


def parse_args(
    argv: Sequence[str] | None = None,
) -> tuple[ModelArguments, DataArguments, TrainingArguments]:
    """Parse ``argv`` (default ``sys.argv[1:]``) into the three argument objects.

    Unknown flags raise ``ValueError`` naming each one with the closest known flag.
    """
    parser = transformers.HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))
    model_args, data_args, training_args, rest = parser.parse_args_into_dataclasses(
        args=None if argv is None else list(argv), return_remaining_strings=True
    )
    unknown = [a for a in rest if a.startswith("--")]
    if rest:
        known = [s for action in parser._actions for s in action.option_strings]
        hints = []
        for flag in unknown or rest:
            close = difflib.get_close_matches(flag.split("=")[0], known, n=1, cutoff=0.6)
            hints.append(f"{flag!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise UsageError("llava/train/train_mem.py: unknown argument(s) " + ", ".join(hints))
    return model_args, data_args, training_args


def validate_args(model_args: ModelArguments, data_args: DataArguments, training_args: TrainingArguments) -> None:
    """Check values and files; collect every problem and raise one ``ValueError``.

    Data-dependent checks (features present when the data has two-image samples) happen
    when the dataset is built, because they need the data file.
    """
    from llava.conversation import conv_templates

    problems: list[str] = []

    def allowed(name: str, value, choices) -> None:
        try:
            check_option(name, value, choices, where=f"--{name}")
        except ValueError as exc:
            problems.append(str(exc))

    if not model_args.model_name_or_path:
        problems.append("--model_name_or_path: required (the base checkpoint folder)")
    elif os.path.isdir(model_args.model_name_or_path) and not os.path.isfile(
            os.path.join(model_args.model_name_or_path, "config.json")):
        problems.append(f"--model_name_or_path: folder {model_args.model_name_or_path!r} has no config.json "
                        "(not a checkpoint folder)")
    allowed("version", model_args.version, list(conv_templates))
    allowed("eeg_fusion", model_args.eeg_fusion, EEG_FUSION_MODES)
    allowed("mm_vision_select_feature", model_args.mm_vision_select_feature, ("patch", "cls_patch"))
    allowed("mm_patch_merge_type", model_args.mm_patch_merge_type, MERGE_TYPES)
    if not PROJECTOR_TYPE.match(model_args.mm_projector_type or ""):
        problems.append(
            f"--mm_projector_type: invalid value for the 'mm_projector_type' parameter. Allowed values are "
            f"'linear', 'identity', 'mlp<N>x_gelu', but got {model_args.mm_projector_type!r} instead"
        )
    if model_args.pretrain_mm_mlp_adapter and not os.path.isfile(model_args.pretrain_mm_mlp_adapter):
        problems.append(f"--pretrain_mm_mlp_adapter: file {model_args.pretrain_mm_mlp_adapter!r} not found")

    if not data_args.data_path:
        problems.append("--data_path: required (the training conversations json)")
    elif not os.path.isfile(data_args.data_path):
        problems.append(f"--data_path: file {data_args.data_path!r} not found")
    if data_args.image_folder and not os.path.isdir(data_args.image_folder):
        problems.append(f"--image_folder: folder {data_args.image_folder!r} not found")
    allowed("image_aspect_ratio", data_args.image_aspect_ratio, ASPECT_RATIOS)
    if data_args.image_grid_pinpoints is not None:
        try:
            parse_pinpoints(data_args.image_grid_pinpoints)
        except ValueError as exc:
            problems.append(str(exc))
    if data_args.high_level_features_path and not os.path.isfile(data_args.high_level_features_path):
        problems.append(f"--high_level_features_path: file {data_args.high_level_features_path!r} not found")

    allowed("bits", training_args.bits, (4, 8, 16))
    allowed("quant_type", training_args.quant_type, ("nf4", "fp4"))
    allowed("lora_bias", training_args.lora_bias, ("none", "all", "lora_only"))
    if training_args.model_max_length <= 0:
        problems.append(f"--model_max_length: must be positive, got {training_args.model_max_length}")
    if training_args.lora_enable and training_args.lora_r <= 0:
        problems.append(f"--lora_r: must be positive, got {training_args.lora_r}")
    if not 0 <= training_args.lora_dropout < 1:
        problems.append(f"--lora_dropout: must be in [0, 1), got {training_args.lora_dropout}")
    if training_args.mm_projector_lr is not None and training_args.mm_projector_lr < 0:
        problems.append(f"--mm_projector_lr: must be >= 0, got {training_args.mm_projector_lr}")
    if training_args.lora_vision_tower and not training_args.lora_enable:
        problems.append("--lora_vision_tower True: needs --lora_enable True (LoRA on the tower and the language model)")
    if training_args.lora_vision_tower and model_args.tune_mm_mlp_adapter:
        problems.append("--lora_vision_tower True: contradicts --tune_mm_mlp_adapter True (projector-only training)")
    if training_args.bits in (4, 8) and not training_args.lora_enable:
        problems.append(f"--bits {training_args.bits}: quantised weights cannot be trained; add --lora_enable True")
    if training_args.remove_unused_columns:
        problems.append("--remove_unused_columns: must be False (images and eeg_features are model inputs)")
    ds = training_args.deepspeed
    if isinstance(ds, str) and not ds.lstrip().startswith("{") and not os.path.isfile(ds):
        problems.append(f"--deepspeed: config file {ds!r} not found")

    if problems:
        raise ValueError("invalid training arguments: " + "; ".join(problems))
