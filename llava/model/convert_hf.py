"""Convert between this fork's (upstream LLaVA-1.5 / 1.6) checkpoints and transformers' llava-hf layout.

=================================  ===========================================
upstream LLaVA-1.5 / this fork      transformers ``LlavaForConditionalGeneration``
=================================  ===========================================
``model.embed_tokens/layers/norm``  ``model.language_model.*``
``lm_head``                         ``lm_head``
``model.mm_projector.0`` / ``.2``   ``model.multi_modal_projector.linear_1`` / ``linear_2``
CLIP in ``mm_vision_tower`` folder  ``model.vision_tower.vision_model.*`` (embedded)
``<image>`` split, id -200 spliced  ``<image>`` added to the vocabulary (``image_token_id``),
                                    repeated 576 times in ``input_ids`` by the processor
``image_aspect_ratio='anyres'``     ``LlavaNextForConditionalGeneration``
``model.image_newline``             ``model.image_newline``
``image_grid_pinpoints`` [w, h]     ``image_grid_pinpoints`` [h, w] (each pair swapped)
Llama or Mistral decoder            ``text_config`` ``llama`` or ``mistral``
=================================  ===========================================

Only ``mlp2x_gelu`` projectors and a single selected layer convert (the llava-hf projector
is exactly Linear-GELU-Linear); an anyres model converts with ``spatial_unpad`` only
(LlavaNext's one packing). The EEG feature slot has no llava-hf counterpart: the
fusion fields are dropped on the way out and default on the way back (``eeg_fusion='add'``).

Command line::

    python -m llava.model.convert_hf to-hf   SRC OUT [--model-base BASE]
    python -m llava.model.convert_hf from-hf SRC OUT
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..constants import DEFAULT_IMAGE_TOKEN

logger = logging.getLogger(__name__)

__all__ = ["to_llava_hf", "from_llava_hf", "main"]

_TOWER_DIR = "clip_vision_tower"
_NEWLINE = "model.image_newline"  # LLaVA-NeXT's learned row: the same key on both sides
_PROJ_TO_HF = {"0": "linear_1", "2": "linear_2"}
_PROJ_FROM_HF = {v: k for k, v in _PROJ_TO_HF.items()}


def _mean_rows(weight: torch.Tensor, n_new: int) -> torch.Tensor:
    """(V, H) -> (V + n_new, H), new rows at the mean of the existing ones."""
    if n_new <= 0:
        return weight
    return torch.cat([weight, weight.mean(0, keepdim=True).expand(n_new, -1)])


def _to_hf_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """This fork's state keys -> llava-hf's (``model.image_newline`` keeps its name)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith("model.vision_tower."):
            out["model.vision_tower." + key[len("model.vision_tower.vision_tower."):]] = value
        elif key.startswith("model.mm_projector."):
            index, rest = key[len("model.mm_projector."):].split(".", 1)
            out[f"model.multi_modal_projector.{_PROJ_TO_HF[index]}.{rest}"] = value
        elif key.startswith("model.") and key != _NEWLINE:
            out["model.language_model." + key[len("model."):]] = value
        else:
            out[key] = value
    return out


def _swap_pinpoints(pinpoints: list) -> list:
    """[w, h] <-> [h, w]: upstream LLaVA orders pinpoints (width, height), transformers (height, width)."""
    return [[int(b), int(a)] for a, b in pinpoints]


def _hf_config(cfg: Any, tower: Any, text: Any, image_token_id: int) -> Any:
    """transformers' LlavaConfig (LLaVA-1.5) or LlavaNextConfig (``image_aspect_ratio='anyres'``)."""
    from transformers import CLIPVisionConfig, LlavaNextConfig
    from transformers import LlavaConfig as HFLlavaConfig

    common = dict(text_config=text, vision_config=CLIPVisionConfig(**tower.config.to_dict()),
                  image_seq_length=tower.num_patches, projector_hidden_act="gelu",
                  vision_feature_select_strategy="default" if cfg.mm_vision_select_feature == "patch" else "full",
                  vision_feature_layer=int(cfg.mm_vision_select_layer), multimodal_projector_bias=True)
    if cfg.image_aspect_ratio != "anyres":
        return HFLlavaConfig(image_token_id=image_token_id, **common)
    if cfg.mm_patch_merge_type != "spatial_unpad":
        raise ValueError(f"to_llava_hf: mm_patch_merge_type {cfg.mm_patch_merge_type!r} has no llava-hf "
                         "counterpart (LlavaNext packs tiles as 'spatial_unpad' only)")
    return LlavaNextConfig(image_token_index=image_token_id, **common,
                           image_grid_pinpoints=_swap_pinpoints(cfg.image_grid_pinpoints))


