"""The assignment's steps as resumable calls, shared by the notebooks and `helpers report`.

Every step skips work that is already done (the benchmark, the stores, finished trainings,
existing predictions files), so a killed `make report` restarts where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from helpers.config import Profile, TrainConfig, get_profile
from helpers.errors import UserError
from helpers.paths import DATA_DIR, RUNS_DIR

# Tiny settings for tests (`fast=True`): the whole pipeline in a minute or two.
FAST_SYNTH = dict(size=(64, 48), num_frames=16, videos_per_group=1)
FAST_TRAIN = dict(num_epochs=2, frames_per_video=2, eval_frames=4, val_max_items=64,
                  num_workers=0)


@dataclass(frozen=True)
class DataPaths:
    source: Path  # videos (AVI tree, course HDF5 tree or synthetic benchmark)
    splits: Path  # folder with classInd.txt, trainlist0k.txt, testlist0k.txt
    frame_store: Path
    clip_store: Path
    synthetic: bool


@dataclass(frozen=True)
class RunPaths:
    root: Path

    def model_dir(self, kind: str) -> Path:
        return self.root / kind

    def predictions(self, kind: str, subset: str) -> Path:
        return self.root / "predictions" / f"{kind}_{subset}.h5"

    @property
    def fusion_dir(self) -> Path:
        return self.root / "fusion"


def run_paths(profile: str, run_dir: str | Path | None = None, *, fast: bool = False,
              split: int = 1) -> RunPaths:
    """The run folder: `run_dir` if given, else runs/<profile>[-fast][-split<k>] (split 1 has
    no suffix), so runs of different splits never reuse each other's models."""
    if run_dir:
        return RunPaths(Path(run_dir).resolve())
    name = profile + ("-fast" if fast else "") + (f"-split{split}" if split != 1 else "")
    return RunPaths(RUNS_DIR / name)


def train_config(profile: str | Profile, kind: str, *, fast: bool = False) -> TrainConfig:
    prof = get_profile(profile) if isinstance(profile, str) else profile
    cfg = prof.config(kind)  # type: ignore[arg-type]
    if fast:
        cfg = cfg.replace(**{k: v for k, v in FAST_TRAIN.items()
                             if not (k in ("frames_per_video", "eval_frames") and kind == "clip")})
    return cfg


def data_paths(profile: str = "demo", data_dir: str | Path | None = None, *,
               splits_dir: str | Path | None = None, fast: bool = False) -> DataPaths:
    """Where the videos, split files and stores of this profile live (creates nothing)."""
    prof = get_profile(profile)
    if data_dir:
        source = Path(data_dir).expanduser().resolve()
        if not source.exists():
            raise UserError(f"The data folder {source} does not exist; pass the folder that "
                            "holds UCF-101/ (or UCF-101-hdf5/), or leave it empty for the demo.")
        synthetic = (source / "classes.json").exists()
    else:
        source = DATA_DIR / ("synthetic-fast" if fast else "synthetic")
        synthetic = True
    if splits_dir:
        splits = Path(splits_dir)
    elif (source / "ucfTrainTestlist").is_dir() or not source.exists():
        splits = source / "ucfTrainTestlist"
    else:
        splits = source
    stores = DATA_DIR / "stores" / source.name
    return DataPaths(source, splits, _store_path(stores, prof.frame_short_side),
                     _store_path(stores, prof.clip_short_side), synthetic)


def prepare_data(profile: str = "demo", data_dir: str | Path | None = None, *,
                 splits_dir: str | Path | None = None, fast: bool = False,
                 num_workers: int | None = None) -> DataPaths:
    """Find (or, for the demo, generate) the videos and build the store(s) the models read."""
    from helpers.data.prepare import prepare_stores
    from helpers.data.splits import find_splits_dir

    prof = get_profile(profile)
    paths = data_paths(profile, data_dir, splits_dir=splits_dir, fast=fast)
    if not data_dir:
        from helpers.data.synthetic import generate

        summary = generate(paths.source, num_workers=num_workers, **(FAST_SYNTH if fast else {}))
        print(summary.format(), flush=True)
    splits = find_splits_dir(paths.splits)
    # The missing stores in one decode pass ({short side: path}; one entry when both models
    # read the same store).
    missing = {side: store for store, side in ((paths.frame_store, prof.frame_short_side),
                                               (paths.clip_store, prof.clip_short_side))
               if not store.exists()}
    if missing:
        prepare_stores(paths.source, splits, missing, num_workers=num_workers)
    return DataPaths(paths.source, splits, paths.frame_store, paths.clip_store,
                     paths.synthetic)


def _store_path(stores: Path, short_side: int | None) -> Path:
    return stores / (f"frames_s{short_side}.h5" if short_side else "frames_native.h5")


def train_model(kind: str, data: DataPaths, run: RunPaths, *, profile: str = "demo",
                split: int = 1, fast: bool = False, download_weights: bool = False,
                **overrides) -> Path:
    """Train (or resume, or skip if finished) the `frame` or `clip` model of a run.

    `download_weights` lets torchvision fetch missing ImageNet weights (needs internet)."""
    from helpers.train import train

    cfg = train_config(profile, kind, fast=fast)
    if download_weights:
        overrides = {"download_weights": True, **overrides}
    if overrides:
        cfg = cfg.replace(**overrides)
    store = data.frame_store if kind == "frame" else data.clip_store
    return train(cfg, store=store, splits=data.splits, split=split, out=run.model_dir(kind),
                 resume=True)


def evaluate_model(kind: str, run: RunPaths, *, subsets: tuple[str, ...] = ("val", "test"),
                   **kwargs) -> dict[str, Path]:
    """Predictions files of a trained model for each subset (kept when they already exist)."""
    from helpers.evaluate import evaluate_to_file

    return {s: evaluate_to_file(run.model_dir(kind), run.predictions(kind, s), subset=s, **kwargs)
            for s in subsets}
