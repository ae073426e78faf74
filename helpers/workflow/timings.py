"""Wall time of the steps of a run, kept in `<run>/timings.json` so that a smoke run's
forecast covers the whole job: decoding (per video), evaluation (per video scored) and the
analysis notebooks and PDF (as measured), besides training (from metrics.csv).

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> add(root, "evaluate clip", seconds=2.0, count=4); add(root, "evaluate clip", 1.0, 2)
>>> read(root)["evaluate clip"]
Step(seconds=3.0, count=6)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from helpers.utils.io import write_json_atomic

TIMINGS_JSON = "timings.json"


@dataclass(frozen=True)
class Step:
    seconds: float
    count: int  # what the step processed: videos decoded or scored; 1 for a notebook

    @property
    def per_item(self) -> float:
        return self.seconds / max(1, self.count)


def read(run_root: Path) -> dict[str, Step]:
    path = Path(run_root) / TIMINGS_JSON
    try:
        raw = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}  # a damaged file only costs the forecast
    return {k: Step(float(v["seconds"]), int(v["count"])) for k, v in raw.items()
            if isinstance(v, dict) and {"seconds", "count"} <= set(v)}


def add(run_root: Path, name: str, seconds: float, count: int, *, replace: bool = False) -> None:
    """Add a measurement to step `name` (or replace it)."""
    steps = read(run_root)
    old = steps.get(name)
    if old is not None and not replace:
        seconds, count = old.seconds + seconds, old.count + count
    steps[name] = Step(seconds, count)
    write_json_atomic(Path(run_root) / TIMINGS_JSON,
                      {k: {"seconds": v.seconds, "count": v.count} for k, v in steps.items()})
