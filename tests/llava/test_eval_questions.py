import json

import pytest

from llava.eval.questions import (
    AnswerWriter,
    Question,
    answer_record,
    chunk_bounds,
    new_answer_id,
    read_answered,
    read_questions,
    select_chunk,
)


def _write_questions(path, n=5, **extra):
    with path.open("w") as fh:
        for i in range(n):
            rec = {"question_id": f"R1/{i:06d}", "sample_id": f"R1/{i:06d}", "image": [f"R1/{i}.png"] * 2,
                   "text": f"q{i}", "stage": "N2", **extra}
            fh.write(json.dumps(rec) + "\n")
            if i == 1:
                fh.write("\n")  # blank lines do not count
    return path


def test_read_questions_indices_and_fields(tmp_path):
    qs = read_questions(_write_questions(tmp_path / "q.jsonl"))
    assert [q.index for q in qs] == [0, 1, 2, 3, 4]
    assert qs[2].images == ("R1/2.png", "R1/2.png") and qs[2].sample_id == "R1/000002"
    assert qs[0].record["stage"] == "N2"


def test_single_image_string_and_text_only(tmp_path):
    p = tmp_path / "q.jsonl"
    p.write_text('{"question_id": 7, "image": "a.png", "text": "t"}\n{"question_id": 8, "text": "only text"}\n')
    a, b = read_questions(p)
    assert a.images == ("a.png",) and a.sample_id == "7" and b.images == ()


@pytest.mark.parametrize(
    "line, err, match",
    [
        ('{"question_id": 1, "text": "a"', ValueError, r"line 2: not valid JSON"),
        ('{"text": "a"}', ValueError, r"line 2: missing field\(s\) 'question_id'"),
        ('{"question_id": 0, "text": "dup"}', ValueError, r"line 2: duplicate question_id 0 \(first at line 1\)"),
        ('{"question_id": 1, "text": 3}', ValueError, r"line 2: 'text' must be a string"),
        ('{"question_id": 1, "text": "a", "image": [1, 2]}', ValueError, r"line 2: 'image' must be a path"),
        ('[1, 2]', ValueError, r"expected a JSON object"),
    ],
)
def test_bad_question_lines(tmp_path, line, err, match):
    p = tmp_path / "q.jsonl"
    p.write_text('{"question_id": 0, "text": "ok"}\n' + line + "\n")
    with pytest.raises(err, match=match):
        read_questions(p)


def test_missing_question_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"question file .*nope.jsonl'?: not found"):
        read_questions(tmp_path / "nope.jsonl")


@pytest.mark.parametrize("total, n", [(10, 3), (7, 2), (5, 4), (3, 5), (0, 2), (12, 4)])
def test_chunks_partition_like_upstream(total, n):
    items = list(range(total))
    parts = [select_chunk(items, n, k) for k in range(n)]
    assert sum(parts, []) == items  # each item once, in order
    size = -(-total // n) if total else 0
    upstream = [items[i:i + size] for i in range(0, total, size)] if size else []
    assert [p for p in parts if p] == upstream
    assert chunk_bounds(total, n, 0) == (0, min(total, size))


def test_chunk_arguments_checked():
    with pytest.raises(ValueError, match=r"chunk_idx must be in 0\.\.1, got 2"):
        chunk_bounds(5, 2, 2)
    with pytest.raises(ValueError, match=r"num_chunks must be a positive integer, got 0"):
        chunk_bounds(5, 0, 0)


def test_answer_record_fields():
    q = Question(3, "R1/000003", "q", ("a.png", "a.png"), {"question_id": "R1/000003", "sample_id": "R1/000003", "stage": "REM", "text": "q"})
    rec = answer_record(q, "PROMPT", "REM", "ckpt", {"pred": "REM"})
    assert set(rec) == {"question_id", "prompt", "text", "answer_id", "model_id", "metadata"}
    assert rec["metadata"] == {"sample_id": "R1/000003", "stage": "REM", "pred": "REM"}
    assert rec["question_id"] == "R1/000003" and rec["model_id"] == "ckpt"
    plain = answer_record(Question(0, 1, "q", (), {"question_id": 1, "text": "q"}), "P", "t", "m")
    assert plain["metadata"] == {}


def test_answer_ids_unique():
    ids = {new_answer_id() for _ in range(2000)}
    assert len(ids) == 2000 and all(len(i) == 22 for i in ids)


def test_writer_appends_and_flushes(tmp_path):
    path = tmp_path / "sub" / "a.jsonl"
    with AnswerWriter(path) as w:
        w.write({"question_id": 1, "text": "W"})
        assert path.read_text() == '{"question_id": 1, "text": "W"}\n'  # flushed before close
    with AnswerWriter(path) as w:
        w.write({"question_id": 2, "text": "W"})
    assert read_answered(path) == {"1", "2"}
    with AnswerWriter(path, overwrite=True) as w:
        w.write({"question_id": 3, "text": "W"})
    assert read_answered(path) == {"3"}


def test_read_answered_repairs_cut_off_last_line(tmp_path):
    path = tmp_path / "a.jsonl"
    good = '{"question_id": "a", "text": "x"}\n{"question_id": "b", "text": "y"}\n'
    path.write_text(good + '{"question_id": "c", "te')
    assert read_answered(path) == {"a", "b"}
    assert path.read_text() == good  # the cut-off line is gone, appending is safe again
    assert read_answered(tmp_path / "absent.jsonl") == set()


def test_read_answered_adds_missing_newline(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"question_id": "a", "text": "W"}\n{"question_id": "b", "text": "W"}')
    assert read_answered(path) == {"a", "b"}
    assert path.read_text().endswith('"W"}\n')


def test_read_answered_broken_middle_line_is_an_error(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"question_id": "a", "text": "W"}\n{"question_\n{"question_id": "b", "text": "W"}\n')
    with pytest.raises(ValueError, match=r"line 2 is not a complete answer"):
        read_answered(path)
