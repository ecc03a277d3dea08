"""The EEG-VLM fusion switch: the ONE place where EEG feature rows become visual tokens.

An EEG-VLM sample holds two ``<image>`` placeholders: slot 1 receives the image's visual
tokens ``Hv``, slot 2 what :class:`EEGFusion` makes of the sample's projected feature rows
``Hf`` (``eeg_features`` (B, 1, D) through the shared ``mm_projector``):

==========  ==========================================  =====================  ==============
mode        slot 2                                      tokens (LLaVA-1.5)     paper row
==========  ==========================================  =====================  ==============
``add``     ``Hv + Expand(Hf)`` on every CLIP patch      576 (1,152 in all)     EEG-VLM
            token (LLaVA-NeXT newline rows unchanged)
``raw``     ``Hf`` alone                                 1 (577 in all)         "Raw Hf"
``none``    no second placeholder; features ignored      - (576)                vanilla LLaVA
==========  ==========================================  =====================  ==============

Neighbour context (``eeg_context`` K > 0, EEG-VLM's own extension): a sample carries the
feature rows of epochs ``t-K .. t+K`` of its night, ``(B, 2K+1, D)``, centre row ``K``
(zeros where a neighbour is missing: the first and last epochs of a night are padded,
never borrowed). ``add`` puts ``Hv + Expand(Hf_t)`` on the patch tokens as before and
appends the 2K projected neighbour rows in time order (576 + 2K tokens); ``raw`` is the
2K + 1 projected rows. K = 0 is the paper's slot, token for token.

:meth:`EEGFusion.check_features` checks the rows against the batch and width,
:meth:`EEGFusion.slots` builds a sample's blocks (and raises on any placeholder/feature
mismatch), :meth:`EEGFusion.visual_token_count` is the count the dataset budgets for.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from ..constants import EEG_FUSION_MODES
from ..utils import check_option

logger = logging.getLogger(__name__)

__all__ = ["EEGFusion"]


@dataclass(frozen=True)
class EEGFusion:
    """What the second ``<image>`` slot of an EEG-VLM sample receives (``eeg_fusion``).

    ``Hf`` (R, hidden) are a sample's projected feature rows (R = 1 today), ``Hv``
    (P, hidden) its visual tokens and ``patch`` (P,) which of them are CLIP patch tokens
    (LLaVA-NeXT's newline rows are not):

    - ``'add'``: ``Hv + Expand(Hf)`` on the patch tokens, newline rows unchanged (P tokens);
    - ``'raw'``: ``Hf`` alone (R tokens);
    - ``'none'``: no feature slot; a sample holds one placeholder.
    """

    mode: str = "add"
    context: int = 0  # eeg_context K: feature rows of epochs t-K .. t+K

    def __post_init__(self) -> None:
        check_option("eeg_fusion", self.mode, EEG_FUSION_MODES, where="config")
        if isinstance(self.context, bool) or not isinstance(self.context, int) or self.context < 0:
            raise ValueError(f"config: 'eeg_context' must be an integer >= 0, got {self.context!r}")

    @property
    def rows(self) -> int:
        """Feature rows per sample: ``2 * context + 1``."""
        return 2 * self.context + 1

    @property
    def uses_features(self) -> bool:
        return self.mode != "none"

    def check_features(self, eeg_features: torch.Tensor, batch: int, width: int) -> torch.Tensor:
        """``eeg_features`` (B, D) or (B, R, D) -> (B, R, D) with R = :attr:`rows`, checked."""
        if eeg_features.dim() == 2:
            eeg_features = eeg_features.unsqueeze(1)
        if eeg_features.dim() != 3 or eeg_features.shape[1] != self.rows:
            raise ValueError(f"eeg_features: expected shape (batch, {self.rows}, D) for eeg_context {self.context}, "
                             f"got {tuple(eeg_features.shape)}")
        if eeg_features.shape[0] != batch:
            raise ValueError(f"eeg_features: {eeg_features.shape[0]} feature rows for a batch of {batch} samples")
        if eeg_features.shape[-1] != width:
            raise ValueError(
                f"eeg_features: feature width {eeg_features.shape[-1]} does not match the projector's input "
                f"width mm_hidden_size={width}; the features pass through the same mm_projector as the "
                "CLIP patch features, so both widths must be equal")
        return eeg_features

    def feature_slot(self, hv: torch.Tensor, patch: torch.Tensor | None, hf: torch.Tensor) -> torch.Tensor:
        """Slot 2: (P + 2K, hidden) for ``'add'`` (the centre row added where ``patch``, then
        the neighbour rows), (2K + 1, hidden) for ``'raw'``; ``hf`` is (2K + 1, hidden)."""
        if self.mode == "raw":
            return hf
        k = self.context
        centre = hf[k:k + 1]  # (1, hidden)
        fused = hv + centre if patch is None else hv + centre * patch[:, None].to(hv.dtype)  # newline rows + 0
        if k == 0:
            return fused  # (P, hidden)
        return torch.cat([fused, hf[:k], hf[k + 1:]], dim=0)  # (P + 2K, hidden)

    def slots(self, b: int, n_tags: int, hv: torch.Tensor, patch: torch.Tensor | None,
              hf: torch.Tensor | None, has_features: bool) -> list[torch.Tensor]:
        """The visual token blocks for sample ``b``'s ``n_tags`` placeholders, in order."""
        if n_tags == 0:
            return []
        if n_tags == 1:
            if hf is not None:
                raise ValueError(
                    f"sample {b}: 1 <image> placeholder but eeg_features were given; with eeg_fusion "
                    f"{self.mode!r} an EEG-VLM sample carries 2 <image> placeholders (image, then features)")
            return [hv]
        if n_tags == 2:
            if self.mode == "none":
                raise ValueError(f"sample {b}: 2 <image> placeholders but eeg_fusion 'none' takes 1 per sample")
            if hf is None:
                raise ValueError(f"sample {b}: 2 <image> placeholders but no eeg_features were given "
                                 f"(0 feature rows for 1 feature slot); eeg_fusion is {self.mode!r}")
            return [hv, self.feature_slot(hv, patch, hf)]
        expected = 2 if has_features and self.uses_features else 1
        raise ValueError(f"sample {b}: {n_tags} <image> placeholders but at most {expected} expected "
                         f"(eeg_fusion {self.mode!r}, features {'given' if has_features else 'absent'})")

    def visual_token_count(self, image_tokens: int, n_tags: int, feature_rows: int = 1) -> int:
        """Visual tokens spliced for a sample with ``n_tags`` placeholders and ``image_tokens`` per image.

        ``feature_rows`` is ignored when ``context`` > 0 (the rows are then ``2 * context + 1``).
        """
        if n_tags <= 1 or self.mode == "none":
            return image_tokens * min(n_tags, 1)
        rows = self.rows if self.context else feature_rows
        return image_tokens + (image_tokens + rows - 1 if self.mode == "add" else rows)
