"""``train()``: LoRA / full fine-tuning of the LLaVA-1.5 fork, upstream flags and outputs.

The steps, each in its own module:

1. arguments (:mod:`llava.train.arguments`): parse and validate every flag;
2. model (:func:`build_model`): the base checkpoint by explicit class
   (``LlavaLlamaForCausalLM`` + ``LlavaConfig``), optional 4/8-bit weights, the vision
   tower and projector (``initialize_vision_modules``), LoRA on every ``Linear`` of the
   language model except the projector, the vision tower and ``lm_head``;
3. data (:mod:`llava.train.dataset`, :mod:`llava.train.collator`);
4. :class:`llava.train.llava_trainer.LLaVATrainer`, resuming from the newest
   ``checkpoint-*`` of ``--output_dir`` when there is one;
5. saving (:mod:`llava.train.checkpointing`).

Run it through ``llava/train/train_mem.py`` (``deepspeed`` launcher or plain ``python``).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import fields, replace
from typing import Any

import torch

from llava.model.builder import QUANT_SKIP_MODULES
from llava.train.arguments import (
    DataArguments,
    ModelArguments,
    TrainingArguments,
    parse_args,
    parse_pinpoints,
    validate_args,
)
from llava.train.checkpointing import newest_checkpoint, save_config, save_lora_folder, save_projector
from llava.train.collator import DataCollatorForSupervisedDataset
from llava.train.dataset import DatasetOptions, LazySupervisedDataset, prepare_data
from llava.train.llava_trainer import LLaVATrainer
from llava.utils import peft_quietly

logger = logging.getLogger(__name__)

__all__ = ["train", "build_model", "build_tokenizer", "lora_target_modules", "freeze_vision_tower", "compute_dtype"]

#: Module name parts that LoRA never wraps (besides lm_head).
LORA_EXCLUDED = ("mm_projector", "vision_tower", "vision_resampler")


def compute_dtype(training_args: TrainingArguments) -> torch.dtype:
    """bfloat16 / float16 / float32 from ``--bf16`` / ``--fp16``."""
    if training_args.bf16:
        return torch.bfloat16
    if training_args.fp16:
        return torch.float16
    return torch.float32


def lora_target_modules(model: torch.nn.Module, vision_tower: bool = False) -> list[str]:
    """Full names of every ``Linear`` of the language model (not projector, tower, lm_head).

    With ``vision_tower`` the Linear layers of the CLIP vision tower are added (PSG-LLaVA:
    LoRA on the vision encoder and the language model, the projector untouched). Full
    names, not leaf names: a leaf name such as ``q_proj`` would also match the tower's
    attention layers.
    """
    linear_types: tuple[type, ...] = (torch.nn.Linear,)
    if sys.modules.get("bitsandbytes") is not None:  # only a quantising run has imported it
        bnb = sys.modules["bitsandbytes"]
        linear_types += (bnb.nn.Linear4bit, bnb.nn.Linear8bitLt)
    excluded = tuple(p for p in LORA_EXCLUDED if not (vision_tower and p == "vision_tower"))
    names = []
    for name, module in model.named_modules():
        if not isinstance(module, linear_types):
            continue
        if any(part in name for part in excluded) or name.split(".")[-1] == "lm_head":
            continue
        names.append(name)
    if not names:
        raise ValueError("LoRA: the model has no Linear layer outside the projector, vision tower and lm_head")
    if vision_tower and not any("vision_tower" in n for n in names):
        raise ValueError("--lora_vision_tower: the model's vision tower has no Linear layer (is it loaded?)")
    return names


def lora_target_pattern(names: list[str]) -> str:
    """One regular expression matching exactly ``names``, layer numbers folded to ``\\d+``.

    PEFT would shorten a list of names to their leaf names (``q_proj``...) in
    ``adapter_config.json``, which also match the vision tower's layers: a pattern keeps the
    saved adapter config explicit about where LoRA is (``...vision_tower...`` or not).
    """
    import re

    stems = sorted({re.sub(r"\\\.\d+\\\.", r"\\.\\d+\\.", re.escape(n)) for n in names})
    pattern = "^(?:" + "|".join(stems) + ")$"
    compiled = re.compile(pattern)
    if not all(compiled.fullmatch(n) for n in names):  # pragma: no cover - guards the folding above
        raise RuntimeError("LoRA: target pattern does not match its own module names")
    return pattern


def freeze_vision_tower(model: torch.nn.Module) -> int:
    """Freeze the vision tower's own weights, leaving its LoRA weights trainable; returns how many remain."""
    trainable = 0
    for name, param in model.named_parameters():
        if "vision_tower" in name:
            keep = "lora_" in name
            param.requires_grad_(keep)
            trainable += keep
    return trainable


