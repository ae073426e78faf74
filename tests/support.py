"""Builders several test files share (not fixtures: plain functions, imported by name)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from helpers.evaluation.predictions import Predictions
from helpers.utils.io import sha256_file


def write_grey_tree(root: Path, counts: dict[str, int], size: tuple[int, int] = (64, 48)) -> Path:
    """A UCF-style AVI tree with its classInd under `root`: frame f of each video is a flat
    grey of 6*f, which survives the codec, so a test can tell which frame it read."""
    from helpers.data.synthetic import encode_avi

    classes = sorted({n.split("_")[1] for n in counts})
    (root / "splits").mkdir(parents=True)
    (root / "splits" / "classInd.txt").write_text(
        "".join(f"{i} {c}\r\n" for i, c in enumerate(classes, 1)))
    w, h = size
    for name, n in counts.items():
        folder = root / "UCF-101" / name.split("_")[1]
        folder.mkdir(parents=True, exist_ok=True)
        encode_avi(folder / f"{name}.avi",
                   np.stack([np.full((h, w, 3), 6 * f, np.uint8) for f in range(n)]))
    return root


def run_report(root: Path, *flags: str, timeout: int,
               command: str = "report") -> tuple[dict[str, str], str]:
    """`python -m helpers report FLAGS` (or another `command`) with its data, runs and
    figures under `root`, as a user runs it; fails the test with the end of its output
    unless it exits 0. Returns the environment it ran in and its stdout."""
    env = {**os.environ, "UCF_DATA_DIR": str(root / "data"), "UCF_RUNS_DIR": str(root / "runs"),
           "UCF_FIGURES_DIR": str(root / "figures"), "UCF_NO_PROGRESS": "1"}
    out = subprocess.run([sys.executable, "-m", "helpers", command, *flags], env=env,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return env, out.stdout


def warn_when_training_begins(job: subprocess.Popen, config: Path, log: Path,
                              timeout: float) -> None:
    """Send the batch shell `job` SIGUSR1, what `#SBATCH --signal=B:USR1@300` sends it, as
    soon as `config` (a model's config.json: its training began) exists; fails with the end
    of the job's `log` if the job ends first or `timeout` seconds pass."""
    deadline = time.time() + timeout
    while not config.exists():
        assert job.poll() is None, log.read_text()[-4000:]
        assert time.time() < deadline, f"no {config} after {timeout} s"
        time.sleep(0.05)
    job.send_signal(signal.SIGUSR1)


def true_prob_predictions(class_names: list[str], true: dict, videos_per_cluster: int,
                          probe: str | None = None) -> Predictions:
    """Predictions whose videos of each class (clusters of `videos_per_cluster`, cluster-major)
    give their true class the probabilities `true[name]` (one per video); the rest of each row
    goes mostly to the next class, so a video is right when its value is above about 0.47."""
    ids, labels, rows = [], [], []
    k = len(class_names)
    for y, name in enumerate(class_names):
        for i, t in enumerate(true[name]):
            ids.append(f"v_{name}_g{1 + i // videos_per_cluster:02d}"
                       f"_c{1 + i % videos_per_cluster:02d}")
            labels.append(y)
            row = np.full(k, (1 - t) * 0.1 / (k - 2))
            row[y], row[(y + 1) % k] = t, (1 - t) * 0.9
            rows.append(row)
    return Predictions(ids, np.array(labels), np.array(rows), list(class_names),
                       {"probe": probe} if probe else {})


# ----------------------------------------------------------------------------- simulated run
# Related UCF-101 classes that a model plausibly takes for each other (both directions are
# possible): most errors of the simulated run go to a class's partner here.
RELATED_CLASSES = (
    ("ApplyEyeMakeup", "ApplyLipstick"), ("PlayingCello", "PlayingViolin"),
    ("PlayingDaf", "PlayingTabla"), ("PlayingDhol", "Drumming"), ("PlayingGuitar", "PlayingSitar"),
    ("Rowing", "Kayaking"), ("Rafting", "Kayaking"), ("Surfing", "Skijet"),
    ("BoxingPunchingBag", "BoxingSpeedBag"), ("Punch", "BoxingPunchingBag"),
    ("FrontCrawl", "BreastStroke"), ("HighJump", "LongJump"), ("PoleVault", "HighJump"),
    ("HammerThrow", "ThrowDiscus"), ("Shotput", "ThrowDiscus"), ("JavelinThrow", "LongJump"),
    ("CricketShot", "CricketBowling"), ("TennisSwing", "TableTennisShot"),
    ("Basketball", "BasketballDunk"), ("SoccerPenalty", "FieldHockeyPenalty"),
    ("HorseRace", "HorseRiding"), ("ParallelBars", "UnevenBars"), ("PommelHorse", "StillRings"),
    ("BalanceBeam", "FloorGymnastics"), ("PushUps", "WallPushups"), ("PullUps", "RopeClimbing"),
    ("HandstandPushups", "HandstandWalking"), ("BodyWeightSquats", "Lunges"),
    ("JumpingJack", "JumpRope"), ("Haircut", "BlowDryHair"), ("ShavingBeard", "BrushingTeeth"),
    ("HeadMassage", "Haircut"), ("Typing", "Knitting"), ("WritingOnBoard", "Typing"),
    ("CuttingInKitchen", "Mixing"), ("MilitaryParade", "BandMarching"), ("Skiing", "SkyDiving"),
    ("CliffDiving", "Diving"), ("Swing", "TrampolineJumping"), ("Nunchucks", "TaiChi"),
    ("SalsaSpin", "IceDancing"), ("YoYo", "JugglingBalls"), ("Hammering", "CuttingInKitchen"),
)


# The two models' errors are correlated through what they share (a class's and a
# recording's difficulty, and each video's own): TARGET_ERROR_CORRELATION is the per-video
# correlation of their wrong/right indicators that the simulation aims for. Its source: in the
# public solution of this homework (ANCHORS.md, wutianqidx/CS547-Deep-Learning HW9: single
# frame 77.98, 3D 84.51, combined 85.04) the mean gains only +0.5 points over the better
# model, which needs errors shared far more than independent ones (correlation ~0) allow; a
# correlation near 0.5 with confident wrong predictions gives a gain of that order.
TARGET_ERROR_CORRELATION = 0.5


def _shared_difficulty(rng: np.random.Generator, labels: np.ndarray, clusters: np.ndarray,
                       num_classes: int) -> np.ndarray:
    """A standardised latent difficulty per video that both models share: a class part (a
    long tail of hard classes and many easy ones), a (class, group) cluster part and the
    video's own."""
    cls = rng.gamma(0.7, 1.0, num_classes)
    cls = (cls - cls.mean()) / cls.std()
    clu = rng.normal(0, 1, clusters.max() + 1)
    z = 0.75 * cls[labels] + 0.5 * clu[clusters] + 0.45 * rng.normal(0, 1, len(labels))
    return (z - z.mean()) / z.std()


def _simulated_wrong(rng: np.random.Generator, shared: np.ndarray, labels: np.ndarray,
                     num_classes: int, error: float, rho: float) -> np.ndarray:
    """Which videos a model gets wrong: the `error` share with the highest latent, a mix of
    the shared difficulty (weight rho) and the model's own (per class and per video)."""
    own_cls = rng.normal(0, 1, num_classes)
    own = (0.6 * own_cls[labels] + 0.8 * rng.normal(0, 1, len(labels)))
    z = np.sqrt(rho) * shared + np.sqrt(1 - rho) * own
    return z > np.quantile(z, 1 - error)


def _wrong_targets(rng: np.random.Generator, labels: np.ndarray, partner: np.ndarray,
                   num_classes: int) -> np.ndarray:
    """The class each video is taken for when a model gets it wrong, drawn once per video and
    shared by both models (their confusions overlap): mostly the class's related partner."""
    other = (labels + rng.integers(1, num_classes, len(labels))) % num_classes
    return np.where(rng.random(len(labels)) < 0.7, partner[labels], other)


def _simulated_probs(rng: np.random.Generator, labels: np.ndarray, predicted: np.ndarray,
                     num_classes: int) -> np.ndarray:
    """Softmax rows whose top class is `predicted`: confident when right, and often confident
    when wrong too (most of the mass on the wrong class, the true class anywhere behind it),
    so the mean of two models does not simply follow the one that is right."""
    n = len(labels)
    z = rng.normal(0.0, 1.0, (n, num_classes))
    rows = np.arange(n)
    right = predicted == labels
    z[rows, labels] += np.where(right, 0.0, rng.uniform(0.0, 3.0, n))
    top = z.max(axis=1)
    z[rows, predicted] = top + np.where(right, rng.uniform(2.0, 7.0, n), rng.uniform(0.5, 4.0, n))
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def _predictions_from(rng: np.random.Generator, labels: np.ndarray, wrong: np.ndarray,
                      targets: np.ndarray, num_classes: int) -> np.ndarray:
    return _simulated_probs(rng, labels, np.where(wrong, targets, labels), num_classes)


def _simulated_history(rng: np.random.Generator, epochs: int, final_acc: float,
                       with_val: bool) -> list[dict[str, object]]:
    rows = []
    for e in range(1, epochs + 1):
        t = e / epochs
        acc = final_acc * (1 - 0.7 * np.exp(-4 * t)) + rng.normal(0, 0.005)
        rows.append({"epoch": e, "train_loss": 4.6 * np.exp(-3 * t) + 0.3, "train_acc": min(acc + 0.08, 1),
                     "val_loss": 4.0 * np.exp(-3 * t) + 0.5 if with_val else "",
                     "val_acc": acc if with_val else "", "lr": 0.005 * (1 + np.cos(np.pi * t)),
                     "seconds": 600.0, "train_items_per_s": 800.0})
    return rows


def _simulated_store(path: Path, class_names: list[str], videos: list[tuple[str, int]],
                     rng: np.random.Generator, size: tuple[int, int] = (80, 60),
                     num_frames: int = 12) -> Path:
    """A small store of `videos` (name, label) whose frames are a coloured bar crossing a
    flat background (one hue per class): enough for the report's frame strips."""
    import cv2

    from helpers.data.store import Part, PartRef, save_part, write_store

    w, h = size
    parts_dir = path.parent / "simulated.parts"
    parts_dir.mkdir(parents=True, exist_ok=True)
    refs = []
    for name, label in videos:
        colour = np.array(cv2.cvtColor(np.uint8([[[label * 180 // len(class_names), 160, 200]]]),
                                       cv2.COLOR_HSV2RGB)[0, 0], np.uint8)
        chunks, offsets = [], [0]
        for f in range(num_frames):
            img = np.full((h, w, 3), 40 + int(rng.integers(0, 30)), np.uint8)
            x = f * (w - 12) // max(num_frames - 1, 1)
            img[h // 4: 3 * h // 4, x:x + 12] = colour
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
            assert ok
            chunks.append(buf.reshape(-1))
            offsets.append(offsets[-1] + len(buf))
        part = parts_dir / f"{name}.npz"
        save_part(part, Part(np.concatenate(chunks), np.array(offsets, np.int64), (h, w), (240, 320)))
        refs.append(PartRef(name, class_names[label], part))
    write_store(path, refs, class_names, {"source": "simulated", "source_kind": "simulated",
                                          "short_side": 0, "quality": 95})
    shutil.rmtree(parts_dir)
    return path


# The two scenarios the report is rendered on at UCF-101's size (tests/test_report_scale.py):
# frame error, clip error, and the weight of the difficulty the models share.
SCENARIOS = {
    "fusion_helps": dict(frame_error=0.21, clip_error=0.12, rho=0.7),
    # one weak model whose errors the strong one largely shares: the mean cannot help
    "fusion_does_not_help": dict(frame_error=0.35, clip_error=0.12, rho=0.9),
}


def simulated_ucf101_run(root: Path, splits_dir: Path, *, seed: int = 0,
                         frame_error: float = 0.21, clip_error: float = 0.12,
                         rho: float = 0.7,
                         probe_loss: dict[str, float] | None = None):
    """A run folder of UCF-101's shape for the `ucf101` profile, split 1, as the pipeline
    writes it under `refit` (`RunPaths`: the models' config.json and metrics.csv, today's
    choices.json with `fitted_on`, and the predictions files with the attributes `evaluate`
    writes), with simulated predictions: the 101 classes and 3,783 test videos (clustered by
    their real groups) of the official lists in `splits_dir`, validation predictions on the
    held-out training groups.

    Errors: a share `frame_error` and `clip_error` of the videos, chosen by a latent
    difficulty that the two models share per class, per (class, group) cluster and per video
    (weight `rho`; `TARGET_ERROR_CORRELATION` says what it aims at and why), plus each
    model's own per class and per video; many classes end at 100%. A wrong video is taken
    for the same class by both models (mostly a related one, `RELATED_CLASSES`), with a
    confident wrong prediction. The clip model's temporal probes (`probe_loss`: the largest
    share of a class's right videos each probe turns wrong) scale with a per-class need for
    order and a per-cluster factor. A small store holds the frames of the test videos the
    frame model gets wrong and of one video per class.

    Returns the `pipeline.Setup` that notebooks 03 and 04 take (data, stores and run under
    `root`). Not a trained run: nothing here measures a model.
    """
    from helpers.data.splits import load_split_data
    from helpers.evaluation.choices import Choices, CropChoice, EpochChoice, FittedOn
    from helpers.evaluation.predictions import checkpoint_record, video_groups
    from helpers.training.records import RunRecord
    from helpers.training.runs import write_metrics
    from helpers.workflow.pipeline import (
        NUM_EPOCHS_RULE,
        Setup,
        data_paths,
        run_paths,
        train_config,
    )

    rng = np.random.default_rng(seed)
    probe_loss = probe_loss or {"shuffled": 0.5, "reversed": 0.25, "static": 0.8}
    (root / "UCF-101").mkdir(parents=True, exist_ok=True)
    setup = Setup(profile="ucf101", data_dir=str(root / "UCF-101"), splits_dir=str(splits_dir),
                  run_dir=str(root / "run"), split=1, stores_dir=str(root / "stores"))
    data, run = data_paths(setup), run_paths(setup)
    epochs = {"frame": 18, "clip": 14}
    choices = Choices()
    cfg_holdout = {k: train_config(setup, k, "holdout").replace(num_epochs=epochs[k])
                   for k in ("frame", "clip")}
    val_groups = cfg_holdout["frame"].val_groups
    split = load_split_data(splits_dir, 1, val_groups)
    names, c = split.class_names, len(split.class_names)
    index = {n: i for i, n in enumerate(names)}
    partner = (np.arange(c) + rng.integers(1, c, c)) % c
    for a, b in RELATED_CLASSES:
        partner[index[a]], partner[index[b]] = index[b], index[a]
    order = np.clip(rng.gamma(0.5, 0.6, c) * (rng.random(c) < 0.6), 0, 1)  # frame order needed
    error = {"frame": frame_error, "clip": clip_error}

    subsets = {s: (list(ids), np.array(lab, np.int64)) for s, ids, lab in (
        ("val", split.val_ids, split.val_labels), ("test", split.test_ids, split.test_labels))}
    shared = {s: _shared_difficulty(rng, lab, video_groups(ids), c)
              for s, (ids, lab) in subsets.items()}
    targets = {s: _wrong_targets(rng, lab, partner, c) for s, (_, lab) in subsets.items()}
    wrong_frame_test = np.zeros(0, bool)
    for kind in ("frame", "clip"):
        stages = {"holdout": cfg_holdout[kind], "reported": train_config(setup, kind, "reported")
                  .replace(num_epochs=epochs[kind], **({"three_crop": True} if kind == "frame" else {}))}
        counts = {"holdout": (len(split.train_ids), len(split.val_ids)),
                  "reported": (len(split.train_ids) + len(split.val_ids), 0)}
        for stage, cfg in stages.items():
            out = run.model_dir(kind, stage)
            RunRecord(config=cfg, store=str(data.frame_store if kind == "frame" else data.clip_store),
                      splits=str(splits_dir), split=1, num_train=counts[stage][0],
                      num_val=counts[stage][1],
                      data={"split": 1, "split_sha256": split.split_sha256}).write(out)
            write_metrics(out, _simulated_history(rng, cfg.num_epochs, 1 - error[kind],
                                                  with_val=stage == "holdout"))
            (out / "model.pt").write_bytes(f"simulated {kind} {stage}".encode())
        for subset, (ids, labels) in subsets.items():
            stage = "holdout" if subset == "val" else "reported"
            cfg = stages[stage]
            clusters = video_groups(ids)
            wrong = _simulated_wrong(rng, shared[subset], labels, c, error[kind], rho)
            if kind == "frame" and subset == "test":
                wrong_frame_test = wrong
            unit_acc = float(np.clip(1 - wrong.mean() - (0.08 if kind == "frame" else 0.05), 0, 1))
            per_video = 25 if kind == "frame" else 8

            model_pt = run.model_dir(kind, stage) / "model.pt"
            attrs = {"model": f"{cfg.arch} ({kind})", "kind": kind, "checkpoint": str(model_pt),
                     "checkpoint_sha256": "0" * 64, "config": cfg.to_dict(), "split": 1,
                     "subset": subset, "level": kind, f"{kind}_accuracy": unit_acc,
                     "num_items": len(ids) * per_video, "unit": "img" if kind == "frame" else "clip",
                     "eval_frames": -1 if cfg.eval_frames is None else cfg.eval_frames,
                     "three_crop": bool(cfg.three_crop), "num_listed_videos": len(ids),
                     "num_missing_videos": 0, "missing_videos": []}
            probs = _predictions_from(rng, labels, wrong, targets[subset], c)
            Predictions(ids, labels, probs, names, attrs).save(run.predictions(kind, subset))
            if kind == "clip" and subset == "test":
                factor = np.clip(rng.gamma(2.0, 0.5, clusters.max() + 1), 0, 2)  # per cluster
                for probe, loss in probe_loss.items():
                    lost = ~wrong & (rng.random(len(ids)) < loss * order[labels] * factor[clusters])
                    probs = _predictions_from(rng, labels, wrong | lost, targets[subset], c)
                    Predictions(ids, labels, probs, names, {**attrs, "probe": probe}).save(
                        run.predictions(kind, subset, probe))
        held = run.model_dir(kind, "holdout") / "model.pt"
        fitted_on = FittedOn.from_json(checkpoint_record(held, sha256_file(held), run.root))
        choices = choices.with_epochs(kind, EpochChoice(epochs[kind], NUM_EPOCHS_RULE, fitted_on))
    held = run.model_dir("frame", "holdout") / "model.pt"
    choices.replace(three_crop=CropChoice(
        True, "three crops when their validation top-1 is higher",
        FittedOn.from_json(checkpoint_record(held, sha256_file(held), run.root)))).write(run.root)
    test_ids, test_labels = subsets["test"]
    first = {int(lab): i for i, lab in reversed(list(enumerate(test_labels)))}
    shown = sorted(set(np.flatnonzero(wrong_frame_test).tolist()) | set(first.values()))
    _simulated_store(data.frame_store, names, [(test_ids[i], int(test_labels[i])) for i in shown], rng)
    return setup
