"""Configuration of the EEG-VLM LLaVA models (LLaVA-1.5 and LLaVA-NeXT, Llama or Mistral).

The multimodal fields keep upstream LLaVA's config.json names and meaning, and their
defaults are the llava-v1.5 reference checkpoint's: CLIP ViT-L/14-336 (width
``mm_hidden_size`` 1024, hidden layer ``-2``, CLS dropped: (336 / 14)^2 = 576 patch tokens
per image) and the ``mlp2x_gelu`` projector. ``mm_vision_tower`` alone has no default:
``None`` means a text-only model (a Vicuna config reads as one); the v1.5 tower is
:data:`DEFAULT_VISION_TOWER`. LLaVA-NeXT adds ``image_aspect_ratio='anyres'``,
``image_grid_pinpoints`` and ``mm_patch_merge_type`` (see :mod:`llava.model.anyres`).

The EEG-VLM slot adds ``eeg_fusion`` and ``eeg_feature_dim``. The high-level EEG features
pass through the same projector as the CLIP patch features, so ``eeg_feature_dim`` must
equal ``mm_hidden_size``; unset, it takes that value.

The Llama config registers under its own model type ``"llava_llama"`` (``"llava"``
belongs to transformers' LLaVA class) and the Mistral one as upstream's
``"llava_mistral"``. Read a checkpoint with :func:`load_llava_config`: the class comes from
the file's ``model_type`` through one explicit table, never from a path.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, LlamaConfig, MistralConfig

from ..constants import EEG_FUSION_MODES

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_VISION_TOWER", "SELECT_FEATURES", "MERGE_TYPES", "ASPECT_RATIOS", "MultimodalFields",
    "LlavaConfig", "LlavaMistralConfig", "load_llava_config", "config_class_for",
]

#: The llava-v1.5 (and v1.6) vision tower.
DEFAULT_VISION_TOWER = "openai/clip-vit-large-patch14-336"
#: ``mm_vision_select_feature``: drop the CLS token (``patch``) or keep it (``cls_patch``).
SELECT_FEATURES = ("patch", "cls_patch")
#: ``mm_patch_merge_type``: how the tiles of one image become a token sequence.
MERGE_TYPES = ("flat", "spatial", "spatial_unpad")
#: ``image_aspect_ratio``: LLaVA-1.5 ``pad``/``square`` (one 336 px view), LLaVA-NeXT ``anyres``.
ASPECT_RATIOS = ("pad", "square", "anyres")


def _allowed(name: str, value: Any, allowed: tuple, where: str) -> None:
    from ..utils import check_option

    check_option(name, value, allowed, where=where)


@dataclass
class MultimodalFields:
    """The LLaVA multimodal and EEG-VLM fields, shared by the Llama and Mistral configs."""

    mm_vision_tower: str | None = field(default=None, metadata={"help": (
        f"CLIP folder or hub name ({DEFAULT_VISION_TOWER} in llava-v1.5); None: text-only model")})
    mm_hidden_size: int | None = field(default=1024, metadata={"help": "vision tower width (projector input)"})
    mm_projector_type: str | None = field(default="mlp2x_gelu", metadata={"help": "projector type"})
    mm_vision_select_layer: int = field(default=-2, metadata={"help": "tower hidden layer read"})
    mm_vision_select_feature: str = field(default="patch", metadata={"help": "'patch' drops CLS"})
    mm_patch_merge_type: str = field(default="flat", metadata={"help": "flat, spatial or spatial_unpad"})
    image_aspect_ratio: str = field(default="pad", metadata={"help": "pad, square or anyres"})
    image_grid_pinpoints: list | None = field(default=None, metadata={"help": (
        "anyres resolutions [[width, height], ...] in pixels, multiples of the tower's image size")})
    mm_use_im_start_end: bool = field(default=False, metadata={"help": "<im_start>/<im_end> around images"})
    mm_use_im_patch_token: bool = field(default=False, metadata={"help": "<im_patch> token added"})
    tune_mm_mlp_adapter: bool = field(default=False, metadata={"help": "projector-only training"})
    freeze_mm_mlp_adapter: bool = field(default=False, metadata={"help": "projector frozen"})
    use_mm_proj: bool = field(default=True, metadata={"help": "upstream flag, always true"})
    tokenizer_padding_side: str = field(default="right", metadata={"help": "side padded after splicing"})
    tokenizer_model_max_length: int | None = field(default=None, metadata={"help": (
        "longest sequence after the visual tokens are spliced in; longer ones raise")})
    eeg_fusion: str = field(default="add", metadata={"help": "EEG-VLM slot 2: 'add', 'raw' or 'none'"})
    eeg_context: int = field(default=0, metadata={"help": (
        "EEG-VLM neighbour context K: slot 2 also carries the feature rows of epochs t-K .. t+K of the "
        "night (zeros where missing); 0: the paper's slot")})
    eeg_feature_dim: int | None = field(default=None, metadata={"help": (
        "EEG feature width; must equal mm_hidden_size (shared projector); None: mm_hidden_size")})

    def check_multimodal(self) -> None:
        """Check the multimodal fields; fill ``eeg_feature_dim`` from ``mm_hidden_size``."""
        where = type(self).__name__
        _allowed("eeg_fusion", self.eeg_fusion, EEG_FUSION_MODES, where)
        if isinstance(self.eeg_context, bool) or not isinstance(self.eeg_context, int) or self.eeg_context < 0:
            raise ValueError(f"{where}: eeg_context must be an integer >= 0, got {self.eeg_context!r}")
        _allowed("mm_vision_select_feature", self.mm_vision_select_feature, SELECT_FEATURES, where)
        _allowed("mm_patch_merge_type", self.mm_patch_merge_type, MERGE_TYPES, where)
        _allowed("image_aspect_ratio", self.image_aspect_ratio, ASPECT_RATIOS, where)
        _allowed("tokenizer_padding_side", self.tokenizer_padding_side, ("right", "left"), where)
        if self.eeg_feature_dim is None:
            self.eeg_feature_dim = self.mm_hidden_size
        elif self.mm_hidden_size is not None and self.eeg_feature_dim != self.mm_hidden_size:
            raise ValueError(
                f"{where}: eeg_feature_dim {self.eeg_feature_dim} differs from mm_hidden_size "
                f"{self.mm_hidden_size}; the EEG features pass through the same mm_projector as the CLIP "
                "patch features, so both widths must be equal")
        if self.image_aspect_ratio == "anyres":
            pinpoints = self.image_grid_pinpoints
            if not pinpoints or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in pinpoints):
                raise ValueError(f"{where}: image_aspect_ratio 'anyres' needs image_grid_pinpoints as "
                                 f"[[width, height], ...]; got {pinpoints!r}")

    @classmethod
    def get_config_dict(cls, pretrained_model_name_or_path: Any, **kwargs: Any) -> tuple[dict, dict]:
        """As transformers', reading upstream ``llava`` (and plain LM) configs as this class."""
        config_dict, rest = super().get_config_dict(pretrained_model_name_or_path, **kwargs)
        if _CONFIG_FOR_TYPE.get(config_dict.get("model_type")) is cls:
            config_dict = {**config_dict, "model_type": cls.model_type}
        return config_dict, rest