def build_tokenizer(model_args: ModelArguments, training_args: TrainingArguments) -> Any:
    """The base's tokenizer: right padding, pad = unk, ``model_max_length`` from the flags."""
    from llava.model.builder import load_tokenizer

    tokenizer = load_tokenizer(model_args.model_name_or_path)
    tokenizer.padding_side = "right"
    tokenizer.model_max_length = training_args.model_max_length
    if tokenizer.pad_token is None and tokenizer.unk_token is not None:
        tokenizer.pad_token = tokenizer.unk_token
    return tokenizer


def _quantization_kwargs(training_args: TrainingArguments, dtype: torch.dtype) -> dict[str, Any]:
    if training_args.bits not in (4, 8):
        return {}
    from transformers import BitsAndBytesConfig

    device = f"cuda:{training_args.local_rank}" if torch.cuda.is_available() and training_args.local_rank >= 0 else (
        "cuda" if torch.cuda.is_available() else "cpu")
    quant = BitsAndBytesConfig(
        load_in_4bit=training_args.bits == 4, load_in_8bit=training_args.bits == 8,
        llm_int8_skip_modules=list(QUANT_SKIP_MODULES), llm_int8_threshold=6.0,
        bnb_4bit_compute_dtype=dtype, bnb_4bit_use_double_quant=training_args.double_quant,
        bnb_4bit_quant_type=training_args.quant_type)
    return {"quantization_config": quant, "device_map": {"": device}}


