"""Language-model backbones of the LLaVA fork (Llama)."""

from .llava_llama import LlavaConfig, LlavaLlamaForCausalLM, LlavaLlamaModel, load_llava_config

__all__ = ["LlavaConfig", "LlavaLlamaForCausalLM", "LlavaLlamaModel", "load_llava_config"]
