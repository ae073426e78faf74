"""The assignment's steps as resumable calls, shared by the notebooks and `helpers report`.

A `Setup` holds what a user chooses (notebook 01's parameters cell, the CLI's flags); the
steps take it and skip work that is already done (the benchmark, the stores, finished
trainings, existing predictions files), so a killed `make report` restarts where it stopped.

Protocol (the setup's `protocol`, by default the profile's): models trained without the
held-out training groups give the validation predictions on which fusion and every other
choice is fitted. Under `refit` the reported models are then trained again on every training
video, with the held-out models' number of epochs and learning-rate schedule, so that what
was fitted on a held-out model's final checkpoint is carried over to the model that
reproduces it; under `holdout` (the CPU demo's default, to fit its time budget) the held-out
models are the reported ones.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from helpers.config import TrainConfig, get_profile
from helpers.data.sampling import PROBES
from helpers.errors import UserError
from helpers.evaluation.choices import Choices, CropChoice, FittedOn
from helpers.paths import DATA_DIR, RUNS_DIR, STAGES, DataPaths, RunPaths
from helpers.training.weights_record import WeightsRecord
from helpers.utils.io import atomic_path
from helpers.workflow import launch
from helpers.workflow.parameters import (
    CURRENT_RUN,
    RUN_FIELDS,
    SETUP_JSON,
    current_run,
    pin,
    recorded,
)
from helpers.workflow.protocol import NUM_EPOCHS_RULE, check_protocol, reported_config
from helpers.workflow.setup import EPOCHS_FROM_VALIDATION, Setup, batch_sizes
from helpers.workflow.smoke import SMOKE_CLASSES, SMOKE_VIDEOS, write_smoke_splits
from helpers.workflow.weights import record_weights as _record

# The notebooks' one import: the steps, and the records and names they hand around.
__all__ = [
    "Setup",
    "DataPaths",
    "RunPaths",
    "CURRENT_RUN",
    "SETUP_JSON",
    "EPOCHS_FROM_VALIDATION",
    "NUM_EPOCHS_RULE",
    "SMOKE_CLASSES",
    "SMOKE_VIDEOS",
    "write_smoke_splits",
    "FAST_SYNTH",
    "FAST_TRAIN",
    "SMOKE_TRAIN",
    "SMOKE_BATCH",
    "record_weights",
    "notebook_setup",
    "run_setup",
    "run_paths",
    "train_config",
    "check_weights",
    "data_paths",
    "prepare_data",
    "train_model",
    "evaluate_model",
    "evaluate_step",
    "choose_three_crop",
]

# Tiny settings for tests (`fast=True`): the whole pipeline in a minute or two.
FAST_SYNTH = dict(size=(64, 48), num_frames=16, videos_per_group=1)
FAST_TRAIN = dict(num_epochs=2, frames_per_video=1, eval_frames=4, val_max_items=64,
                  num_workers=0)
# A smoke run (`smoke=True`): the real data, weights and sizes, a few steps of each model
# on a few videos of a few classes, to check the whole path before the long run.
SMOKE_TRAIN = dict(num_epochs=1, warmup_epochs=0.0, frames_per_video=2, eval_frames=4,
                   val_max_items=16, eval_batch_size=8)
SMOKE_BATCH = {"frame": 8, "clip": 4}


def record_weights(setup: Setup, run: RunPaths) -> WeightsRecord:
    """What each model's pretrained file is, recorded in the run (`weights.json`)."""
    return _record({kind: train_config(setup, kind) for kind in ("frame", "clip")}, run)


def notebook_setup(namespace: Mapping[str, Any]) -> Setup:
    """The Setup of a notebook, set once per run (`helpers.workflow.parameters`): a notebook
    left at its defaults reuses the run set up last; one whose parameters disagree with its
    run folder's is refused in one sentence."""
    given = Setup.from_namespace(namespace)
    saved = current_run() if given == Setup() else None
    if saved is not None:
        setup = Setup.from_namespace(saved)
        print(f"parameters: the run set up last, {setup.run_dir} (profile {setup.profile}); "
              "set them here to choose another", flush=True)
        return setup
    pin(dataclasses.asdict(given), run_paths(given).root)
    return given


