"""The run folders of a summary over splits: which split each holds, whether it finished,
which PDF record describes it (`collect`), and whether the runs may be compared at all
(`check_consistent`: the same recipe, protocol, pretrained weights by SHA-256 and code version,
else a refusal naming the field). Reads records only: no GPU, no data, no stores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.config import TrainConfig
from helpers.errors import UserError
from helpers.paths import RunPaths
from helpers.utils.io import read_json_object
from helpers.workflow.provenance import (
    CodeVersion,
    ReportStamp,
    read_code_version,
    read_stamp,
    stamp_path,
)

EXPECTED_SPLITS = (1, 2, 3)
# Options that never change the weights (helpers.training.runs.FREE_OPTIONS); the pretrained
# file's path, which may differ between machines (the weights compare by hash); and three
# crops, which each split chooses on its own validation groups, as it chooses its fusion.
_NOT_RECIPE = ("num_workers", "eval_batch_size", "download_weights", "compile", "weights",
               "three_crop")


# ----------------------------------------------------------------------------- run folders
@dataclass(frozen=True, kw_only=True)
class SplitRun:
    """One split's finished run folder, as the summary reads it."""

    split: int
    root: Path
    profile: str
    protocol: str
    fast: bool
    smoke: bool
    synthetic: bool
    recipe: dict[str, TrainConfig]  # frame/clip -> the reported model's config
    weights: dict[str, str | None]  # frame/clip -> SHA-256 of the pretrained file
    code: CodeVersion | None
    report_json: Path | None  # the PDF's record that was read; None: no PDF rendered yet
    stamp: ReportStamp | None = None

    @property
    def paths(self) -> RunPaths:
        return RunPaths(self.root, self.protocol)


@dataclass(frozen=True)
class Absent:
    """A split the summary lacks, and why, in one sentence."""

    split: int
    root: Path | None
    why: str
    unfinished: bool = False

    def sentence(self) -> str:
        return f"Split {self.split} is {'unfinished' if self.unfinished else 'missing'}: {self.why}."


@dataclass(frozen=True)
class RunSet:
    """The run folders of a summary: the finished splits and the absent ones."""

    runs: list[SplitRun]
    absent: list[Absent]
    expected: tuple[int, ...] = EXPECTED_SPLITS

    @property
    def splits(self) -> list[int]:
        return [r.split for r in self.runs]

    @property
    def complete(self) -> bool:
        return not self.absent

    def scope(self) -> str:
        """Which splits a mean covers, saying when it is fewer than expected."""
        names = _join(self.splits)
        if self.complete:
            return f"split{'s' if len(self.runs) > 1 else ''} {names}"
        lacking = _join([a.split for a in self.absent])
        return (f"split{'s' if len(self.runs) > 1 else ''} {names} only ({len(self.runs)} of "
                f"{len(self.expected)}; split{'s' if len(self.absent) > 1 else ''} {lacking} "
                "absent)")


def _join(items: Sequence[Any]) -> str:
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def find_report_json(root: Path, report_dir: Path | None = None) -> tuple[Path | None,
                                                                          ReportStamp | None]:
    """The record of the PDF rendered from run `root`: the copy in the run folder, else one in
    `report_dir` that names this run. (None, None) when no PDF was rendered yet."""
    candidates = sorted(root.glob("report*.json"))
    if report_dir is not None and report_dir.is_dir():
        candidates += sorted(report_dir.glob("report*.json"))
    for record in candidates:
        pdf = record.with_suffix(".pdf")
        stamp = read_stamp(pdf) if pdf.is_file() else None
        if stamp is None:
            continue
        run = Path(stamp.run)
        if record.parent == root or (run if run.is_absolute() else Path.cwd() / run).resolve() \
                == root.resolve():
            return stamp_path(pdf), stamp
    return None, None


def load_run(root: str | Path, *, report_dir: Path | None = None) -> SplitRun | Absent:
    """The run folder `root` as a `SplitRun`, or why it cannot be summarised (`Absent`)."""
    from helpers.training.records import CONFIG_JSON, RunRecord
    from helpers.training.weights_record import WeightsRecord
    from helpers.workflow.parameters import SETUP_JSON

    root = Path(root).expanduser().absolute()
    if not (root / SETUP_JSON).is_file():
        what = "does not exist" if not root.is_dir() else f"has no {SETUP_JSON}"
        return Absent(0, root, f"the run folder {root} {what}")
    setup = read_json_object(root / SETUP_JSON,
                             fix="delete it and run that split's `make report` again")
    split = int(setup.get("split", 1))
    again = f"rerun `make report SPLIT={split}` to finish it (finished work is reused)"
    protocol = str(setup.get("protocol") or "")
    run = RunPaths(root, protocol)
    for kind in ("frame", "clip"):
        for subset in ("val", "test"):
            if not run.predictions(kind, subset).is_file():
                return Absent(split, root, f"{root} has no {subset} predictions of the {kind} "
                              f"model yet; {again}", unfinished=True)
    if not (root / "notebooks" / "04_report.ipynb").is_file():
        return Absent(split, root, f"notebook 04 of {root} has not finished; {again}",
                      unfinished=True)
    recipe = {}
    for kind in ("frame", "clip"):
        path = run.model_dir(kind) / CONFIG_JSON
        if not path.is_file():
            return Absent(split, root, f"{path} is missing; {again}", unfinished=True)
        recipe[kind] = RunRecord.read(run.model_dir(kind), fix=(
            f"run split {split} again in a new run folder, or leave it out of the summary")).config
    pretrained = WeightsRecord.read(root)
    weights = {k: (w.sha256 if (w := pretrained.get(k)) else None) for k in ("frame", "clip")}
    record, stamp = find_report_json(root, report_dir)
    synthetic = stamp.synthetic if stamp is not None else not setup.get("data_dir")
    return SplitRun(split=split, root=root, profile=str(setup.get("profile", "")),
                    protocol=protocol, fast=bool(setup.get("fast")),
                    smoke=bool(setup.get("smoke")), synthetic=bool(synthetic), recipe=recipe,
                    weights=weights, code=read_code_version(root), report_json=record,
                    stamp=stamp)


