"""``load_pretrained_model``: open any LLaVA-1.5 checkpoint folder for inference.

What a folder is is decided from the FILES it holds, never from its name:

- LoRA output (``adapter_config.json``): needs ``model_base``. Config from the folder,
  tokenizer and weights from the base, non-LoRA trainables (projector) from
  ``non_lora_trainables.safetensors`` or ``.bin`` (keys prefixed ``base_model.model.``),
  then the adapter is merged.
- projector-only (``mm_projector.safetensors`` / ``mm_projector.bin``, no model weights):
  needs ``model_base``; config from the folder, weights from the base, projector from the file.
- full checkpoint (``model.safetensors``, ``pytorch_model.bin`` or their sharded indexes):
  loaded alone.

Pickled ``.bin`` files are read with ``torch.load(weights_only=True)``; the CLIP tower is
loaded from ``config.mm_vision_tower``. ``load_4bit``/``load_8bit`` quantise the language
model with bitsandbytes and keep the projector, the vision tower and ``lm_head`` in full
precision.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path
from typing import Any

import torch

from ..constants import DEFAULT_IM_END_TOKEN, DEFAULT_IM_START_TOKEN, DEFAULT_IMAGE_PATCH_TOKEN
from ..utils import peft_quietly
from .configuration_llava import LlavaConfig, LlavaMistralConfig, load_llava_config
from .language_model.llava_mistral import LlavaMistralForCausalLM
from .modeling_llava import LlavaLlamaForCausalLM
from .vision_setup import load_weights_file, projector_state

logger = logging.getLogger(__name__)

__all__ = [
    "load_pretrained_model",
    "causal_lm_class",
    "checkpoint_kind",
    "load_tokenizer",
    "load_non_lora_trainables",
    "clean_generation_config",
    "QUANT_SKIP_MODULES",
]

#: Modules bitsandbytes leaves unquantised. transformers 5 matches these names from the start
#: of a module's full name (or as its suffix), so the prefixed forms are listed as well.
QUANT_SKIP_MODULES = ["model.mm_projector", "model.vision_tower", "lm_head", "mm_projector", "vision_tower"]

_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                 "pytorch_model.bin.index.json")
_NON_LORA_FILES = ("non_lora_trainables.safetensors", "non_lora_trainables.bin")
_PROJECTOR_FILES = ("mm_projector.safetensors", "mm_projector.bin")


def checkpoint_kind(path: str | Path) -> str:
    """``'lora'``, ``'projector'`` or ``'full'`` from the files in ``path``.

    Raises FileNotFoundError naming the files looked for when none is present.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"checkpoint {path}: folder not found")
    if (path / "adapter_config.json").is_file():
        return "lora"
    if any((path / f).is_file() for f in _WEIGHT_FILES):
        return "full"
    if any((path / f).is_file() for f in _PROJECTOR_FILES):
        return "projector"
    raise FileNotFoundError(f"checkpoint {path}: no weights found; looked for adapter_config.json, "
                            f"{', '.join(_WEIGHT_FILES + _PROJECTOR_FILES)}")


def load_tokenizer(path: str | Path, use_fast: bool | None = None) -> Any:
    """The tokenizer saved in ``path``; a sentencepiece ``tokenizer.model`` loads as LlamaTokenizer.

    The pad token falls back to unk (upstream's choice for Llama/Vicuna), else to eos
    (Llama-3 has no unk); padding is on the right.
    """
    from transformers import AutoTokenizer, LlamaTokenizer

    path = Path(path)
    cls_name = None
    cfg_file = path / "tokenizer_config.json"
    if cfg_file.is_file():
        cls_name = json.loads(cfg_file.read_text()).get("tokenizer_class")
    if (path / "tokenizer.model").is_file() and (cls_name or "").startswith("LlamaTokenizer"):
        tokenizer = LlamaTokenizer.from_pretrained(str(path))
    else:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    if tokenizer.pad_token is None and tokenizer.unk_token is not None:
        tokenizer.pad_token = tokenizer.unk_token
    elif tokenizer.pad_token is None and tokenizer.eos_token is not None:  # Llama-3 has no unk
        logger.info("tokenizer %s: no pad or unk token; padding with eos %r", path, tokenizer.eos_token)
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_non_lora_trainables(path: str | Path) -> dict[str, torch.Tensor]:
    """Non-LoRA trainables of a LoRA folder, keyed as in the model (``model.mm_projector.0.weight``)."""
    path = Path(path)
    file = next((path / f for f in _NON_LORA_FILES if (path / f).is_file()), None)
    if file is None:
        return {}
    state = load_weights_file(file)
    out = {}
    for key, value in state.items():
        if key.startswith("base_model.model."):
            key = key[len("base_model.model."):]
        elif key.startswith("base_model."):
            key = key[len("base_model."):]
        if key.startswith("model.model."):
            key = key[len("model."):]
        out[key] = value
    return out


