"""The multimodal projector: vision width ``mm_hidden_size`` -> language width ``hidden_size``.

Types, as upstream LLaVA: ``'linear'`` (one Linear), ``'mlpNx_gelu'`` (``N`` Linears with
GELU between; LLaVA-1.5 uses ``mlp2x_gelu``, whose state keys are ``0.*`` and ``2.*``) and
``'identity'`` (widths must already match). In EEG-VLM the same projector also maps the
high-level EEG features, so their width must equal ``mm_hidden_size``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from torch import nn

logger = logging.getLogger(__name__)

_MLP_GELU = re.compile(r"^mlp(\d+)x_gelu$")

__all__ = ["build_vision_projector", "projector_types"]


def projector_types() -> tuple[str, ...]:
    """The accepted ``mm_projector_type`` spellings (``mlpNx_gelu`` for any N >= 1)."""
    return ("linear", "mlp2x_gelu", "mlpNx_gelu", "identity")


def build_vision_projector(config: Any, **kwargs: Any) -> nn.Module:
    """The projector named by ``config.mm_projector_type`` (default ``'linear'``).

    Maps (B, T, mm_hidden_size) -> (B, T, hidden_size).
    """
    kind = getattr(config, "mm_projector_type", None) or "linear"
    if getattr(config, "mm_hidden_size", None) is None:
        raise ValueError("projector: 'mm_hidden_size' is not set; it is the vision tower's width "
                         "(1024 for CLIP ViT-L/14-336)")
    d_in, d_out = int(config.mm_hidden_size), int(config.hidden_size)
    if kind == "linear":
        return nn.Linear(d_in, d_out)
    match = _MLP_GELU.match(kind)
    if match and int(match.group(1)) >= 1:
        depth = int(match.group(1))
        layers: list[nn.Module] = [nn.Linear(d_in, d_out)]
        for _ in range(depth - 1):
            layers += [nn.GELU(), nn.Linear(d_out, d_out)]
        return nn.Sequential(*layers)
    if kind == "identity":
        if d_in != d_out:
            raise ValueError(f"projector 'identity': mm_hidden_size {d_in} differs from hidden_size {d_out}; "
                             "use 'linear' or 'mlp2x_gelu'")
        return nn.Identity()
    raise ValueError(f"projector: invalid value for 'mm_projector_type'. Allowed values are "
                     f"{', '.join(map(repr, projector_types()))}, but got {kind!r} instead")
