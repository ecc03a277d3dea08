"""Building the multimodal parts for training: vision tower, projector, image tokens; weight files.

:meth:`LlavaMetaModel.initialize_vision_modules` and
:meth:`LlavaMetaForCausalLM.initialize_vision_tokenizer` (upstream's names, called by
``llava/train/train.py``) delegate here; ``self`` is the model they are called on.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..constants import DEFAULT_IM_END_TOKEN, DEFAULT_IM_START_TOKEN, DEFAULT_IMAGE_PATCH_TOKEN
from .fusion import EEGFusion
from .modeling_llava import build_vision_projector
from .multimodal_encoder.builder import build_vision_tower

logger = logging.getLogger(__name__)

__all__ = ["load_weights_file", "projector_state", "initialize_vision_modules", "initialize_vision_tokenizer"]


def load_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from a ``.safetensors`` file, or a pickled ``.bin`` read with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path}: not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"weights file {path}: expected a mapping of names to tensors, got {type(state).__name__}")
    return state


def projector_state(state: dict[str, torch.Tensor], source: str = "weights") -> dict[str, torch.Tensor]:
    """The ``mm_projector`` entries of ``state``, keyed relative to the projector (``0.weight``...)."""
    out = {k.split("mm_projector.", 1)[1]: v for k, v in state.items() if "mm_projector." in k}
    if not out:
        raise ValueError(f"{source}: no 'mm_projector.*' weights found; keys: {sorted(state)[:8]}")
    return out


def initialize_vision_modules(model: Any, model_args: Any, fsdp: Any = None) -> None:
    """Create or load the vision tower and projector from training arguments.

    ``model_args`` carries ``vision_tower``, ``mm_vision_select_layer``,
    ``mm_vision_select_feature``, ``pretrain_mm_mlp_adapter``, ``mm_projector_type``,
    ``mm_patch_merge_type`` and optionally ``eeg_fusion``. The config is updated so
    that a saved checkpoint rebuilds the same modules. With ``fsdp`` set, the tower is
    kept in a list, outside the module tree, as upstream does.
    """
    config = model.config
    name = getattr(model_args, "vision_tower", None) or getattr(config, "mm_vision_tower", None)
    if not name:
        raise ValueError("initialize_vision_modules: 'vision_tower' is not set")
    config.mm_vision_tower = str(name)
    layer = getattr(model_args, "mm_vision_select_layer", None)
    config.mm_vision_select_layer = -2 if layer is None else int(layer)
    config.mm_vision_select_feature = getattr(model_args, "mm_vision_select_feature", "patch") or "patch"
    config.mm_patch_merge_type = getattr(model_args, "mm_patch_merge_type", "flat") or "flat"
    fusion = getattr(model_args, "eeg_fusion", None)
    if fusion is not None:
        EEGFusion(fusion)  # checks the value
        config.eeg_fusion = fusion
    context = getattr(model_args, "eeg_context", None)
    if context is not None:
        EEGFusion(config.eeg_fusion if hasattr(config, "eeg_fusion") else "add", int(context))  # checks the value
        config.eeg_context = int(context)

    tower = model.get_vision_tower()
    if tower is None or tower.vision_tower_name != str(name):
        tower = build_vision_tower(config)
    else:
        tower.select_layer = config.mm_vision_select_layer
        tower.select_feature = config.mm_vision_select_feature
        tower.load_model()
    if fsdp:
        model._modules.pop("vision_tower", None)  # kept outside the module tree, as upstream
        model.vision_tower = [tower]
    else:
        model.vision_tower = tower

    config.use_mm_proj = True
    config.mm_projector_type = getattr(model_args, "mm_projector_type", None) or "linear"
    config.mm_hidden_size = tower.hidden_size
    config.eeg_feature_dim = tower.hidden_size  # the features share the projector
    projector = getattr(model, "mm_projector", None)
    if projector is None or _projector_in_width(projector) != tower.hidden_size:
        if projector is not None:
            logger.warning("rebuilding mm_projector: its input width %s differs from the tower's %d",
                           _projector_in_width(projector), tower.hidden_size)
        ref = next(model.parameters())
        model.mm_projector = build_vision_projector(config).to(device=ref.device, dtype=ref.dtype)
    else:
        # LoRA wrapping may have frozen it; the projector trains unless told otherwise
        model.mm_projector.requires_grad_(True)

    if "unpad" in config.mm_patch_merge_type and getattr(model, "image_newline", None) is None:
        ref = next(model.parameters())  # LLaVA-NeXT's learned newline row (hidden,)
        model.image_newline = nn.Parameter(torch.randn(config.hidden_size, device=ref.device, dtype=ref.dtype)
                                           * config.hidden_size ** -0.5)

    adapter = getattr(model_args, "pretrain_mm_mlp_adapter", None)
    if adapter:
        weights = projector_state(load_weights_file(adapter), source=f"pretrain_mm_mlp_adapter {adapter}")
        model.mm_projector.load_state_dict(weights)
        logger.info("loaded projector weights from %s", adapter)


def _projector_in_width(projector: nn.Module) -> int | None:
    for module in projector.modules():
        if isinstance(module, nn.Linear):
            return int(module.in_features)
    return None


def initialize_vision_tokenizer(model: Any, model_args: Any, tokenizer: Any) -> None:
    """Add ``<im_patch>`` / ``<im_start>``, ``<im_end>`` when asked, as upstream LLaVA.

    New input embeddings start at the mean of the existing ones. With
    ``tune_mm_mlp_adapter`` the input embeddings train and the output ones stay fixed;
    with ``pretrain_mm_mlp_adapter`` the new tokens' embeddings are read from it.
    """
    if getattr(model_args, "mm_use_im_patch_token", False):
        tokenizer.add_tokens([DEFAULT_IMAGE_PATCH_TOKEN], special_tokens=True)
        model.resize_token_embeddings(len(tokenizer))
    if getattr(model_args, "mm_use_im_start_end", False):
        added = tokenizer.add_tokens([DEFAULT_IM_START_TOKEN, DEFAULT_IM_END_TOKEN], special_tokens=True)
        model.resize_token_embeddings(len(tokenizer))
        if added > 0:
            inp = model.get_input_embeddings().weight.data
            out = model.get_output_embeddings().weight.data
            inp[-added:] = inp[:-added].mean(dim=0, keepdim=True)
            out[-added:] = out[:-added].mean(dim=0, keepdim=True)
        if getattr(model_args, "tune_mm_mlp_adapter", False):
            model.get_input_embeddings().requires_grad_(True)
            model.get_output_embeddings().requires_grad_(False)
        adapter = getattr(model_args, "pretrain_mm_mlp_adapter", None)
        if adapter and added > 0:
            state = load_weights_file(adapter)
            key = next((k for k in state if k.endswith("embed_tokens.weight")), None)
            if key is None:
                raise ValueError(f"pretrain_mm_mlp_adapter {adapter}: no embed_tokens.weight for the "
                                 f"{added} added tokens")
            weight = state[key]
            inp = model.get_input_embeddings().weight.data
            if weight.shape == inp.shape:
                inp[-added:] = weight[-added:]
            elif weight.shape[0] == added:
                inp[-added:] = weight
            else:
                raise ValueError(f"pretrain_mm_mlp_adapter {adapter}: embed_tokens.weight has shape "
                                 f"{tuple(weight.shape)}; expected {tuple(inp.shape)} or ({added}, {inp.shape[1]})")
    elif getattr(model_args, "mm_use_im_patch_token", False) and getattr(model_args, "tune_mm_mlp_adapter", False):
        model.get_input_embeddings().requires_grad_(False)
        model.get_output_embeddings().requires_grad_(False)
