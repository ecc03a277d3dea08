"""find_recordings: pairing signal and scoring files by each dataset's naming."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from edf_files import write_dreams, write_edf, write_isruc, write_mass, write_shhs, write_sleep_edf

from eeg_vlm.io import RecordingSource, find_recordings


@pytest.fixture
def mixed_folder(tmp_path) -> Path:
    write_sleep_edf(tmp_path)
    nsrr = tmp_path / "shhs"
    nsrr.mkdir()
    write_shhs(nsrr)
    isruc = tmp_path / "isruc" / "3"
    isruc.mkdir(parents=True)
    write_isruc(isruc, n=3)
    write_mass(tmp_path)
    write_dreams(tmp_path)
    write_edf(tmp_path / "home.edf", {"C4-M1": (np.zeros(6000), 100.0)}, [(0.0, 30.0, "Sleep stage W")])
    (tmp_path / "notes.txt").write_text("not a recording")
    return tmp_path


def test_auto_finds_every_format(mixed_folder):
    found = find_recordings(mixed_folder)
    assert [(s.record_id, s.fmt) for s in found] == [
        ("01-02-0001", "mass"), ("3", "isruc"), ("SC4011E0", "sleep-edf"), ("excerpt3", "dreams"),
        ("home", "edf"), ("shhs1-200001", "shhs"),
    ]
    by_fmt = {s.fmt: s for s in found}
    assert by_fmt["sleep-edf"].paths == (mixed_folder / "SC4011E0-PSG.edf", mixed_folder / "SC4011EH-Hypnogram.edf")
    assert (by_fmt["sleep-edf"].subject, by_fmt["sleep-edf"].night) == ("SC401", "1")
    assert by_fmt["isruc"].paths[1].name == "3_1.txt"
    assert by_fmt["shhs"].paths[1].name == "shhs1-200001-nsrr.xml"
    assert pickle.loads(pickle.dumps(found)) == found
    for src in found:
        rec = src.load()
        assert rec.record_id == src.record_id and rec.scoring is not None and rec.channels


def test_named_format_and_scorer(mixed_folder):
    assert [s.record_id for s in find_recordings(mixed_folder, fmt="sleep-edf")] == ["SC4011E0"]
    isruc = find_recordings(mixed_folder, fmt="isruc", isruc_scorer=2)
    assert [p.name for p in isruc[0].paths] == ["3.rec", "3_2.txt"]
    plain = find_recordings(mixed_folder, fmt="edf")
    assert "home" in [s.record_id for s in plain] and all(s.fmt == "edf" for s in plain)
    assert not any("Hypnogram" in s.paths[0].name or "Base" in s.paths[0].name for s in plain)
    with pytest.raises(ValueError, match=r"'fmt'.*'auto', 'sleep-edf'.*got 'sleepedf'"):
        find_recordings(mixed_folder, fmt="sleepedf")


def test_load_selected_channels(mixed_folder):
    src = next(s for s in find_recordings(mixed_folder) if s.fmt == "sleep-edf")
    assert list(src.load(channels=["Fpz-Cz"]).channels) == ["EEG Fpz-Cz"]
    dreams = next(s for s in find_recordings(mixed_folder) if s.fmt == "dreams")
    with pytest.raises(ValueError, match="channel 'Fpz-Cz' not found; present: 'C3-A1'"):
        dreams.load(channels=["Fpz-Cz"])


def test_psg_without_hypnogram_names_both(tmp_path):
    write_sleep_edf(tmp_path, psg="SC4021E0", hyp="SC4031EH")
    with pytest.raises(ValueError, match=r"PSG file 'SC4021E0-PSG\.edf' has no hypnogram; looked for "
                                         r"'SC4021\*-Hypnogram\.edf'"):
        find_recordings(tmp_path)


def test_other_missing_partners(tmp_path):
    mass = tmp_path / "mass"
    mass.mkdir()
    psg, base = write_mass(mass)
    base.unlink()
    with pytest.raises(ValueError, match=r"MASS PSG file '01-02-0001 PSG\.edf' has no annotations; looked for "
                                         r"'01-02-0001 Base\.edf'"):
        find_recordings(mass)
    isruc = tmp_path / "isruc"
    isruc.mkdir()
    write_isruc(isruc)
    (isruc / "1_1.txt").unlink()
    with pytest.raises(ValueError, match=r"ISRUC file '1\.rec' has no stage list; looked for '1_1\.txt'"):
        find_recordings(isruc)
    shhs = tmp_path / "shhs"
    shhs.mkdir()
    edf, xml = write_shhs(shhs)
    xml.unlink()
    with pytest.raises(ValueError, match=r"EDF file 'shhs1-200001\.edf' has no NSRR annotations; looked for "
                                         r"'shhs1-200001-nsrr\.xml'"):
        find_recordings(shhs, fmt="shhs")


def test_empty_and_missing_folders(tmp_path):
    with pytest.raises(ValueError, match=r"empty; no recordings to read"):
        find_recordings(tmp_path)
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match=r"no recordings found among 1 files \('readme\.txt'\)"):
        find_recordings(tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        find_recordings(tmp_path / "nope")


def test_duplicate_record_ids(tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        write_edf(tmp_path / sub / "night.edf", {"EEG": (np.zeros(300), 100.0)})
    with pytest.raises(ValueError, match="record id 'night' appears twice"):
        find_recordings(tmp_path)


def test_source_is_a_frozen_value():
    src = RecordingSource("edf", "x", (Path("x.edf"),), "x")
    with pytest.raises(AttributeError):
        src.record_id = "y"
