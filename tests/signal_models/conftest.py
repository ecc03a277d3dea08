"""Fixtures of the signal-model tests: synthetic nights through 'eeg-vlm synth' + 'eeg-vlm convert'."""

from __future__ import annotations

from pathlib import Path

import pytest


def converted_nights(root: Path, n_subjects: int, hours: float, channels: tuple[str, ...],
                     test_fraction: float, val_fraction: float) -> Path:
    """Synthetic PSG -> EDF+ -> converted folder with signals -> subject-wise splits; the manifest."""
    from eeg_vlm.dataset import splits
    from eeg_vlm.imaging.convert import convert
    from eeg_vlm.dataset.synthetic import write_synthetic_dataset

    write_synthetic_dataset(root / "psg", n_subjects=n_subjects, hours=hours, seed=0)
    style = "eeg-vlm" if len(channels) == 1 else "psg-llava"
    convert(root / "psg", root / "conv", channels=channels, style=style, size=32, workers=1, signals=True)
    manifest = root / "conv" / "manifest.csv"
    assert splits.main([str(manifest), "--test-fraction", str(test_fraction), "--val-fraction", str(val_fraction)]) == 0
    return manifest


@pytest.fixture(scope="session")
def small_signals(tmp_path_factory) -> Path:
    """Three subjects of 40 min, channels Fpz-Cz and Pz-Oz, split train / val / test by subject."""
    return converted_nights(tmp_path_factory.mktemp("signals"), 3, 0.67, ("Fpz-Cz", "Pz-Oz"), 0.34, 0.34)
