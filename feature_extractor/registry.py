"""Backbones by name, and the one wrapper that turns any of them into a stage classifier.

A backbone is any ``nn.Module`` mapping images ``(B, C, H, W)`` to a pooled vector
``(B, F)``. :func:`build_backbone` wraps it in :class:`FeatureClassifier`, which projects the
vector to ``feature_dim`` (identity when ``F == feature_dim``) and classifies it: the model
returns ``(logits (B, num_classes), features (B, feature_dim))`` where ``features`` is the
input of the classification layer, i.e. the high-level representation the VLM receives.

Adding a backbone is one function and a name::

    from feature_extractor.registry import register_backbone

    @register_backbone("my_mamba")
    def my_mamba(in_chans: int = 3, image_size: int = 336, **kw) -> nn.Module:
        return MyMamba(in_chans=in_chans, **kw)   # forward(x) -> (B, F)

It is then available as ``--model my_mamba`` (with ``--plugin my_module`` so the module is
imported). Give the module an ``out_dim`` attribute, or its width is measured with one
forward pass.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)

__all__ = [
    "BackboneFactory",
    "FeatureClassifier",
    "register_backbone",
    "build_backbone",
    "list_backbones",
    "import_plugins",
]

BackboneFactory = Callable[..., nn.Module]

_REGISTRY: dict[str, BackboneFactory] = {}
_BUILTIN_MODULE = "feature_extractor.models"


def register_backbone(name: str) -> Callable[[BackboneFactory], BackboneFactory]:
    """Decorator: register ``factory(in_chans=..., image_size=..., **kw) -> nn.Module`` as ``name``.

    Registering a name twice with a different function raises ``ValueError``.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"register_backbone: name must be a non-empty string, got {name!r}")

    def decorator(factory: BackboneFactory) -> BackboneFactory:
        old = _REGISTRY.get(name)
        same = old is not None and (old.__module__, old.__qualname__) == (factory.__module__, factory.__qualname__)
        if old is not None and not same:
            raise ValueError(f"register_backbone: name {name!r} is already taken by {old.__module__}.{old.__qualname__}")
        _REGISTRY[name] = factory
        return factory

    return decorator


def _load_builtin() -> None:
    importlib.import_module(_BUILTIN_MODULE)


def list_backbones() -> list[str]:
    """Names of every registered backbone (built-in ones included), sorted."""
    _load_builtin()
    return sorted(_REGISTRY)


def import_plugins(modules: list[str] | tuple[str, ...]) -> None:
    """Import modules that register extra backbones (``--plugin`` on the command line)."""
    for mod in modules:
        try:
            importlib.import_module(mod)
        except ImportError as exc:
            raise ValueError(f"plugin module {mod!r}: cannot be imported ({exc})") from exc


class FeatureClassifier(nn.Module):
    """Backbone -> (projection to ``feature_dim``) -> linear stage classifier.

    Parameters
    ----------
    backbone : nn.Module
        ``(B, C, H, W) -> (B, backbone_dim)``.
    backbone_dim : int
        Width of the backbone's pooled vector.
    feature_dim : int
        Width of the exported features (1024 for the paper's module).
    num_classes : int
        Number of output classes (5 stages).

    ``forward(x)`` returns ``logits (B, num_classes)`` and ``features (B, feature_dim)``.
    """

    def __init__(self, backbone: nn.Module, backbone_dim: int, feature_dim: int = 1024, num_classes: int = 5):
        super().__init__()
        self.backbone = backbone
        self.backbone_dim = int(backbone_dim)
        self.feature_dim = int(feature_dim)
        self.proj: nn.Module = nn.Identity() if backbone_dim == feature_dim else nn.Linear(backbone_dim, feature_dim)
        self.head = nn.Linear(feature_dim, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.backbone(x)  # (B, backbone_dim)
        if pooled.ndim != 2 or pooled.shape[1] != self.backbone_dim:
            raise ValueError(
                f"backbone {type(self.backbone).__name__}: output shape {tuple(pooled.shape)}; "
                f"expected (batch, {self.backbone_dim})"
            )
        return self.proj(pooled)  # (B, feature_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.forward_features(x)  # (B, feature_dim)
        return self.head(features), features  # (B, num_classes), (B, feature_dim)


def _measure_width(backbone: nn.Module, in_chans: int, image_size: int) -> int:
    was_training = backbone.training
    backbone.eval()
    with torch.no_grad():
        out = backbone(torch.zeros(1, in_chans, image_size, image_size))
    backbone.train(was_training)
    if out.ndim != 2:
        raise ValueError(f"backbone {type(backbone).__name__}: output shape {tuple(out.shape)}; expected (batch, width)")
    return int(out.shape[1])


def build_backbone(
    name: str,
    num_classes: int = 5,
    feature_dim: int = 1024,
    in_chans: int = 3,
    image_size: int = 336,
    **kwargs: Any,
) -> FeatureClassifier:
    """Build the registered backbone ``name`` wrapped as a :class:`FeatureClassifier`.

    Extra keyword arguments go to the backbone's factory (e.g. ``depths=(1, 1, 1, 1)``).
    An unknown name raises ``ValueError`` listing the registered ones.
    """
    names = list_backbones()
    if name not in _REGISTRY:
        import difflib

        close = difflib.get_close_matches(name, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"model {name!r}: not registered{hint}; available: {', '.join(names)}")
    backbone = _REGISTRY[name](in_chans=in_chans, image_size=image_size, **kwargs)
    if not isinstance(backbone, nn.Module):
        raise TypeError(f"model {name!r}: factory must return an nn.Module, got {type(backbone).__name__} instead")
    width = getattr(backbone, "out_dim", None)
    if width is None:
        width = _measure_width(backbone, in_chans, image_size)
    return FeatureClassifier(backbone, int(width), feature_dim=feature_dim, num_classes=num_classes)