def run_setup(run_dir: str = "", **overrides: Any) -> Setup:
    """The Setup of notebooks 02-04: the one recorded in the run folder `run_dir` (empty: the
    run set up last, runs/current.json) by notebook 01 or `helpers report`, with `overrides`
    of fields that may change between the notebooks of a run (empty or 0: as recorded)."""
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(Setup)})
    if unknown:
        raise UserError(f"Unknown parameter(s) {', '.join(unknown)}; the fields of "
                        "pipeline.Setup can be given.")
    fixed = sorted(set(overrides) & set(RUN_FIELDS))
    if fixed:
        raise UserError(f"{', '.join(fixed)} decide what a run computes; set them in notebook "
                        "01, which records them for the notebooks after it.")
    root, saved = recorded(run_dir)
    given = {k: v for k, v in overrides.items() if v not in ("", 0, None)}
    setup = Setup.from_namespace({**saved, **given, "run_dir": str(root)})
    if not run_dir:
        print(f"parameters: the run set up last, {root} (profile {setup.profile}, split "
              f"{setup.split}); set run_dir to choose another", flush=True)
    return setup


def run_paths(setup: Setup) -> RunPaths:
    """The run folder: `run_dir` if given, else
    runs/<profile>[-<protocol>][-fast|-smoke][-split<k>], the protocol named when it is not
    the profile's and split 1 without a suffix, so runs of different protocols or splits
    never reuse each other's models."""
    if setup.run_dir:
        return RunPaths(Path(setup.run_dir).resolve(), setup.protocol)
    other = setup.protocol != get_profile(setup.profile).protocol
    name = (setup.profile + (f"-{setup.protocol}" if other else "")
            + ("-fast" if setup.fast else "") + ("-smoke" if setup.smoke else "")
            + (f"-split{setup.split}" if setup.split != 1 else ""))
    return RunPaths(RUNS_DIR / name, setup.protocol)


# ----------------------------------------------------------------------------- configs
def train_config(setup: Setup, kind: str, stage: str = "holdout") -> TrainConfig:
    """The recipe of `kind` for a stage: the profile's config with the setup's weights and
    sizes; the reported model of a `refit` run trains on every training video."""
    prof = get_profile(setup.profile)
    cfg = prof.config(kind)  # type: ignore[arg-type]
    changes: dict[str, Any] = {}
    if setup.fast:
        changes.update({k: v for k, v in FAST_TRAIN.items()
                        if not (k in ("frames_per_video", "eval_frames") and kind == "clip")})
    if setup.smoke:
        changes.update({k: v for k, v in SMOKE_TRAIN.items()
                        if not (k in ("frames_per_video", "eval_frames") and kind == "clip")})
        changes.update(batch_size=SMOKE_BATCH[kind], num_workers=min(cfg.num_workers, 2))
    if setup.download_weights:
        changes["download_weights"] = True
    if kind == "clip" and setup.weights:
        changes["weights"] = str(Path(setup.weights).expanduser().resolve())
    if kind == "clip" and setup.norm:
        changes["norm"] = setup.norm
    if kind == "frame" and setup.imagenet_weights:
        changes["weights"] = str(Path(setup.imagenet_weights).expanduser().resolve())
    if kind in batch_sizes(setup.batch_size):
        changes["batch_size"] = batch_sizes(setup.batch_size)[kind]
    if setup.accum_steps:
        changes["accum_steps"] = setup.accum_steps
    if not setup.amp:
        changes["amp"] = False
    if stage == "reported" and setup.protocol == "refit":
        changes["val_groups"] = ()
    return cfg.replace(**changes)


def check_weights(setup: Setup) -> None:
    """Load the pretrained weights of each model still to be trained, before any long step:
    a missing, damaged or mismatched file stops the run now, not after hours spent on the
    other model. A model that finished training no longer needs its file."""
    import torch

    from helpers.training.runs import MODEL
    from helpers.training.train import build_network

    run = run_paths(setup)
    for kind in ("frame", "clip"):
        cfg = train_config(setup, kind)
        if cfg.weights is None or (run.model_dir(kind) / MODEL).is_file():
            continue
        build_network(cfg, 2, torch.device("cpu"))  # the trainer's own loading; any head size
    record_weights(setup, run)


