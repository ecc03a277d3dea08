"""Record files: round trips, required fields, errors naming file and line, binary files."""

from __future__ import annotations

import json

import pytest

from ondisk.paths import PROBLEMS, UnsafePathError
from ondisk.records import ANSWER_FIELDS, MANIFEST_COLUMNS, read_answers, read_eval_questions, read_ft_json
from ondisk.records import read_jsonl, read_manifest_rows, read_text, write_answers_line, write_jsonl_atomic
from ondisk.records import write_manifest_rows

QUESTIONS = [{"question_id": "R/000000", "image": ["a.png", "a.png"], "text": "Stage?", "stage": "W"},
             {"question_id": "R/000001", "text": "Stage?"}]
FT = [{"id": "R/000000", "image": ["a.png", "a.png"], "conversations": [{"from": "human", "value": "<image>"}]}]
ROW = ["R/000000", "sleep-edf", "S01", "1", "0", "0.0", "W", "img/a.png", "train"]


def test_eval_jsonl_round_trip(tmp_path):
    write_jsonl_atomic(tmp_path / "q.jsonl", QUESTIONS)
    assert read_eval_questions(tmp_path / "q.jsonl") == [(1, QUESTIONS[0]), (2, QUESTIONS[1])]


@pytest.mark.parametrize("lines, msg", [
    (['{"question_id": 1}'], r"line 1: missing field\(s\) 'text'"),
    (['{"text": "q"}'], r"line 1: missing field\(s\) 'question_id'"),
    (['{"question_id": 1, "text": "q"}', "", '{"question_id": 1, "text": "q"}'],
     r"line 3: duplicate question_id 1 \(first at line 1\)"),
    (['{"question_id": 1, "text": 3}'], r"line 1: 'text' must be a string"),
    (['{"question_id": 1, "text": "q", "image": []}'], r"line 1: 'image' must be a path or a non-empty list"),
    (['{"question_id": 1, "text": "q"}', "[1]"], r"line 2: expected a JSON object, got list"),
    (["{oops"], r"line 1: not valid JSON"),
])
def test_eval_jsonl_errors_name_file_and_line(tmp_path, lines, msg):
    (tmp_path / "q.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"^question file '.*q\.jsonl', " + msg):
        read_eval_questions(tmp_path / "q.jsonl")


def test_ft_json_round_trip_and_errors(tmp_path):
    (tmp_path / "ft.json").write_text(json.dumps(FT))
    assert read_ft_json(tmp_path / "ft.json") == FT
    for data, msg in [({"a": 1}, "expected a list of samples, got dict"),
                      ([{"id": "x"}], r"entry 0: missing field\(s\) 'conversations'"),
                      ([FT[0], FT[0]], r"entry 1: duplicate id 'R/000000' \(first at entry 0\)"),
                      ([{**FT[0], "image": ["a", "b", "c"]}], r"entry 0: 'image' must be a path or a list of 1-2"),
                      ([{**FT[0], "conversations": "hi"}], r"entry 0: 'conversations' must be a list")]:
        (tmp_path / "ft.json").write_text(json.dumps(data))
        with pytest.raises(ValueError, match=r"^data file '.*ft\.json'(: |, )" + msg):
            read_ft_json(tmp_path / "ft.json")
    (tmp_path / "ft.json").write_text("[{")
    with pytest.raises(ValueError, match=r"data file '.*ft\.json': not valid JSON"):
        read_ft_json(tmp_path / "ft.json")


def test_answers_round_trip_flushed_per_line(tmp_path):
    rec = dict(zip(ANSWER_FIELDS, ["R/000000", "p", "Sleep stage: W", "id1", "m", {"stage": "W"}]))
    path = tmp_path / "answers.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        write_answers_line(fh, rec)
        assert path.read_text() == json.dumps(rec) + "\n"  # flushed before close
        write_answers_line(fh, {**rec, "question_id": "R/000001"})
    assert [r for _, r in read_answers(path)] == [rec, {**rec, "question_id": "R/000001"}]
    path.write_text('{"question_id": 1, "text": "W", "metadata": [1]}\n')
    with pytest.raises(ValueError, match=r"answers file '.*', line 1: 'metadata' must be an object, got list"):
        read_answers(path)
    path.write_text('{"question_id": 1}\n')
    with pytest.raises(ValueError, match=r"answers file '.*', line 1: missing field\(s\) 'text'"):
        read_answers(path)


def test_binary_file_is_one_line_naming_it(tmp_path):
    path = tmp_path / "answers.jsonl"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff")
    for call in (read_answers, read_eval_questions, lambda p: read_jsonl(p, "answers file"),
                 read_manifest_rows, read_ft_json):
        with pytest.raises(ValueError, match=r"'.*answers\.jsonl': not UTF-8 text \(byte 0x89 at offset 0\)") as e:
            call(path)
        assert "\n" not in str(e.value)
    with pytest.raises(FileNotFoundError, match=r"answers file '.*nope': not found"):
        read_text(tmp_path / "nope", "answers file")


def test_manifest_round_trip(tmp_path):
    path = write_manifest_rows(tmp_path / "manifest.csv", [ROW, [*ROW[:1], *ROW[1:]]][:1])
    assert path.read_text().splitlines()[0] == ",".join(MANIFEST_COLUMNS)
    assert read_manifest_rows(path) == [(2, dict(zip(MANIFEST_COLUMNS, ROW)))]


@pytest.mark.parametrize("rows, msg", [
    ([ROW[:-1]], r"line 2: 8 fields; expected 9"),
    ([ROW, ROW], r"line 3: field 'sample_id' 'R/000000' repeats line 2"),
    ([["", *ROW[1:]]], r"line 2: field 'sample_id' is empty"),
    ([[*ROW[:7], "../a.png", ROW[8]]], r"line 2: field 'image' '\.\./a\.png' " + PROBLEMS["dotdot"]),
    ([[*ROW[:7], "", ROW[8]]], r"line 2: field 'image' '' " + PROBLEMS["empty"]),
])
def test_manifest_errors_name_file_and_line(tmp_path, rows, msg):
    write_manifest_rows(tmp_path / "manifest.csv", rows)
    with pytest.raises(ValueError, match=r"^manifest '.*manifest\.csv', " + msg):
        read_manifest_rows(tmp_path / "manifest.csv")


def test_manifest_header_is_exact(tmp_path):
    (tmp_path / "m.csv").write_text("sample_id,stage\nR/000000,W\n")
    with pytest.raises(ValueError, match=r"manifest '.*m\.csv', line 1: header is 'sample_id,stage'; expected"):
        read_manifest_rows(tmp_path / "m.csv")
    write_manifest_rows(tmp_path / "m.csv", [[*ROW[:7], "C:\\a.png", ROW[8]]])
    with pytest.raises(UnsafePathError, match=PROBLEMS["drive"]):
        read_manifest_rows(tmp_path / "m.csv")
