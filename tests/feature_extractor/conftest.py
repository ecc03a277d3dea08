"""Fixtures of the feature_extractor tests (helpers live in fe_synthetic.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fe_synthetic import write_synthetic_set


@pytest.fixture(scope="session")
def small_manifest(tmp_path_factory) -> Path:
    """40 images of 32x32: train subjects 0-1, val 2, test 3 (2 epochs per stage each)."""
    root = tmp_path_factory.mktemp("small_set")
    return write_synthetic_set(root, {"train": [0, 1], "val": [2], "test": [3]}, per_stage=2, size=32)


@pytest.fixture(scope="session")
def tiny_checkpoint(small_manifest, tmp_path_factory) -> Path:
    """A one-epoch narrow ResNet-18 trained on ``small_manifest`` (its training output folder)."""
    from fe_synthetic import tiny_train_args

    from feature_extractor.train import main

    out = tmp_path_factory.mktemp("tiny_ckpt")
    assert main(tiny_train_args(small_manifest, out, "--epochs", "1")) == 0
    return out
