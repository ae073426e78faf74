"""What the GPU check's steps share while they run: a `python -m helpers` command run in this
process, the run folder a `train` command left, and the device memory freed between cases."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import TYPE_CHECKING

from helpers.errors import UserError

if TYPE_CHECKING:
    from helpers.training.records import RunRecord


def run_command(argv: list[str]) -> None:
    """Run one `python -m helpers` command in this process; an error stops the step."""
    from helpers.cli import main

    rc = main(argv)
    if rc:
        raise UserError(f"`python -m helpers {' '.join(argv)}` failed with exit code {rc}.")


def run_config(out: Path) -> RunRecord | None:
    """A finished training run's record (config.json: its config and `num_train`), or None."""
    from helpers.training.records import CONFIG_JSON, RunRecord

    if not (out / CONFIG_JSON).is_file():
        return None
    try:
        return RunRecord.read(out)
    except UserError:
        return None


def free_device() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