def clean_generation_config(model: Any) -> None:
    """Drop sampling values a greedy generation config carries (they fail validation on save)."""
    gen = getattr(model, "generation_config", None)
    if gen is None or getattr(gen, "do_sample", False):
        return
    for key in ("temperature", "top_p", "top_k", "typical_p", "min_p", "epsilon_cutoff", "eta_cutoff"):
        if getattr(gen, key, None) is not None:
            setattr(gen, key, None)


def _resolve_device(device: str) -> str:
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        logger.warning("device %r requested but CUDA is not available; loading on CPU", device)
        return "cpu"
    return str(device)


def _attn_implementation(use_flash_attn: bool, device: str) -> str:
    if use_flash_attn:
        if device.startswith("cuda") and importlib.util.find_spec("flash_attn") is not None:
            return "flash_attention_2"
        logger.warning("flash-attn requested but not usable here (not installed or no CUDA); using SDPA")
    return "sdpa"


def _quantization(load_8bit: bool, load_4bit: bool, dtype: torch.dtype) -> Any:
    if not (load_8bit or load_4bit):
        return None
    if load_8bit and load_4bit:
        raise ValueError("load_pretrained_model: load_8bit and load_4bit are mutually exclusive")
    from transformers import BitsAndBytesConfig

    if load_8bit:
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=list(QUANT_SKIP_MODULES))
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=dtype, bnb_4bit_use_double_quant=True,
                              bnb_4bit_quant_type="nf4", llm_int8_skip_modules=list(QUANT_SKIP_MODULES))


def causal_lm_class(config: LlavaConfig | LlavaMistralConfig) -> type:
    """The causal-LM class of a LLaVA config, by the config's class (never by a path or name).

    :class:`LlavaConfig` (LLaVA-1.5 / Vicuna, LLaVA-NeXT-8B / Llama-3) ->
    :class:`LlavaLlamaForCausalLM`; :class:`LlavaMistralConfig` -> :class:`LlavaMistralForCausalLM`.
    """
    for config_cls, model_cls in ((LlavaMistralConfig, LlavaMistralForCausalLM), (LlavaConfig, LlavaLlamaForCausalLM)):
        if isinstance(config, config_cls):
            return model_cls
    raise TypeError(f"causal_lm_class: config must be an instance of LlavaConfig or LlavaMistralConfig, "
                    f"got {type(config).__name__} instead")


def _from_pretrained(weights_dir: Path, config: Any, **kwargs: Any) -> Any:
    return causal_lm_class(config).from_pretrained(str(weights_dir), config=config, weights_only=True, **kwargs)


def _add_image_tokens(model: Any, tokenizer: Any) -> None:
    cfg = model.config
    tokens = []
    if getattr(cfg, "mm_use_im_patch_token", False):
        tokens.append(DEFAULT_IMAGE_PATCH_TOKEN)
    if getattr(cfg, "mm_use_im_start_end", False):
        tokens += [DEFAULT_IM_START_TOKEN, DEFAULT_IM_END_TOKEN]
    if tokens:
        tokenizer.add_tokens(tokens, special_tokens=True)
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))


