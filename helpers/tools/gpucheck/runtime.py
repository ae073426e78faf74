"""What the GPU check's steps share while they run: a `python -m helpers` command run in this
process, the run folder a `train` command left, and the device memory freed between cases."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from helpers.errors import UserError
from helpers.utils.files import read_json


def run_command(argv: list[str]) -> None:
    """Run one `python -m helpers` command in this process; an error stops the step."""
    from helpers.cli import main

    rc = main(argv)
    if rc:
        raise UserError(f"`python -m helpers {' '.join(argv)}` failed with exit code {rc}.")


def run_config(out: Path) -> dict[str, Any] | None:
    """A finished training run's config.json (its config and `num_train`), or None."""
    summary = read_json(out / "config.json")
    return summary if isinstance(summary, dict) and "config" in summary else None


def free_device() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
