"""Upstream's module path for the multimodal mixins (re-exports; the model is in modeling_llava.py)."""

from .modeling_llava import LlavaMetaForCausalLM, LlavaMetaModel
from .vision_setup import load_weights_file, projector_state

__all__ = ["LlavaMetaModel", "LlavaMetaForCausalLM", "load_weights_file", "projector_state"]
