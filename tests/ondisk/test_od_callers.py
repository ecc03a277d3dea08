"""Every package that reads a path from a data file refuses the same paths the same way,
and the issue-8 inputs (binary, pickled, corrupt sidecar) end in one line naming the file."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from ondisk.paths import UnsafePathError
from ondisk.records import MANIFEST_COLUMNS

from test_od_paths import REFUSED  # tests/ondisk is on sys.path (pytest's rootdir-relative import)


def _manifest(tmp_path, image: str):
    row = ["R/000000", "d", "s", "1", "0", "0.0", "W", image, "train"]
    path = tmp_path / "manifest.csv"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([MANIFEST_COLUMNS, row])
    return path


def _jsonl(tmp_path, image: str):
    path = tmp_path / "eeg_eval.jsonl"
    path.write_text(json.dumps({"question_id": "R/000000", "text": "?", "image": [image, image]}) + "\n")
    return path


def _eeg_vlm_manifest(tmp_path, image):
    from eeg_vlm.dataset.manifest import read_manifest

    read_manifest(_manifest(tmp_path, image))


def _feature_extractor_manifest(tmp_path, image):
    from feature_extractor.samples import read_manifest

    read_manifest(_manifest(tmp_path, image))


def _feature_extractor_jsonl(tmp_path, image):
    from feature_extractor.samples import read_data_file

    read_data_file(_jsonl(tmp_path, image))


def _feature_extractor_labels(tmp_path, image):
    from feature_extractor.samples import read_labels_csv

    (tmp_path / "labels.csv").write_text(f"image,stage\n\"{image}\",W\n")
    read_labels_csv(tmp_path / "labels.csv", tmp_path)


def _llava(tmp_path, image):
    from llava.mm_utils import resolve_image_path

    resolve_image_path(tmp_path, image, "data file 'eeg_ft.json'")


CALLERS = {
    "eeg_vlm.read_manifest": (_eeg_vlm_manifest, r"manifest\.csv', line 2"),
    "feature_extractor.read_manifest": (_feature_extractor_manifest, r"manifest\.csv', line 2"),
    "feature_extractor.read_data_file": (_feature_extractor_jsonl, r"eeg_eval\.jsonl', line 1"),
    "feature_extractor.read_labels_csv": (_feature_extractor_labels, r"labels\.csv', line 2"),
    "llava.resolve_image_path": (_llava, r"data file 'eeg_ft\.json'"),
}


@pytest.mark.parametrize("caller", sorted(CALLERS))
@pytest.mark.parametrize("path", sorted(REFUSED))
def test_every_caller_refuses_the_same_paths_the_same_way(tmp_path, caller, path):
    call, source = CALLERS[caller]
    with pytest.raises(UnsafePathError, match=source + r".*: .* " + REFUSED[path] + "; expected a path relative") as exc:
        call(tmp_path, path)
    assert "\n" not in str(exc.value)


def test_extract_verify_refuses_pickled_npy_and_corrupt_sidecar(tmp_path, capsys):
    from feature_extractor.extract import main

    data = _jsonl(tmp_path, "a.png")
    out = tmp_path / "eval_high_level_features.npy"
    np.save(out, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert main(["--data", str(data), "--out", str(out), "--verify"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "eval_high_level_features.npy': not a plain .npy array (pickled" in err
    np.save(out, np.zeros((1, 1, 4), np.float32))
    (tmp_path / "eval_high_level_features.ids.json").write_text('{"count": 1, "sample_ids": ["R/0')
    assert main(["--data", str(data), "--out", str(out), "--verify"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "sidecar '" in err and "eval_high_level_features.ids.json': not valid JSON" in err
    (tmp_path / "eval_high_level_features.ids.json").write_text('{"count": 1, "sample_ids": ["R/000000"]}')
    np.save(out, np.full((1, 1, 4), np.nan, np.float32))
    assert main(["--data", str(data), "--out", str(out), "--verify"]) == 1
    assert "row 0 holds NaN or infinite values" in capsys.readouterr().err
    np.save(out, np.zeros((1, 1, 4), np.float32))
    assert main(["--data", str(data), "--out", str(out), "--verify"]) == 0


@pytest.mark.parametrize("flag, what", [("--answers", "answers file"), ("--predictions", "predictions file")])
def test_report_on_a_binary_file_is_one_line_naming_it(tmp_path, capsys, flag, what):
    from eeg_vlm.evaluation.report import main

    path = tmp_path / "binary.jsonl"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    assert main([flag, str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert f"{what} '{path}': not UTF-8 text (byte 0x89 at offset 0)" in err
