"""eeg-vlm convert: end to end on synthetic Sleep-EDF nights, resume, errors, options."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pyedflib
import pytest
from PIL import Image

import eeg_vlm.imaging.records as records
from eeg_vlm.imaging.convert import ConvertConfig, convert, main, write_record
from eeg_vlm.signals.epochs import Epochs
from eeg_vlm.imaging.render import encode_png, render_epoch
from eeg_vlm.dataset.manifest import COLUMNS, read_manifest
from eeg_vlm.stages import to_aasm
from eeg_vlm.dataset.synthetic import dataset_night, write_synthetic_dataset

HOURS = 1.0
SEED = 4


@pytest.fixture(scope="module")
def psg(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("psg")
    write_synthetic_dataset(folder, n_subjects=2, hours=HOURS, seed=SEED)
    return folder


@pytest.fixture(scope="module")
def reference(psg, tmp_path_factory) -> Path:
    """An uninterrupted conversion, the yardstick of every resume test."""
    out = tmp_path_factory.mktemp("ref")
    convert(psg, out, channels=["Fpz-Cz"], workers=1)
    return out


def _tree(folder: Path) -> dict[str, bytes]:
    """Every output file except the resume markers, by relative path."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".parts" not in p.parts}


def _copy_input(psg: Path, dest: Path) -> Path:
    shutil.copytree(psg, dest)
    return dest


def test_end_to_end(psg, reference):
    text = (reference / "manifest.csv").read_text()
    assert text.splitlines()[0] == ",".join(COLUMNS)
    rows = read_manifest(reference / "manifest.csv")
    assert [r.record_id for r in rows] == sorted(r.record_id for r in rows)
    assert {r.record_id for r in rows} == {"SC4001E0", "SC4011E0"}
    assert all(r.split == "" for r in rows)
    meta = json.loads((reference / "convert.json").read_text())
    assert meta["channels"] == ["Fpz-Cz"] and meta["sfreq"] == 100.0 and meta["style"] == "eeg-vlm"
    assert meta["size"] == 336 and meta["n_epochs"] == len(rows)
    for s in (0, 1):
        rid = f"SC4{s:02d}1E0"
        signals, labels = dataset_night(SEED, s, 1, HOURS)
        mine = [r for r in rows if r.record_id == rid]
        # stage of every row is the generated one; '?' epochs dropped and counted
        for r in mine:
            assert r.stage == to_aasm(f"Sleep stage {labels[r.epoch]}")
            assert r.onset_s == 30.0 * r.epoch
            assert r.subject == f"SC4{s:02d}" and r.night == "1" and r.dataset == "sleep-edf"
        assert meta["records"][rid]["dropped"] == {"Sleep stage ?": labels.count("?")}
        assert len(mine) + labels.count("?") + meta["records"][rid]["trimmed"] == len(labels)
        # signals: float32 (n, C, T) µV unscaled, in manifest row order
        sig = np.load(reference / "signals" / f"{rid}.npy", allow_pickle=False)
        assert sig.dtype == np.float32 and sig.shape == (len(mine), 1, 3000)
        fpz = signals["EEG Fpz-Cz"].reshape(-1, 3000)
        assert np.allclose(sig[:, 0], fpz[[r.epoch for r in mine]], atol=0.05)
        # images: 336x336 grayscale, equal to rendering the scaled signal
        r = mine[5]
        img = np.asarray(Image.open(reference / r.image))
        assert img.shape == (336, 336)
        x = sig[5, 0]
        assert np.array_equal(img, render_epoch(2 * (x - x.min()) / (x.max() - x.min()) - 1))


def test_image_depends_on_samples_only(tmp_path):
    data = np.random.default_rng(0).standard_normal((3, 1, 3000)).astype(np.float32)
    data[2] = data[0]
    ep = Epochs(data=data, stages=["W", "N2", "REM"], epoch=np.array([0, 7, 512]), onset_s=np.array([0.0, 210.0, 15360.0]),
                channels=["Fpz"], sfreq=100.0, record_id="R1", subject="S1")
    rows = write_record(ep, tmp_path, ConvertConfig())
    a, b, c = [(tmp_path / r.image).read_bytes() for r in rows]
    assert a == c and a != b  # same samples, different stage and epoch number -> same image
    assert [r.sample_id for r in rows] == ["R1/000000", "R1/000007", "R1/000512"]


