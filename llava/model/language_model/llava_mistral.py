"""LLaVA on Mistral (upstream's ``llava_mistral``, LLaVA-NeXT-Mistral-7B, PSG-LLaVA's base).

The same mixins as :class:`~llava.model.modeling_llava.LlavaLlamaForCausalLM` on a
Mistral decoder; the config is :class:`~llava.model.configuration_llava.LlavaMistralConfig`.
"""

from __future__ import annotations

import logging

from transformers import AutoModelForCausalLM, MistralForCausalLM, MistralModel
from transformers.models.mistral.modeling_mistral import MistralPreTrainedModel

from ..configuration_llava import LlavaMistralConfig
from ..modeling_llava import LlavaMetaForCausalLM, LlavaMetaModel

logger = logging.getLogger(__name__)

__all__ = ["LlavaMistralConfig", "LlavaMistralModel", "LlavaMistralForCausalLM"]


class LlavaMistralModel(LlavaMetaModel, MistralModel):
    """The Mistral decoder with the vision tower and projector attached."""

    config_class = LlavaMistralConfig


class LlavaMistralForCausalLM(LlavaMetaForCausalLM, MistralForCausalLM):
    """Mistral causal LM with visual tokens (anyres tiles) and EEG features spliced in."""

    config_class = LlavaMistralConfig
    _keys_to_ignore_on_load_unexpected = [r"model\.vision_tower\..*"]

    def __init__(self, config: LlavaMistralConfig) -> None:
        MistralPreTrainedModel.__init__(self, config)
        self.attach_decoder(config, LlavaMistralModel)


AutoModelForCausalLM.register(LlavaMistralConfig, LlavaMistralForCausalLM, exist_ok=True)
