"""What `prepare` reports for one store, and writes beside it as `STORE.report.json`: the
totals, the videos it could not read (and why), warnings, and the run's throughput.

The JSON keeps the keys it always had, so reports written before still load; a key a report
lacks (one rebuilt from a finished store after a kill has no throughput) reads as None and
is left out again when written.

>>> r = StoreReport(store="s.h5", source="src", videos_total=2, videos_ok=1, frames=9,
...                 bytes=900, failures=(VideoIssue("v_A", "src/v_A.avi", "empty file"),))
>>> StoreReport.from_json(r.to_json()) == r
True
>>> sorted(r.to_json())[:4]
['bytes', 'failures', 'frames', 'source']
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.errors import UserError
from helpers.utils.io import write_json_atomic


@dataclass(frozen=True)
class VideoIssue:
    """A video that failed (or decoded with a warning), as the report and the store list it."""

    name: str
    path: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "path": self.path, "reason": self.reason}

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> VideoIssue:
        return cls(str(entry.get("name", "")), str(entry.get("path", "")),
                   str(entry.get("reason", "")))


def issues_from_json(entries: Any) -> tuple[VideoIssue, ...]:
    return tuple(VideoIssue.from_json(e) for e in entries or ())


def issues_to_json(issues: tuple[VideoIssue, ...]) -> list[dict[str, str]]:
    return [i.to_json() for i in issues]


@dataclass(frozen=True)
class DecodeRate:
    """This run's decode pass: wall time and throughput (0 when nothing was left to decode)."""

    decode_seconds: float
    videos_per_s: float
    frames_per_s: float


# Fields written only when known, in the order the report has always had them.
_ISSUE_FIELDS = ("failures", "warnings")


@dataclass(frozen=True, kw_only=True)
class StoreReport:
    """One store's report. The fields after `warnings` (and `source_kind`, `splits`) are None
    in a report rebuilt from a finished store."""

    store: str
    source: str | None
    source_kind: str | None = None
    splits: str | None = None
    videos_total: int
    videos_ok: int
    frames: int
    bytes: int
    failures: tuple[VideoIssue, ...] = ()
    warnings: tuple[VideoIssue, ...] = ()
    height: int | None = None
    width: int | None = None
    short_side: int | None = None
    quality: int | None = None
    resumed: int | None = None  # videos whose parts an earlier run had made
    processed: int | None = None  # videos this run decoded
    workers: int | None = None
    decode_seconds: float | None = None
    videos_per_s: float | None = None
    frames_per_s: float | None = None
    seconds: float | None = None  # the whole call, checks and assembly included

    def to_json(self) -> dict[str, Any]:
        """The report as STORE.report.json holds it."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in _ISSUE_FIELDS:
                out[f.name] = issues_to_json(value)
            elif value is not None or f.name == "source":
                out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StoreReport:
        """A report as written (now or by an earlier version); unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)} - set(_ISSUE_FIELDS)
        known = {k: v for k, v in data.items() if k in names}
        return cls(**known, failures=issues_from_json(data.get("failures")),
                   warnings=issues_from_json(data.get("warnings")))

    def with_run(self, rate: DecodeRate, **counts: Any) -> StoreReport:
        """This report with the run's throughput and counts (resumed, processed, workers,
        seconds) filled in."""
        return dataclasses.replace(self, **dataclasses.asdict(rate), **counts)


def write_report(report: StoreReport, path: str | os.PathLike) -> None:
    write_json_atomic(path, report.to_json())


def read_report(path: str | os.PathLike) -> StoreReport:
    """The report at `path`; UserError in one sentence when it is not one."""
    try:
        return StoreReport.from_json(json.loads(Path(path).read_text()))
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise UserError(f"{path} is not a store report ({exc}); delete it and rerun the same "
                        f"`python -m helpers prepare` command to write it again.") from None
