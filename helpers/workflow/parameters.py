"""The notebooks' parameters, set once per run.

The first notebook of a run writes its parameters into the run folder (`setup.json`) and
names the run in runs/current.json; a notebook left at its defaults reuses that run, and one
whose parameters disagree with its run folder is refused. In JupyterLab the parameters are
therefore edited in notebook 01 only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from helpers.errors import UserError
from helpers.paths import RUNS_DIR
from helpers.utils import io
from helpers.utils.io import write_json_atomic

SETUP_JSON = "setup.json"  # in the run folder: the parameters it was set up with
CURRENT_RUN = "current.json"  # in runs/: the run a notebook with default parameters reuses
# The parameters that decide what a run computes; the others (cpu, batch_size, accum_steps,
# amp, stores_dir, download_weights) may change between the notebooks of one run.
RUN_FIELDS = ("profile", "data_dir", "splits_dir", "split", "fast", "smoke", "weights",
              "imagenet_weights", "norm", "protocol")


def current_run() -> dict[str, Any] | None:
    """The parameters of the run set up last (runs/current.json), or None."""
    current = RUNS_DIR / CURRENT_RUN
    if not current.is_file():
        return None
    pinned = read_json_object(current).get("run", "")
    if not pinned or not (Path(pinned) / SETUP_JSON).is_file():
        return None
    return read_json_object(Path(pinned) / SETUP_JSON)


def pin(fields: Mapping[str, Any], run_root: Path) -> None:
    """Check `fields` (a Setup's, as a dict) against the run folder's `setup.json`, or write
    it there for the run's first notebook; then name the run in runs/current.json."""
    saved_path = run_root / SETUP_JSON
    if saved_path.is_file():
        saved = read_json_object(saved_path)
        diff = [f for f in RUN_FIELDS if _same(saved.get(f)) != _same(fields.get(f))]
        if diff:
            detail = ", ".join(f"{f} = {saved.get(f)!r}" for f in diff[:3])
            raise UserError(f"The run folder {run_root} was set up with {detail}, which this "
                            "notebook's parameters do not say; use the same parameters in "
                            "every notebook of a run (or leave them at their defaults after "
                            "notebook 01), or choose another run_dir.")
    else:
        write_json_atomic(saved_path, {**fields, "run_dir": str(run_root)})
    write_json_atomic(RUNS_DIR / CURRENT_RUN, {"run": str(run_root)})


def _same(value: Any) -> Any:
    """A parameter as compared between notebooks: paths resolved, the rest as it is."""
    if isinstance(value, str) and ("/" in value or value.startswith((".", "~"))):
        return str(Path(value).expanduser().resolve())
    return value


def read_json_object(path: Path) -> dict[str, Any]:
    """setup.json or current.json, or one sentence saying to start the run again."""
    return io.read_json_object(path, fix="delete it and run notebook 01 again")
