"""Shared fixtures: the real-data folder (skipped cleanly when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _shared_data() -> Path:
    env = os.environ.get("EEG_VLM_SHARED_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (or ``$EEG_VLM_SHARED_DATA``); the test is skipped when absent."""
    path = _shared_data()
    if not path.is_dir():
        pytest.skip(f"real-data folder {path} is absent")
    return path


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` run wherever CUDA is available and are skipped, saying so, elsewhere."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (marked gpu)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
