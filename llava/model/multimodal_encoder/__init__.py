"""Vision towers (CLIP)."""

from .builder import build_vision_tower
from .clip_encoder import CLIPVisionTower

__all__ = ["build_vision_tower", "CLIPVisionTower"]
