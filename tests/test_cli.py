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


TORCH_COMMANDS = ("train", "evaluate")  # their parsers read the trainer's choices


def test_help_and_light_commands_do_not_import_torch():
    """Only the chosen command's module is imported, and the light ones (the login node's
    fetch, pdf, summary, submission, torch-build ...) parse their options without torch."""
    light = [c for c in sorted(COMMANDS) if c not in TORCH_COMMANDS]
    code = ("import sys\nfrom helpers.cli import build_parser\n"
            f"for argv in [[], *[[c] for c in {light!r}]]:\n"
            "    build_parser(argv)\n"
            "    assert 'torch' not in sys.modules, f'{argv} imports torch'\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr


def test_an_os_error_the_command_did_not_catch_is_one_sentence(monkeypatch, capsys):
    from helpers.commands import info as store

    def run(args):
        raise PermissionError(13, "Permission denied", "/root/secret.h5")

    monkeypatch.setattr(store, "run", run)
    assert main(["info", "anything.h5"]) == 1
    err = capsys.readouterr().err
    assert err == "error: Permission denied: /root/secret.h5; check the path and its permissions.\n"


@pytest.mark.parametrize("argv, message, code", [
    (["download", "--out", "/etc/passwd"], "/etc/passwd is a file, not a folder", 1),
    (["synth", "--out", "/etc/passwd/bench"], "Cannot create /etc/passwd/bench", 1),
    (["bench", "data", "--synth-size", "foo"], "--synth-size: 'foo' is not WIDTHxHEIGHT", 2),
    (["bench", "train", "--steps", "0"], "--steps: 0 is less than 1", 2),
])
def test_bad_paths_and_values_give_one_line_and_no_traceback(argv, message, code):
    out = subprocess.run([sys.executable, "-m", "helpers", *argv], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == code, out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert out.stderr.startswith("error:") and message in out.stderr, out.stderr


def test_shared_argument_types():
    import argparse

    from helpers.utils.argtypes import int_between, nonnegative_int, positive_float, positive_int

    assert positive_int("3") == 3 and nonnegative_int("0") == 0 and int_between(1, 9)("9") == 9
    assert positive_float("0.5") == 0.5
    for parse, text in [(positive_int, "0"), (positive_int, "1.5"), (nonnegative_int, "-1"),
                        (int_between(1, 9), "10"), (positive_float, "0"),
                        (positive_float, "nan"), (positive_float, "inf")]:
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)
