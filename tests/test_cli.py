import pytest

from eeg_vlm.cli import COMMANDS, main


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_prints_its_usage_with_h(name, capsys):
    """``eeg-vlm <command> -h`` exits 0 and prints that command's usage and options."""
    try:
        code = main([name, "-h"])
    except SystemExit as exc:  # argparse exits after printing the help
        code = exc.code
    captured = capsys.readouterr()
    assert code in (0, None), captured.err
    first = captured.out.splitlines()[0] if captured.out else ""
    # the usage line names the command (or, for commands run by another package's CLI, its module)
    assert first.startswith("usage: ") and (name in first or COMMANDS[name][0] in first), captured.out[:200]
    assert "-h, --help" in captured.out and captured.err == ""


def test_top_level_usage_lists_every_command(capsys):
    assert main(["-h"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: eeg-vlm <command>")
    assert all(f"  {name} " in out for name in COMMANDS)


def test_unknown_command_suggests(capsys):
    assert main(["convrt"]) == 2
    assert "did you mean 'convert'" in capsys.readouterr().err
