"""Partial fine-tuning (``--unfreeze``): which parameters PSG-LLaVA Table 3 trained, per backbone.

Table 3 fine-tunes the image baselines from ImageNet weights (``--init-weights FILE``) with
most of the network frozen. ``--unfreeze`` names what stays trainable:

- ``table3``: the paper's choice for the backbone's family —
  ResNet: ``layer3``, ``layer4`` + head; ViT: the final three encoder blocks, the final
  LayerNorm + head; CLIP (the vision tower of LLaVA, a ViT): likewise its final three
  encoder blocks, its post-LayerNorm + head; ConvNeXt, MaxViT, Swin: the last stage (with the downsampling that
  enters it) and every layer after it; Vim, which has no stages, is split the way its
  authors tap it for dense prediction (blocks 6, 12, 18, 24 end four groups): the last
  group of blocks, the final norm + head.
- ``all``: everything (full training / fine-tuning).
- ``head``: the projection and the classifier only (linear probing).
- a comma-separated list of parameter-name prefixes (as ``--trainable``).

"Head" is always the wrapper's ``proj`` (to the 1024-wide feature) and ``head`` (the
stage classifier), since both are new layers that no ImageNet checkpoint holds.
"""

from __future__ import annotations

import logging

from torch import nn

logger = logging.getLogger(__name__)

__all__ = ["HEAD", "table3_prefixes", "unfreeze_prefixes", "apply_unfreeze"]

#: the wrapper's own layers, trained in every strategy
HEAD: tuple[str, ...] = ("proj.", "head.")


def _resnet(trunk) -> list[str]:
    return ["backbone.layer3.", "backbone.layer4."]


def _convnext(trunk) -> list[str]:
    last = len(trunk.stages) - 1
    return [f"backbone.downsample_layers.{last}.", f"backbone.stages.{last}.", "backbone.norm."]


def _maxvit(trunk) -> list[str]:
    return [f"backbone.stages.{len(trunk.stages) - 1}.", "backbone.norm."]


def _vim(trunk) -> list[str]:
    depth = len(trunk.layers)
    first = depth - max(depth // 4, 1)
    return [f"backbone.layers.{i}." for i in range(first, depth)] + ["backbone.norm_f."]


def _vit(trunk) -> list[str]:
    modules = dict(trunk.model.named_modules())
    path = next(p for p in ("layers", "encoder.layer") if isinstance(modules.get(p), nn.ModuleList))  # by transformers version
    depth = len(modules[path])
    return [f"backbone.model.{path}.{i}." for i in range(max(depth - 3, 0), depth)] + ["backbone.model.layernorm."]


def _clip(trunk) -> list[str]:
    tower = f"backbone.{trunk.tower}"
    depth = trunk.model.config.num_hidden_layers
    return [f"{tower}encoder.layers.{i}." for i in range(max(depth - 3, 0), depth)] + [f"{tower}post_layernorm."]


def _swin(trunk) -> list[str]:
    last = len(trunk.model.encoder.layers) - 1
    out = [f"backbone.model.encoder.layers.{last}.", "backbone.model.layernorm."]
    if last > 0:  # the patch merging that enters the last stage sits at the end of the previous one
        out.append(f"backbone.model.encoder.layers.{last - 1}.downsample")
    return out


def _rules() -> list[tuple[type, object]]:
    from feature_extractor.models.clip import CLIPBackbone
    from feature_extractor.models.convnext import ConvNeXt
    from feature_extractor.models.hf_vision import SwinBackbone, ViTBackbone
    from feature_extractor.models.maxvit import MaxViT
    from feature_extractor.models.resnet import ResNet
    from feature_extractor.models.vim import VisionMamba

    return [(ResNet, _resnet), (ConvNeXt, _convnext), (MaxViT, _maxvit), (VisionMamba, _vim),
            (ViTBackbone, _vit), (SwinBackbone, _swin), (CLIPBackbone, _clip)]


def table3_prefixes(model: nn.Module) -> list[str]:
    """Trainable prefixes of the paper's partial fine-tuning for ``model``'s backbone."""
    trunk = getattr(model, "backbone", None)
    for cls, rule in _rules():
        if isinstance(trunk, cls):
            return rule(trunk) + list(HEAD)
    name = type(trunk).__name__
    raise ValueError(f"--unfreeze table3: backbone {name} has no Table 3 rule (ResNet, ConvNeXt, MaxViT, Vim, "
                     f"ViT, Swin, CLIP); give parameter-name prefixes instead, e.g. --unfreeze backbone.layer4,proj,head")


def unfreeze_prefixes(model: nn.Module, spec: str) -> list[str]:
    """Parameter-name prefixes that ``--unfreeze spec`` leaves trainable (``[]``: all)."""
    spec = str(spec).strip()
    if spec in ("", "all"):
        return []
    if spec == "table3":
        return table3_prefixes(model)
    if spec == "head":
        return list(HEAD)
    return [p.strip() for p in spec.split(",") if p.strip()]


def apply_unfreeze(model: nn.Module, spec: str) -> list[str]:
    """Freeze every parameter outside ``--unfreeze spec``; return the trainable names.

    A prefix that matches no parameter is an error naming the model's top-level modules.
    """
    prefixes = unfreeze_prefixes(model, spec)
    names = [n for n, _ in model.named_parameters()]
    for prefix in prefixes:
        if not any(n.startswith(prefix) for n in names):
            tops = sorted({".".join(n.split(".")[:2]) for n in names})
            raise ValueError(f"--unfreeze: prefix {prefix!r} matches no parameter; top-level names: {', '.join(tops)}")
    trainable = []
    for n, p in model.named_parameters():
        keep = not prefixes or any(n.startswith(pre) for pre in prefixes)
        p.requires_grad_(keep)
        if keep:
            trainable.append(n)
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_all = sum(p.numel() for p in model.parameters())
    logger.info("--unfreeze %s: %d of %d parameters trainable (%.1f%%)", spec or "all", n_train, n_all,
                100.0 * n_train / max(n_all, 1))
    return trainable