def test_pool_matches_single_process(psg, reference, tmp_path):
    """A spawn pool stops on a bad file, keeps the other record, and resumes to the same bytes."""
    inp = _copy_input(psg, tmp_path / "in")
    bad = inp / "SC4001E0-PSG.edf"
    good = bad.read_bytes()
    bad.write_bytes(good[:5000])
    out = tmp_path / "pool"
    with pytest.raises(ValueError, match="SC4001E0-PSG.edf"):
        convert(inp, out, channels=["Fpz-Cz"], workers=2)
    assert (out / ".parts" / "SC4011E0.csv").is_file()
    bad.write_bytes(good)
    res = convert(inp, out, channels=["Fpz-Cz"], workers=2)
    assert res.converted == ["SC4001E0"]
    assert _tree(out) == _tree(reference)


def test_resume_after_a_bad_file(psg, reference, tmp_path):
    inp = _copy_input(psg, tmp_path / "in")
    bad = inp / "SC4011E0-PSG.edf"
    good = bad.read_bytes()
    bad.write_bytes(good[:3000])  # truncated header/data
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="SC4011E0-PSG.edf") as err:
        convert(inp, out, channels=["Fpz-Cz"])
    assert "1 of 2 recordings are converted" in str(err.value)
    assert (out / ".parts" / "SC4001E0.csv").is_file()  # the good record is kept
    assert not (out / ".parts" / "SC4011E0.csv").exists()
    bad.write_bytes(good)
    res = convert(inp, out, channels=["Fpz-Cz"])
    assert res.converted == ["SC4011E0"]
    assert _tree(out) == _tree(reference)


def test_resume_after_a_crash_mid_record(psg, reference, tmp_path, monkeypatch):
    calls = {"n": 0}

    def flaky(img):
        calls["n"] += 1
        if calls["n"] == 60:  # halfway through the first record
            raise RuntimeError("killed")
        return encode_png(img)

    monkeypatch.setattr(records, "encode_png", flaky)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="killed"):
        convert(psg, out, channels=["Fpz-Cz"])
    assert not (out / "manifest.csv").exists() and not list((out / ".parts").glob("*.csv"))
    assert len(list((out / "images" / "SC4001E0").glob("*.png"))) == 59
    monkeypatch.setattr(records, "encode_png", encode_png)
    convert(psg, out, channels=["Fpz-Cz"])
    assert _tree(out) == _tree(reference)


def test_resume_after_a_lost_part(psg, reference, tmp_path):
    out = tmp_path / "out"
    convert(psg, out, channels=["Fpz-Cz"])
    (out / ".parts" / "SC4001E0.csv").unlink()
    (out / "images" / "SC4001E0" / "000003.png").unlink()
    res = convert(psg, out, channels=["Fpz-Cz"])
    assert res.converted == ["SC4001E0"]
    assert _tree(out) == _tree(reference)
    res = convert(psg, out, channels=["Fpz-Cz"])  # nothing left to do
    assert res.converted == [] and _tree(out) == _tree(reference)


