"""eeg-vlm convert on inputs that used to go wrong: DREAMS rates and rules, bad files, dead workers."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from eeg_vlm.imaging.convert import main

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
    assert main([str(folder), str(out), "--channels", channel, "--size", "64", "--no-signals", "--trim-wake",
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
