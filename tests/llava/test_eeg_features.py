import numpy as np
import pytest

from llava.eeg_features import FeatureStore, default_features_path, sidecar_path, write_sidecar


def _write(tmp_path, n=4, d=8, ids=None):
    path = tmp_path / "train_high_level_features.npy"
    np.save(path, np.arange(n * d, dtype=np.float32).reshape(n, 1, d))
    if ids is not None:
        write_sidecar(path, ids)
    return path


def test_rows_by_index_and_sidecar(tmp_path):
    path = _write(tmp_path, ids=["a", "b", "c", "d"])
    assert sidecar_path(path).name == "train_high_level_features.ids.json"
    store = FeatureStore(path, ["a", "b", "c", "d"], "eeg_ft.json")
    assert len(store) == 4 and store.dim == 8
    row = store[2]
    assert row.shape == (1, 8) and row.dtype == np.float32 and row[0, 0] == 16


def test_count_mismatch_names_both_files(tmp_path):
    path = _write(tmp_path)
    with pytest.raises(ValueError, match=r"4 rows, but data file 'eeg_ft.json' has 3 samples"):
        FeatureStore(path, ["a", "b", "c"], "eeg_ft.json")


def test_id_mismatch_names_row(tmp_path):
    path = _write(tmp_path, ids=["a", "b", "c", "d"])
    with pytest.raises(ValueError, match=r"row 1 belongs to sample 'b'.*has 'x' at that position"):
        FeatureStore(path, ["a", "x", "c", "d"], "eeg_ft.json")


def test_rejects_pickled_and_bad_shapes(tmp_path):
    bad = tmp_path / "obj.npy"
    np.save(bad, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="not a plain .npy array"):
        FeatureStore(bad)
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros((3, 2, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"shape must be \(N, 1, D\)"):
        FeatureStore(flat)
    with pytest.raises(FileNotFoundError):
        FeatureStore(tmp_path / "missing.npy")


def test_default_paths(tmp_path):
    assert default_features_path(tmp_path / "eeg_ft.json", "train") == tmp_path.resolve() / "train_high_level_features.npy"
    assert default_features_path(tmp_path / "q.jsonl", "eval").name == "eval_high_level_features.npy"
