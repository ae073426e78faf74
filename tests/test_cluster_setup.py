"""Setting up on a cluster: the Python floor the Makefile enforces before pip, and the torch
build that fits the node's driver (`TORCH_CUDA`)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from helpers.utils import torchbuild
from helpers.utils.torchbuild import BuildError, choose, pinned, pip_command

REPO = Path(__file__).resolve().parents[1]


def _fake_python(bin_dir: Path, name: str, version: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text(f'#!/bin/sh\necho "{version}"\n')  # answers the version question
    path.chmod(0o755)


def test_the_floor_matches_the_pins():
    floor = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert floor == ">=3.11"  # numpy 2.4 and scipy 1.17 need 3.11
    script = (REPO / "scripts" / "find-python.sh").read_text()
    assert "FLOOR_MAJOR=3\nFLOOR_MINOR=11" in script


def test_make_stops_before_pip_when_python3_is_too_old(tmp_path):
    """RHEL 9's python3 is 3.9: `make venv` says so in one sentence and creates nothing."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("needs make")
    bin_dir = tmp_path / "bin"
    _fake_python(bin_dir, "python3", "3.9")
    clone = tmp_path / "clone"
    (clone / "scripts").mkdir(parents=True)
    for name in ("Makefile", "requirements.txt", "pyproject.toml", "scripts/find-python.sh"):
        shutil.copy(REPO / name, clone / name)
    done = subprocess.run([make, "venv"], cwd=clone, capture_output=True, text=True,
                          env={"PATH": str(bin_dir), "HOME": str(tmp_path)})
    assert done.returncode != 0
    assert done.stderr.splitlines()[0] == (
        "error: the project needs Python 3.11 or newer, but python3 is Python 3.9; load a "
        "newer one (e.g. module load python/3.11) or name it: make ... "
        "PYTHON=/path/to/python3.11")
    assert not (clone / ".venv").exists() and "pip" not in done.stdout

    # the newest python3.X that meets the floor wins over python3, and PYTHON= is checked
    _fake_python(bin_dir, "python3.12", "3.12")
    _fake_python(bin_dir, "python3.11", "3.11")
    find = ["/bin/sh", str(REPO / "scripts" / "find-python.sh")]
    out = subprocess.run(find, capture_output=True, text=True, env={"PATH": str(bin_dir)})
    assert out.returncode == 0 and out.stdout.strip() == str(bin_dir / "python3.12")
    out = subprocess.run([*find, "python3"], capture_output=True, text=True,
                         env={"PATH": str(bin_dir)})
    assert out.returncode == 1 and "python3 is Python 3.9" in out.stderr


@pytest.mark.parametrize("driver, build", [
    ((590, 48), "cu130"), ((580, 65), "cu130"), ((580, 10), "cu128"), ((570, 26), "cu128"),
    ((565, 57), "cu126"), ((535, 104), "cu126"), ((525, 60), "cu126"),
])
def test_auto_picks_the_newest_build_the_driver_runs(driver, build):
    assert choose("auto", driver).build == build


def test_explicit_builds_no_gpu_and_refusals():
    assert choose("cu128", (470, 1)).build == "cu128"  # asked for: not second-guessed
    assert choose("CPU", None).build == "cpu"
    assert choose("", (590, 1)).build is None
    no_gpu = choose("auto", None)
    assert no_gpu.build is None and "keeps the default wheels" in no_gpu.reason
    with pytest.raises(BuildError, match=r"^The NVIDIA driver 470\.82 is older than 525\.60"):
        choose("auto", (470, 82))
    with pytest.raises(BuildError, match=r"^TORCH_CUDA=cu118 is not one of auto, cu126"):
        choose("cu118", None)
    assert torchbuild.parse_driver("NVRM version: NVIDIA UNIX x86_64 Kernel Module  "
                                   "535.104.05  Sat Aug 19") == (535, 104)


def test_pip_command_installs_the_pinned_versions_from_pytorchs_index():
    pins = pinned(REPO / "requirements.txt")
    req = (REPO / "requirements.txt").read_text()
    assert pins == [re.search(r"^torch==\S+", req, re.M).group(0),
                    re.search(r"^torchvision==\S+", req, re.M).group(0)]
    for build in ("cu126", "cu128", "cu130", "cpu"):
        assert pip_command("/v/bin/python", build, pins) == [
            "/v/bin/python", "-m", "pip", "install", "-q", "--no-cache-dir", *pins,
            "--index-url", f"https://download.pytorch.org/whl/{build}"]


def test_the_command_prints_its_choice_and_runs_before_the_project_is_installed(tmp_path):
    # from the repository root, as the Makefile runs it, with nothing but the standard
    # library importable: the venv has only pip at that point
    cmd = [sys.executable, "-S", "-m", "helpers", "torch-build"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([*cmd, "--cuda", "cu126"], cwd=REPO, capture_output=True, text=True,
                          env=env)
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first == "torch build: cu126; TORCH_CUDA=cu126"
    assert second.endswith("--index-url https://download.pytorch.org/whl/cu126")
    done = subprocess.run([*cmd, "--cuda", "cu99"], cwd=REPO, capture_output=True, text=True,
                          env=env)
    assert done.returncode == 1 and done.stderr.startswith("error: TORCH_CUDA=cu99 is not")
