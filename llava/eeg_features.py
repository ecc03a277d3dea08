"""EEG-VLM feature slot: the high-level features file and its alignment to a data file.

A features file is a float32 ``.npy`` of shape ``(N, 1, D)`` (``D = 1024`` for the paper's
modified ResNet-18). Row ``i`` belongs to sample ``i`` of the json/jsonl it was made for, in
file order; a sidecar ``<name>.ids.json`` lists the samples' ids so a mismatch is an error,
never a silent misalignment. The array is opened memory-mapped.

Rows are looked up by a sample's position in its data file, which is what makes the slot
correct under shuffling, several GPUs, gradient accumulation and resume (the authors'
release used a global batch counter instead).

The contract itself lives once, in :mod:`ondisk.features`; this module keeps the names
LLaVA-side code and users import.
"""

from __future__ import annotations

from ondisk.features import (
    EVAL_FEATURES_NAME,
    TRAIN_FEATURES_NAME,
    FeatureStore,
    default_features_path,
    sidecar_path,
    write_sidecar,
)

__all__ = [
    "TRAIN_FEATURES_NAME",
    "EVAL_FEATURES_NAME",
    "FeatureStore",
    "sidecar_path",
    "default_features_path",
    "write_sidecar",
]
