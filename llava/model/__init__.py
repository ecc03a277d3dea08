"""The LLaVA model with the EEG-VLM feature slot (same module paths as upstream).

The model reads top to bottom in :mod:`llava.model.modeling_llava`, its configuration in
:mod:`llava.model.configuration_llava`, the fusion switch in :mod:`llava.model.fusion` and
the LLaVA-NeXT anyres geometry in :mod:`llava.model.anyres`.
"""

from .configuration_llava import LlavaConfig, LlavaMistralConfig, load_llava_config
from .fusion import EEGFusion
from .language_model.llava_mistral import LlavaMistralForCausalLM, LlavaMistralModel
from .modeling_llava import LlavaLlamaForCausalLM, LlavaLlamaModel

__all__ = ["LlavaConfig", "LlavaLlamaForCausalLM", "LlavaLlamaModel", "load_llava_config", "EEGFusion",
           "LlavaMistralConfig", "LlavaMistralForCausalLM", "LlavaMistralModel"]
