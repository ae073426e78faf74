"""A rehearsal of the `ucf101` path as a student runs it on a GPU node, here on the CPU:
`report --profile ucf101 --smoke` on a small UCF-101 tree made from the real clip, under
real class names and the official split files, with stand-in weight files (random values)
in the exact formats and file names users have. Skipped without `../shared`.

The smoke run with Hara's new-format file runs inside the cluster job of
test_hostile_rehearsal.py (its checks: `check_smoke_run`); this module runs the old-format
file, whose only reader is the clip model. The refit rules themselves: test_refit.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.data.splits import read_split
from helpers.evaluation.choices import Choices
from helpers.training.weights_record import WeightsRecord

pytestmark = pytest.mark.slow

CLASSES = ("ApplyEyeMakeup", "Archery", "HandstandPushups")  # the files: v_HandStandPushups_*
PER_CLASS = {"train": 4, "val": 2, "test": 2}
FRAMES = 24  # of the real clip: two 16-frame windows per video keep the CPU run short


def _tree(root: Path, splits: Path, clip: Path) -> Path:
    """root/UCF-101/<Class>/<listed name>.avi for a few listed videos of CLASSES, and the
    official split files (CRLF) in root/ucfTrainTestlist."""
    from helpers.data.sources import SourceVideo, iter_frames
    from helpers.data.synthetic import encode_avi

    frames = np.stack(list(islice(iter_frames(SourceVideo(clip.stem, "ApplyEyeMakeup", clip,
                                                          "avi")), FRAMES)))
    split = read_split(splits, 1)
    for name in CLASSES:
        label = split.class_names.index(name)
        pools = {"train": [e for e in split.train if e.label == label and e.group < 22],
                 "val": [e for e in split.train if e.label == label and e.group >= 22],
                 "test": [e for e in split.test if e.label == label]}
        for subset, n in PER_CLASS.items():
            for e in pools[subset][:n]:
                path = root / "UCF-101" / e.rel_path
                path.parent.mkdir(parents=True, exist_ok=True)
                encode_avi(path, frames)
    shutil.copytree(splits, root / "ucfTrainTestlist")
    return root


def _weights(root: Path) -> dict[str, Path]:
    """Stand-ins, random values in the real formats: torchvision's hub-cache file of
    ResNet-50 IMAGENET1K_V2, Hara's new-format r3d50_K_200ep.pth (700 classes) and an
    old-format resnet-50-kinetics.pth (`module.` prefix, 400 classes, an optimizer)."""
    import torchvision
    from hara_conformance import rule_state_dict, save_hara_style

    from helpers.models.resnet2d import IMAGENET_WEIGHTS
    from helpers.models.resnet3d import resnet3d

    hub = root / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    url = IMAGENET_WEIGHTS["resnet50"]["imagenet1k_v2"].url
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet50().state_dict(), hub / url.rsplit("/", 1)[-1])
    out = {"torch_home": root / "torch"}
    for name, classes, old in (("r3d50_K_200ep.pth", 700, False),
                               ("resnet-50-kinetics.pth", 400, True)):
        model = resnet3d(50, classes)
        sd = rule_state_dict((k, v.shape) for k, v in model.state_dict().items())
        save_hara_style(sd, root / name, old_format=old)
        out[name] = root / name
    return out


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory, ucf_splits_dir, ucf_clip):
    root = tmp_path_factory.mktemp("rehearsal")
    tree = _tree(root / "data" / "ucf101", ucf_splits_dir, ucf_clip)
    weights = _weights(root / "weights")
    env = {**os.environ, "UCF_DATA_DIR": str(root / "data"), "UCF_RUNS_DIR": str(root / "runs"),
           "UCF_FIGURES_DIR": str(root / "figures"), "UCF_NO_PROGRESS": "1",
           "TORCH_HOME": str(weights["torch_home"])}
    return {"root": root, "tree": tree, "weights": weights, "env": env}


def _report(rehearsal, weights: str, run: str, *extra: str) -> subprocess.CompletedProcess:
    r = rehearsal
    cmd = [sys.executable, "-m", "helpers", "report", "--profile", "ucf101", "--smoke", "--cpu",
           "--data", str(r["tree"]), "--weights", str(r["weights"][weights]),
           "--run", run, "--pdf", str(r["root"] / f"{run}.pdf"), *extra]
    out = subprocess.run(cmd, env=r["env"], capture_output=True, text=True, timeout=2400)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    return out


def _spec(run_dir: Path, kind: str) -> dict:
    return torch.load(run_dir / kind / "model.pt", map_location="cpu", weights_only=True)["spec"]


def _check_clip_model(run_dir: Path, weights: Path, norm: str) -> None:
    # the weights' normalisation, detected from the file, is recorded with each clip model
    models = [m for m in ("clip", "clip-holdout") if (run_dir / m / "model.pt").is_file()]
    assert "clip" in models, run_dir
    for model in models:
        assert _spec(run_dir, model)["normalization"]["name"] == norm
    # the real size: R3D-50 on 16 x 112 x 112, from the given file
    cfg = json.loads((run_dir / "clip" / "config.json").read_text())["config"]
    assert (cfg["arch"], cfg["crop_size"], cfg["clip_len"]) == ("r3d50", 112, 16)
    assert cfg["weights"] == str(weights)


def check_smoke_pdf(pdf: Path) -> None:
    """A smoke run's PDF says what it is, what the models ran on and started from."""
    assert pdf.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                              check=True).stdout
        assert "Smoke run" in text and "UCF-101" in text
        flat = " ".join(text.split())
        assert "Both models trained on the CPU (torch" in flat, flat[:3000]
        assert "Pretrained weights: the frame model from" in flat