def build_model(model_args: ModelArguments, training_args: TrainingArguments, tokenizer: Any,
                attn_implementation: str | None = None, image_aspect_ratio: str = "pad",
                image_grid_pinpoints: list[list[int]] | None = None) -> tuple[Any, Any]:
    """Load the base, attach vision modules and LoRA; return ``(model, image_processor)``.

    ``image_grid_pinpoints`` (anyres) replaces the base's when given.
    """
    from llava.model import load_llava_config
    from llava.model.builder import causal_lm_class

    dtype = compute_dtype(training_args)
    config = load_llava_config(model_args.model_name_or_path)
    kwargs: dict[str, Any] = {"dtype": dtype}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    kwargs.update(_quantization_kwargs(training_args, dtype))
    model = causal_lm_class(config).from_pretrained(
        model_args.model_name_or_path, config=config, cache_dir=training_args.cache_dir, weights_only=True, **kwargs)
    model.config.use_cache = False
    if model_args.freeze_backbone:
        model.get_model().requires_grad_(False)

    if training_args.bits in (4, 8):
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=bool(training_args.gradient_checkpointing))
    if training_args.gradient_checkpointing:
        model.enable_input_require_grads()

    image_processor = None
    if model_args.vision_tower or getattr(model.config, "mm_vision_tower", None):
        model.get_model().initialize_vision_modules(model_args=model_args, fsdp=training_args.fsdp or None)
        tower = model.get_vision_tower()
        if not tower.is_loaded:
            tower.load_model()
        tower.to(dtype=dtype)
        tower.requires_grad_(False)
        image_processor = tower.image_processor
        cfg = model.config
        cfg.image_aspect_ratio = image_aspect_ratio
        if image_grid_pinpoints is not None:
            cfg.image_grid_pinpoints = image_grid_pinpoints
        if image_aspect_ratio == "anyres" and not getattr(cfg, "image_grid_pinpoints", None):
            raise ValueError(f"--image_aspect_ratio anyres: base {model_args.model_name_or_path!r} has no "
                             "image_grid_pinpoints; pass --image_grid_pinpoints")
        cfg.tokenizer_padding_side = tokenizer.padding_side
        cfg.tokenizer_model_max_length = tokenizer.model_max_length
        cfg.tune_mm_mlp_adapter = model_args.tune_mm_mlp_adapter
        cfg.freeze_mm_mlp_adapter = training_args.freeze_mm_mlp_adapter
        cfg.mm_use_im_start_end = model_args.mm_use_im_start_end
        cfg.mm_use_im_patch_token = model_args.mm_use_im_patch_token
        cfg.mm_projector_lr = training_args.mm_projector_lr
        cfg.eeg_fusion = model_args.eeg_fusion
        cfg.lora_vision_tower = bool(training_args.lora_enable and training_args.lora_vision_tower)
        model.initialize_vision_tokenizer(model_args, tokenizer=tokenizer)

    if training_args.lora_enable:
        from peft import LoraConfig, get_peft_model

        targets = lora_target_modules(model, vision_tower=training_args.lora_vision_tower)
        lora_config = LoraConfig(r=training_args.lora_r, lora_alpha=training_args.lora_alpha,
                                 target_modules=lora_target_pattern(targets), lora_dropout=training_args.lora_dropout,
                                 bias=training_args.lora_bias, task_type="CAUSAL_LM")
        n_tower = sum("vision_tower" in t for t in targets)
        logger.info("LoRA r=%d alpha=%d on %d Linear layers (%d of them in the vision tower)", training_args.lora_r,
                    training_args.lora_alpha, len(targets), n_tower)
        with peft_quietly():
            model = get_peft_model(model, lora_config)

    inner = model.get_model() if hasattr(model, "get_model") else model.get_base_model().get_model()
    if image_processor is not None:
        projector = inner.mm_projector
        if model_args.tune_mm_mlp_adapter:
            model.requires_grad_(False)
            projector.requires_grad_(True)
        elif training_args.freeze_mm_mlp_adapter:
            projector.requires_grad_(False)
        else:
            projector.requires_grad_(True)
        newline = getattr(inner, "image_newline", None)  # LLaVA-NeXT spatial_unpad: trains with the projector
        if newline is not None:
            newline.requires_grad_(any(p.requires_grad for p in projector.parameters()))
        n_tower_lora = freeze_vision_tower(model)
        if training_args.lora_vision_tower:
            logger.info("vision tower: its weights frozen, %d LoRA tensors trainable", n_tower_lora)
    return model, image_processor


def _image_tokens(model: Any) -> int:
    """Visual tokens per image slot (the tower's patch count; +1 with a CLS token kept)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    tower = inner.get_vision_tower()
    if tower is None:
        return 0
    extra = 1 if getattr(inner.config, "mm_vision_select_feature", "patch") == "cls_patch" else 0
    return int(tower.num_patches) + extra


def _align_special_tokens(model: Any, tokenizer: Any) -> None:
    """The configs' pad/bos/eos ids from the tokenizer (the Trainer would do it, with a notice)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    for cfg in (inner.config, getattr(inner, "generation_config", None)):
        if cfg is None:
            continue
        for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
            value = getattr(tokenizer, name, None)
            if value is not None:
                setattr(cfg, name, value)