# ----------------------------------------------------------------------------- data
def data_paths(setup: Setup) -> DataPaths:
    """Where the videos, split files and stores of this setup live (creates nothing)."""
    prof = get_profile(setup.profile)
    if setup.data_dir:
        source = Path(setup.data_dir).expanduser().resolve()
        if not source.exists():
            raise UserError(f"The data folder {source} does not exist; pass the folder that "
                            "holds UCF-101/ (or UCF-101-hdf5/), or leave it empty for the demo.")
        synthetic = (source / "classes.json").exists()
        if not synthetic and prof.name == "demo":
            raise UserError(
                f"{source} holds real videos, not the synthetic benchmark (no classes.json), "
                f"but the {prof.name} profile trains the demo's tiny models; add "
                "PROFILE=ucf101 (--profile ucf101, profile = \"ucf101\").")
    else:
        if setup.smoke:
            raise UserError("A smoke run checks your real data: pass the UCF-101 folder "
                            "(--data, DATA=).")
        source = DATA_DIR / ("synthetic-fast" if setup.fast else "synthetic")
        synthetic = True
    if setup.splits_dir:
        splits = Path(setup.splits_dir).expanduser().resolve()
    elif (source / "ucfTrainTestlist").is_dir() or not source.exists():
        splits = source / "ucfTrainTestlist"
    else:
        splits = source
    root = Path(setup.stores_dir).expanduser().resolve() if setup.stores_dir else DATA_DIR / "stores"
    name = source.name + ("-smoke" if setup.smoke else "")
    frame_store = _store_path(root / name, prof.frame_short_side)
    clip_store = _store_path(root / name, prof.clip_short_side)
    if setup.smoke:
        return DataPaths(source, root / name / "ucfTrainTestlist", frame_store, clip_store,
                         synthetic, full_splits=splits)
    return DataPaths(source, splits, frame_store, clip_store, synthetic)


def _store_path(stores: Path, short_side: int | None) -> Path:
    return stores / (f"frames_s{short_side}.h5" if short_side else "frames_native.h5")


def prepare_data(setup: Setup, *, num_workers: int | None = None) -> DataPaths:
    """Find (or, for the demo, generate) the videos and build the store(s) the models read;
    a smoke run first writes split files of a few videos and stores only those."""
    from helpers.data.prepare import prepare_stores
    from helpers.data.splits import find_splits_dir

    prof = get_profile(setup.profile)
    paths = data_paths(setup)
    if not setup.data_dir:
        from helpers.data.synthetic import generate

        summary = generate(paths.source, num_workers=num_workers,
                           **(FAST_SYNTH if setup.fast else {}))
        print(summary.format(), flush=True)
    only = None
    if setup.smoke:
        assert paths.full_splits is not None
        only = write_smoke_splits(paths.source, find_splits_dir(paths.full_splits),
                                  paths.splits, setup.split, prof.config("frame").val_groups)
    splits = find_splits_dir(paths.splits)
    # The missing stores in one decode pass ({short side: path}; one entry when both models
    # read the same store).
    missing = {side: store for store, side in ((paths.frame_store, prof.frame_short_side),
                                               (paths.clip_store, prof.clip_short_side))
               if not store.exists()}
    if missing:
        from helpers.workflow.timings import add

        t0 = time.perf_counter()
        reports = prepare_stores(paths.source, splits, missing, num_workers=num_workers,
                                 only=only)
        add(run_paths(setup).root, "prepare", time.perf_counter() - t0,
            max(r.videos_total for r in reports.values()), replace=True)
    return dataclasses.replace(paths, splits=splits)


# ----------------------------------------------------------------------------- training


def train_model(setup: Setup, kind: str, data: DataPaths, run: RunPaths,
                **overrides: Any) -> Path:
    """Train (or resume, or skip if finished) the `frame` or `clip` model of a run: the
    held-out model, then under `refit` the reported one, which trains the held-out model's
    number of epochs and schedule on every training video. Returns the reported model.

    With `setup.gpus` > 1, or inside a SLURM allocation of several nodes, an unfinished model
    trains under torchrun (`helpers.workflow.launch`) with the same config into the same
    folder; the finished one is then checked here as a rerun's would be."""
    import torch

    from helpers.training.runs import MODEL
    from helpers.training.train import train
    from helpers.utils.device import out_of_memory
    from helpers.utils.environment import check_device

    check_device(setup.profile, needs_gpu=get_profile(setup.profile).needs_gpu,
                 allow_cpu=setup.cpu)
    check_protocol(run)
    record_weights(setup, run)
    store = data.frame_store if kind == "frame" else data.clip_store
    stages = STAGES if setup.protocol == "refit" else ("holdout",)
    path = Path()
    for stage in stages:
        cfg = train_config(setup, kind, stage).replace(**overrides)
        if stage == "reported":
            cfg = reported_config(kind, run, cfg)
        out = run.model_dir(kind, stage)
        try:
            if launch.needed(setup.gpus) and not (out / MODEL).is_file():
                launch.run_step(setup.gpus, {
                    "step": "train", "config": cfg.to_dict(), "store": str(store),
                    "splits": str(data.splits), "split": setup.split, "out": str(out)},
                    run.root / "logs", f"train-{out.name}", f"training of {out.name}")
            path = train(cfg, store=store, splits=data.splits, split=setup.split, out=out,
                         resume=True)
        except torch.OutOfMemoryError:
            raise UserError(out_of_memory(kind, cfg.batch_size, cfg.accum_steps)) from None
    return path


