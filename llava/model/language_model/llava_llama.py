"""LLaVA-1.5 on Llama: :class:`LlavaConfig`, :class:`LlavaLlamaModel`, :class:`LlavaLlamaForCausalLM`.

The config is registered under its own model type ``"llava_llama"`` (``"llava"`` belongs to
transformers' own LLaVA class). Upstream base checkpoints say ``"model_type": "llava"`` in
their config.json; read them with :func:`load_llava_config` (explicit class, no
AutoConfig guessing).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, LlamaModel
from transformers.models.llama.modeling_llama import LlamaPreTrainedModel

from ...constants import EEG_FUSION_MODES, IMAGE_TOKEN_INDEX
from ..llava_arch import LlavaMetaForCausalLM, LlavaMetaModel
from ..multimodal_encoder.clip_encoder import SELECT_FEATURES

logger = logging.getLogger(__name__)

__all__ = ["LlavaConfig", "LlavaLlamaModel", "LlavaLlamaForCausalLM", "load_llava_config", "VISION_TOWER_PREFIX"]

#: State-dict prefix of the CLIP tower: never saved in a checkpoint (loaded from mm_vision_tower).
VISION_TOWER_PREFIX = "model.vision_tower."


@strict
class LlavaConfig(LlamaConfig):
    """Llama config + the LLaVA-1.5 multimodal fields + the EEG-VLM slot.

    Upstream fields keep their names and meaning; ``eeg_fusion`` picks what the second
    ``<image>`` slot of a sample receives (``'add'``, ``'raw'`` or ``'none'``, see
    :mod:`llava.model.llava_arch`) and ``eeg_feature_dim`` records the width of the
    high-level features (it must equal ``mm_hidden_size``).
    """

    model_type = "llava_llama"

    mm_vision_tower: str | None = None
    mm_hidden_size: int | None = None
    mm_projector_type: str | None = None
    mm_vision_select_layer: int = -2
    mm_vision_select_feature: str = "patch"
    mm_patch_merge_type: str = "flat"
    image_aspect_ratio: str = "pad"
    mm_use_im_start_end: bool = False
    mm_use_im_patch_token: bool = False
    tune_mm_mlp_adapter: bool = False
    freeze_mm_mlp_adapter: bool = False
    use_mm_proj: bool = True
    tokenizer_padding_side: str = "right"
    tokenizer_model_max_length: int | None = None
    eeg_fusion: str = "add"
    eeg_feature_dim: int = 1024

    def __post_init__(self, **kwargs: Any) -> None:
        if self.eeg_fusion not in EEG_FUSION_MODES:
            raise ValueError(f"LlavaConfig: invalid value for 'eeg_fusion'. Allowed values are "
                             f"{', '.join(map(repr, EEG_FUSION_MODES))}, but got {self.eeg_fusion!r} instead")
        if self.mm_vision_select_feature not in SELECT_FEATURES:
            raise ValueError(f"LlavaConfig: invalid value for 'mm_vision_select_feature'. Allowed values are "
                             f"{', '.join(map(repr, SELECT_FEATURES))}, "
                             f"but got {self.mm_vision_select_feature!r} instead")
        if self.tokenizer_padding_side not in ("right", "left"):
            raise ValueError(f"LlavaConfig: invalid value for 'tokenizer_padding_side'. Allowed values are "
                             f"'right', 'left', but got {self.tokenizer_padding_side!r} instead")
        super().__post_init__(**kwargs)

    @classmethod
    def get_config_dict(cls, pretrained_model_name_or_path: Any, **kwargs: Any) -> tuple[dict, dict]:
        """As transformers', reading upstream ``llava`` (and plain ``llama``) configs as this class."""
        config_dict, rest = super().get_config_dict(pretrained_model_name_or_path, **kwargs)
        if config_dict.get("model_type") in _READABLE_TYPES:
            config_dict = {**config_dict, "model_type": cls.model_type}
        return config_dict, rest


#: config.json model types read as LlavaConfig: upstream LLaVA-1.5, this fork, plain Llama/Vicuna.
_READABLE_TYPES = ("llava", "llava_llama", "llama")


