"""Fixtures of the signal-model tests: synthetic nights through 'eeg-vlm synth' + 'eeg-vlm convert'."""

from __future__ import annotations

from pathlib import Path

import pytest
from sm_synthetic import converted_nights


@pytest.fixture(scope="session")
def small_signals(tmp_path_factory) -> Path:
    """Three subjects of 40 min, channels Fpz-Cz and Pz-Oz, split train / val / test by subject."""
    return converted_nights(tmp_path_factory.mktemp("signals"), 3, 0.67, ("Fpz-Cz", "Pz-Oz"), 0.34, 0.34)
