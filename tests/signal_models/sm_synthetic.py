"""Synthetic nights for the signal-model tests (a module of its own, not conftest: a
`from conftest import` resolves to whichever tests folder's conftest was imported first)."""

from __future__ import annotations

from pathlib import Path


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
