"""The LLaVA model with the EEG-VLM feature slot (same module paths as upstream).

The model reads top to bottom in :mod:`llava.model.modeling_llava`, its configuration in
:mod:`llava.model.configuration_llava`.
"""

from .configuration_llava import LlavaConfig, load_llava_config
from .fusion import EEGFusion
from .modeling_llava import LlavaLlamaForCausalLM, LlavaLlamaModel

__all__ = ["LlavaConfig", "LlavaLlamaForCausalLM", "LlavaLlamaModel", "load_llava_config", "EEGFusion"]
