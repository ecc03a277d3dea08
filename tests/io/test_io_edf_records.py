"""EDF/BDF whose header disagrees with the data: record count, truncation, EDF+ time-stamps."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from edf_files import patch_header, write_edf

from eeg_vlm.io import find_recordings, read_edf

NOTES = [(0.0, 30.0, "Sleep stage W"), (30.0, 30.0, "Sleep stage 2")]


@pytest.mark.parametrize("bdf", [False, True])
@pytest.mark.parametrize("plus", [False, True])
def test_more_records_than_the_header_says_are_read(tmp_path, eeg_signals, caplog, bdf, plus):
    path = write_edf(tmp_path / "night.edf", eeg_signals, NOTES if plus else (), record_duration=1.0, bdf=bdf,
                     plus=plus)
    ref = read_edf(path)
    patch_header(path, 236, b"30      ")  # the file holds 120 records of 1 s
    with caplog.at_level(logging.WARNING, logger="eeg_vlm.io.edf"):
        rec = read_edf(path)
    assert "header field 'number of data records' says 30, the file holds 120 complete records (120 s)" in caplog.text
    for name, channel in ref.channels.items():
        assert rec.channels[name].duration == 120.0
        np.testing.assert_allclose(rec.channels[name].data, channel.data, atol=1e-6)
    with pytest.raises(ValueError, match=r"night\.edf': header field 'number of data records' says 30, the file "
                                         r"holds 120 complete records \(120 s\); refused \(strict\)"):
        read_edf(path, strict=True)
    src, = find_recordings(tmp_path, fmt="edf")
    with pytest.raises(ValueError, match="refused"):
        src.load(strict=True)


@pytest.mark.parametrize("bdf", [False, True])
def test_truncated_file_keeps_stdout_clean(tmp_path, eeg_signals, capfd, bdf):
    path = write_edf(tmp_path / "cut.edf", eeg_signals, record_duration=1.0, bdf=bdf)
    path.write_bytes(path.read_bytes()[:-5000])
    with pytest.raises(ValueError, match=r"cut\.edf': data section is truncated: header field 'number of data "
                                         r"records' says 120, the file holds \d+ complete records"):
        read_edf(path)
    out, _ = capfd.readouterr()
    assert out == ""


@pytest.mark.parametrize("stamps, header, text", [(1.0, b"2       ", b"2"), (2.0, b"1       ", b"1")])
def test_time_stamps_contradicting_the_record_duration_are_refused(tmp_path, eeg_signals, stamps, header, text):
    path = write_edf(tmp_path / "edited.edf", eeg_signals, NOTES, record_duration=stamps)
    patch_header(path, 244, header)  # 'duration of a data record' edited, the time-stamps not
    with pytest.raises(ValueError, match=rf"edited\.edf': EDF\+ time-stamps contradict the header: data records are "
                                         rf"{stamps:g} s apart by their time-keeping annotations, header field "
                                         rf"'duration of a data record' says {text.decode()} s"):
        read_edf(path)
