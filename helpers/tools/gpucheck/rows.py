"""The GPU check's table rows: each step lists its rows before it runs anything and saves them
(WORK/<step>.json) after each one finishes, so a step stopped by its timeout still shows what
it did and what it did not get to. Rows are named objects, filled in as results arrive.

>>> row = Row("loader:frame", "FrameDataset, 2 workers", "frame store")
>>> Row.from_json(row.to_json()) == row and row.ok is None
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.utils.io import write_json_atomic


@dataclass
class Row:
    """One table row; `ok` None means not finished (the step was stopped before it)."""
    key: str
    check: str
    setting: str
    result: str = "did not finish"
    ok: bool | None = None
    order: tuple[int, ...] = (0,)  # its place in the table: (block, ...)
    tflops: float | None = None
    share: str = "–"  # of the bf16 dense peak

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "order": list(self.order)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Row:
        return cls(**{**data, "order": tuple(data.get("order", (0,)))})


class StepTable:
    """A step's rows, saved to `path` when listed and after each change."""

    def __init__(self, path: Path, rows: Sequence[Row]) -> None:
        self.path, self.rows = path, list(rows)
        self.save()

    def save(self) -> None:
        write_json_atomic(self.path, {"rows": [r.to_json() for r in self.rows]})

    def set(self, row: Row, **changes: Any) -> None:
        """Fill in `row` (one of this table's) and save the table."""
        for name, value in changes.items():
            if not hasattr(row, name):
                raise AttributeError(f"a table row has no field {name!r}")
            setattr(row, name, value)
        self.save()


def read_rows(data: Mapping[str, Any]) -> list[Row]:
    """The rows of a step's saved table (WORK/<step>.json)."""
    return [Row.from_json(r) for r in data["rows"]]


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def tflops_text(tflops: float | None) -> str:
    if tflops is None:
        return "–"
    return f"{tflops:.1f}" if tflops >= 1 else f"{tflops:.3f}"


def failure_text(exc: BaseException) -> str:
    """A row's result for a step part that raised: the exception's type and first line."""
    text = str(exc).strip().splitlines()
    return f"failed: {type(exc).__name__}" + (f": {text[0][:200]}" if text else "")