@strict
class LlavaConfig(MultimodalFields, LlamaConfig):
    """Llama config + the LLaVA multimodal fields + the EEG-VLM slot (LLaVA-1.5, Llama-3 NeXT)."""

    model_type = "llava_llama"

    def __post_init__(self, **kwargs: Any) -> None:
        self.check_multimodal()
        super().__post_init__(**kwargs)


@strict
class LlavaMistralConfig(MultimodalFields, MistralConfig):
    """Mistral config + the LLaVA multimodal fields (upstream ``llava_mistral``, LLaVA-NeXT-Mistral)."""

    model_type = "llava_mistral"

    def __post_init__(self, **kwargs: Any) -> None:
        self.check_multimodal()
        super().__post_init__(**kwargs)


#: config.json ``model_type`` -> config class. Upstream LLaVA-1.5 says ``llava``; plain
#: Llama/Vicuna/Llama-3 folders say ``llama``; upstream LLaVA-NeXT-Mistral says ``llava_mistral``.
_CONFIG_FOR_TYPE: dict[str, type] = {
    "llava": LlavaConfig, "llava_llama": LlavaConfig, "llama": LlavaConfig,
    "llava_mistral": LlavaMistralConfig, "mistral": LlavaMistralConfig,
}


def config_class_for(model_type: str | None, source: str = "config") -> type:
    """The config class for a config.json ``model_type`` (``None``: :class:`LlavaConfig`)."""
    if model_type is None:
        return LlavaConfig
    if model_type not in _CONFIG_FOR_TYPE:
        raise ValueError(f"{source}: model_type {model_type!r} is not a LLaVA language model; allowed: "
                         f"{', '.join(map(repr, _CONFIG_FOR_TYPE))}")
    return _CONFIG_FOR_TYPE[model_type]


def load_llava_config(path: str | Path, **overrides: Any) -> LlavaConfig | LlavaMistralConfig:
    """Read ``path/config.json`` as :class:`LlavaConfig` or :class:`LlavaMistralConfig` (by its model_type)."""
    path = Path(path)
    file = path / "config.json" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"checkpoint {path}: config.json not found")
    data = json.loads(file.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{file}: expected a JSON object")
    cls = config_class_for(data.pop("model_type", None), source=str(file))
    data.pop("transformers_version", None)
    data.update(overrides)
    return cls.from_dict(data)


AutoConfig.register(LlavaConfig.model_type, LlavaConfig, exist_ok=True)
AutoConfig.register(LlavaMistralConfig.model_type, LlavaMistralConfig, exist_ok=True)
