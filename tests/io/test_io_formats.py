"""Dataset readers: Sleep-EDF, SHHS, ISRUC, MASS, DREAMS (real files where we have them)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from edf_files import SHHS_STAGES, STAGE_EVENT, XML, write_isruc, write_mass, write_shhs

from eeg_vlm.signals.epochs import label_epochs, make_epochs
from eeg_vlm.io import read_dreams, read_edf_scoring, read_isruc, read_mass, read_shhs, read_sleep_edf
from eeg_vlm.io.shhs import read_nsrr_scoring
from eeg_vlm.io.sleep_edf import sleep_edf_identity

# ----------------------------------------------------------------------------- Sleep-EDF


def test_sleep_edf_identity():
    assert sleep_edf_identity("SC4001E0-PSG.edf") == ("SC4001E0", "SC400", "1")
    assert sleep_edf_identity("/x/ST7132J0-PSG.edf") == ("ST7132J0", "ST713", "2")


@pytest.mark.realdata
def test_short_psg_gives_ten_wake_epochs(shared_data):
    folder = shared_data / "sleep-edf"
    rec = read_sleep_edf(folder / "short_psg.edf", folder / "SC4001EC-Hypnogram.edf", channels=["Fpz-Cz"])
    ep = make_epochs(rec, ["Fpz-Cz"], sfreq=100.0, trim_wake=None)
    assert ep.data.shape == (10, 1, 3000) and ep.data.dtype == np.float32
    assert ep.stages == ["W"] * 10 and ep.channels == ["EEG Fpz-Cz"]
    np.testing.assert_array_equal(ep.epoch, np.arange(10))
    np.testing.assert_array_equal(ep.onset_s, np.arange(10) * 30.0)
    np.testing.assert_allclose(ep.data[3, 0], rec.channels["EEG Fpz-Cz"].data[9000:12000])
    assert ep.dropped == {} and ep.trimmed == 0
    # The night's first sleep epoch (Sleep stage 1 at 30630 s) is far past this 300-s
    # excerpt: with 30 minutes of wake kept, all ten wake epochs are trimmed.
    trimmed = make_epochs(rec, ["Fpz-Cz"], trim_wake=30.0)
    assert len(trimmed) == 0 and trimmed.trimmed == 10 and trimmed.data.shape == (0, 1, 3000)
    # ... and a window reaching back to the file start keeps them.
    wide = make_epochs(rec, ["Fpz-Cz"], trim_wake=30630 / 60)
    assert len(wide) == 10 and wide.trimmed == 0


def _epoch_counts(path: Path) -> Counter:
    labels = label_epochs(read_edf_scoring(path), 30.0)
    return Counter(labels.labels)


@pytest.mark.realdata
def test_cassette_hypnograms_epoch_counts(shared_data):
    folder = shared_data / "sleep-edf" / "hypnograms"
    total: Counter = Counter()
    files = sorted(folder.glob("SC*-Hypnogram.edf"))
    assert len(files) == 20
    for path in files:
        total += _epoch_counts(path)
    assert total == Counter({
        "Sleep stage W": 37115, "Sleep stage 1": 1689, "Sleep stage 2": 8927, "Sleep stage 3": 1700,
        "Sleep stage 4": 1374, "Sleep stage R": 3693, "Sleep stage ?": 3070, "Movement time": 32,
    })


@pytest.mark.realdata
def test_telemetry_hypnogram_refused_by_pyedflib_is_read(shared_data):
    path = shared_data / "sleep-edf" / "hypnograms" / "ST7132JR-Hypnogram.edf"
    assert _epoch_counts(path) == Counter({
        "Sleep stage W": 60, "Sleep stage 1": 89, "Sleep stage 2": 384, "Sleep stage 3": 83,
        "Sleep stage 4": 20, "Sleep stage R": 216,
    })
    scoring = read_edf_scoring(path)
    assert set(scoring.stages) == {"W", "N1", "N2", "N3", "REM"}


# ----------------------------------------------------------------------------- SHHS





def test_shhs_reader_and_epochs(tmp_path):
    edf, xml = write_shhs(tmp_path)
    rec = read_shhs(edf, xml, channels=["C4-A1"])  # SHHS labels C4-A1 as 'EEG'
    assert (rec.record_id, rec.subject, rec.night, rec.dataset) == ("shhs1-200001", "200001", "1", "shhs")
    assert list(rec.channels) == ["EEG"]
    assert rec.scoring.raw_labels == [c for c, _, _ in SHHS_STAGES]
    ep = make_epochs(rec, ["C4-A1"], sfreq=100.0, trim_wake=None)
    assert ep.stages == ["W", "W", "N1", "N2", "N2", "N2", "N3", "REM", "REM"]
    assert ep.dropped == {"Unscored|9": 1}
    assert ep.data.shape == (9, 1, 3000)


def test_shhs_xml_with_doctype_is_refused(tmp_path):
    xml = tmp_path / "evil.xml"
    xml.write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><PSGAnnotation>&a;</PSGAnnotation>')
    with pytest.raises(ValueError, match=r"evil\.xml'?: XML with a DTD or entity declaration is refused"):
        read_nsrr_scoring(xml)


def test_shhs_xml_errors(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<PSGAnnotation><ScoredEvents>")
    with pytest.raises(ValueError, match=r"bad\.xml'?: malformed XML"):
        read_nsrr_scoring(bad)
    odd = tmp_path / "odd.xml"
    odd.write_text(XML.format(events=STAGE_EVENT.format("Stage 9 sleep|9", 0, 30)))
    with pytest.raises(ValueError, match=r"odd\.xml'?: ScoredEvent 2: unknown sleep stage label 'Stage 9 sleep\|9'"):
        read_nsrr_scoring(odd)
    none = tmp_path / "none.xml"
    none.write_text(XML.format(events=""))
    with pytest.raises(ValueError, match="no ScoredEvent with EventType 'Stages|Stages'"):
        read_nsrr_scoring(none)


# ----------------------------------------------------------------------------- ISRUC




def test_isruc_reader_scorers(tmp_path):
    rec_path = write_isruc(tmp_path)
    rec = read_isruc(rec_path, channels=["C3-A2"])
    assert (rec.record_id, rec.dataset) == ("1", "isruc")
    ep = make_epochs(rec, ["C3-A2"], sfreq=100.0, trim_wake=None)
    assert ep.stages == ["W", "W", "N1", "N2", "N3", "REM", "REM"]
    assert ep.dropped == {"7": 1}
    np.testing.assert_array_equal(ep.epoch, [0, 1, 2, 3, 5, 6, 7])
    second = read_isruc(rec_path, scorer=2)
    assert make_epochs(second, ["C3"], trim_wake=None).stages == ["W", "N1", "N1", "N2", "N2", "N3", "REM", "REM"]
    explicit = read_isruc(rec_path, tmp_path / "1_2.txt")
    assert explicit.scoring.raw_labels == second.scoring.raw_labels


def test_isruc_bad_stage_line(tmp_path):
    rec_path = write_isruc(tmp_path)
    (tmp_path / "1_1.txt").write_text("0\nW\n")
    with pytest.raises(ValueError, match=r"1_1\.txt'?: line 2 is not a stage code: 'W'"):
        read_isruc(rec_path)
    with pytest.raises(ValueError, match="'scorer'.*got 3"):
        read_isruc(rec_path, scorer=3)


# ----------------------------------------------------------------------------- MASS




def test_mass_twenty_second_scoring_combined(tmp_path):
    psg, base = write_mass(tmp_path)
    rec = read_mass(psg, base, channels=["C3-CLE"])  # finds "EEG C3-CLE"
    assert (rec.record_id, rec.subject, rec.dataset) == ("01-02-0001", "01-02-0001", "mass")
    assert rec.scoring.epoch_length == 20.0
    ep = make_epochs(rec, ["C3-CLE"], sfreq=100.0, trim_wake=None)
    # 30-s epochs over 20-s scores: [0,30) W+W, [30,60) W+N2 (ambiguous), then N2, N2, REM, REM
    assert ep.stages == ["W", "N2", "N2", "REM", "REM"]
    np.testing.assert_array_equal(ep.epoch, [0, 2, 3, 4, 5])
    assert ep.dropped == {"ambiguous": 1}
    assert ep.data.shape == (5, 1, 3000)  # 256 Hz -> 100 Hz


# ----------------------------------------------------------------------------- DREAMS


def _expected_dreams(hypnogram: Path) -> tuple[Counter, int]:
    """Per-stage counts of 30-s epochs whose six 5-s values agree (computed from the list)."""
    names = {5: "W", 4: "REM", 3: "N1", 2: "N2", 1: "N3", 0: "N3"}
    values = [int(v) for v in hypnogram.read_text().split()[1:]]
    counts: Counter = Counter()
    ambiguous = 0
    for i in range(0, len(values) - 5, 6):
        six = values[i: i + 6]
        mapped = {names.get(v) for v in six}
        if min(six) >= 0 and len(mapped) == 1:
            counts[mapped.pop()] += 1
        else:
            ambiguous += 1
    return counts, ambiguous


@pytest.mark.realdata
@pytest.mark.parametrize("n, rate", [(1, 100.0), (2, 200.0), (3, 50.0), (4, 200.0), (5, 200.0)])
def test_dreams_excerpts(shared_data, n, rate):
    folder = shared_data / "dreams"
    hyp = folder / f"Hypnogram_excerpt{n}.txt"
    rec = read_dreams(folder / f"excerpt{n}.txt", hyp)
    (name, channel), = rec.channels.items()
    assert name in ("C3-A1", "CZ-A1") and channel.sfreq == rate and channel.data.shape == (int(1800 * rate),)
    assert rec.scoring.epoch_length == 5.0 and len(rec.scoring.stages) == 360
    ep = make_epochs(rec, [name], sfreq=100.0, trim_wake=None)
    counts, ambiguous = _expected_dreams(hyp)
    assert Counter(ep.stages) == counts
    assert ep.dropped.get("ambiguous", 0) == ambiguous
    assert len(ep) + sum(ep.dropped.values()) == 60


@pytest.mark.realdata
def test_dreams_rate_errors(shared_data, tmp_path):
    folder = shared_data / "dreams"
    assert read_dreams(folder / "excerpt3.txt").channels["C3-A1"].sfreq == 50.0  # the documented rate
    own = tmp_path / "night.txt"
    own.write_bytes((folder / "excerpt3.txt").read_bytes())
    with pytest.raises(ValueError, match=r"night\.txt.*'night' is not a documented excerpt; pass sfreq"):
        read_dreams(own)
    with pytest.raises(ValueError, match=r"90000 values at 100 Hz last 900 s, but 'Hypnogram_excerpt3\.txt' scores "
                                         r"360 x 5 s = 1800 s; check the sampling rate \(the lengths would agree at 50 Hz"):
        read_dreams(folder / "excerpt3.txt", folder / "Hypnogram_excerpt3.txt", sfreq=100.0)
    assert read_dreams(folder / "excerpt3.txt", sfreq=50.0).scoring is None
    bad = tmp_path / "excerptX.txt"
    bad.write_text("no header\n1\n")
    with pytest.raises(ValueError, match=r"first line must be a header like '\[C3-A1\]'"):
        read_dreams(bad, sfreq=100)
