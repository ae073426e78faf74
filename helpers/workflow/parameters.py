"""The notebooks' parameters, set once per run.

Notebook 01 (or `helpers report`, before its first kernel) writes its parameters into the run
folder (`setup.json`) and notebook 01 names the run in runs/current.json. Notebook 01 left at
its defaults reuses that run, and one whose run-deciding parameters disagree with its run
folder is refused. Notebooks 02-04 take only the run folder (empty: the run set up last) and
an override or two, and read the rest from `setup.json`. In JupyterLab the parameters are
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
    root = _current_root()
    return None if root is None else read_json_object(root / SETUP_JSON)


def _current_root() -> Path | None:
    """The run folder runs/current.json names, when it holds a setup.json."""
    current = RUNS_DIR / CURRENT_RUN
    if not current.is_file():
        return None
    pinned = read_json_object(current).get("run", "")
    return Path(pinned) if pinned and (Path(pinned) / SETUP_JSON).is_file() else None


def recorded(run_dir: str) -> tuple[Path, dict[str, Any]]:
    """The run folder `run_dir` (empty: the run set up last) and the parameters it recorded,
    or one sentence saying to run notebook 01 first."""
    if run_dir:
        root = Path(run_dir).expanduser().resolve()
        if not (root / SETUP_JSON).is_file():
            raise UserError(f"The run folder {root} has no {SETUP_JSON}; run notebook 01 with "
                            f"run_dir = \"{run_dir}\" first (or `helpers report --run "
                            f"{run_dir}`), or leave run_dir empty for the run set up last.")
    else:
        found = _current_root()
        if found is None:
            raise UserError(f"No run is set up yet ({RUNS_DIR / CURRENT_RUN} names none); "
                            "run notebook 01 first, or set run_dir to a run folder.")
        root = found.resolve()
    return root, read_json_object(root / SETUP_JSON)


def pin(fields: Mapping[str, Any], run_root: Path) -> None:
    """Record `fields` (a Setup's, as a dict) in the run folder (`record`), then name the run
    in runs/current.json."""
    record(fields, run_root)
    write_json_atomic(RUNS_DIR / CURRENT_RUN, {"run": str(run_root)})


def record(fields: Mapping[str, Any], run_root: Path) -> None:
    """Write `fields` into the run folder's `setup.json`, which notebooks 02-04 read; a
    folder already set up with other run-deciding fields (`RUN_FIELDS`) is refused, and the
    others (cpu, batch_size, ...) take their latest values."""
    saved_path = run_root / SETUP_JSON
    saved = read_json_object(saved_path) if saved_path.is_file() else None
    if saved is not None:
        diff = [f for f in RUN_FIELDS if _same(saved.get(f)) != _same(fields.get(f))]
        if diff:
            detail = ", ".join(f"{f} = {saved.get(f)!r}" for f in diff[:3])
            raise UserError(f"The run folder {run_root} was set up with {detail}, which these "
                            "parameters do not say; use the same parameters in every run of "
                            "notebook 01 and `helpers report` on a folder (or leave them at "
                            "their defaults), or choose another run_dir.")
    new = {**fields, "run_dir": str(run_root)}
    if saved != new:
        write_json_atomic(saved_path, new)


def _same(value: Any) -> Any:
    """A parameter as compared between notebooks: paths resolved, the rest as it is."""
    if isinstance(value, str) and ("/" in value or value.startswith((".", "~"))):
        return str(Path(value).expanduser().resolve())
    return value


def read_json_object(path: Path) -> dict[str, Any]:
    """setup.json or current.json, or one sentence saying to start the run again."""
    return io.read_json_object(path, fix="delete it and run notebook 01 again")
