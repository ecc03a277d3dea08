"""The CLIP vision tower of LLaVA with a classification head (PSG-LLaVA Fig. 3 baseline).

``clip_vit_l14_336``: transformers ``CLIPVisionModel``, CLIP ViT-L/14 at 336 px (hidden 1024,
24 layers, 16 heads, patch 14), the tower LLaVA-1.5/1.6 put in front of the language model.
The pooled feature is CLIP's own: the post-LayerNorm'ed ``[CLS]`` token ``(B, 1024)``, which
the wrapper in :mod:`feature_extractor.registry` exports as is and classifies.

Weights come from a local checkpoint folder (``path``, e.g. ``--model-kwargs
'{"path": "/models/clip-vit-large-patch14-336"}'``): a ``CLIPVisionModel`` or a full
``CLIPModel`` folder (``config.json`` + safetensors), read with ``local_files_only`` and
never with remote code. Without ``path`` the tower is built from its config with random
weights (tiny CPU runs); other keyword arguments override config fields
(``hidden_size=32, num_hidden_layers=2`` ...). An image size other than the checkpoint's
interpolates the position embeddings.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from torch import nn

from feature_extractor.registry import register_backbone

logger = logging.getLogger(__name__)

__all__ = ["CLIPBackbone", "check_clip_folder"]

#: CLIP ViT-L/14-336 vision config (the fields that differ from CLIPVisionConfig's defaults)
VIT_L14_336: dict[str, int] = {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
                               "num_attention_heads": 16, "patch_size": 14, "image_size": 336}
_MODEL_TYPES = ("clip_vision_model", "clip")


def check_clip_folder(path: str | Path) -> Path:
    """``path`` as a folder holding a CLIP (vision) checkpoint; a one-line error otherwise."""
    folder = Path(path)
    where = "clip_vit_l14_336: checkpoint folder"
    if not folder.is_dir():
        raise FileNotFoundError(f"{where} {folder} does not exist; give the local CLIPVisionModel/CLIPModel "
                                f"folder (config.json + weights) as --model-kwargs '{{\"path\": ...}}'")
    config = folder / "config.json"
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError) as exc:
        raise ValueError(f"{where} {folder} is not a CLIP vision checkpoint; {config.name} unreadable "
                         f"({type(exc).__name__})") from None
    if model_type not in _MODEL_TYPES:
        raise ValueError(f"{where} {folder} is not a CLIP vision checkpoint; config.json model_type is "
                         f"{model_type!r}, expected one of {', '.join(_MODEL_TYPES)}")
    if not any(folder.glob("*.safetensors")):
        raise ValueError(f"{where} {folder} is not a CLIP vision checkpoint; no *.safetensors weights in it")
    return folder


class CLIPBackbone(nn.Module):
    """transformers ``CLIPVisionModel`` -> pooled ``[CLS]`` feature ``(B, hidden_size)``."""

    def __init__(self, in_chans: int = 3, image_size: int = 336, path: str | None = None, **config_kw):
        super().__init__()
        from transformers import CLIPVisionConfig, CLIPVisionModel

        if path is not None:
            folder = check_clip_folder(path)
            if config_kw:
                raise ValueError(f"clip_vit_l14_336: config fields {sorted(config_kw)} given with path {folder}; "
                                 f"a checkpoint fixes its own config")
            self.model = CLIPVisionModel.from_pretrained(str(folder), local_files_only=True,
                                                         trust_remote_code=False, dtype=torch.float32)
            logger.info("clip_vit_l14_336: weights from %s", folder)
        else:
            fields = {**VIT_L14_336, "image_size": image_size, **config_kw}
            self.model = CLIPVisionModel(CLIPVisionConfig(num_channels=in_chans, **fields))
        config = self.model.config
        if int(config.num_channels) != in_chans:
            raise ValueError(f"clip_vit_l14_336: checkpoint takes {config.num_channels}-channel images, "
                             f"got --in-chans {in_chans}")
        self.interpolate = int(config.image_size) != int(image_size)
        self.out_dim = int(config.hidden_size)
        # parameter-name prefix of the tower's modules: transformers < 5 nests them in ``vision_model``
        self.tower = "model.vision_model." if isinstance(getattr(self.model, "vision_model", None), nn.Module) \
            else "model."

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(pixel_values=x, interpolate_pos_encoding=self.interpolate)
        return out.pooler_output  # (B, hidden)


@register_backbone("clip_vit_l14_336")
def clip_vit_l14_336(in_chans: int = 3, image_size: int = 336, **kw) -> CLIPBackbone:
    return CLIPBackbone(in_chans=in_chans, image_size=image_size, **kw)
