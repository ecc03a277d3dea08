"""eeg-vlm convert on inputs that used to go wrong: DREAMS rates and rules, bad files, dead workers."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyedflib
import pytest

from eeg_vlm.dataset.manifest import read_manifest, write_manifest
from eeg_vlm.imaging.convert import main
from eeg_vlm.reasoning import cot
from eeg_vlm.reasoning.llava_data import BuildConfig, build_data

sys.path.insert(0, str(Path(__file__).parent / "io"))
from edf_files import write_edf  # noqa: E402

STAGES = {5: "W", 4: "REM", 3: "N1", 2: "N2", 1: "N3", 0: "N3"}


def _dreams_folder(shared_data: Path, tmp_path: Path, numbers) -> Path:
    folder = tmp_path / "dreams"
    folder.mkdir(parents=True)
    for n in numbers:
        for name in (f"excerpt{n}.txt", f"Hypnogram_excerpt{n}.txt"):
            (folder / name).symlink_to(shared_data / "dreams" / name)
    return folder


def _expected(shared_data: Path, numbers, rule: str) -> Counter:
    out: Counter = Counter()
    for n in numbers:
        values = [int(v) for v in (shared_data / "dreams" / f"Hypnogram_excerpt{n}.txt").read_text().split()[1:]]
        for i in range(0, 360, 6):
            ranked = Counter(STAGES.get(v) for v in values[i: i + 6]).most_common()
            top = ranked[0][0]
            if top is not None and (len(ranked) == 1 or (rule == "majority" and ranked[0][1] > ranked[1][1])):
                out[top] += 1
    return out


def _convert(folder: Path, out: Path, channel: str, rule: str, *rate: str) -> dict:
    assert main([str(folder), str(out), "--channels", channel, "--size", "64", "--no-signals", "--trim-wake-min",
                 "none", "--workers", "1", "--no-progress", "--epoch-rule", rule, *rate]) == 0
    return json.loads((out / "convert.json").read_text())


@pytest.mark.realdata
def test_dreams_from_the_cli_with_a_stated_rate(shared_data, tmp_path, capsys):
    c3 = _dreams_folder(shared_data, tmp_path / "c3", (1, 3))  # C3-A1 at 100 and 50 Hz: a table
    table = tmp_path / "rates.csv"
    table.write_text("file,sfreq\nexcerpt1,100\nexcerpt3.txt,50\n")
    cz = _dreams_folder(shared_data, tmp_path / "cz", (2, 4, 5))  # CZ-A1 at 200 Hz: one rate
    figures = {}
    for rule in ("unanimous", "majority"):
        meta = _convert(c3, tmp_path / f"c3-{rule}", "C3-A1", rule, "--source-sfreq-table", str(table))
        assert (meta["epoch_rule"], meta["source_rates"]) == (rule, {"excerpt1": 100.0, "excerpt3.txt": 50.0})
        assert Counter(meta["stages"]) == _expected(shared_data, (1, 3), rule)
        both = Counter(meta["stages"])
        meta = _convert(cz, tmp_path / f"cz-{rule}", "CZ-A1", rule, "--source-sfreq", "200")
        assert (meta["epoch_rule"], meta["source_sfreq"]) == (rule, 200.0)
        assert Counter(meta["stages"]) == _expected(shared_data, (2, 4, 5), rule)
        figures[rule] = dict(both + Counter(meta["stages"]))
    # the figures README.md states for the five excerpts
    assert figures["unanimous"] == {"W": 31, "N1": 15, "N2": 129, "N3": 37}
    assert figures["majority"] == {"W": 40, "N1": 33, "N2": 166, "N3": 61}
    # a wrong stated rate is refused, naming the file and the durations
    assert main([str(cz), str(tmp_path / "wrong"), "--channels", "CZ-A1", "--source-sfreq", "100",
                 "--workers", "1", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "excerpt2.txt" in err and "360000 values at 100 Hz last 3600 s" in err and "agree at 200 Hz" in err


def _edf(path: Path, seconds: float, stages: list[str] | None = None, sfreq: float = 100.0, data=None) -> Path:
    """A one-channel EDF+ ('EEG Fpz-Cz', µV) with 30-s stage annotations."""
    x = np.random.default_rng(len(path.name)).normal(0, 20, int(seconds * sfreq)) if data is None else data
    notes = [(30.0 * i, 30.0, f"Sleep stage {s}") for i, s in enumerate(stages or [])]
    return write_edf(path, {"EEG Fpz-Cz": (x, sfreq)}, notes)


def test_output_that_is_a_file_is_one_line(tmp_path, capsys):
    inp = tmp_path / "in"
    inp.mkdir()
    _edf(inp / "a.edf", 60, ["W", "2"])
    (tmp_path / "out.txt").write_text("x")
    assert main([str(inp), str(tmp_path / "out.txt"), "--workers", "1", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "out.txt' : " not in err and "Traceback" not in err
    assert re.search(r"folder '.*out\.txt': output folder exists as a file", err)
    assert main([str(inp / "a.edf"), str(tmp_path / "o"), "--workers", "1", "--no-progress"]) == 1
    assert "a.edf': is a file; give the folder" in capsys.readouterr().err


def test_recording_shorter_than_one_epoch_is_an_error_or_a_counted_skip(tmp_path, capsys):
    inp = tmp_path / "in"
    inp.mkdir()
    _edf(inp / "good.edf", 90, ["W", "2", "2"])
    _edf(inp / "tiny.edf", 20, ["W"])
    assert main([str(inp), str(tmp_path / "o"), "--workers", "1", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "tiny.edf': shorter than one 30-s epoch (20 s of 'EEG Fpz-Cz')" in err
    assert main([str(inp), str(tmp_path / "o2"), "--workers", "1", "--no-progress", "--skip-bad"]) == 0
    meta = json.loads((tmp_path / "o2" / "convert.json").read_text())
    assert [s["record_id"] for s in meta["skipped"]] == ["tiny"] and meta["n_epochs"] == 3
    assert "shorter than one 30-s epoch" in meta["skipped"][0]["error"]


def _children(pid: int) -> set[int]:
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_pool_workers_exit_when_the_parent_is_killed(tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    for i in range(6):
        _edf(inp / f"n{i}.edf", 600, ["W"] * 20)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "eeg_vlm", "convert", str(inp), str(tmp_path / "out"),
                             "--workers", "2", "--no-progress", "--trim-wake-min", "none"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        workers: set[int] = set()
        while time.monotonic() < deadline and proc.poll() is None:
            workers = {c for c in _children(proc.pid) if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text()}
            if len(workers) == 2:
                break
            time.sleep(0.05)
        assert len(workers) == 2, "the pool did not start"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers), "pool workers outlived their parent"
    finally:
        proc.kill()
        for w in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(w, signal.SIGKILL)


def _bad_night(folder: Path) -> Path:
    """8 scored epochs at 100 Hz, physical range +-500 µV: epoch 2 flat (dead lead), epoch 5 saturated."""
    x = np.random.default_rng(3).normal(0, 20, 8 * 3000)
    x[2 * 3000: 3 * 3000] = 0.1 * np.sin(np.arange(3000))
    x[5 * 3000: 6 * 3000] = np.clip(x[5 * 3000: 6 * 3000] * 60, -500, 500)
    w = pyedflib.EdfWriter(str(folder / "bad.edf"), 1, file_type=pyedflib.FILETYPE_EDFPLUS)
    w.setSignalHeaders([dict(label="EEG Fpz-Cz", dimension="uV", sample_frequency=100.0, physical_max=500.0,
                             physical_min=-500.0, digital_max=32767, digital_min=-32768, prefilter="", transducer="")])
    w.writeSamples([x])
    for k, stage in enumerate("W22R2223"):
        w.writeAnnotation(30.0 * k, 30.0, f"Sleep stage {stage}")
    w.close()
    return folder / "bad.edf"


def test_flat_and_clipped_epochs_dropped_counted_or_kept_flagged(tmp_path, capsys):
    inp = tmp_path / "in"
    inp.mkdir()
    _bad_night(inp)
    args = ["--workers", "1", "--no-progress", "--trim-wake-min", "none", "--size", "64"]
    assert main([str(inp), str(tmp_path / "drop"), *args]) == 0
    meta = json.loads((tmp_path / "drop" / "convert.json").read_text())
    assert [r.epoch for r in read_manifest(tmp_path / "drop" / "manifest.csv")] == [0, 1, 3, 4, 6, 7]
    assert meta["bad_epochs"] == "drop" and meta["records"]["bad"]["dropped"] == {"clipped": 1, "flat": 1}
    assert meta["quality"] == {"clipped": 1, "dropped_clipped": 1, "dropped_flat": 1, "dropped_nonfinite": 0,
                               "filled_samples": 0, "flat": 1, "kept_flagged": 0, "nonfinite": 0}
    out = tmp_path / "keep"
    assert main([str(inp), str(out), *args, "--keep-bad-epochs"]) == 0
    meta = json.loads((out / "convert.json").read_text())
    assert meta["records"]["bad"]["flagged"] == {"bad/000002": "flat", "bad/000005": "clipped"}
    assert meta["quality"]["kept_flagged"] == 2
    # build-data never reasons about a stage from a flat or saturated signal
    rows = [dataclasses.replace(r, split="train") for r in read_manifest(out / "manifest.csv")]
    write_manifest(out / "manifest.csv", rows)
    build_data(BuildConfig(manifest=out / "manifest.csv", out_dir=tmp_path / "ft", eval_split=("none",)))
    answers = {e["id"]: e["conversations"][1]["value"] for e in json.loads((tmp_path / "ft" / "eeg_ft.json").read_text())}
    assert answers["bad/000002"] == cot.final_line("N2") and answers["bad/000005"] == cot.final_line("N2")
    assert answers["bad/000001"] != cot.final_line("N2")  # the others keep their rationale


def test_unscored_tail_and_scoring_past_the_signal_in_convert_json(tmp_path, caplog):
    inp = tmp_path / "in"
    inp.mkdir()
    _edf(inp / "long.edf", 150, ["W", "2", "2"])  # 60 s of signal after the last stage
    _edf(inp / "cut.edf", 60, ["W", "2", "2", "3"])  # scored 120 s, signal 60 s
    assert main([str(inp), str(tmp_path / "o"), "--workers", "1", "--no-progress", "--trim-wake", "none",
                 "--size", "64", "--no-signals"]) == 0
    records = json.loads((tmp_path / "o" / "convert.json").read_text())["records"]
    assert records["long"]["coverage"] == {"scored_past_signal": 0, "unscored_head": 0, "unscored_tail": 2}
    assert records["cut"]["coverage"] == {"scored_past_signal": 2, "unscored_head": 0, "unscored_tail": 0}
    assert records["cut"]["n_epochs"] == 2
    assert "cut.edf': the scoring runs past the signal (60.0 s of signal, scoring 0.0-120.0 s)" in caplog.text
