"""Language-model backbones of the LLaVA fork (Llama / Vicuna / Llama-3, Mistral)."""

from .llava_llama import LlavaConfig, LlavaLlamaForCausalLM, LlavaLlamaModel, load_llava_config
from .llava_mistral import LlavaMistralConfig, LlavaMistralForCausalLM, LlavaMistralModel

__all__ = ["LlavaConfig", "LlavaLlamaForCausalLM", "LlavaLlamaModel", "load_llava_config",
           "LlavaMistralConfig", "LlavaMistralForCausalLM", "LlavaMistralModel"]
