"""EDF/EDF+/BDF reading: both backends, units, annotations, and clean errors."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from edf_files import patch_header, signal_field_offset, write_edf

from eeg_vlm.io.edf import read_edf, read_edf_annotations, read_edf_scoring, unit_scale
from eeg_vlm.io.edf_raw import open_raw

STAGE_NOTES = [(0.0, 30.0, "Sleep stage W"), (30.0, 60.0, "Sleep stage 2"), (45.0, 0.0, "Arousal"),
               (90.0, 30.0, "Sleep stage ?")]


@pytest.mark.parametrize(
    "dim, factor, unit",
    [("uV", 1.0, "uV"), ("µV", 1.0, "uV"), ("μV", 1.0, "uV"), ("UV", 1.0, "uV"), ("mV", 1e3, "uV"),
     ("V", 1e6, "uV"), ("nV", 1e-3, "uV"), ("%", 1.0, "%"), ("DegC", 1.0, "DegC"), ("", 1.0, "")],
)
def test_unit_scale(dim, factor, unit):
    assert unit_scale(dim) == (factor, unit)


@pytest.mark.parametrize("record_duration", [1.0, 2.0, 30.0])
def test_edf_plus_round_trip(tmp_path, eeg_signals, record_duration):
    path = write_edf(tmp_path / "night.edf", eeg_signals, STAGE_NOTES, record_duration=record_duration)
    rec = read_edf(path, dataset="demo", night="2")
    assert list(rec.channels) == ["EEG Fpz-Cz", "EMG submental"]
    assert rec.meta["reader"] == "pyedflib" and rec.record_id == "night" and rec.subject == "night"
    for label, (data, sfreq) in eeg_signals.items():
        ch = rec.channels[label]
        assert ch.sfreq == sfreq and ch.unit == "uV" and ch.data.dtype == np.float32
        np.testing.assert_allclose(ch.data, data, atol=0.01)
    # stage annotations become the scoring; the arousal does not
    assert rec.scoring.stages == ["W", "N2", None]
    assert rec.scoring.raw_labels == ["Sleep stage W", "Sleep stage 2", "Sleep stage ?"]
    np.testing.assert_allclose(rec.scoring.onsets, [0, 30, 90])
    np.testing.assert_allclose(rec.scoring.durations, [30, 60, 30])
    assert ("Arousal" in [t for _, _, t in read_edf_annotations(path)])


def test_channel_subset_by_alias_reads_only_those(tmp_path, eeg_signals):
    path = write_edf(tmp_path / "n.edf", eeg_signals)
    rec = read_edf(path, channels=["Fpz-Cz"])
    assert list(rec.channels) == ["EEG Fpz-Cz"]
    assert rec.scoring is None


def test_missing_channel_lists_present(tmp_path, eeg_signals):
    path = write_edf(tmp_path / "n.edf", eeg_signals)
    with pytest.raises(ValueError, match=r"n\.edf'?: channel 'C3' not found; present: 'EEG Fpz-Cz', 'EMG submental'"):
        read_edf(path, channels=["C3"])


def test_millivolt_and_volt_channels_are_converted(tmp_path):
    x = np.sin(np.arange(600) / 10)
    signals = {"EEG mv": (x * 0.05, 100.0), "EEG v": (x * 5e-5, 100.0), "SpO2": (x + 95, 100.0)}
    path = write_edf(tmp_path / "u.edf", signals, dimension={"EEG mv": "mV", "EEG v": "V", "SpO2": "%"})
    rec = read_edf(path)
    np.testing.assert_allclose(rec.channels["EEG mv"].data, x * 50, atol=0.01)
    np.testing.assert_allclose(rec.channels["EEG v"].data, x * 50, atol=0.5)  # coarse volt steps
    assert rec.channels["SpO2"].unit == "%"
    np.testing.assert_allclose(rec.channels["SpO2"].data, x + 95, atol=0.01)


@pytest.mark.parametrize("bdf", [False, True])
def test_tolerant_reader_agrees_with_pyedflib(tmp_path, eeg_signals, bdf):
    path = write_edf(tmp_path / ("n.bdf" if bdf else "n.edf"), eeg_signals, STAGE_NOTES, record_duration=2.0, bdf=bdf)
    ref = read_edf(path)
    raw = open_raw(path)
    assert raw.labels == list(ref.channels)
    assert raw.sfreqs == [c.sfreq for c in ref.channels.values()]
    assert raw.start == ref.meta["start"]
    assert raw.filetype == ("BDF+" if bdf else "EDF+")
    for i, ch in enumerate(ref.channels.values()):
        np.testing.assert_allclose(raw.read(i), ch.data, rtol=1e-6, atol=1e-4)
    assert [(o, d, t) for o, d, t in raw.annotations] == [(o, d, t) for o, d, t in read_edf_annotations(path)]


def test_file_pyedflib_refuses_is_read_by_fallback(tmp_path, eeg_signals, caplog):
    path = write_edf(tmp_path / "odd.edf", eeg_signals, STAGE_NOTES)
    ref = read_edf(path)
    # a digital minimum outside the 16-bit range (as in the DREAMS file), and a Latin-1 label
    n = 3  # two signals + annotations
    patch_header(path, signal_field_offset(n, "digital_min", 1), b"-40000  ")
    patch_header(path, signal_field_offset(n, "label", 0), "EEG Fpz-Cz é".encode("latin-1").ljust(16))
    with caplog.at_level(logging.WARNING, logger="eeg_vlm.io.edf"):
        rec = read_edf(path)
    assert rec.meta["reader"] == "tolerant"
    assert "pyedflib refused it" in caplog.text and "'digital minimum' of signal 2" in caplog.text
    assert list(rec.channels) == ["EEG Fpz-Cz é", "EMG submental"]
    np.testing.assert_allclose(rec.channels["EEG Fpz-Cz é"].data, ref.channels["EEG Fpz-Cz"].data, atol=1e-4)
    emg = ref.channels["EMG submental"].data
    assert not np.allclose(rec.channels["EMG submental"].data, emg)  # scaled with the header's figures
    assert rec.scoring.stages == ref.scoring.stages


def test_truncated_file_is_a_clear_error(tmp_path, eeg_signals):
    path = write_edf(tmp_path / "cut.edf", eeg_signals, record_duration=1.0)
    path.write_bytes(path.read_bytes()[:-1500])
    with pytest.raises(ValueError, match=r"file '.*cut\.edf': data section is truncated: header field "
                                         r"'number of data records' says 120, the file holds \d+ complete records \(1500 bytes missing\)"):
        read_edf(path)


@pytest.mark.parametrize(
    "field, offset, text, message",
    [
        ("version", 0, b"XYZ     ", r"header field 'version' is b'XYZ     '; this is not an EDF or BDF file"),
        ("signals", 252, b"ab  ", r"header field 'number of signals' is not a number: 'ab'"),
        ("duration", 244, b"-1      ", r"header field 'duration of a data record' is -1.0; must be > 0"),
    ],
)
def test_broken_header_fields_are_named(tmp_path, eeg_signals, field, offset, text, message):
    path = write_edf(tmp_path / "bad.edf", eeg_signals)
    patch_header(path, offset, text)
    with pytest.raises(ValueError, match=r"file '.*bad\.edf': " + message):
        read_edf(path)


def test_equal_digital_limits_named(tmp_path, eeg_signals):
    path = write_edf(tmp_path / "bad.edf", eeg_signals)
    patch_header(path, signal_field_offset(3, "digital_max", 0), b"-32768  ")
    with pytest.raises(ValueError, match=r"'digital maximum' of signal 1 \('EEG Fpz-Cz'\) \(-32768\) must exceed"):
        read_edf(path)


def test_not_edf_and_missing_files(tmp_path):
    text = tmp_path / "notes.edf"
    text.write_text("hello")
    with pytest.raises(ValueError, match=r"file '.*notes\.edf': header is incomplete \(5 bytes"):
        read_edf(text)
    with pytest.raises(FileNotFoundError, match="not found"):
        read_edf(tmp_path / "absent.edf")


def test_hypnogram_without_stages_is_an_error(tmp_path, eeg_signals):
    path = write_edf(tmp_path / "events.edf", eeg_signals, [(3.0, 1.0, "Arousal")])
    with pytest.raises(ValueError, match=r"no sleep stage annotation found \(1 annotations; texts include 'Arousal'\)"):
        read_edf_scoring(path)


def test_hypnogram_starting_later_is_shifted(tmp_path, eeg_signals):
    from datetime import datetime

    hyp = write_edf(tmp_path / "h.edf", {"x": (np.zeros(60), 1.0)}, [(0.0, 30.0, "Sleep stage W")],
                    start=datetime(2020, 1, 1, 22, 0, 30))
    scoring = read_edf_scoring(hyp, reference_start=datetime(2020, 1, 1, 22, 0, 0))
    np.testing.assert_allclose(scoring.onsets, [30.0])


# ----------------------------------------------------------------------------- real files


@pytest.mark.realdata
def test_short_psg_channels_and_units(shared_data):
    rec = read_edf(shared_data / "sleep-edf" / "short_psg.edf")
    assert rec.meta["reader"] == "pyedflib"
    fpz = rec.channels["EEG Fpz-Cz"]
    assert fpz.sfreq == 100.0 and fpz.data.shape == (30000,) and fpz.unit == "uV"
    assert rec.channels["EMG submental"].sfreq == 1.0
    assert 5 < np.std(fpz.data) < 200  # µV, not V


@pytest.mark.realdata
def test_edge_case_bad_digital_min_matches_text_export(shared_data):
    path = shared_data / "edge-cases" / "dreams_excerpt3_bad_digital_min.edf"
    rec = read_edf(path, channels=["C3-A1", "FP1-A1"])
    assert rec.meta["reader"] == "tolerant"
    c3 = rec.channels["C3-A1"]
    assert c3.sfreq == 50.0 and c3.unit == "uV" and c3.data.shape == (90000,)
    lines = (shared_data / "dreams" / "excerpt3.txt").read_text().split()
    text = np.array(lines[1:], dtype=float)
    np.testing.assert_allclose(c3.data, text, atol=1e-3)  # the same excerpt, exported in µV
    assert 5 < np.std(c3.data) < 200


@pytest.mark.realdata
def test_edge_case_non_ascii_labels(shared_data):
    path = shared_data / "edge-cases" / "nox_non_ascii_labels.edf"
    rec = read_edf(path, channels=["C3-M2", "E1-M2", "1 Impédance"])
    assert list(rec.channels) == ["C3-M2", "E1-M2", "1 Impédance"]
    for name in ("C3-M2", "E1-M2"):
        ch = rec.channels[name]
        assert ch.unit == "uV" and ch.sfreq == 200.0 and ch.data.shape == (120 * 200,)
        # stored in volts with a ±3.27 mV range: in µV the values must fill that range, not 1e-3 of it
        assert 10 < np.abs(ch.data).max() <= 3276.0 + 1
    assert rec.channels["1 Impédance"].unit == "Ohm"
    assert rec.scoring is None


@pytest.mark.realdata
def test_st7132_hypnogram_needs_fallback(shared_data):
    notes = read_edf_annotations(shared_data / "sleep-edf" / "hypnograms" / "ST7132JR-Hypnogram.edf")
    assert len(notes) == 116
    assert notes[0] == (30.0, 1200.0, "Sleep stage W")


def _record_layout(path: Path) -> tuple[int, int, int]:
    """(header bytes, bytes per data record, offset of the annotation signal in a record)."""
    raw = path.read_bytes()
    ns = int(raw[252:256])
    counts = [int(raw[signal_field_offset(ns, "n_samples", i): signal_field_offset(ns, "n_samples", i) + 8])
              for i in range(ns)]
    return 256 * (ns + 1), 2 * sum(counts), 2 * sum(counts[:-1])


def test_edf_plus_d_contiguous_is_read_and_gaps_refused(tmp_path, eeg_signals):
    path = write_edf(tmp_path / "d.edf", eeg_signals, STAGE_NOTES, record_duration=2.0)
    ref = read_edf(path)
    patch_header(path, 192, b"EDF+D")
    rec = read_edf(path)
    assert rec.meta["reader"] == "tolerant"
    np.testing.assert_allclose(rec.channels["EEG Fpz-Cz"].data, ref.channels["EEG Fpz-Cz"].data)
    header, record, offset = _record_layout(path)
    at = header + 3 * record + offset
    assert path.read_bytes()[at: at + 3] == b"+6\x14"  # time-keeping stamp of data record 4
    patch_header(path, at, b"+8\x14")
    with pytest.raises(ValueError, match=r"d\.edf'?: EDF\+D .*gaps are not supported: data record 4 starts at 8 s, "
                                         r"6 s expected"):
        read_edf(path)


def test_short_data_records_and_mixed_rates(tmp_path):
    t = np.arange(40 * 200) / 200
    signals = {"C3": (30 * np.sin(2 * np.pi * 7 * t), 200.0), "EOG": (30 * np.cos(t[::2]), 100.0)}
    path = write_edf(tmp_path / "q.edf", signals, record_duration=0.25)
    rec = read_edf(path)
    raw = open_raw(path)
    assert [c.sfreq for c in rec.channels.values()] == raw.sfreqs == [200.0, 100.0]
    np.testing.assert_allclose(rec.channels["EOG"].data, signals["EOG"][0], atol=0.01)
    np.testing.assert_allclose(raw.read(0), rec.channels["C3"].data, atol=1e-4)
