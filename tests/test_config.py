"""Configs as the API: JSON round trip, unknown keys, the command line built from the fields,
and one meaning of the wake trim everywhere."""

from __future__ import annotations

import json
import logging

import pytest

from eeg_vlm.imaging.convert import build_parser, convert
from eeg_vlm.imaging.convert_config import ConvertConfig, previous_value


def test_convert_config_json_round_trip(tmp_path):
    cfg = ConvertConfig(channels=("Fpz-Cz", "Pz-Oz"), style="psg-llava", trim_wake_min=None, size=64)
    text = cfg.to_json(tmp_path / "c.json")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert ConvertConfig.from_json(tmp_path / "c.json") == cfg


def test_unknown_keys_are_named(caplog):
    data = dict(ConvertConfig().to_dict(), colour="blue", trim_wake=0)
    with caplog.at_level(logging.WARNING):
        cfg = ConvertConfig.from_dict(data, where="file 'x.json'")
    assert cfg == ConvertConfig()
    assert "file 'x.json': unknown ConvertConfig key(s) ignored: colour, trim_wake" in caplog.text


def test_cli_defaults_are_the_dataclass_defaults():
    args = build_parser().parse_args(["in", "out"])
    assert ConvertConfig.from_args(args) == ConvertConfig()
    args = build_parser().parse_args(["in", "out", "--channels", "C3", "C4", "--style", "psg-llava", "--no-signals",
                                      "--keep-bad-epochs"])
    cfg = ConvertConfig.from_args(args)
    assert cfg.channels == ("C3", "C4") and cfg.signals is False and cfg.bad_epochs == "keep"


@pytest.mark.parametrize("value, minutes", [("0", 0.0), ("12.5", 12.5), ("none", None)])
def test_trim_wake_min_means_the_same_on_the_command_line(value, minutes):
    args = build_parser().parse_args(["in", "out", "--trim-wake-min", value])
    assert ConvertConfig.from_args(args).trim_wake_min == minutes
    assert ConvertConfig(trim_wake_min=minutes).trim_wake_min == minutes  # 0 = no wake kept, None = all epochs


def test_old_trim_wake_spellings_are_refused_clearly(capsys, tmp_path):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["in", "out", "--trim-wake", "0"])
    assert "--trim-wake-min none" in capsys.readouterr().err
    with pytest.raises(TypeError, match="'trim_wake' is now 'trim_wake_min'"):
        convert(tmp_path, tmp_path / "o", trim_wake=None)
    with pytest.raises(ValueError, match="trim_wake_min must be >= 0"):
        ConvertConfig(trim_wake_min=-1)


def test_older_convert_json_spelling_is_read():
    assert previous_value({"trim_wake": None}, "trim_wake_min") is None
    assert previous_value({"trim_wake": 30.0}, "trim_wake_min") == 30.0
    assert previous_value({}, "epoch_rule") == "unanimous"


def test_build_config_cli_and_json(tmp_path):
    from eeg_vlm.reasoning.build_config import BuildConfig
    from eeg_vlm.reasoning.llava_data import build_parser as build_data_parser

    args = build_data_parser().parse_args(["--manifest", "m.csv"])
    assert BuildConfig.from_args(args) == BuildConfig(manifest="m.csv")
    args = build_data_parser().parse_args(["--manifest", "m.csv", "--train-split", "train,val", "--copy"])
    cfg = BuildConfig.from_args(args)
    assert cfg.train_split == ("train", "val") and cfg.link == "copy"
    cfg.to_json(tmp_path / "b.json")
    assert BuildConfig.from_json(tmp_path / "b.json") == cfg
    with pytest.raises(SystemExit):
        build_data_parser().parse_args([])  # --manifest is required: no default to invent


def test_stage_config_cli_json_and_checks(tmp_path):
    from eeg_vlm.apps.stage_config import StageConfig
    from eeg_vlm.apps.staging import build_parser as stage_parser

    args = stage_parser().parse_args(["night.edf", "--out", "o", "--vision-model", "v"])
    assert StageConfig.from_args(args) == StageConfig(vision_model="v")
    args = stage_parser().parse_args(["night.edf", "--out", "o", "--vision-model", "v", "--channels", "C3", "C4",
                                      "--context", "hmm", "--explain"])
    cfg = StageConfig.from_args(args)
    assert cfg.channels == ("C3", "C4") and cfg.context == "hmm" and cfg.explain is True
    assert StageConfig.from_dict(json.loads(cfg.to_json())) == cfg
    with pytest.raises(ValueError, match="--llava-base needs --llava"):
        StageConfig(vision_model="v", llava_base="base")
    with pytest.raises(ValueError, match="needs --neighbour-head"):
        StageConfig(vision_model="v", context="neighbours")


def test_report_config_repeatable_options():
    from eeg_vlm.evaluation.report import _parser
    from eeg_vlm.evaluation.report_config import ReportConfig

    args = _parser().parse_args(["--answers", "a.jsonl", "--answers", "b.jsonl", "--out", "r", "--no-plots"])
    cfg = ReportConfig.from_args(args)
    assert cfg.answers == ("a.jsonl", "b.jsonl") and cfg.plots is False and cfg.n_boot == 1000
    assert ReportConfig.from_dict(json.loads(cfg.to_json())) == cfg
    with pytest.raises(ValueError, match="give at least one --answers"):
        ReportConfig(out="r")
