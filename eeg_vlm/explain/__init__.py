"""Explanation of staging decisions: feature-ablation attribution over image patches (PSG-LLaVA §2.3.2)."""

from eeg_vlm.explain.attribution import (Attribution, feature_ablation, keep_top, masked_copies, normalise,
                                         patch_grid, upsample)

__all__ = ["Attribution", "feature_ablation", "keep_top", "masked_copies", "normalise", "patch_grid", "upsample"]