def load_pretrained_model(model_path: str | Path, model_base: str | Path | None = None, model_name: str | None = None,
                          load_8bit: bool = False, load_4bit: bool = False, device_map: Any = "auto",
                          device: str = "cuda", use_flash_attn: bool = False, **kwargs: Any
                          ) -> tuple[Any, LlavaLlamaForCausalLM, Any, int]:
    """Load a LLaVA-1.5 checkpoint for inference.

    Parameters
    ----------
    model_path : str or Path
        A full checkpoint, a LoRA output folder or a projector-only folder (see the module doc).
    model_base : str or Path, optional
        The base checkpoint a LoRA or projector-only folder was trained from.
    model_name : str, optional
        Accepted for upstream compatibility; never used to decide anything.
    load_8bit, load_4bit : bool
        bitsandbytes quantisation of the language model (projector and tower unquantised).
    device_map : str or dict
        Passed to ``from_pretrained`` on CUDA; on CPU everything goes to the CPU.
    device : str
        ``'cuda'`` (falls back to CPU, with a warning, when CUDA is absent) or ``'cpu'``.
    use_flash_attn : bool
        flash-attention 2 when installed and on CUDA; SDPA otherwise.
    **kwargs
        ``dtype``/``torch_dtype`` overrides the default dtype (CPU float32, CUDA float16);
        other keys go to ``from_pretrained``.

    Returns
    -------
    tokenizer, model, image_processor, context_len
        ``image_processor`` is the CLIP tower's (None for a text-only model);
        ``context_len`` is ``config.max_sequence_length`` or 2048.
    """
    if model_name is not None:
        logger.debug("model_name %r is recorded only", model_name)
    model_path = Path(model_path)
    kind = checkpoint_kind(model_path)
    device = _resolve_device(device)
    dtype = kwargs.pop("dtype", None) or kwargs.pop("torch_dtype", None)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    if dtype is None:
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
    load_kwargs: dict[str, Any] = {
        "dtype": dtype,
        "attn_implementation": _attn_implementation(use_flash_attn, device),
        "device_map": device_map if device.startswith("cuda") else {"": device},
    }
    quant = _quantization(load_8bit, load_4bit, dtype)
    if quant is not None:
        load_kwargs["quantization_config"] = quant
    load_kwargs.update(kwargs)

    if kind in ("lora", "projector") and model_base is None:
        raise ValueError(f"checkpoint {model_path}: a {'LoRA' if kind == 'lora' else 'projector-only'} folder "
                         "needs model_base (--model-base), the checkpoint it was trained from")
    if kind == "full" and model_base is not None:
        logger.warning("checkpoint %s holds full model weights; model_base %s is not used", model_path, model_base)
        model_base = None

    weights_dir = Path(model_base) if model_base is not None else model_path
    config = load_llava_config(model_path)
    if kind != "full":
        base_cfg = load_llava_config(weights_dir)
        if base_cfg.vocab_size != config.vocab_size:
            logger.info("loading base weights with the base vocabulary (%d); the checkpoint has %d",
                        base_cfg.vocab_size, config.vocab_size)
            config.vocab_size = base_cfg.vocab_size
    tokenizer = load_tokenizer(weights_dir)
    logger.info("loading %s checkpoint %s%s", kind, model_path, f" on base {weights_dir}" if model_base else "")
    model = _from_pretrained(weights_dir, config, **load_kwargs)

    tower = model.get_vision_tower()
    if kind == "lora" and tower is not None:
        tower.load_model()  # before the adapter: it may hold LoRA weights of the tower (--lora_vision_tower)
        tower.to(device=_model_device(model), dtype=dtype)
    if kind == "lora":
        model = _apply_lora(model, model_path)
    elif kind == "projector":
        file = next(model_path / f for f in _PROJECTOR_FILES if (model_path / f).is_file())
        weights = projector_state(load_weights_file(file), source=str(file))
        projector = model.get_model().mm_projector
        ref = next(projector.parameters())
        projector.load_state_dict({k: v.to(ref.dtype) for k, v in weights.items()})

    _add_image_tokens(model, tokenizer)
    image_processor = None
    tower = model.get_vision_tower()
    if tower is not None:
        tower.load_model()
        tower.to(device=_model_device(model), dtype=dtype)
        image_processor = tower.image_processor
    clean_generation_config(model)
    model.eval()
    context_len = int(getattr(model.config, "max_sequence_length", None) or 2048)
    return tokenizer, model, image_processor, context_len


def _model_device(model: Any) -> torch.device:
    return model.get_input_embeddings().weight.device


def _apply_lora(model: LlavaLlamaForCausalLM, ckpt: Path) -> LlavaLlamaForCausalLM:
    """Load the non-LoRA trainables, then merge the PEFT adapter of ``ckpt`` into ``model``."""
    from peft import PeftModel

    extra = load_non_lora_trainables(ckpt)
    if not extra and any((ckpt / f).is_file() for f in _NON_LORA_FILES):
        logger.info("LoRA checkpoint %s trained no non-LoRA tensors (projector frozen); the base projector is kept",
                    ckpt)
    elif not extra:
        logger.warning("LoRA checkpoint %s has no non_lora_trainables file; the base projector is kept", ckpt)
    else:
        own = model.state_dict()
        unknown = sorted(k for k in extra if k not in own)
        if unknown:
            raise ValueError(f"checkpoint {ckpt}: non-LoRA trainables not in the model: {unknown[:8]}")
        vocab = extra.get("model.embed_tokens.weight")
        if vocab is not None and vocab.shape[0] != model.get_input_embeddings().weight.shape[0]:
            model.resize_token_embeddings(int(vocab.shape[0]))
            own = model.state_dict()
        bad = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in extra.items()
               if own[k].shape != v.shape]
        if bad:
            raise ValueError(f"checkpoint {ckpt}: non-LoRA trainables with wrong shapes: {bad[:4]}")
        model.load_state_dict({k: v.to(own[k].dtype) for k, v in extra.items()}, strict=False)
        logger.info("loaded %d non-LoRA tensors from %s", len(extra), ckpt)
    with peft_quietly():
        return PeftModel.from_pretrained(model, str(ckpt)).merge_and_unload()
