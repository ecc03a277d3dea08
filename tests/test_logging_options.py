"""-v / -q mean the same in every subcommand; only rank 0 logs; feature_extractor's own option check."""

from __future__ import annotations

import importlib
import logging

import pytest

from eeg_vlm.cli import COMMANDS, log_level


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_subcommand_takes_v_and_q(name, capsys):
    module = importlib.import_module(COMMANDS[name][0])
    argv = ["reproduce", "-h"] if name == "experiment" else ["-h"]
    with pytest.raises(SystemExit) as exc:
        module.main(argv)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "-v, --verbose" in out and "-q, --quiet" in out, name


def test_levels_and_rank(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert [log_level(0), log_level(1), log_level(2), log_level(1, quiet=True)] == [
        logging.WARNING, logging.INFO, logging.DEBUG, logging.ERROR]
    monkeypatch.setenv("RANK", "3")
    assert log_level(2) == logging.ERROR


def test_feature_extractor_levels_match(monkeypatch):
    import argparse

    from feature_extractor.cli_args import configure_logging

    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    root = logging.getLogger()
    old = root.level
    try:
        for verbose, quiet in ((0, False), (1, False), (2, False), (1, True)):
            configure_logging(argparse.Namespace(verbose=verbose, quiet=quiet))
            assert root.level == log_level(verbose, quiet)
    finally:
        root.setLevel(old)


def test_feature_extractor_check_option():
    from feature_extractor.checks import check_option
    from feature_extractor.runtime import amp_dtype, progress_enabled

    assert check_option("amp", "none", ("auto", "none")) == "none"
    with pytest.raises(ValueError, match=r"invalid value for the 'amp' parameter. Allowed values are 'auto', "
                                         r"'bf16', 'none', but got 'fp8' instead"):
        amp_dtype("fp8", None)
    with pytest.raises(ValueError, match="'progress' parameter"):
        progress_enabled("sometimes")