def _anyres_geometry(model: Any) -> Any:
    """The model's :class:`llava.model.anyres.AnyresGeometry` when it uses anyres, else None."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    if getattr(inner.config, "image_aspect_ratio", None) != "anyres":
        return None
    from llava.model.anyres import AnyresGeometry

    tower = inner.get_vision_tower()
    return AnyresGeometry.from_config(inner.config, int(tower.config.image_size), int(tower.config.patch_size))


def _log_setup(training_args: TrainingArguments) -> None:
    """INFO from ``llava`` on the main process only; other ranks show warnings and errors."""
    import transformers

    level = logging.INFO if training_args.should_log else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("llava").setLevel(level)
    if not training_args.should_log:
        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
    logging.getLogger("DeepSpeed").setLevel(logging.WARNING)  # its INFO lines dump whole configs


def _changed(args: Any) -> str:
    """``name=value`` for the fields of an argument dataclass that differ from their defaults."""
    default = type(args)()
    return ", ".join(f"{f.name}={getattr(args, f.name)!r}" for f in fields(args)
                     if getattr(args, f.name) != getattr(default, f.name))


def _trainable_summary(model: torch.nn.Module) -> str:
    def size(p: torch.Tensor) -> int:
        return int(getattr(p, "ds_numel", p.numel()))  # ZeRO-3 partitions report their full size there

    total = sum(size(p) for p in model.parameters())
    trainable = sum(size(p) for p in model.parameters() if p.requires_grad)
    return f"{trainable:,} of {total:,} parameters trainable ({100 * trainable / max(total, 1):.2f}%)"


def train(argv: Sequence[str] | None = None, attn_implementation: str | None = None) -> str:
    """Train from command-line flags (``argv``; default ``sys.argv[1:]``); return the output folder."""
    model_args, data_args, training_args = parse_args(argv)
    _log_setup(training_args)
    validate_args(model_args, data_args, training_args)
    if "wandb" in (training_args.report_to or []) and not os.environ.get("WANDB_MODE"):
        logger.info("reporting to wandb; set WANDB_MODE=offline to log without an account (sync later)")
    logger.info("model arguments: %s", _changed(model_args))
    logger.info("data arguments: %s", _changed(data_args))

    options = DatasetOptions(
        data_path=data_args.data_path, image_folder=data_args.image_folder,
        image_aspect_ratio=data_args.image_aspect_ratio, version=model_args.version,
        model_max_length=training_args.model_max_length, eeg_fusion=model_args.eeg_fusion,
        eeg_context=model_args.eeg_context,
        features_path=data_args.high_level_features_path, mm_use_im_start_end=model_args.mm_use_im_start_end)
    prepared = prepare_data(options)  # every sample's files checked before the model is loaded

    # Seeded before anything random is built (LoRA A matrices, a new projector): the Trainer
    # seeds only after the model exists, so the init would depend on what ran before in
    # this process (an experiment grid runs many trainings in one).
    from transformers import set_seed

    set_seed(training_args.seed)
    tokenizer = build_tokenizer(model_args, training_args)
    pinpoints = parse_pinpoints(data_args.image_grid_pinpoints) if data_args.image_grid_pinpoints else None
    model, image_processor = build_model(model_args, training_args, tokenizer, attn_implementation,
                                         data_args.image_aspect_ratio, pinpoints)
    base_config = model.get_base_model().config if hasattr(model, "get_base_model") else model.config
    _align_special_tokens(model, tokenizer)
    logger.info("model: %s", _trainable_summary(model))

    geometry = _anyres_geometry(model)
    options = replace(options, image_tokens=_image_tokens(model), anyres=geometry,
                      image_grid_pinpoints=base_config.image_grid_pinpoints if geometry is not None else None)
    dataset = LazySupervisedDataset(options, tokenizer, image_processor, prepared)
    collator = DataCollatorForSupervisedDataset(tokenizer, training_args.model_max_length)
    trainer = LLaVATrainer(model=model, args=training_args, train_dataset=dataset, data_collator=collator,
                           processing_class=tokenizer)

    resume = newest_checkpoint(training_args.output_dir)
    if resume is not None:
        logger.info("resuming from %s", resume)
    trainer.train(resume_from_checkpoint=str(resume) if resume is not None else None)
    trainer.save_state()
    base_config.use_cache = True

    out = training_args.output_dir
    if training_args.lora_enable:
        save_lora_folder(model, out, training_args.lora_bias, is_main=training_args.should_save)
    elif model_args.tune_mm_mlp_adapter:
        save_projector(model, out, is_main=training_args.should_save)
    else:
        trainer.save_model(out)
        if training_args.should_save:
            save_config(model, out)
    logger.info("saved to %s", out)
    return out
