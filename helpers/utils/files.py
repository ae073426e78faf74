"""Small file chores several commands share: a symlink whose folders are made, and a JSON
file read leniently (a missing or damaged file is "nothing known yet", not an error).

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> read_json(folder / "absent.json", default={})
{}
>>> (folder / "a.json").write_text('{"n": 1}') and read_json(folder / "a.json")
{'n': 1}
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def link(target: Path, link_path: Path) -> None:
    """A symlink at `link_path` to `target` (absolute), creating the folders it goes in."""
    link_path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(Path(target).resolve(), link_path)


def read_json(path: Path, default: Any = None) -> Any:
    """The JSON in `path`, or `default` when it is missing, unreadable or not JSON."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return default
