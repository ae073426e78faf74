"""The torch build that fits the node's NVIDIA driver: `make venv|fetch TORCH_CUDA=...`.

The pinned torch/torchvision (requirements.txt) come from PyPI built for CUDA 13, which
needs driver 580 or newer; many clusters run older drivers. `TORCH_CUDA=cu126|cu128|cu130|cpu`
installs the same versions from PyTorch's own index built for that CUDA; `auto` reads the
driver (`nvidia-smi`, else /proc/driver/nvidia/version) and picks the newest build it runs,
and keeps the default where no GPU is visible (a login node: run `make fetch` with the build
of the compute nodes instead). Runs with the standard library alone, before the venv has
anything else (`python -m helpers torch-build --cuda auto [--run]` from the repository root
works before the project is installed).

>>> choose("auto", (535, 104)).build
'cu126'
>>> choose("auto", None).build is None
True
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

INDEX = "https://download.pytorch.org/whl/"
BUILDS = ("cu126", "cu128", "cu130", "cpu")
# The oldest Linux driver each build runs on, newest build first (NVIDIA's CUDA toolkit
# release notes: 13.0 needs 580; 12.8 570.26; 12.x builds run on 525.60 and newer through
# CUDA's minor-version compatibility).
MIN_DRIVER: tuple[tuple[str, tuple[int, int]], ...] = (
    ("cu130", (580, 65)), ("cu128", (570, 26)), ("cu126", (525, 60)))


class BuildError(Exception):
    """One sentence for the user (this module runs before `helpers` is importable)."""


@dataclass(frozen=True)
class Choice:
    build: str | None  # None: the default wheels of requirements.txt (PyPI)
    reason: str


def parse_driver(text: str) -> tuple[int, int] | None:
    match = re.search(r"(\d{3,})\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def driver_version() -> tuple[int, int] | None:
    """The NVIDIA driver of this machine, or None without one."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version",
                              "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=60)
        if out.returncode == 0 and (found := parse_driver(out.stdout)):
            return found
    except (OSError, subprocess.SubprocessError):
        pass
    proc = Path("/proc/driver/nvidia/version")
    return parse_driver(proc.read_text()) if proc.is_file() else None


def choose(cuda: str, driver: tuple[int, int] | None) -> Choice:
    """The build for TORCH_CUDA=`cuda` on a node with `driver`."""
    cuda = cuda.strip().lower()
    if cuda in ("", "default"):
        return Choice(None, "TORCH_CUDA is not set: the default wheels of requirements.txt")
    if cuda in BUILDS:
        return Choice(cuda, f"TORCH_CUDA={cuda}")
    if cuda != "auto":
        raise BuildError(f"TORCH_CUDA={cuda} is not one of auto, {', '.join(BUILDS)}.")
    if driver is None:
        return Choice(None, "TORCH_CUDA=auto found no NVIDIA driver here, so it keeps the "
                      "default wheels (set TORCH_CUDA=cu126|cu128|cu130 for the compute nodes)")
    shown = f"{driver[0]}.{driver[1]:02d}"
    for build, oldest in MIN_DRIVER:
        if driver >= oldest:
            return Choice(build, f"TORCH_CUDA=auto: driver {shown} runs {build} (needs "
                          f"{oldest[0]}.{oldest[1]:02d} or newer)")
    raise BuildError(f"The NVIDIA driver {shown} is older than 525.60, which every pinned "
                     "torch build needs; ask the site for a newer driver, or use TORCH_CUDA=cpu.")


def pinned(requirements: Path) -> list[str]:
    """torch and torchvision as requirements.txt pins them (`torch==2.14.1`)."""
    found = [line.split("#")[0].strip() for line in requirements.read_text().splitlines()
             if re.match(r"\s*(torch|torchvision)\s*==", line)]
    if len(found) != 2:
        raise BuildError(f"{requirements} does not pin both torch and torchvision with ==.")
    return [re.sub(r"\s+", "", pin) for pin in found]


def pip_command(python: str, build: str, pins: list[str]) -> list[str]:
    """pip installing the pinned versions from PyTorch's index for `build` (only there: a
    same-named wheel from PyPI would be the CUDA 13 one)."""
    return [python, "-m", "pip", "install", "-q", "--no-cache-dir", *pins,
            "--index-url", f"{INDEX}{build}"]


REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"


def install(cuda: str, requirements: Path = REQUIREMENTS, *, run: bool = False) -> int:
    """Print the build `cuda` picks (`auto`: from the driver) and the pip command installing
    it; with `run`, run that command. Returns an exit code (1 with the reason on stderr)."""
    try:
        choice = choose(cuda, driver_version() if cuda.strip() == "auto" else None)
        print(f"torch build: {choice.build or 'default (PyPI)'}; {choice.reason}", flush=True)
        if choice.build is None:
            return 0
        cmd = pip_command(sys.executable, choice.build, pinned(requirements))
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(" ".join(cmd), flush=True)
    return subprocess.run(cmd).returncode if run else 0
