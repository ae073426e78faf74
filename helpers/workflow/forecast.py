"""What a full run will need, forecast at the end of a smoke run: disk for the stores, from
the full dataset's frame counts and measured bytes per frame, and time per epoch, from the
training rates the smoke run measured on this hardware."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from helpers.config import get_profile
from helpers.data.store import human_bytes
from helpers.errors import UserError
from helpers.workflow.pipeline import STAGES, Setup, data_paths, run_paths, train_config

if TYPE_CHECKING:
    from helpers.data.space import SpaceNeed
    from helpers.workflow.timings import Step


@dataclass(frozen=True)
class ModelForecast:
    kind: str
    items_per_epoch: int  # frames (frame model) or clips (clip model) of one full epoch
    items_per_s: float | None  # measured in the smoke run, at its batch size; None: not run
    epochs: int  # over all stages of the protocol
    stages: int = 1  # refit: the held-out model, then the reported one

    @property
    def seconds_per_epoch(self) -> float | None:
        return self.items_per_epoch / self.items_per_s if self.items_per_s else None


@dataclass(frozen=True)
class StepForecast:
    """A step besides training: its measured time in the smoke run, scaled to the full run."""
    name: str
    seconds: float | None  # None: the smoke run did not measure it
    basis: str  # how it was scaled


@dataclass(frozen=True)
class Forecast:
    """What the full run that a smoke run rehearsed will need."""
    disk: list[SpaceNeed]  # one per filesystem the stores go to
    models: list[ModelForecast]
    steps: list[StepForecast] = field(default_factory=list)
    head_cache_bytes: int | None = None  # the temporal head's feature cache in the run folder

    @property
    def total_seconds(self) -> float | None:
        """The whole job: preparing, training, evaluating, the analysis and the PDF (the
        PDF aside where the node has no TeX); None while a part has no measurement."""
        parts = [m.seconds_per_epoch and m.seconds_per_epoch * m.epochs for m in self.models]
        parts += [s.seconds for s in self.steps]
        return None if any(p is None for p in parts) else float(sum(parts))  # type: ignore[arg-type]


# The time to ask the scheduler for: the forecast with room for a slower node and a slower
# filesystem; a job that runs out anyway is requeued and resumes (scripts/cluster/).
MARGIN = 1.5


def request_time(seconds: float) -> str:
    """The forecast with its margin, rounded up to the half hour, as HH:MM:SS.

    >>> request_time(3 * 3600)
    '04:30:00'
    """
    half_hours = -(-seconds * MARGIN // 1800)
    minutes = int(half_hours * 30)
    return f"{minutes // 60:02d}:{minutes % 60:02d}:00"


def forecast(setup: Setup) -> Forecast:
    """The disk and time that the full run of this smoke run's setup will need."""
    from helpers.data.prepare import estimate_stores
    from helpers.data.splits import load_split_data

    if not setup.smoke:
        raise UserError("A forecast comes from a smoke run; pass --smoke.")
    prof = get_profile(setup.profile)
    full = data_paths(setup.replace(smoke=False))
    outs = {prof.frame_short_side: full.frame_store, prof.clip_short_side: full.clip_store}
    disk = estimate_stores(full.source, full.splits, outs)
    run = run_paths(setup)
    models = []
    for kind in ("frame", "clip"):
        cfg = train_config(setup.replace(smoke=False), kind)
        split = load_split_data(full.splits, setup.split, cfg.val_groups)
        per_video = cfg.frames_per_video if kind == "frame" else 1
        stages = STAGES if setup.protocol == "refit" else STAGES[:1]
        rate = measured_rate(run.model_dir(kind, "holdout"))
        # the refit model sees the held-out groups too; the held-out one does not
        items = len(split.train_ids) * per_video
        all_items = (len(split.train_ids) + len(split.val_ids)) * per_video
        models.append(ModelForecast(kind, all_items if len(stages) > 1 else items, rate,
                                    cfg.num_epochs * len(stages), len(stages)))
    return Forecast(disk, models, steps=other_steps(setup, full.splits),
                    head_cache_bytes=head_cache(setup, full.splits))


def other_steps(setup: Setup, splits: Path) -> list[StepForecast]:
    """Decoding, evaluation, and the analysis with the PDF, from the smoke run's timings."""
    from helpers.data.splits import load_split_data
    from helpers.workflow import timings

    run = run_paths(setup)
    measured = timings.read(run.root)
    smoke = load_split_data(data_paths(setup).splits, setup.split,
                            train_config(setup, "frame").val_groups)
    full = load_split_data(splits, setup.split, train_config(setup, "frame").val_groups)
    n_full = len(full.train_ids) + len(full.val_ids) + len(full.test_ids)
    n_scored_smoke = len(smoke.val_ids) + len(smoke.test_ids)
    n_scored_full = len(full.val_ids) + len(full.test_ids)
    out = []
    prep = measured.get("prepare")
    out.append(StepForecast("decoding the videos into the stores",
                            prep.per_item * n_full if prep else None,
                            f"{n_full:,} videos at the smoke run's time per video"))
    for kind in ("frame", "clip"):
        ev = measured.get(f"evaluate {kind}")
        # the same evaluations (validation, test, crops, probes) on every scored video
        scale = n_scored_full / max(1, n_scored_smoke)
        out.append(StepForecast(f"evaluating the {kind} model",
                                ev.seconds * scale if ev else None,
                                f"{n_scored_full:,} validation and test videos, the same "
                                "passes as the smoke run"))
    head = measured.get("head")
    out.append(StepForecast("the temporal head (features and candidates)",
                            head.per_item * n_full if head else None,
                            f"{n_full:,} videos at the smoke run's time per video"))
    out.append(analysis_step(measured))
    return out


