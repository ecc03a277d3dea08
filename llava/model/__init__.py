"""The LLaVA-1.5 model with the EEG-VLM feature slot (same module paths as upstream)."""

from .language_model.llava_llama import LlavaConfig, LlavaLlamaForCausalLM, LlavaLlamaModel, load_llava_config

__all__ = ["LlavaConfig", "LlavaLlamaForCausalLM", "LlavaLlamaModel", "load_llava_config"]
