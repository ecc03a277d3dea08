"""Reading manifests, labels CSVs, eeg_ft.json and eeg_eval.jsonl; paths never leave their folder."""

from __future__ import annotations

import json

import pytest

from feature_extractor.samples import read_data_file, read_labels_csv, read_manifest, read_sample_ids

HEADER = "sample_id,dataset,subject,night,epoch,onset_s,stage,image,split\n"


def write_manifest(path, rows):
    path.write_text(HEADER + "".join(f"{sid},syn,S1,1,0,0,{st},{img},{sp}\n" for sid, st, img, sp in rows))
    return path


def test_manifest_rows_by_split_in_file_order(tmp_path):
    m = write_manifest(tmp_path / "manifest.csv", [("A/000000", "W", "img/a0.png", "train"),
                                                   ("A/000001", "REM", "img/a1.png", "val"),
                                                   ("B/000000", "N3", "img/b0.png", "train")])
    rows = read_manifest(m, split="train")
    assert [r.sample_id for r in rows] == ["A/000000", "B/000000"]
    assert [r.label for r in rows] == [0, 3]
    assert rows[0].image == (tmp_path / "img" / "a0.png").resolve()
    assert [r.sample_id for r in read_manifest(m, split=["train", "val"])] == ["A/000000", "A/000001", "B/000000"]


@pytest.mark.parametrize("bad", ["../outside.png", "img/../../outside.png", "/etc/passwd"])
def test_manifest_path_escaping_its_folder_names_file_and_row(tmp_path, bad):
    m = write_manifest(tmp_path / "manifest.csv", [("A/000000", "W", "img/a0.png", "train"), ("A/000001", "W", bad, "train")])
    with pytest.raises(ValueError, match=r"manifest '.*manifest.csv', line 3: field 'image' .*(has a '\.\.' component|is absolute)"):
        read_manifest(m, split="train")


def test_symlink_out_of_the_folder_is_refused(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "secret.png").write_bytes(b"x")
    (tmp_path / "data" / "link.png").symlink_to(tmp_path / "secret.png")
    m = write_manifest(tmp_path / "data" / "manifest.csv", [("A/000000", "W", "link.png", "train")])
    with pytest.raises(ValueError, match=r"line 2: image path 'link.png' resolves outside its folder"):
        read_manifest(m)


def test_bad_stage_and_missing_columns(tmp_path):
    m = write_manifest(tmp_path / "manifest.csv", [("A/000000", "S5", "a.png", "train")])
    with pytest.raises(ValueError, match=r"line 2: stage 'S5' is not one of 'W', 'N1', 'N2', 'N3', 'REM'"):
        read_manifest(m)
    (tmp_path / "m2.csv").write_text("sample_id,image\nA,a.png\n")
    with pytest.raises(ValueError, match=r"line 1: header is 'sample_id,image'; expected 'sample_id,dataset"):
        read_manifest(tmp_path / "m2.csv")


def test_labels_csv_variants(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "a.csv").write_text("image,stage\nx/e1.png,N2\n")
    (tmp_path / "b.csv").write_text("sample_id,stage,split\nrec/000001,R,val\nrec/000002,N1,train\n")
    a = read_labels_csv(tmp_path / "a.csv", tmp_path / "imgs")
    assert a[0].sample_id == "x/e1" and a[0].label == 2 and a[0].image == (tmp_path / "imgs/x/e1.png").resolve()
    b = read_labels_csv(tmp_path / "b.csv", tmp_path / "imgs", split="val")
    assert [(s.sample_id, s.label, s.image.name) for s in b] == [("rec/000001", 4, "000001.png")]
    (tmp_path / "c.csv").write_text("image,stage\n../../x.png,W\n")
    with pytest.raises(ValueError, match=r"labels file '.*c.csv', line 2: image path '../../x.png' has a '\.\.' component"):
        read_labels_csv(tmp_path / "c.csv", tmp_path / "imgs")


def test_llava_json_and_jsonl(tmp_path):
    ft = [{"id": "A/000001", "image": ["A/1.png", "A/1.png"], "conversations": []},
          {"id": "A/000002", "image": "A/2.png", "conversations": []}]
    (tmp_path / "eeg_ft.json").write_text(json.dumps(ft))
    rows = read_data_file(tmp_path / "eeg_ft.json", image_folder=tmp_path / "imgs")
    assert [r.sample_id for r in rows] == ["A/000001", "A/000002"]
    assert rows[0].image == (tmp_path / "imgs/A/1.png").resolve() and rows[0].label == -1
    lines = [{"question_id": "q1", "sample_id": "A/000009", "image": ["A/9.png", "A/9.png"], "text": "?", "stage": "N3"},
             {"question_id": "B/000001", "image": "B/1.png", "text": "?"}]
    (tmp_path / "eeg_eval.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    rows = read_data_file(tmp_path / "eeg_eval.jsonl")
    assert [(r.sample_id, r.label) for r in rows] == [("A/000009", 3), ("B/000001", -1)]
    assert read_sample_ids(tmp_path / "eeg_eval.jsonl") == ["A/000009", "B/000001"]
    bad = [{"id": "x", "image": ["../../etc/passwd", "p"], "conversations": []}]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"data file '.*bad.json', entry 0: image path .* has a '\.\.' component"):
        read_data_file(tmp_path / "bad.json", image_folder=tmp_path / "imgs")
    (tmp_path / "noid.jsonl").write_text(json.dumps({"image": "a.png"}) + "\n")
    with pytest.raises(ValueError, match=r"line 1: missing field\(s\) 'question_id', 'text'"):
        read_data_file(tmp_path / "noid.jsonl")