def load_llava_config(path: str | Path, **overrides: Any) -> LlavaConfig:
    """Read ``path/config.json`` (model_type ``llava``, ``llava_llama`` or ``llama``) as a :class:`LlavaConfig`."""
    path = Path(path)
    file = path / "config.json" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"checkpoint {path}: config.json not found")
    data = json.loads(file.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{file}: expected a JSON object")
    found = data.pop("model_type", None)
    if found not in (None, *_READABLE_TYPES):
        logger.warning("%s: model_type %r read as %r", file, found, LlavaConfig.model_type)
    data.pop("transformers_version", None)
    data.update(overrides)
    return LlavaConfig.from_dict(data)


class LlavaLlamaModel(LlavaMetaModel, LlamaModel):
    """The Llama decoder with the vision tower and projector attached."""

    config_class = LlavaConfig

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__(config)


class LlavaLlamaForCausalLM(LlamaForCausalLM, LlavaMetaForCausalLM):
    """Llama causal LM that splices CLIP patch tokens and EEG features into its input.

    Saved checkpoints leave out the CLIP tower (it is loaded from ``mm_vision_tower``),
    as upstream base checkpoints do.
    """

    config_class = LlavaConfig
    _keys_to_ignore_on_load_unexpected = [r"model\.vision_tower\..*"]

    def __init__(self, config: LlavaConfig) -> None:
        LlamaPreTrainedModel.__init__(self, config)
        self.model = LlavaLlamaModel(config)
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_model(self) -> LlavaLlamaModel:
        return self.model

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Any = None,
        inputs_embeds: torch.FloatTensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        images: torch.Tensor | None = None,
        image_sizes: Any = None,
        eeg_features: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ):
        """Causal-LM forward; ``images`` (B, 3, H, W) and ``eeg_features`` (B, 1, D) are spliced first.

        Extra keyword arguments of current transformers (``cache_position``,
        ``logits_to_keep``, ``num_items_in_batch``...) are passed on unchanged.
        """
        if inputs_embeds is None:
            (input_ids, position_ids, attention_mask, past_key_values, inputs_embeds,
             labels) = self.prepare_inputs_labels_for_multimodal(
                input_ids, position_ids, attention_mask, past_key_values, labels, images, image_sizes,
                eeg_features=eeg_features)
        for key, value in (("output_attentions", output_attentions),
                           ("output_hidden_states", output_hidden_states), ("return_dict", return_dict)):
            if value is not None:
                kwargs[key] = value
        return super().forward(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                               past_key_values=past_key_values, inputs_embeds=inputs_embeds, labels=labels,
                               use_cache=use_cache, **kwargs)

    @torch.no_grad()
    def generate(self, inputs: torch.Tensor | None = None, images: torch.Tensor | None = None,
                 image_sizes: Any = None, eeg_features: torch.Tensor | None = None, **kwargs: Any):
        """Generate from a prompt (B, L) with images and features spliced in.

        The prompt is always turned into ``inputs_embeds`` first, so the result holds ONLY
        the newly generated tokens (B, n_new), as with upstream LLaVA.
        """
        if "inputs_embeds" in kwargs:
            raise NotImplementedError("generate(): pass input ids as 'inputs', not 'inputs_embeds'")
        if inputs is None:
            inputs = kwargs.pop("input_ids", None)
        if inputs is None:
            raise ValueError("generate(): 'inputs' (input ids) is required")
        position_ids = kwargs.pop("position_ids", None)
        attention_mask = kwargs.pop("attention_mask", None)
        if images is not None:
            (_, position_ids, attention_mask, _, inputs_embeds, _) = self.prepare_inputs_labels_for_multimodal(
                inputs, position_ids, attention_mask, None, None, images, image_sizes, eeg_features=eeg_features)
        else:
            n_tags = int((inputs == IMAGE_TOKEN_INDEX).sum())
            if n_tags:
                raise ValueError(f"generate(): {n_tags} <image> placeholder(s) in the prompt but no images were given")
            inputs_embeds = self.get_model().embed_tokens(inputs)
        if attention_mask is not None:
            position_ids = None  # generate() derives positions from the attention mask (left padding too)
        return super().generate(position_ids=position_ids, attention_mask=attention_mask,
                                inputs_embeds=inputs_embeds, **kwargs)

    def save_pretrained(self, save_directory: Any, *args: Any, state_dict: dict | None = None, **kwargs: Any):
        """As transformers' ``save_pretrained``, leaving out the CLIP tower's weights."""
        if state_dict is None:
            state_dict = self.state_dict()
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith(VISION_TOWER_PREFIX)}
        return super().save_pretrained(save_directory, *args, state_dict=state_dict, **kwargs)


AutoConfig.register(LlavaConfig.model_type, LlavaConfig, exist_ok=True)
AutoModelForCausalLM.register(LlavaConfig, LlavaLlamaForCausalLM, exist_ok=True)