def to_llava_hf(model_path: str | Path, out_dir: str | Path, model_base: str | Path | None = None) -> Path:
    """Write ``out_dir`` as a transformers ``LlavaForConditionalGeneration`` (or, for an anyres
    model, ``LlavaNextForConditionalGeneration``) checkpoint.

    ``model_path``/``model_base`` are what :func:`load_pretrained_model` takes (a base, a
    full checkpoint, or a LoRA/projector folder with its base: LoRA is merged first).
    ``<image>`` is added to the tokenizer; its new embedding and LM-head rows start at the
    mean of the existing rows.
    """
    from transformers import LlamaConfig, LlavaForConditionalGeneration, LlavaNextForConditionalGeneration
    from transformers import MistralConfig

    from .builder import load_pretrained_model
    from .configuration_llava import LlavaMistralConfig

    tokenizer, model, image_processor, _ = load_pretrained_model(
        str(model_path), None if model_base is None else str(model_base), None, device="cpu")
    cfg = model.config
    if cfg.mm_projector_type != "mlp2x_gelu":
        raise ValueError(f"checkpoint {model_path}: mm_projector_type {cfg.mm_projector_type!r} has no llava-hf "
                         "counterpart (only 'mlp2x_gelu' converts)")
    tower = model.get_vision_tower()
    if tower is None:
        raise ValueError(f"checkpoint {model_path}: no vision tower (mm_vision_tower unset)")

    old_vocab = model.get_input_embeddings().weight.shape[0]
    if DEFAULT_IMAGE_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_tokens([DEFAULT_IMAGE_TOKEN], special_tokens=True)
    image_token_id = tokenizer.convert_tokens_to_ids(DEFAULT_IMAGE_TOKEN)
    new_vocab = max(len(tokenizer), old_vocab)
    state = _to_hf_state(model.state_dict())
    for key in ("model.language_model.embed_tokens.weight", "lm_head.weight"):
        state[key] = _mean_rows(state[key], new_vocab - old_vocab)

    text_cls = MistralConfig if isinstance(cfg, LlavaMistralConfig) else LlamaConfig
    text = {k: v for k, v in cfg.to_dict().items() if k in text_cls.__dataclass_fields__ and k != "model_type"}
    text.update(vocab_size=new_vocab, pad_token_id=tokenizer.pad_token_id)
    hf_config = _hf_config(cfg, tower, text_cls(**text), image_token_id)
    next_ = cfg.image_aspect_ratio == "anyres"
    with torch.device("meta"):
        hf_model = (LlavaNextForConditionalGeneration if next_ else LlavaForConditionalGeneration)(hf_config)
    missing, unexpected = hf_model.load_state_dict(state, strict=False, assign=True)
    if missing or unexpected:
        raise ValueError(f"to_llava_hf: key mismatch; missing {sorted(missing)[:6]}, "
                         f"unexpected {sorted(unexpected)[:6]}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    hf_model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    if next_:
        from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

        keys = ("image_mean", "image_std", "size", "crop_size", "resample", "rescale_factor")
        image_processor = LlavaNextImageProcessorPil(
            **{k: getattr(image_processor, k) for k in keys}, image_grid_pinpoints=hf_config.image_grid_pinpoints)
    image_processor.save_pretrained(out_dir)
    logger.info("llava-hf checkpoint written to %s (image_token_id %d, vocab %d)", out_dir, image_token_id, new_vocab)
    return out_dir


def from_llava_hf(src_dir: str | Path, out_dir: str | Path) -> Path:
    """Write ``out_dir`` as an upstream-format LLaVA-1.5 / 1.6 base (CLIP in ``out_dir/clip_vision_tower``)."""
    from safetensors.torch import save_file
    from transformers import AutoImageProcessor, AutoTokenizer, CLIPVisionModel, LlavaForConditionalGeneration
    from transformers import LlavaNextForConditionalGeneration

    from .configuration_llava import LlavaConfig, LlavaMistralConfig

    src_dir, out_dir = Path(src_dir), Path(out_dir).resolve()
    kind = json.loads((src_dir / "config.json").read_text()).get("model_type")
    classes = {"llava": LlavaForConditionalGeneration, "llava_next": LlavaNextForConditionalGeneration}
    if kind not in classes:
        raise ValueError(f"checkpoint {src_dir}: model_type {kind!r} does not convert; allowed: 'llava', 'llava_next'")
    hf_model = classes[kind].from_pretrained(str(src_dir), dtype="auto")
    hf_cfg = hf_model.config
    layer = hf_cfg.vision_feature_layer
    if not isinstance(layer, int):
        raise ValueError(f"checkpoint {src_dir}: vision_feature_layer {layer!r}: only a single layer converts")
    if hf_cfg.projector_hidden_act != "gelu" or hf_cfg.vision_config.model_type not in ("clip_vision_model", "clip"):
        raise ValueError(f"checkpoint {src_dir}: only CLIP towers with a GELU projector convert "
                         f"(got {hf_cfg.vision_config.model_type!r}, {hf_cfg.projector_hidden_act!r})")
    text_type = hf_cfg.text_config.model_type
    if text_type not in ("llama", "mistral"):
        raise ValueError(f"checkpoint {src_dir}: text model {text_type!r} does not convert; allowed: 'llama', 'mistral'")

    tower_dir = out_dir / _TOWER_DIR
    tower = CLIPVisionModel(hf_cfg.vision_config)
    tower.load_state_dict(hf_model.model.vision_tower.state_dict())
    tower.save_pretrained(tower_dir)
    processor = AutoImageProcessor.from_pretrained(str(src_dir))
    if kind == "llava_next":  # the tower's own processor is CLIP's; tiles are cut by llava.mm_utils
        from transformers import CLIPImageProcessor

        keys = ("image_mean", "image_std", "size", "crop_size", "resample", "rescale_factor")
        processor = CLIPImageProcessor(**{k: getattr(processor, k) for k in keys})
    processor.save_pretrained(tower_dir)

    state: dict[str, torch.Tensor] = {}
    for key, value in hf_model.state_dict().items():
        if key.startswith("model.vision_tower."):
            continue
        if key.startswith("model.multi_modal_projector."):
            name, rest = key[len("model.multi_modal_projector."):].split(".", 1)
            state[f"model.mm_projector.{_PROJ_FROM_HF[name]}.{rest}"] = value.contiguous()
        elif key.startswith("model.language_model."):
            state["model." + key[len("model.language_model."):]] = value.contiguous()
        else:
            state[key] = value.contiguous()
    save_file(state, str(out_dir / "model.safetensors"), metadata={"format": "pt"})

    text = hf_cfg.text_config.to_dict()
    for key in ("model_type", "transformers_version", "architectures", "_name_or_path"):
        text.pop(key, None)
    width = int(hf_cfg.vision_config.hidden_size)
    mistral = text_type == "mistral"
    extra: dict[str, Any] = {}
    if kind == "llava_next":
        extra = dict(image_aspect_ratio="anyres", mm_patch_merge_type="spatial_unpad",
                     image_grid_pinpoints=_swap_pinpoints(hf_cfg.image_grid_pinpoints))
    config = (LlavaMistralConfig if mistral else LlavaConfig)(
        **text, mm_vision_tower=str(tower_dir), mm_hidden_size=width, mm_projector_type="mlp2x_gelu",
        mm_vision_select_layer=layer,
        mm_vision_select_feature="patch" if hf_cfg.vision_feature_select_strategy == "default" else "cls_patch",
        **{"image_aspect_ratio": "pad", **extra}, use_mm_proj=True, eeg_feature_dim=width,
        architectures=["LlavaMistralForCausalLM" if mistral else "LlavaLlamaForCausalLM"])
    data = config.to_dict()
    data["model_type"] = "llava_mistral" if mistral else "llava"
    (out_dir / "config.json").write_text(json.dumps(data, indent=2, sort_keys=True))
    AutoTokenizer.from_pretrained(str(src_dir)).save_pretrained(out_dir)
    logger.info("upstream-format base written to %s", out_dir)
    return out_dir


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m llava.model.convert_hf {to-hf,from-hf} SRC OUT``."""
    parser = argparse.ArgumentParser(prog="python -m llava.model.convert_hf",
                                     description="convert LLaVA-1.5 checkpoints to/from the llava-hf layout")
    parser.add_argument("direction", choices=["to-hf", "from-hf"], help="conversion direction")
    parser.add_argument("src", help="checkpoint folder to read")
    parser.add_argument("out", help="folder to write")
    parser.add_argument("--model-base", default=None, help="base of a LoRA/projector-only SRC (to-hf only)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.direction == "to-hf":
        out = to_llava_hf(args.src, args.out, args.model_base)
    else:
        if args.model_base:
            parser.error("--model-base applies to to-hf only")
        out = from_llava_hf(args.src, args.out)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
