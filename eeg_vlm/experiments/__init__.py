"""The papers' experiments as resumable command lists (ablation grid, folds, robustness)."""
