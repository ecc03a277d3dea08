"""The model configuration saved beside every checkpoint (``config.json``).

It holds everything needed to rebuild the model and feed it images the way it was trained:
backbone name and arguments, input size and channels, the fixed normalisation, the feature
width and the class names. Extraction reads it back; nothing is inferred from paths.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from feature_extractor.stages import STAGES

logger = logging.getLogger(__name__)

__all__ = ["ModelConfig", "IMAGENET_MEAN", "IMAGENET_STD", "GRAY_MEAN", "GRAY_STD"]

IMAGENET_MEAN: tuple[float, ...] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, ...] = (0.229, 0.224, 0.225)
#: single-channel stem: the mean of the three ImageNet values
GRAY_MEAN: tuple[float, ...] = (0.449,)
GRAY_STD: tuple[float, ...] = (0.226,)


@dataclass
class ModelConfig:
    """How to build a stage classifier and prepare its input images."""

    model: str = field(default="resnet18_1024", metadata={"help": "registered backbone name (see --list-models)"})
    model_kwargs: dict[str, Any] = field(default_factory=dict, metadata={"help": "extra arguments for the backbone factory"})
    num_classes: int = field(default=len(STAGES), metadata={"help": "number of output classes"})
    classes: list[str] = field(default_factory=lambda: list(STAGES), metadata={"help": "class names, index order"})
    feature_dim: int = field(default=1024, metadata={"help": "width of the exported features (input of the classifier)"})
    in_chans: int = field(
        default=3,
        metadata={"help": "3: images loaded as RGB (grayscale replicated); 1: loaded as grayscale, 1-channel stem"},
    )
    image_size: int = field(default=336, metadata={"help": "square input side in pixels; images are resized to it"})
    mean: list[float] | None = field(default=None, metadata={"help": "per-channel mean on [0,1] pixels (default ImageNet)"})
    std: list[float] | None = field(default=None, metadata={"help": "per-channel std on [0,1] pixels (default ImageNet)"})
    plugins: list[str] = field(default_factory=list, metadata={"help": "modules imported to register extra backbones"})

    def __post_init__(self) -> None:
        if self.in_chans not in (1, 3):
            raise ValueError(f"model config: in_chans must be 1 or 3, got {self.in_chans!r}")
        if int(self.image_size) < 8:
            raise ValueError(f"model config: image_size must be at least 8 pixels, got {self.image_size!r}")
        if self.mean is None:
            self.mean = list(IMAGENET_MEAN if self.in_chans == 3 else GRAY_MEAN)
        if self.std is None:
            self.std = list(IMAGENET_STD if self.in_chans == 3 else GRAY_STD)
        self.mean = [float(v) for v in self.mean]
        self.std = [float(v) for v in self.std]
        if len(self.mean) != self.in_chans or len(self.std) != self.in_chans:
            raise ValueError(
                f"model config: mean/std need {self.in_chans} values for in_chans={self.in_chans}, "
                f"got {len(self.mean)} and {len(self.std)}"
            )
        if any(s <= 0 for s in self.std):
            raise ValueError(f"model config: std values must be positive, got {self.std}")
        if len(self.classes) != self.num_classes:
            raise ValueError(f"model config: {len(self.classes)} class names for num_classes={self.num_classes}")
        self.model_kwargs = dict(self.model_kwargs)
        self.plugins = list(self.plugins)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> ModelConfig:
        """Build from a dict; keys that are not model fields (metrics, epoch...) are ignored."""
        names = {f.name for f in fields(cls)}
        if "model" not in data:
            raise ValueError(f"{source}: no 'model' entry; not a feature_extractor checkpoint config")
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def from_json(cls, path: str | Path) -> ModelConfig:
        path = Path(path)
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")), source=str(path))

    def build(self):
        """The :class:`~feature_extractor.registry.FeatureClassifier` this config describes."""
        from feature_extractor.registry import build_backbone, import_plugins

        import_plugins(self.plugins)
        return build_backbone(
            self.model,
            num_classes=self.num_classes,
            feature_dim=self.feature_dim,
            in_chans=self.in_chans,
            image_size=self.image_size,
            **self.model_kwargs,
        )
