import subprocess
import sys

import pytest

from helpers.cli import COMMANDS, main


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2
    assert "No command given" in capsys.readouterr().err


def test_unknown_command_is_one_sentence_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "frobnicate" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command):
    out = subprocess.run([sys.executable, "-m", "helpers", command, "--help"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"helpers {command}" in out.stdout
