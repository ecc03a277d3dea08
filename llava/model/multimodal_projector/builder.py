"""Upstream's module path for the projector builder (re-export of llava/model/modeling_llava.py)."""

from ..modeling_llava import build_vision_projector, projector_types

__all__ = ["build_vision_projector", "projector_types"]
