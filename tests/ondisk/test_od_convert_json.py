"""`convert.json`: one reader for every package that needs the conversion settings."""

from __future__ import annotations

import pytest

from ondisk import read_convert_json


def test_absent_is_none_and_an_object_is_returned(tmp_path):
    assert read_convert_json(tmp_path) is None
    (tmp_path / "convert.json").write_text('{"channels": ["Fpz-Cz"], "sfreq": 100}')
    assert read_convert_json(tmp_path) == {"channels": ["Fpz-Cz"], "sfreq": 100}


@pytest.mark.parametrize("content, problem", [
    (b'{"channels": [', "not valid JSON"),
    (b"[1, 2]", "expected a JSON object"),
    (b"\x89PNG\r\n\x1a\n\x00", "not UTF-8 text"),
])
def test_a_damaged_file_is_one_line_naming_it(tmp_path, content, problem):
    (tmp_path / "convert.json").write_bytes(content)
    with pytest.raises(ValueError) as err:
        read_convert_json(tmp_path)
    message = str(err.value)
    assert problem in message and str(tmp_path / "convert.json") in message and "\n" not in message


def test_callers_in_other_packages_get_the_same_error(tmp_path):
    from eeg_vlm.reasoning.llava_data import read_convert_json as via_eeg_vlm
    from feature_extractor.train_config import image_settings
    from signal_models.data import _convert_info

    assert via_eeg_vlm is read_convert_json
    (tmp_path / "convert.json").write_text("{not json")
    for call in (lambda: image_settings(tmp_path / "manifest.csv"), lambda: _convert_info(tmp_path)):
        with pytest.raises(ValueError, match="not valid JSON"):
            call()