def test_changed_settings_are_refused(psg, reference, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    with pytest.raises(ValueError, match=r"other settings \(size: 336 -> 224\).*--overwrite"):
        convert(psg, out, channels=["Fpz-Cz"], size=224)
    res = convert(psg, out, channels=["Fpz-Cz"], size=224, overwrite=True)
    assert res.converted == ["SC4001E0", "SC4011E0"]
    img = Image.open(out / read_manifest(res.manifest)[0].image)
    assert img.size == (224, 224)


def test_missing_channel_and_skip_bad(psg, tmp_path):
    inp = _copy_input(psg, tmp_path / "in")
    (inp / "SC4001E0-PSG.edf").write_bytes(b"not an edf file at all")
    with pytest.raises(ValueError, match="SC4001E0-PSG.edf"):
        convert(inp, tmp_path / "a")
    res = convert(inp, tmp_path / "b", skip_bad=True)
    assert [s["record_id"] for s in res.skipped] == ["SC4001E0"]
    assert "SC4001E0-PSG.edf" in res.skipped[0]["error"]
    assert res.records == ["SC4011E0"]
    meta = json.loads((tmp_path / "b" / "convert.json").read_text())
    assert meta["skipped"][0]["files"] == ["SC4001E0-PSG.edf", "SC4001EC-Hypnogram.edf"]
    with pytest.raises(ValueError, match=r"SC4001E0-PSG.edf': channel 'C3-A2' not found; present: 'EEG Fpz-Cz'"):
        convert(psg, tmp_path / "c", channels=["C3-A2"])
    with pytest.raises(ValueError, match=r"no recording could be converted; 2 skipped.*channel 'C3-A2' not found"):
        convert(psg, tmp_path / "d", channels=["C3-A2"], skip_bad=True)


def test_psg_llava_style_and_channel_failure(psg, tmp_path):
    chans = ["Fpz-Cz", "Pz-Oz", "EOG"]
    kw = dict(channels=chans, style="psg-llava", trim_wake_min=None, fail_channel="Pz-Oz", fail_fraction=1.0, fail_seed=3)
    res = convert(psg, tmp_path / "a", **kw)
    meta = json.loads((tmp_path / "a" / "convert.json").read_text())
    assert meta["channels"] == chans and len(meta["band_rows"]) == 3
    assert meta["channel_failure"] == {"channel": "Pz-Oz", "fraction": 1.0, "seed": 3}
    assert set(meta["channel_failure_subjects"]) == {"SC400", "SC401"}
    for rid, rec in meta["records"].items():
        fail = rec["channel_failure"]
        assert fail["mode"] in ("noise", "zero") and 0 <= fail["t_fail_s"] < HOURS * 3600
        sig = np.load(tmp_path / "a" / "signals" / f"{rid}.npy")
        rows = [r for r in read_manifest(res.manifest) if r.record_id == rid]
        after = [i for i, r in enumerate(rows) if r.onset_s >= fail["t_fail_s"]]
        before = [i for i, r in enumerate(rows) if r.onset_s + 30 <= fail["t_fail_s"]]
        if fail["mode"] == "zero":
            assert not sig[after, 1].any()
        else:  # white noise: no autocorrelation left
            x = sig[after, 1].ravel()
            assert abs(np.corrcoef(x[:-1], x[1:])[0, 1]) < 0.05
        if before:
            assert sig[before, 1].std() > 1.0
        assert sig[:, 0].std() > 1.0  # the other channels are intact
    # rebuilt exactly from the same flags
    convert(psg, tmp_path / "b", **kw)
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")


def test_config_errors():
    with pytest.raises(ValueError, match="style 'eeg-vlm' draws one channel, got 2"):
        ConvertConfig(channels=("Fpz-Cz", "Pz-Oz"))
    with pytest.raises(ValueError, match="fail channel 'C3-A2' is not among the converted channels"):
        ConvertConfig(fail_channel="C3-A2")
    with pytest.raises(ValueError, match="Allowed values are 'eeg-vlm', 'psg-llava'"):
        ConvertConfig(style="stacked")


def test_cli(psg, tmp_path, capsys):
    assert main([str(psg), str(tmp_path / "o"), "--workers", "1", "--no-signals", "--trim-wake-min", "none"]) == 0
    out = capsys.readouterr().out
    assert "from 2 recordings (2 converted now)" in out and "W " in out
    assert not (tmp_path / "o" / "signals").exists()
    meta = json.loads((tmp_path / "o" / "convert.json").read_text())
    assert meta["trim_wake_min"] is None and meta["signals"] is False
    assert main([str(tmp_path / "missing"), str(tmp_path / "p")]) == 1
    assert "not found" in capsys.readouterr().err


# ----------------------------------------------------------------------------- manifest.csv
def _row(**kw):
    from eeg_vlm.dataset.manifest import Row

    base = dict(sample_id="R1/000003", dataset="d", subject="s", night="1", epoch=3, onset_s=90.0, stage="N2",
                image="images/R1/000003.png", split="")
    base.update(kw)
    return Row(**base)


def test_manifest_round_trip(tmp_path):
    from dataclasses import fields

    from eeg_vlm.dataset.manifest import Row, write_manifest

    assert tuple(f.name for f in fields(Row)) == COLUMNS

    rows = [_row(), _row(sample_id="R1/000004", epoch=4, onset_s=120.125, stage="REM", split="3")]
    path = write_manifest(tmp_path / "m.csv", rows)
    assert read_manifest(path) == rows
    assert path.read_text().splitlines()[1] == "R1/000003,d,s,1,3,90.0,N2,images/R1/000003.png,"


@pytest.mark.parametrize("line,match", [
    ("R1/000003,d,s,1,x,90.0,N2,a.png,", r"line 2: field 'epoch' is 'x'; expected an integer"),
    ("R1/000003,d,s,1,3,90.0,S2,a.png,", r"line 2: field 'stage' is 'S2'; expected one of W, N1, N2, N3, REM"),
    ("R1/000003,d,s,1,3,90.0,N2,../a.png,", r"line 2: field 'image' '\.\./a\.png' has a '\.\.' component"),
    ("R1/000003,d,s,1,3,90.0,N2,/etc/a.png,", r"line 2: field 'image' '/etc/a\.png' is absolute"),
    ("R1/000003,d,s,1,3,90.0,N2,a.png,training", r"line 2: field 'split' is 'training'"),
    ("R1/000003,d,s,1,3,nan,N2,a.png,", r"line 2: field 'onset_s' is 'nan'"),
    ("R1/000003,d,s,1,3,90.0,N2", r"line 2: 7 fields; expected 9"),
])
def test_manifest_errors_name_file_line_and_field(tmp_path, line, match):
    path = tmp_path / "bad.csv"
    path.write_text(",".join(COLUMNS) + "\n" + line + "\n")
    with pytest.raises(ValueError, match="bad.csv', " + match):
        read_manifest(path)


def test_manifest_header_and_duplicates(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("sample_id,stage\nR1/000001,W\n")
    with pytest.raises(ValueError, match="line 1: header is 'sample_id,stage'; expected 'sample_id,dataset"):
        read_manifest(path)
    row = "R1/000003,d,s,1,3,90.0,N2,a.png,"
    path.write_text(",".join(COLUMNS) + f"\n{row}\n{row}\n")
    with pytest.raises(ValueError, match="line 3: field 'sample_id' 'R1/000003' repeats line 2"):
        read_manifest(path)
    with pytest.raises(FileNotFoundError, match="manifest .*nope.csv'?: not found"):
        read_manifest(tmp_path / "nope.csv")


@pytest.mark.realdata
def test_real_sleep_edf_excerpt(shared_data, tmp_path):
    """The first 300 s of SC4001E0 (all wake) -> 10 epochs of Fpz-Cz, rendered from µV."""
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "SC4001E0-PSG.edf").symlink_to(shared_data / "sleep-edf" / "short_psg.edf")
    (inp / "SC4001EC-Hypnogram.edf").symlink_to(shared_data / "sleep-edf" / "SC4001EC-Hypnogram.edf")
    res = convert(inp, tmp_path / "out", channels=["Fpz-Cz", "Pz-Oz"], style="psg-llava", trim_wake_min=None)
    rows = read_manifest(res.manifest)
    assert [r.epoch for r in rows] == list(range(10)) and {r.stage for r in rows} == {"W"}
    sig = np.load(tmp_path / "out" / "signals" / "SC4001E0.npy")
    assert sig.shape == (10, 2, 3000)
    assert 5 < float(np.std(sig[:, 0])) < 200  # µV
    img = np.asarray(Image.open(tmp_path / "out" / rows[0].image))
    assert img.shape == (336, 336) and (img == 0).any()


def test_unscored_recording_gets_empty_stages(tmp_path):
    """A plain EDF without annotations converts with an empty stage column."""
    inp = tmp_path / "in"
    inp.mkdir()
    x = np.random.default_rng(0).standard_normal(100 * 120) * 20
    w = pyedflib.EdfWriter(str(inp / "night.edf"), 1, file_type=pyedflib.FILETYPE_EDFPLUS)
    w.setSignalHeaders([dict(label="EEG Fpz-Cz", dimension="uV", sample_frequency=100.0, physical_max=500.0,
                             physical_min=-500.0, digital_max=32767, digital_min=-32768, prefilter="", transducer="")])
    w.writeSamples([x])
    w.close()
    res = convert(inp, tmp_path / "out", trim_wake_min=None)
    rows = read_manifest(res.manifest)
    assert len(rows) == 4 and {r.stage for r in rows} == {""}
