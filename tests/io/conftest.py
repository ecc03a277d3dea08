"""Fixtures for the reader tests (file writers live in edf_files.py)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def eeg_signals() -> dict[str, tuple[np.ndarray, float]]:
    """Two minutes of a 100-Hz EEG-like signal and a 1-Hz EMG-like one."""
    rng = np.random.default_rng(0)
    t = np.arange(120 * 100) / 100
    eeg = 40 * np.sin(2 * np.pi * 10 * t) + 5 * rng.standard_normal(t.size)
    emg = rng.uniform(-3, 3, 120)
    return {"EEG Fpz-Cz": (eeg, 100.0), "EMG submental": (emg, 1.0)}
