"""Upstream's module path for LLaVA on Llama (re-exports; the model is in llava/model/modeling_llava.py)."""

from ..configuration_llava import LlavaConfig, load_llava_config
from ..modeling_llava import VISION_TOWER_PREFIX, LlavaLlamaForCausalLM, LlavaLlamaModel

__all__ = ["LlavaConfig", "LlavaLlamaModel", "LlavaLlamaForCausalLM", "load_llava_config", "VISION_TOWER_PREFIX"]
