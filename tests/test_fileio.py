import pytest

from eeg_vlm.fileio import atomic_write, read_jsonl


def test_read_jsonl_lines_and_errors(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"a": 1}\n\n{"b": 2}\n')
    assert read_jsonl(path, "questions file") == [(1, {"a": 1}), (3, {"b": 2})]
    path.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(ValueError, match=r"questions file '.*q\.jsonl', line 2: expected a JSON object, got list"):
        read_jsonl(path, "questions file")
    path.write_text('{"a": \n')
    with pytest.raises(ValueError, match=r"line 1: not valid JSON"):
        read_jsonl(path, "questions file")


def test_atomic_write_keeps_old_content_on_failure(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as fh:
            fh.write("half")
            raise RuntimeError("killed")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
