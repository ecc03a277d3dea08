"""The CLIP vision tower: patch features from one hidden layer of a CLIP ViT.

LLaVA-1.5 reads the hidden states of layer ``mm_vision_select_layer`` (``-2``) of CLIP
ViT-L/14-336 and drops the CLS token (``'patch'``), giving 576 patch tokens of width 1024.
The tower is frozen: its own parameters never require gradients, and it runs under
``torch.no_grad`` unless LoRA weights were added to it (``--lora_vision_tower``). Its weights are not part of a LLaVA checkpoint; they are loaded from the
folder or hub name in ``mm_vision_tower``.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn
from transformers import AutoImageProcessor, CLIPVisionConfig, CLIPVisionModel

from ...utils import check_option
from ..configuration_llava import SELECT_FEATURES

logger = logging.getLogger(__name__)


__all__ = ["SELECT_FEATURES", "CLIPVisionTower"]


class CLIPVisionTower(nn.Module):
    """A frozen CLIP vision model returning the selected layer's patch features.

    Parameters
    ----------
    vision_tower : str
        Folder or hub name of a CLIP (vision) checkpoint, e.g.
        ``openai/clip-vit-large-patch14-336``.
    select_layer : int
        Index into the tower's hidden states (embeddings first), ``-2`` in LLaVA-1.5.
    select_feature : {'patch', 'cls_patch'}
        ``'patch'`` drops the CLS token, ``'cls_patch'`` keeps it.
    delay_load : bool
        When true only the configuration is read; call :meth:`load_model` for the weights.
    """

    def __init__(self, vision_tower: str, select_layer: int = -2, select_feature: str = "patch",
                 delay_load: bool = False) -> None:
        super().__init__()
        check_option("mm_vision_select_feature", select_feature, SELECT_FEATURES, where=f"vision tower {vision_tower!r}")
        self.vision_tower_name = str(vision_tower)
        self.select_layer = int(select_layer)
        self.select_feature = select_feature
        self.is_loaded = False
        self.image_processor: Any = None
        self._config: CLIPVisionConfig | None = None
        if not delay_load:
            self.load_model()

    def load_model(self, device_map: Any = None, dtype: torch.dtype | None = None) -> None:
        """Load the CLIP weights and image processor (a no-op when already loaded)."""
        if self.is_loaded:
            logger.debug("vision tower %s already loaded", self.vision_tower_name)
            return
        self.image_processor = AutoImageProcessor.from_pretrained(self.vision_tower_name)
        kwargs: dict[str, Any] = {}
        if device_map is not None:
            kwargs["device_map"] = device_map
        if dtype is not None:
            kwargs["dtype"] = dtype
        # (the tower) ; registered as a submodule so .to()/dtype casts reach it
        self.vision_tower = CLIPVisionModel.from_pretrained(self.vision_tower_name, **kwargs)
        self.vision_tower.requires_grad_(False)
        self.vision_tower.eval()
        self._config = self.vision_tower.config
        self.is_loaded = True
        logger.info("loaded vision tower %s (hidden %d, %d patches)", self.vision_tower_name,
                     self.hidden_size, self.num_patches)

    def train(self, mode: bool = True) -> "CLIPVisionTower":
        """The tower stays in eval mode (no dropout) whatever the model's mode."""
        super().train(mode)
        if self.is_loaded:
            self.vision_tower.eval()
        return self

    def feature_select(self, hidden_states: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """(B, 1 + P, C) of the selected layer -> (B, P, C) ('patch') or (B, 1 + P, C)."""
        feats = hidden_states[self.select_layer]
        if self.select_feature == "patch":
            feats = feats[:, 1:]
        return feats

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) -> patch features (B, P, C), in the tower's dtype.

        Runs without gradients unless some tower parameter is trainable (LoRA on the tower,
        ``--lora_vision_tower``).
        """
        if not self.is_loaded:
            raise RuntimeError(f"vision tower {self.vision_tower_name!r}: weights not loaded; call load_model() first")
        grad = torch.is_grad_enabled() and any(p.requires_grad for p in self.vision_tower.parameters())
        with torch.set_grad_enabled(grad):
            out = self.vision_tower(images.to(device=self.device, dtype=self.dtype), output_hidden_states=True)
        return self.feature_select(out.hidden_states).to(images.dtype if images.is_floating_point() else self.dtype)

    @property
    def config(self) -> CLIPVisionConfig:
        """The tower's vision configuration (read from disk when the weights are not loaded)."""
        if self._config is None:
            self._config = CLIPVisionConfig.from_pretrained(self.vision_tower_name)
        return self._config

    @property
    def dtype(self) -> torch.dtype:
        return self.vision_tower.dtype if self.is_loaded else torch.float32

    @property
    def device(self) -> torch.device:
        return self.vision_tower.device if self.is_loaded else torch.device("cpu")

    @property
    def dummy_feature(self) -> torch.Tensor:
        return torch.zeros(1, self.hidden_size, device=self.device, dtype=self.dtype)

    @property
    def hidden_size(self) -> int:
        return int(self.config.hidden_size)

    @property
    def num_patches_per_side(self) -> int:
        return int(self.config.image_size) // int(self.config.patch_size)

    @property
    def num_patches(self) -> int:
        return self.num_patches_per_side ** 2