def analysis_step(measured: Mapping[str, Step]) -> StepForecast:
    """Notebooks 03 and 04 with the PDF, as the smoke run took them. A smoke run on a node
    without TeX renders no PDF; neither will the full job there (the PDF is rendered later,
    on a login node), so the step is the notebooks alone and the job still gets its total.

    >>> from helpers.workflow.timings import Step
    >>> analysis_step({"notebook 03_fusion_analysis": Step(20.0, 1),
    ...                "notebook 04_report": Step(40.0, 1)}).name
    'the analysis (the PDF aside: it is rendered later, where TeX is)'
    """
    notebooks = [measured.get(k) for k in ("notebook 03_fusion_analysis", "notebook 04_report")]
    render = measured.get("render")
    basis = "as measured here (101 classes take somewhat longer)"
    if not all(notebooks):
        return StepForecast("the analysis and the PDF", None, basis)
    seconds = sum(n.seconds for n in notebooks if n)
    if render is None:
        return StepForecast("the analysis (the PDF aside: it is rendered later, where TeX is)",
                            seconds, basis)
    return StepForecast("the analysis and the PDF", seconds + render.seconds, basis)


def head_cache(setup: Setup, splits: Path) -> int | None:
    """Bytes of the temporal head's feature cache in the full run: every training and test
    video's features under the frame model, the training videos' twice under `refit` (the
    held-out and the reported frame model), at the feature width of the smoke run's model."""
    from helpers.data.splits import load_split_data
    from helpers.training.features import cache_bytes, cache_path, load_features
    from helpers.workflow.head_step import head_config, head_dir

    run = run_paths(setup)
    sample = cache_path(head_dir(run), run.model_dir("frame"), "test")
    if not sample.is_file():
        return None
    dim = load_features(sample).feature_dim
    split = load_split_data(splits, setup.split, train_config(setup, "frame").val_groups)
    training = len(split.train_ids) + len(split.val_ids)
    videos = training * (2 if setup.protocol == "refit" else 1) + len(split.test_ids)
    return cache_bytes(videos, head_config(setup.replace(smoke=False)).frames, dim)


def measured_rate(run_dir: Path) -> float | None:
    """The training rate of the smoke run's last epoch; None if this model was not trained
    (e.g. `report --smoke --only 02`)."""
    path = run_dir / "metrics.csv"
    if not path.exists():
        return None
    try:
        with open(path) as f:
            rows = list(csv.DictReader(f))
        return float(rows[-1]["train_items_per_s"])
    except (OSError, KeyError, IndexError, ValueError):
        raise UserError(f"{path} holds no training rate; rerun the smoke run to finish "
                        "it.") from None


def format_forecast(result: Forecast) -> str:
    lines = ["what the full run will need (forecast from this smoke run):"]
    for need in result.disk:
        stores = ", ".join(p.name for p in need.stores)
        lines.append(f"  disk: {human_bytes(need.store_bytes)} for {stores} in {need.folder}; "
                     f"{human_bytes(need.need)} at the peak of `prepare`")
    if result.head_cache_bytes is not None:
        lines.append(f"  temporal head: {human_bytes(result.head_cache_bytes)} of cached "
                     "features in the run folder")
    for m in result.models:
        if m.seconds_per_epoch is None:
            lines.append(f"  {m.kind} model: {m.items_per_epoch:,} items per epoch; no time "
                         "forecast, as this smoke run did not train it (run its notebook too)")
            continue
        total = m.seconds_per_epoch * m.epochs
        span = f"{m.epochs} epochs" + (f" over its {m.stages} training stages" if m.stages > 1
                                       else "")
        lines.append(f"  {m.kind} model: {m.items_per_epoch:,} items per epoch at "
                     f"{m.items_per_s:,.1f}/s measured here = {_duration(m.seconds_per_epoch)} "
                     f"per epoch, {_duration(total)} for {span} (smoke batches are "
                     "small, so a GPU at full batch size is usually faster)")
    for step in result.steps:
        if step.seconds is None:
            lines.append(f"  {step.name}: not measured by this smoke run")
        else:
            lines.append(f"  {step.name}: {_duration(step.seconds)} ({step.basis})")
    total = result.total_seconds
    if total is not None:
        lines.append(f"  the whole job: about {_duration(total)}; request "
                     f"{request_time(total)} (sbatch --time, PBS walltime; {MARGIN:g}x for "
                     "a slower node; a job that runs out is requeued and resumes)")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
