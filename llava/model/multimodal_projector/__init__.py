"""Multimodal projectors."""

from .builder import build_vision_projector, projector_types

__all__ = ["build_vision_projector", "projector_types"]