def check_smoke_run(run_dir: Path, weights: Path, stdout: str) -> None:
    """What a smoke run of the ucf101 profile with Hara's new-format file leaves: the real
    sizes from the given files, the forecast of the whole job, the temporal head end to end
    and the choices fitted on the held-out groups (test_hostile_rehearsal.py runs it in the
    cluster job, and renders its PDF on the "login node" for `check_smoke_pdf`)."""
    _check_clip_model(run_dir, weights, "kinetics-new")
    assert _spec(run_dir, "frame")["normalization"]["name"] == "imagenet"
    assert "what the full run will need" in stdout
    assert "clip model:" in stdout and "per epoch" in stdout and "disk:" in stdout
    # the whole job, not only training: decoding, evaluation and the analysis (without TeX on
    # the node, the PDF aside: it is rendered on a login node)
    for step in ("decoding the videos", "evaluating the clip model", "the analysis",
                 "the whole job: about"):
        assert step in stdout, stdout[-3000:]
    assert WeightsRecord.read(run_dir).clip.name.startswith("Hara R3D-50")
    # the temporal head ran end to end, and its cache is forecast
    assert "temporal head: " in stdout and "of cached features" in stdout
    for name in ("head_val", "head_test", "head_test_reversed", "head_test_shuffled",
                 "headbase_test"):  # the like-for-like baseline of the head
        assert (run_dir / "predictions" / f"{name}.h5").is_file()
    # fitted on the frame model of the held-out groups (under refit, frame-holdout's; the
    # reported head trains again on every training video)
    refit = json.loads((run_dir / "setup.json").read_text())["protocol"] == "refit"
    assert (run_dir / "head" / ("reported.pt" if refit else "holdout.pt")).is_file()
    fitted = "frame-holdout/model.pt" if refit else "frame/model.pt"
    choices = Choices.read(run_dir)
    assert choices.head.fitted_on.checkpoint == fitted
    # the three-crop choice of the ucf101 profile (the demo's profile makes none)
    assert choices.three_crop is not None and choices.three_crop.fitted_on.checkpoint == fitted
    # the real size: ResNet-50 at 224
    frame_cfg = json.loads((run_dir / "frame" / "config.json").read_text())["config"]
    assert (frame_cfg["arch"], frame_cfg["crop_size"]) == ("resnet50", 224)


def test_smoke_run_with_old_format_kinetics_weights_then_resume(rehearsal):
    """Only the clip model reads the Kinetics file, so only its notebook runs here (one
    model: `--protocol holdout`); the rest of the path runs with the new-format file in the
    hostile rehearsal's cluster job, and what the reported model of a refit smoke run trains
    in test_pipeline.py. The same command again trains and evaluates nothing."""
    weights, run = "resnet-50-kinetics.pth", "smoke-old"
    args = ("--only", "02", "--protocol", "holdout")
    out = _report(rehearsal, weights, run, *args)
    run_dir = rehearsal["root"] / "runs" / run
    _check_clip_model(run_dir, rehearsal["weights"][weights], "kinetics-old")
    # the forecast times the model this run trained and says it cannot time the other
    assert "clip model:" in out.stdout and "per epoch at" in out.stdout
    assert "frame model:" in out.stdout and "did not train it" in out.stdout
    done = [p for p in run_dir.rglob("*") if p.suffix == ".pt"
            or (p.suffix == ".h5" and p.parent.name == "predictions")]
    stamps = {p: p.stat().st_mtime_ns for p in done}
    assert any(p.parent.name == "clip" for p in done)
    _report(rehearsal, weights, run, *args)
    assert stamps == {p: p.stat().st_mtime_ns for p in done}
    assert "epoch 1/" not in (run_dir / "notebooks" / "02_3d_resnet.ipynb").read_text()