def collect(roots: Sequence[str | Path], *, expected: Sequence[int] = EXPECTED_SPLITS,
            default_roots: dict[int, Path] | None = None,
            report_dir: Path | None = None) -> RunSet:
    """The `RunSet` of the run folders `roots`: each split at most once; a split of
    `expected` that no folder holds is absent (named with `default_roots[split]`, the folder
    where `make report SPLIT=k` would put it, when given)."""
    runs: dict[int, SplitRun] = {}
    absent: list[Absent] = []
    unknown = []
    for root in roots:
        got = load_run(root, report_dir=report_dir)
        if isinstance(got, Absent) and got.split == 0:
            unknown.append(got)
            continue
        if got.split in runs or any(a.split == got.split for a in absent):
            raise UserError(f"Two run folders hold split {got.split} ({got.root} and "
                            f"{runs[got.split].root if got.split in runs else 'another'}); "
                            "pass one run folder per split.")
        if isinstance(got, Absent):
            absent.append(got)
        else:
            runs[got.split] = got
    for split in expected:
        if split in runs or any(a.split == split for a in absent):
            continue
        where = (default_roots or {}).get(split)
        if where is not None:
            why = (f"its run folder {where} does not exist; run `make report SPLIT={split}`")
        elif unknown:  # the folder given for it (most likely) is not a run folder
            why = unknown.pop(0).why
        else:
            why = (f"no run folder given holds it; add it to `--runs` or run "
                   f"`make report SPLIT={split}`")
        absent.append(Absent(split, where, why))
    for extra in unknown:
        raise UserError(f"{extra.why[0].upper()}{extra.why[1:]}; pass finished run folders.")
    if not runs:
        raise UserError("No finished split to summarise: " + " ".join(
            a.sentence() for a in sorted(absent, key=lambda a: a.split)))
    return RunSet(sorted(runs.values(), key=lambda r: r.split),
                  sorted(absent, key=lambda a: a.split), tuple(expected))


# ----------------------------------------------------------------------------- consistency
@dataclass(frozen=True)
class SharedField:
    """One field every split of a summary shares (it was checked), as people read it."""

    field: str
    value: str


def _fields(run: SplitRun) -> dict[str, tuple[Any, str]]:
    """field -> (value compared, value shown)."""
    mode = "fast" if run.fast else "smoke" if run.smoke else "full"
    out: dict[str, tuple[Any, str]] = {
        "profile": (run.profile, run.profile),
        "protocol": (run.protocol, run.protocol),
        "configuration": (mode, mode),
        "data": ("synthetic" if run.synthetic else "UCF-101",) * 2,
    }
    for kind in ("frame", "clip"):
        cfg = run.recipe[kind]
        recipe = {k: v for k, v in cfg.to_dict().items() if k not in _NOT_RECIPE}
        out[f"recipe of the {kind} model"] = (recipe, f"{cfg.arch}, {cfg.num_epochs} epochs, "
                                                      f"batch {cfg.batch_size}")
        sha = run.weights.get(kind)
        out[f"pretrained weights of the {kind} model (SHA-256)"] = (
            sha, sha[:12] + "…" if sha else "none (trained from scratch)")
    code = run.code
    out["code version"] = (code.source_sha256 if code else None,
                           code.describe() if code else "not recorded")
    return out


def _detail(a: Any, b: Any) -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        return ", ".join(f"{k}: {a.get(k)!r} vs {b.get(k)!r}" for k in keys[:3])
    return f"{a!r} vs {b!r}"


def check_consistent(runs: Sequence[SplitRun]) -> list[SharedField]:
    """The fields every run shares; runs that differ in one are refused, naming it."""
    for run in runs:
        if run.code is None:
            raise UserError(
                f"Split {run.split}'s run {run.root} has no record of its code version "
                f"(code.json), so it cannot be checked against the other splits; rerun `make "
                f"report SPLIT={run.split}`, which reuses its work and records it.")
    first = runs[0]
    ref = _fields(first)
    for run in runs[1:]:
        for name, (value, _) in _fields(run).items():
            if value != ref[name][0]:
                raise UserError(
                    f"Split {run.split} ({run.root}) and split {first.split} ({first.root}) "
                    f"differ in {name} ({_detail(value, ref[name][0])}); the summary does not "
                    "mix runs that differ: rerun one split with the other's options and code.")
    return [SharedField(name, shown) for name, (_, shown) in ref.items()]
