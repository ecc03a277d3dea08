"""Detectors on real epochs (YASA examples, DREAMS excerpts) and on planted synthetic events."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from eeg_vlm.reasoning import detectors as det

DREAMS_RATES = {1: 100.0, 2: 200.0, 3: 50.0, 4: 200.0, 5: 200.0}
RK_NAMES = {5: "W", 4: "REM", 3: "S1", 2: "S2", 1: "S3", 0: "S4"}


# ----------------------------------------------------------------------------- helpers


def _pink(n: int, sfreq: float, rms: float, seed: int) -> np.ndarray:
    """1/f noise of a given RMS in µV (a background EEG stand-in)."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.normal(size=n))
    f = np.fft.rfftfreq(n, 1 / sfreq)
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0
    x = np.fft.irfft(spec, n)
    return x * rms / x.std()


def _logistic(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def _read_dreams(folder: Path, i: int) -> tuple[np.ndarray, np.ndarray]:
    """Signal (µV) and 5-s R&K codes of DREAMS excerpt ``i`` (header line then values)."""
    x = np.array((folder / f"excerpt{i}.txt").read_text().split()[1:], dtype=float)
    hyp = np.array((folder / f"Hypnogram_excerpt{i}.txt").read_text().split()[1:], dtype=float).astype(int)
    return x, hyp


@pytest.fixture(scope="module")
def dreams_epochs(shared_data):
    """Unanimous 30-s epochs of the five excerpts: R&K name -> list of EpochDescription."""
    folder = shared_data / "dreams"
    out: dict[str, list[det.EpochDescription]] = defaultdict(list)
    for i, sf in DREAMS_RATES.items():
        x, hyp = _read_dreams(folder, i)
        codes = hyp[: len(hyp) // 6 * 6].reshape(-1, 6)
        t = int(30 * sf)
        n = min(len(codes), len(x) // t)
        descs = det.describe_epochs(x[: n * t].reshape(n, 1, t), ["C3-A1"], sf)
        for k in range(n):
            if (codes[k] == codes[k, 0]).all() and codes[k, 0] in RK_NAMES:
                out[RK_NAMES[codes[k, 0]]].append(descs[k])
    return out


def _mean(descs, fn) -> float:
    return float(np.mean([fn(d) for d in descs]))


# ----------------------------------------------------------------------------- band powers


def test_band_powers_tile_the_total_band_and_find_a_pure_rhythm():
    sf = 100.0
    t = np.arange(3000) / sf
    alpha = 20 * np.sin(2 * np.pi * 10 * t)
    rel = det.band_powers(alpha, sf)
    assert set(rel) == set(det.BANDS)
    assert rel["alpha"] > 0.98
    mixed = np.stack([alpha + 40 * np.sin(2 * np.pi * 2 * t), _pink(3000, sf, 20, 0)])
    relm = det.band_powers(mixed, sf)
    assert relm["delta"].shape == (2,)
    np.testing.assert_allclose(sum(relm.values()), 1.0, atol=1e-9)
    assert relm["delta"][0] > relm["alpha"][0] > 0.1
    assert all(float(v) == 0.0 for v in det.band_powers(np.zeros(3000), sf).values())


@pytest.mark.realdata
def test_yasa_n3_epoch_is_delta_dominated_with_few_large_slow_waves(shared_data):
    x = np.loadtxt(shared_data / "yasa" / "data_N3_no-spindles_30sec_100Hz.txt")
    d = det.describe_epoch({"Fpz-Cz": x}, 100.0)
    assert d.relative_power["delta"] == pytest.approx(0.86, abs=0.02)
    assert 0.01 <= d.slow_wave_fraction <= 0.10  # a few percent: far below the 20 % of N3
    assert d.max_slow_wave_uv >= 75
    assert d.n_spindles == 0 and d.n_k_complexes == 0
    assert d.eye_movements is None and d.emg_rms_uv is None  # no EOG/EMG channel


@pytest.mark.realdata
def test_yasa_n2_epoch_has_a_spindle_where_the_sigma_envelope_peaks(shared_data):
    sf = 200.0
    x = np.loadtxt(shared_data / "yasa" / "data_N2_spindles_15sec_200Hz.txt")
    env = np.abs(signal.hilbert(det.bandpass(x, sf, 12, 15, order=4)))
    ratio = env.max() / np.median(env)
    assert 7 <= ratio <= 14  # "about 10x its median"
    t_peak = np.argmax(env) / sf
    spindles = det.detect_spindles(x, sf)
    assert len(spindles) >= 1
    assert any(s.start_s <= t_peak <= s.start_s + s.duration_s for s in spindles)
    for s in spindles:
        assert 0.5 <= s.duration_s <= 2.0 and 11.5 <= s.frequency_hz <= 15.5 and s.amplitude_uv > 0


# ----------------------------------------------------------------------------- DREAMS


@pytest.mark.realdata
def test_dreams_relative_delta_orders_the_stages(dreams_epochs):
    delta = {st: _mean(v, lambda d: d.relative_power["delta"]) for st, v in dreams_epochs.items()}
    assert {"W", "S1", "S2", "S3", "S4"} <= set(delta)
    assert delta["S4"] == pytest.approx(0.90, abs=0.03)
    assert delta["S3"] == pytest.approx(0.88, abs=0.03)
    assert delta["S2"] == pytest.approx(0.75, abs=0.03)
    assert delta["S4"] >= delta["S3"] > delta["S2"] > max(delta["S1"], delta["W"])
    assert delta["S1"] == pytest.approx(0.56, abs=0.04) and delta["W"] == pytest.approx(0.56, abs=0.04)


@pytest.mark.realdata
def test_dreams_alpha_is_high_in_wake_and_s1_only(dreams_epochs):
    alpha = {st: _mean(v, lambda d: d.relative_power["alpha"]) for st, v in dreams_epochs.items()}
    assert alpha["S1"] == pytest.approx(0.18, abs=0.03) and alpha["W"] == pytest.approx(0.14, abs=0.03)
    assert max(alpha["S2"], alpha["S3"], alpha["S4"]) <= 0.065
    assert min(alpha["S1"], alpha["W"]) > 2 * max(alpha["S2"], alpha["S3"], alpha["S4"])


@pytest.mark.realdata
def test_dreams_graphoelements_follow_the_stages(dreams_epochs):
    swf = {st: _mean(v, lambda d: d.slow_wave_fraction) for st, v in dreams_epochs.items()}
    spin = {st: _mean(v, lambda d: d.n_spindles) for st, v in dreams_epochs.items()}
    # deep sleep: slow waves over the N3 criterion on average; light sleep far below it
    assert swf["S4"] > swf["S3"] >= 0.20 > 0.10 > swf["S2"] > swf["S1"]
    assert spin["S2"] > 0.5 and spin["S2"] > 2 * max(spin["S3"], spin["S4"])


# ----------------------------------------------------------------------------- synthetic


def test_planted_spindle_is_found_at_the_right_time():
    sf = 100.0
    x = _pink(3000, sf, 15, 1)
    t = np.arange(3000) / sf
    centre = 17.3
    x += 30 * np.sin(2 * np.pi * 13 * t) * np.exp(-((t - centre) ** 2) / (2 * 0.25**2))
    spindles = det.detect_spindles(x, sf)
    assert len(spindles) == 1
    s = spindles[0]
    assert s.start_s < centre < s.start_s + s.duration_s
    assert abs((s.start_s + s.duration_s / 2) - centre) < 0.3
    assert s.frequency_hz == pytest.approx(13.0, abs=0.5)


def test_pure_1hz_sine_of_100uv_is_all_slow_waves():
    sf = 100.0
    t = np.arange(3000) / sf
    x = 50 * np.sin(2 * np.pi * 1.0 * t)  # 100 µV peak to peak
    waves = det.detect_slow_waves(x, sf)
    assert det.slow_wave_fraction(waves, 30.0) >= 0.9
    assert all(w.ptp_uv >= 75 and w.frequency_hz == pytest.approx(1.0, abs=0.05) for w in waves)
    assert det.detect_k_complexes(x, sf) == []  # uniform waves: none stands out
    small = det.detect_slow_waves(0.5 * x, sf)  # 50 µV peak to peak
    assert small == []


@pytest.mark.parametrize("seed", range(4))
def test_noise_has_no_events(seed):
    sf = 100.0
    rng = np.random.default_rng(seed)
    for x in (rng.normal(0, 20, 3000), _pink(3000, sf, 20, seed)):
        assert det.detect_spindles(x, sf) == []
        assert det.detect_slow_waves(x, sf) == []
        assert det.detect_k_complexes(x, sf) == []
        assert det.detect_rems(x, sf) == []


def test_planted_k_complex_is_found_and_a_slow_wave_train_is_not():
    sf = 100.0
    x = _pink(3000, sf, 10, 2)
    tk = np.arange(-1.0, 1.5, 1 / sf)
    kc = -90 * np.exp(-(tk**2) / (2 * 0.15**2)) + 45 * np.exp(-((tk - 0.45) ** 2) / (2 * 0.25**2))
    onset = 20.0
    x[int(onset * sf) : int(onset * sf) + len(tk)] += kc
    found = det.detect_k_complexes(x, sf)
    assert len(found) == 1
    k = found[0]
    assert onset + 0.5 < k.start_s + k.duration_s and k.start_s < onset + 1.2  # the negative peak at onset+1 s
    assert k.negative_uv < -40 and k.positive_uv > 20 and k.ptp_uv >= 75 and k.background_ratio >= 3
    train = x.copy()
    for start in np.arange(0.0, 27.5, 1.25):  # the same wave over and over: slow-wave sleep
        i = int(start * sf)
        train[i : i + len(tk)] += kc
    assert det.detect_k_complexes(train, sf) == []
    assert det.detect_slow_waves(train, sf)


def test_rapid_eye_movements_are_steep_large_deflections():
    sf = 100.0
    t = np.arange(3000) / sf
    eog = _pink(3000, sf, 5, 3)
    times = (5.0, 12.0, 22.0)
    for t0 in times:  # saccade: 150 µV within ~0.1 s, back after 1.5 s
        eog += 150 * (_logistic((t - t0) / 0.02) - _logistic((t - t0 - 1.5) / 0.02))
    rems = det.detect_rems(eog, sf)
    found = sorted({round(r.time_s) for r in rems if r.amplitude_uv >= 100})
    for t0 in times:
        assert any(abs(r.time_s - t0) < 0.3 for r in rems), t0
        assert any(abs(r.time_s - t0 - 1.5) < 0.3 for r in rems), t0
    assert len(found) >= 2 * len(times) - 1
    assert all(r.rise_s <= 0.5 and r.slope_uv_s >= 400 for r in rems)
    slow = 150 * _logistic((t - 15) / 0.4)  # slow eye movement: rise over ~2 s
    assert det.detect_rems(slow + _pink(3000, sf, 5, 4), sf) == []
    assert det.detect_rems(50 * np.sin(2 * np.pi * t), sf) == []  # 1-Hz delta of 100 µV


def test_emg_tone_raw_and_envelope_channels():
    sf = 200.0
    rng = np.random.default_rng(5)
    raw = rng.normal(0, 10, (3, 6000)) * np.array([[1.0], [0.5], [2.0]])
    tone = det.emg_tone(raw, sf)
    assert tone.shape == (3,)
    np.testing.assert_allclose(tone / tone[0], [1.0, 0.5, 2.0], rtol=0.05)
    envelope = 4.0 + 0.3 * np.sin(2 * np.pi * 0.05 * np.arange(3000) / 100)  # a resampled 1-Hz level
    assert float(det.emg_tone(envelope, 100.0)) == pytest.approx(4.0, rel=0.02)


# ----------------------------------------------------------------------------- description


def test_describe_epochs_picks_channels_by_role_and_relates_emg_to_the_night():
    sf = 100.0
    n, t = 12, 3000
    rng = np.random.default_rng(6)
    data = np.zeros((n, 3, t))
    for i in range(n):
        data[i, 0] = _pink(t, sf, 5, 200 + i)
        data[i, 1] = _pink(t, sf, 20, 100 + i)
        data[i, 2] = rng.normal(0, 2.0 if i == 3 else 10.0, t)
    descs = det.describe_epochs(data.astype(np.float32), ["EOG horizontal", "EEG Fpz-Cz", "EMG submental"], sf,
                                eeg="EEG Fpz-Cz")
    assert len(descs) == n
    assert descs[0].eeg == "EEG Fpz-Cz" and descs[0].eog == "EOG horizontal" and descs[0].emg == "EMG submental"
    rel = [d.emg_relative for d in descs]
    assert rel[3] == pytest.approx(0.2, abs=0.05)
    assert np.median(rel) == pytest.approx(1.0, abs=0.05)
    assert all(d.n_eye_movements == 0 for d in descs)
    one = det.describe_epoch({"Fpz-Cz": data[0, 1], "EMG": data[0, 2]}, sf)
    assert one.eeg == "Fpz-Cz" and one.eog is None and one.eye_movements is None
    # high-passed at 10 Hz: white noise keeps 40 of its 50 Hz of bandwidth; no night reference
    assert one.emg_relative is None and one.emg_rms_uv == pytest.approx(10.0 * np.sqrt(0.8), rel=0.05)


def test_channel_roles():
    assert det.channel_role("EEG Fpz-Cz") == "eeg"
    assert det.channel_role("EOG horizontal") == "eog"
    assert det.channel_role("E1-M2") == "eog"
    assert det.channel_role("Chin1-Chin2") == "emg"
    assert det.channel_role("EMG submental") == "emg"
    assert det.channel_role("C4-M1") == "eeg"


def test_describe_errors():
    with pytest.raises(ValueError, match=r"data must have shape \(n_epochs, 2 channels, n_samples\)"):
        det.describe_epochs(np.zeros((3, 1, 100)), ["Fpz-Cz", "EOG"], 100.0)
    with pytest.raises(ValueError, match=r"EEG channel 'Cz' not found; present: 'Fpz-Cz', 'EOG'"):
        det.describe_epochs(np.zeros((1, 2, 3000)), ["Fpz-Cz", "EOG"], 100.0, eeg="Cz")
    with pytest.raises(ValueError, match="no EEG channel among 'EOG'"):
        det.describe_epochs(np.zeros((1, 1, 3000)), ["EOG"], 100.0)
    with pytest.raises(ValueError, match="sampling rate must be > 0 Hz"):
        det.band_powers(np.zeros(100), 0)
    with pytest.raises(ValueError, match="one length"):
        det.describe_epoch({"Fpz-Cz": np.zeros(100), "EOG": np.zeros(50)}, 100.0)