# ----------------------------------------------------------------------------- evaluation
def evaluate_model(setup: Setup, kind: str, run: RunPaths, *,
                   subsets: tuple[str, ...] = ("val", "test"),
                   probes: tuple[str, ...] | None = None, **kwargs: Any) -> dict[str, Path]:
    """Predictions files of a trained model (kept when they already exist): `val` from the
    held-out model, `test` from the reported one, and for the clip model `test` again with
    each temporal probe (keys `test_<probe>`). A file made by another checkpoint than the
    model's is made again. With `setup.gpus` > 1 (or several nodes) under torchrun."""
    if probes is None:
        probes = PROBES if kind == "clip" else ()
    if kind == "frame" and get_profile(setup.profile).choose_three_crop:
        use = choose_three_crop(run, gpus=setup.gpus, **kwargs)
        kwargs = {"three_crop": use, **kwargs}
        chosen = _three_crop_candidate(run, 3 if use else 1)
        if "val" in subsets and not run.predictions(kind, "val").exists():
            with atomic_path(run.predictions(kind, "val")) as tmp:  # scored already: reuse
                shutil.copyfile(chosen, tmp)
    out = {}
    for s in subsets:
        stage = "holdout" if s == "val" else "reported"
        out[s] = evaluate_step(setup.gpus, run, run.model_dir(kind, stage),
                               run.predictions(kind, s), subset=s, **kwargs)
    if "test" in subsets:
        for probe in probes:
            out[f"test_{probe}"] = evaluate_step(
                setup.gpus, run, run.model_dir(kind), run.predictions(kind, "test", probe),
                subset="test", probe=probe, **kwargs)
    return out


def evaluate_step(gpus: int, run: RunPaths, model_dir: Path, out: Path,
                  **kwargs: Any) -> Path:
    """The predictions file `out` of the model in `model_dir` (`evaluate_to_file`): kept when
    that model made it, else made, under torchrun when `launch.needed(gpus)`, and timed per
    video scored (for a smoke run's forecast)."""
    from helpers.evaluation.evaluate import evaluate_to_file, made_by_model
    from helpers.evaluation.predictions import load
    from helpers.workflow.timings import add

    if made_by_model(out, model_dir):
        return evaluate_to_file(model_dir, out, **kwargs)
    t0 = time.perf_counter()
    if not launch.needed(gpus):
        evaluate_to_file(model_dir, out, **kwargs)
    else:
        launch.run_step(gpus, {"step": "evaluate", "run_dir": str(model_dir), "out": str(out),
                               "kwargs": kwargs},
                        run.root / "logs", f"evaluate-{out.stem}",
                        f"evaluation of {model_dir.name} ({out.name})")
    if not made_by_model(out, model_dir):
        raise UserError(f"The evaluation ended without writing {out} from {model_dir}; see "
                        f"{run.root / 'logs' / f'evaluate-{out.stem}.log'}.")
    kind = model_dir.name.split("-")[0]  # frame-holdout -> frame
    add(run.root, f"evaluate {kind}", time.perf_counter() - t0, len(load(out).video_ids))
    return out


def _three_crop_candidate(run: RunPaths, crops: int) -> Path:
    return run.root / "predictions" / "choices" / f"frame_val_{crops}crop.h5"


def choose_three_crop(run: RunPaths, gpus: int = 1, **kwargs: Any) -> bool:
    """Whether the frame model scores three crops: only where they beat the centre crop on
    validation top-1 (they cost 3x). Decided once on the held-out model's final checkpoint,
    recorded in choices.json with that checkpoint."""
    from helpers.evaluation.predictions import load

    saved = Choices.read(run.root).three_crop
    if saved is not None:
        return saved.value
    top1 = {}
    for crops in (1, 3):
        path = _three_crop_candidate(run, crops)
        evaluate_step(gpus, run, run.model_dir("frame", "holdout"), path, subset="val",
                      three_crop=crops == 3, **kwargs)
        top1[crops] = float(load(path).correct.mean())
    use = top1[3] > top1[1]
    choice = CropChoice(use, "three crops when their validation top-1 is higher",
                        FittedOn.from_json(load(path).made_by(run.root)),
                        {"1 crop": top1[1], "3 crops": top1[3]})
    Choices.read(run.root).replace(three_crop=choice).write(run.root)
    return use
