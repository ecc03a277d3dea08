"""The features contract: names, sidecar, dtype/shape, alignment, finiteness, no pickle."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ondisk.features import (
    EVAL_FEATURES_NAME,
    TRAIN_FEATURES_NAME,
    FeatureStore,
    default_features_path,
    load_features,
    read_sidecar,
    sidecar_path,
    write_sidecar,
)


def _features(tmp_path, n=4, d=8, ids=("a", "b", "c", "d"), dtype=np.float32):
    path = tmp_path / TRAIN_FEATURES_NAME
    np.save(path, np.arange(n * d, dtype=dtype).reshape(n, 1, d))
    if ids is not None:
        write_sidecar(path, list(ids))
    return path


def test_default_names_and_sidecar_round_trip(tmp_path):
    assert default_features_path(tmp_path / "eeg_ft.json", "train") == tmp_path.resolve() / TRAIN_FEATURES_NAME
    assert default_features_path(tmp_path / "eeg_eval.jsonl", "eval").name == EVAL_FEATURES_NAME == \
        "eval_high_level_features.npy"
    with pytest.raises(ValueError, match=r"'kind' parameter. Allowed values are 'train', 'eval', but got 'test'"):
        default_features_path(tmp_path / "x.json", "test")
    path = _features(tmp_path)
    assert sidecar_path(path).name == "train_high_level_features.ids.json"
    assert json.loads(sidecar_path(path).read_text()) == {"count": 4, "sample_ids": ["a", "b", "c", "d"]}
    assert read_sidecar(path) == ["a", "b", "c", "d"]
    assert read_sidecar(tmp_path / "none.npy") is None


def test_store_is_memory_mapped_rows_by_index(tmp_path):
    store = FeatureStore(_features(tmp_path), ["a", "b", "c", "d"], "eeg_ft.json")
    assert isinstance(store.array, np.memmap) and len(store) == 4 and store.dim == 8
    row = store[2]
    assert row.shape == (1, 8) and row.dtype == np.float32 and row[0, 0] == 16
    with pytest.raises(IndexError, match="row 4 out of range 0..3"):
        store[4]


def test_alignment_errors_name_both_files(tmp_path):
    path = _features(tmp_path)
    with pytest.raises(ValueError, match=r"4 rows, but data file 'eeg_ft.json' has 3 samples"):
        FeatureStore(path, ["a", "b", "c"], "eeg_ft.json")
    with pytest.raises(ValueError, match=r"row 1 belongs to sample 'b', but data file 'eeg_ft.json' has 'x'"):
        FeatureStore(path, ["a", "x", "c", "d"], "eeg_ft.json")


def test_shape_and_dtype_are_checked(tmp_path):
    for shape, dtype, msg in [((3, 2, 4), np.float32, r"shape must be \(N, 1, D\), got \(3, 2, 4\)"),
                              ((3, 4), np.float32, r"shape must be \(N, 1, D\), got \(3, 4\)"),
                              ((3, 1, 4), np.float64, "dtype must be float32, got float64")]:
        np.save(tmp_path / "f.npy", np.zeros(shape, dtype))
        with pytest.raises(ValueError, match=r"features file '.*f\.npy': " + msg):
            load_features(tmp_path / "f.npy")
    with pytest.raises(FileNotFoundError, match=r"features file '.*missing\.npy': not found"):
        load_features(tmp_path / "missing.npy")


def test_pickled_npy_is_refused_naming_the_file(tmp_path):
    bad = tmp_path / "obj.npy"
    np.save(bad, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"features file '.*obj\.npy': not a plain \.npy array \(pickled"):
        load_features(bad)
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    with pytest.raises(ValueError, match=r"features file '.*junk\.npy': not"):
        load_features(tmp_path / "junk.npy")


def test_non_finite_row_is_named(tmp_path):
    arr = np.zeros((5000, 1, 4), np.float32)
    arr[4500, 0, 2] = np.nan
    np.save(tmp_path / "f.npy", arr)
    with pytest.raises(ValueError, match=r"features file '.*f\.npy': row 4500 holds NaN or infinite values"):
        FeatureStore(tmp_path / "f.npy")
    arr[4500, 0, 2], arr[7, 0, 0] = 0.0, np.inf
    np.save(tmp_path / "f.npy", arr)
    with pytest.raises(ValueError, match=r"row 7 holds NaN"):
        load_features(tmp_path / "f.npy")
    assert load_features(tmp_path / "f.npy", check_finite=False).shape == (5000, 1, 4)


@pytest.mark.parametrize("text, msg", [
    ("{not json", r"not valid JSON"),
    ("[1, 2]", r"expected an object .* got list"),
    ('{"count": 2}', r"expected an object .* got dict without a sample_ids list"),
    ('{"count": 3, "sample_ids": ["a", "b"]}', r"count 3 but 2 sample ids listed"),
])
def test_corrupt_sidecar_is_one_line_naming_it(tmp_path, text, msg):
    path = _features(tmp_path, ids=None)
    sidecar_path(path).write_text(text)
    with pytest.raises(ValueError, match=r"^sidecar '.*train_high_level_features\.ids\.json': " + msg) as exc:
        FeatureStore(path)
    assert "\n" not in str(exc.value)
    sidecar_path(path).write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match=r"sidecar '.*': not UTF-8 text"):
        read_sidecar(path)


def test_sidecar_count_must_match_rows(tmp_path):
    path = _features(tmp_path, ids=["a", "b"])
    with pytest.raises(ValueError, match=r"4 rows but its sidecar '.*ids\.json' lists 2 sample ids"):
        FeatureStore(path)


def test_sidecar_bytes_are_stable(tmp_path):
    """The sidecar's bytes do not change with this package (reproducible outputs)."""
    path = write_sidecar(tmp_path / "f.npy", ["SC4001E0/000000", "µ/000001"])
    assert path.read_bytes() == b'{"count": 2, "sample_ids": ["SC4001E0/000000", "\\u00b5/000001"]}'
