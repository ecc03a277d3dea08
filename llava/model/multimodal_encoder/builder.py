"""Build the vision tower named by a model configuration or training arguments."""

from __future__ import annotations

import logging
from typing import Any

from .clip_encoder import CLIPVisionTower

logger = logging.getLogger(__name__)

__all__ = ["build_vision_tower"]


def build_vision_tower(vision_tower_cfg: Any, **kwargs: Any) -> CLIPVisionTower:
    """A :class:`CLIPVisionTower` from ``mm_vision_tower`` (or ``vision_tower``).

    ``vision_tower_cfg`` is a model config or an arguments object carrying
    ``mm_vision_tower``/``vision_tower``, ``mm_vision_select_layer`` and
    ``mm_vision_select_feature``. ``kwargs`` go to the tower (``delay_load``).
    """
    name = getattr(vision_tower_cfg, "mm_vision_tower", None) or getattr(vision_tower_cfg, "vision_tower", None)
    if not name:
        raise ValueError("vision tower: neither 'mm_vision_tower' nor 'vision_tower' is set; "
                         "pass a CLIP folder or hub name, e.g. openai/clip-vit-large-patch14-336")
    layer = getattr(vision_tower_cfg, "mm_vision_select_layer", -2)
    feature = getattr(vision_tower_cfg, "mm_vision_select_feature", "patch")
    return CLIPVisionTower(str(name), select_layer=-2 if layer is None else int(layer),
                           select_feature=feature or "patch", **kwargs)
