"""The notebooks' parameters, set once per run.

The first notebook of a run writes its parameters into the run folder (`setup.json`) and
names the run in runs/current.json; a notebook left at its defaults reuses that run, and one
whose parameters disagree with its run folder is refused. In JupyterLab the parameters are
therefore edited in notebook 01 only.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helpers.errors import UserError
from helpers.paths import RUNS_DIR
from helpers.utils.io import write_json_atomic

if TYPE_CHECKING:
    from helpers.workflow.pipeline import Setup

SETUP_JSON = "setup.json"  # in the run folder: the parameters it was set up with
CURRENT_RUN = "current.json"  # in runs/: the run a notebook with default parameters reuses
# The parameters that decide what a run computes; the others (cpu, batch_size, accum_steps,
# amp, stores_dir, download_weights) may change between the notebooks of one run.
RUN_FIELDS = ("profile", "data_dir", "splits_dir", "split", "fast", "smoke", "weights",
              "imagenet_weights", "norm", "protocol")


def notebook_setup(namespace: Mapping[str, Any]) -> Setup:
    """The Setup of a notebook, set once per run.

    The first notebook of a run writes its parameters into the run folder (`setup.json`) and
    names the run in runs/current.json. A notebook whose parameters are all at their
    defaults then reuses that run (so in JupyterLab they are edited in notebook 01 only); one
    whose parameters disagree with its run folder's is refused in one sentence.
    """
    from helpers.workflow.pipeline import Setup, run_paths

    given = Setup.from_namespace(namespace)
    current = RUNS_DIR / CURRENT_RUN
    if given == Setup() and current.is_file():
        pinned = read_json_object(current).get("run", "")
        if pinned and (Path(pinned) / SETUP_JSON).is_file():
            setup = Setup.from_namespace(read_json_object(Path(pinned) / SETUP_JSON))
            print(f"parameters: the run set up last, {pinned} (profile {setup.profile}); set "
                  "them here to choose another", flush=True)
            return setup
    run = run_paths(given)
    saved_path = run.root / SETUP_JSON
    if saved_path.is_file():
        saved = Setup.from_namespace(read_json_object(saved_path))
        diff = [f for f in RUN_FIELDS if _same(getattr(saved, f)) != _same(getattr(given, f))]
        if diff:
            detail = ", ".join(f"{f} = {getattr(saved, f)!r}" for f in diff[:3])
            raise UserError(f"The run folder {run.root} was set up with {detail}, which this "
                            "notebook's parameters do not say; use the same parameters in "
                            "every notebook of a run (or leave them at their defaults after "
                            "notebook 01), or choose another run_dir.")
    else:
        write_json_atomic(saved_path, {**dataclasses.asdict(given), "run_dir": str(run.root)})
    write_json_atomic(current, {"run": str(run.root)})
    return given


def _same(value: Any) -> Any:
    """A parameter as compared between notebooks: paths resolved, the rest as it is."""
    if isinstance(value, str) and ("/" in value or value.startswith((".", "~"))):
        return str(Path(value).expanduser().resolve())
    return value


def read_json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"Cannot read {path} ({type(exc).__name__}); delete it and run "
                        "notebook 01 again.") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} is not a JSON object; delete it and run notebook 01 again.")
    return data
