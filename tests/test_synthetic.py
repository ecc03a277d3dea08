"""Synthetic PSG: night structure, stage signatures, determinism, EDF+ files."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyedflib
import pytest
from scipy import signal

from eeg_vlm.stages import STAGES, to_aasm
from eeg_vlm.dataset.synthetic import (
    CHANNELS,
    dataset_night,
    draw_subject,
    main,
    synth_hypnogram,
    synth_night,
    write_synthetic_dataset,
)

SF = 100.0


@pytest.fixture(scope="module")
def night():
    """A 2-hour night of one subject (signals, AASM stages)."""
    return synth_night(hours=2, seed=3)


def _epochs(x: np.ndarray) -> np.ndarray:
    return x.reshape(-1, int(30 * SF))


def _band_power(ep: np.ndarray, lo: float, hi: float) -> np.ndarray:
    f, p = signal.welch(ep, fs=SF, nperseg=400, axis=-1)
    return p[:, (f >= lo) & (f <= hi)].sum(-1)


def test_night_shape_and_units(night):
    signals, stages = night
    assert list(signals) == list(CHANNELS)
    assert len(stages) == 240
    for name, x in signals.items():
        assert x.dtype == np.float32 and x.shape == (240 * 3000,), name
        assert np.isfinite(x).all()
    eeg_sd = float(np.std(signals["EEG Fpz-Cz"]))
    assert 5.0 < eeg_sd < 100.0  # µV, not volts


def test_hypnogram_structure(night):
    _, stages = night
    assert stages[0] == "W" and stages[-1] is None  # wake at the start, '?' at the very end
    assert set(s for s in stages if s) == set(STAGES)
    first_sleep = next(i for i, s in enumerate(stages) if s not in ("W", None))
    last_sleep = max(i for i, s in enumerate(stages) if s not in ("W", None))
    assert stages[last_sleep + 1] == "W"
    n3 = [i for i, s in enumerate(stages) if s == "N3"]
    rem = [i for i, s in enumerate(stages) if s == "REM"]
    assert np.mean(n3) < np.mean(rem)  # N3 early, REM later
    assert first_sleep >= 3


def test_eight_hour_hypnogram_has_cycles():
    labels = synth_hypnogram(960, np.random.default_rng(0))
    assert len(labels) == 960
    counts = Counter(labels)
    assert counts["?"] >= 1 and labels[-1] == "?"
    rem_runs = sum(1 for a, b in zip(labels, labels[1:]) if b == "R" and a != "R")
    assert rem_runs >= 4  # ~90-min cycles over 8 hours
    third = len(labels) // 3
    assert labels[:third].count("3") + labels[:third].count("4") > labels[2 * third:].count("3")
    assert labels[:third].count("R") < labels[2 * third:].count("R")
    # one brief awakening at least inside the sleep period
    body = "".join(labels).strip("W?")
    assert "W" in body


def test_stage_signatures(night):
    signals, stages = night
    st = np.array([s or "?" for s in stages])
    fpz, pz = _epochs(signals["EEG Fpz-Cz"]), _epochs(signals["EEG Pz-Oz"])
    emg = _epochs(signals["EMG submental"])
    eog = _epochs(signals["EOG horizontal"])

    def mean(v, s):
        return float(np.mean(v[st == s]))

    # N3: high-amplitude delta, > 75 µV peak-to-peak over >= 20% of the epoch
    b, a = signal.butter(2, [0.5, 2.0], btype="band", fs=SF)
    delta = signal.filtfilt(b, a, fpz, axis=-1)
    win = int(2.0 * SF)  # p-p in 2-s windows (one 0.5-2 Hz wave or more)
    pp = np.ptp(delta[:, : delta.shape[1] // win * win].reshape(len(delta), -1, win), axis=-1)
    frac = (pp > 75).mean(-1)
    assert mean(frac, "N3") > 0.2
    assert mean(frac, "N3") > 3 * mean(frac, "N2")
    # alpha rules wake (posterior), spindle-band power rules N2
    alpha = _band_power(pz, 8, 12) / _band_power(pz, 0.5, 30)
    assert mean(alpha, "W") > 1.5 * mean(alpha, "N2")
    sigma = _band_power(pz, 11, 16)
    assert mean(sigma, "N2") > 1.5 * mean(sigma, "REM")
    # chin tone falls with depth and is lowest in REM
    tone = emg.std(-1)
    assert mean(tone, "W") > mean(tone, "N1") > mean(tone, "N2") > mean(tone, "REM")
    assert mean(tone, "REM") < mean(tone, "N3")
    # eye movements: REM and wake above N2
    eye = eog.std(-1)
    assert mean(eye, "REM") > mean(eye, "N2") and mean(eye, "W") > mean(eye, "N2")


def test_n1_is_not_trivially_separable(night):
    """N1 overlaps W and REM in simple features (as in real recordings)."""
    signals, stages = night
    st = np.array([s or "?" for s in stages])
    theta = _band_power(_epochs(signals["EEG Fpz-Cz"]), 4, 7)
    n1, rem = theta[st == "N1"], theta[st == "REM"]
    assert n1.min() < rem.max() and rem.min() < n1.max()


def test_deterministic_and_seed_dependent():
    a, sa = synth_night(n_epochs=60, seed=11)
    b, sb = synth_night(n_epochs=60, seed=11)
    c, _ = synth_night(n_epochs=60, seed=12)
    assert sa == sb
    for k in a:
        assert np.array_equal(a[k], b[k])
    assert not np.array_equal(a["EEG Fpz-Cz"], c["EEG Fpz-Cz"])


def test_subjects_differ():
    p = [draw_subject(np.random.default_rng([0, 1, s])) for s in range(4)]
    assert len({round(q.alpha_hz, 3) for q in p}) == 4
    assert max(q.eeg_gain for q in p) > min(q.eeg_gain for q in p)


def test_bad_lengths():
    with pytest.raises(ValueError, match="n_epochs must be >= 30"):
        synth_night(n_epochs=10)
    with pytest.raises(ValueError, match="not both"):
        synth_night(n_epochs=60, hours=1)
    with pytest.raises(ValueError, match="n_subjects must be between 1 and 100"):
        write_synthetic_dataset("unused", n_subjects=0)


def _annotations(path):
    with pyedflib.EdfReader(str(path)) as r:
        return r.readAnnotations()


def test_edf_files_round_trip(tmp_path):
    files = write_synthetic_dataset(tmp_path, n_subjects=2, hours=0.5, seed=5)
    names = [f.name for f in files]
    assert names == ["SC4001E0-PSG.edf", "SC4001EC-Hypnogram.edf",
                     "SC4011E0-PSG.edf", "SC4011EC-Hypnogram.edf"]
    signals, labels = dataset_night(5, subject=1, night=1, hours=0.5)
    with pyedflib.EdfReader(str(files[2])) as r:
        assert r.getSignalLabels() == list(CHANNELS)
        assert r.datarecord_duration == 30.0
        for i, name in enumerate(CHANNELS):
            assert r.getSampleFrequency(i) == SF
            assert r.getPhysicalDimension(i) == "uV"
            x = r.readSignal(i)
            assert np.allclose(x, signals[name], atol=0.05)  # 16-bit quantisation
    onsets, durations, texts = _annotations(files[3])
    # one annotation per run of equal stages, contiguous, covering the night
    assert all(a != b for a, b in zip(texts, texts[1:]))
    assert np.allclose(onsets[1:], onsets[:-1] + durations[:-1])
    expanded = [t.replace("Sleep stage ", "") for t, d in zip(texts, durations) for _ in range(int(d // 30))]
    assert expanded == labels
    assert {to_aasm(t) for t in texts} <= set(STAGES) | {None}


def test_edf_files_are_deterministic(tmp_path):
    a = write_synthetic_dataset(tmp_path / "a", n_subjects=1, hours=0.5, seed=2)
    b = write_synthetic_dataset(tmp_path / "b", n_subjects=1, hours=0.5, seed=2)
    for fa, fb in zip(a, b):
        assert fa.read_bytes() == fb.read_bytes()


def test_cli(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--subjects", "1", "--hours", "0.5", "--nights", "2"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "SC4001E0-PSG.edf", "SC4001EC-Hypnogram.edf", "SC4002E0-PSG.edf", "SC4002EC-Hypnogram.edf"]
    assert "wrote 2 nights" in capsys.readouterr().out


def test_read_back_by_the_readers(tmp_path):
    """find_recordings + the Sleep-EDF reader + make_epochs give back the generated stages."""
    from eeg_vlm.signals.epochs import make_epochs
    from eeg_vlm.io import find_recordings

    write_synthetic_dataset(tmp_path, n_subjects=2, hours=0.5, seed=8, nights=2)
    sources = find_recordings(tmp_path)
    assert [s.record_id for s in sources] == ["SC4001E0", "SC4002E0", "SC4011E0", "SC4012E0"]
    assert [s.subject for s in sources] == ["SC400", "SC400", "SC401", "SC401"]
    for src in sources:
        subject, night = int(src.record_id[3:5]), int(src.record_id[5])
        signals, labels = dataset_night(8, subject, night, hours=0.5)
        rec = src.load(channels=["Fpz-Cz", "EMG"])
        ep = make_epochs(rec, ["Fpz-Cz", "EMG"], trim_wake=None)
        expected = [(i, to_aasm(f"Sleep stage {lab}")) for i, lab in enumerate(labels) if lab != "?"]
        assert list(zip(ep.epoch.tolist(), ep.stages)) == expected
        assert ep.dropped == {"Sleep stage ?": labels.count("?")}
        assert np.allclose(ep.data[:, 0], signals["EEG Fpz-Cz"].reshape(-1, 3000)[ep.epoch], atol=0.05)
        assert np.allclose(ep.data[:, 1], signals["EMG submental"].reshape(-1, 3000)[ep.epoch], atol=0.05)
