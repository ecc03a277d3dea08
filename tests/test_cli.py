import importlib

import pytest

from eeg_vlm.cli import COMMANDS, main


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_module_has_main(name):
    module = importlib.import_module(COMMANDS[name][0])
    assert callable(getattr(module, "main", None)), f"{COMMANDS[name][0]} lacks main(argv)"


def test_unknown_command_suggests(capsys):
    assert main(["convrt"]) == 2
    assert "did you mean 'convert'" in capsys.readouterr().err
