"""Subject-wise splits: holdout, k-fold, leave-one-subject-out, per-fold manifests."""

from __future__ import annotations

from collections import defaultdict

import pytest

from eeg_vlm.dataset.manifest import Row, read_manifest, write_manifest
from eeg_vlm.dataset.splits import assign_splits, fold_rows, holdout_split, kfold_split, main, subject_key


def _rows(n_subjects: int, nights: int = 2, epochs: int = 3, dataset: str = "sleep-edf") -> list[Row]:
    rows = []
    for s in range(n_subjects):
        for n in range(1, nights + 1):
            rid = f"SC4{s:02d}{n}E0"
            for e in range(epochs):
                rows.append(Row(f"{rid}/{e:06d}", dataset, f"SC4{s:02d}", str(n), e, 30.0 * e, "N2",
                                f"images/{rid}/{e:06d}.png"))
    return rows


def _split_subjects(rows: list[Row]) -> dict[str, set[str]]:
    by = defaultdict(set)
    for r in rows:
        by[subject_key(r)].add(r.split)
    return by


@pytest.mark.parametrize("protocol", ["holdout", "kfold", "loso"])
def test_no_subject_in_two_splits(protocol):
    rows = assign_splits(_rows(23), protocol, seed=1, folds=5)
    assert all(len(v) == 1 for v in _split_subjects(rows).values())
    assert [r.sample_id for r in rows] == [r.sample_id for r in _rows(23)]  # order kept


def test_holdout_proportions():
    table = holdout_split([f"s{i}" for i in range(50)], seed=0)
    counts = {k: list(table.values()).count(k) for k in ("train", "val", "test")}
    assert counts == {"test": 10, "val": 4, "train": 36}  # 8:2, then 10% of the 40 train subjects
    table = holdout_split([f"s{i}" for i in range(10)], seed=0, val_fraction=0.0)
    assert sorted(table.values()).count("test") == 2 and "val" not in table.values()


def test_holdout_is_deterministic_and_seed_dependent():
    subs = [f"s{i}" for i in range(30)]
    assert holdout_split(subs, seed=3) == holdout_split(list(reversed(subs)), seed=3)
    assert holdout_split(subs, seed=3) != holdout_split(subs, seed=4)
    tests = [frozenset(k for k, v in holdout_split(subs, seed=s).items() if v == "test") for s in range(5)]
    assert len(set(tests)) == 5  # five seeds = five different runs


def test_kfold_balanced_and_complete():
    table = kfold_split([f"s{i}" for i in range(23)], folds=5, seed=2)
    sizes = sorted(list(table.values()).count(k) for k in range(5))
    assert sizes == [4, 4, 5, 5, 5]
    assert kfold_split([f"s{i}" for i in range(23)], folds=5, seed=2) == table


def test_loso_one_subject_per_fold():
    rows = assign_splits(_rows(4), "loso")
    folds = _split_subjects(rows)
    assert sorted(next(iter(v)) for v in folds.values()) == ["0", "1", "2", "3"]


def test_same_subject_name_in_two_datasets_is_two_people():
    rows = _rows(3) + _rows(3, dataset="other")
    out = assign_splits(rows, "loso")
    assert len({r.split for r in out}) == 6


def test_too_few_subjects():
    with pytest.raises(ValueError, match="holdout needs at least 3 subjects \\(train, val and test\\), found 2"):
        assign_splits(_rows(2), "holdout")
    with pytest.raises(ValueError, match="10 folds need at least 10 subjects, found 4"):
        assign_splits(_rows(4), "kfold", folds=10)
    with pytest.raises(ValueError, match="leave-one-subject-out needs at least 2 subjects, found 1"):
        assign_splits(_rows(1), "loso")
    with pytest.raises(ValueError, match="Allowed values are 'holdout', 'kfold', 'loso'"):
        assign_splits(_rows(4), "random")


def test_fold_rows_turn_folds_into_train_val_test():
    rows = assign_splits(_rows(12), "kfold", folds=4, seed=0)
    for k in range(4):
        f = fold_rows(rows, k, seed=0)
        test = {subject_key(r) for r in f if r.split == "test"}
        assert test == {subject_key(r) for r in rows if r.split == str(k)}
        assert len({subject_key(r) for r in f if r.split == "val"}) == 1  # 10% of 9, at least one
        assert all(len(v) == 1 for v in _split_subjects(f).values())
    with pytest.raises(ValueError, match="needs a fold number"):
        fold_rows(_rows(3), 0)


def test_cli_in_place_and_per_fold(tmp_path, capsys):
    path = write_manifest(tmp_path / "manifest.csv", _rows(6))
    assert main([str(path), "--protocol", "holdout", "--seed", "2"]) == 0
    rows = read_manifest(path)
    assert {r.split for r in rows} == {"train", "val", "test"}
    assert "holdout split (seed 2)" in capsys.readouterr().out
    again = tmp_path / "again.csv"
    assert main([str(path), "--seed", "2", "--out", str(again)]) == 0
    assert again.read_bytes() == path.read_bytes()  # deterministic
    assert main([str(path), "--protocol", "kfold", "--folds", "3", "--per-fold"]) == 0
    assert sorted(p.name for p in tmp_path.glob("manifest.fold*.csv")) == [
        "manifest.fold0.csv", "manifest.fold1.csv", "manifest.fold2.csv"]
    fold0 = read_manifest(tmp_path / "manifest.fold0.csv")
    assert {r.split for r in fold0} == {"train", "val", "test"}
    assert main([str(path), "--protocol", "kfold", "--folds", "7"]) == 1
    assert "7 folds need at least 7 subjects, found 6" in capsys.readouterr().err
