"""The protocol as the notebooks run it: held-out models give the validation predictions,
and under `refit` the reported models are trained again on every training video; plus the
smoke run's split files and the setup's checks."""

from __future__ import annotations

import dataclasses
import json

import pytest

from helpers import config
from helpers.data.splits import read_split
from helpers.errors import UserError
from helpers.evaluation.predictions import load
from helpers.training.runs import CONFIG_JSON
from helpers.workflow import pipeline


@pytest.fixture
def refit_demo(monkeypatch):
    """The demo profile under the `ucf101` profile's protocol and choices."""
    demo = config.PROFILES["demo"]
    monkeypatch.setitem(config.PROFILES, "demo", dataclasses.replace(
        demo, protocol="refit", epochs_from_validation=True, choose_three_crop=True))


@pytest.mark.slow
def test_refit_protocol_on_the_tiny_configuration(refit_demo, tiny_bench, tmp_path,
                                                  monkeypatch):
    from helpers.evaluation import results

    monkeypatch.setattr(pipeline, "DATA_DIR", tmp_path / "data")
    setup = pipeline.Setup(data_dir=str(tiny_bench["source"]), run_dir=str(tmp_path / "run"),
                           fast=True)
    data = pipeline.prepare_data(setup, num_workers=1)
    run = pipeline.run_paths(setup)
    assert run.protocol == "refit"
    listed = read_split(data.splits, 1)
    held = [e for e in listed.train if e.group in (22, 23, 24, 25)]
    for kind, small in (("frame", dict(crop_size=32)), ("clip", dict(crop_size=32))):
        reported = pipeline.train_model(setup, kind, data, run, **small)
        assert reported == run.model_dir(kind) / "model.pt"
        fit_on = json.loads((run.model_dir(kind, "holdout") / CONFIG_JSON).read_text())
        final = json.loads((run.model_dir(kind) / CONFIG_JSON).read_text())
        assert fit_on["num_train"] == len(listed.train) - len(held) and held
        assert final["num_train"] == len(listed.train)  # every training video
        assert final["config"]["val_groups"] == [] and final["num_val"] == 0
        choices = pipeline.read_choices(run)[kind]
        assert final["config"]["num_epochs"] == choices["num_epochs"]["value"] in (1, 2)
        files = pipeline.evaluate_model(setup, kind, run, **({"eval_frames": 2}
                                                              if kind == "frame" else {}))
        val, test = load(files["val"]), load(files["test"])
        assert val.attrs["checkpoint"] == str(run.model_dir(kind, "holdout") / "model.pt")
        assert test.attrs["checkpoint"] == str(run.model_dir(kind) / "model.pt")
        assert set(val.video_ids) == {e.name for e in held}
    assert isinstance(pipeline.read_choices(run)["frame"]["three_crop"]["value"], bool)
    for probe in ("reversed", "shuffled", "static"):
        pred = load(run.predictions("clip", "test", probe))
        assert pred.attrs["probe"] == probe
    res = results.analyze(run, data, n_boot=50)
    # fusion was fitted on the held-out models' validation predictions
    fit = json.loads((run.fusion_dir / "fusion.json").read_text())
    assert fit["num_val_videos"] == len(held) and res.fit.chosen == fit["chosen"]
    # a rerun finds every stage done and redoes nothing
    stamp = {p: p.stat().st_mtime_ns for p in run.root.rglob("*.pt")}
    for kind in ("frame", "clip"):
        pipeline.train_model(setup, kind, data, run, crop_size=32)
    assert stamp == {p: p.stat().st_mtime_ns for p in run.root.rglob("*.pt")}


def test_reported_model_of_refit_trains_on_everything_holdout_keeps_the_groups(refit_demo):
    setup = pipeline.Setup(fast=True)
    assert pipeline.train_config(setup, "frame", "holdout").val_groups == (22, 23, 24, 25)
    assert pipeline.train_config(setup, "frame", "reported").val_groups == ()
    plain = pipeline.Setup(profile="ucf101")
    assert pipeline.train_config(plain, "clip", "reported").val_groups == ()
    run = pipeline.run_paths(plain)
    assert run.model_dir("clip", "holdout").name == "clip-holdout"
    assert run.model_dir("clip").name == "clip"


def test_holdout_protocol_reports_the_held_out_models(tmp_path):
    setup = pipeline.Setup(run_dir=str(tmp_path))
    run = pipeline.run_paths(setup)
    assert setup.protocol == "holdout"
    assert run.model_dir("frame", "holdout") == run.model_dir("frame") == tmp_path / "frame"
    assert pipeline.train_config(setup, "frame", "reported").val_groups == (22, 23, 24, 25)


def test_setup_weights_and_norm_reach_the_configs(tmp_path):
    weights = tmp_path / "r3d50_K_200ep.pth"
    setup = pipeline.Setup(profile="ucf101", weights=str(weights), norm="kinetics-old",
                           imagenet_weights=str(tmp_path / "resnet50.pth"))
    clip = pipeline.train_config(setup, "clip")
    frame = pipeline.train_config(setup, "frame")
    assert clip.weights == str(weights) and clip.norm == "kinetics-old"
    assert frame.weights == str(tmp_path / "resnet50.pth") and frame.norm is None


@pytest.mark.parametrize("changes, message", [
    (dict(profile="imagenet"), "Unknown profile"),
    (dict(split=4), "Split must be 1, 2 or 3"),
    (dict(norm="kinetics"), "Unknown norm 'kinetics'"),
    (dict(fast=True, smoke=True), "exclude each other"),
])
def test_setup_refuses_bad_values_in_one_sentence(changes, message):
    with pytest.raises(UserError, match=message):
        pipeline.Setup(**changes)


def test_smoke_needs_real_data():
    with pytest.raises(UserError, match="pass the UCF-101 folder"):
        pipeline.data_paths(pipeline.Setup(profile="ucf101", smoke=True))


def test_stores_dir_holds_the_stores_and_a_smoke_run_keeps_its_own(tmp_path):
    data, stores = tmp_path / "ucf101", tmp_path / "big" / "stores"
    data.mkdir()
    full = pipeline.data_paths(pipeline.Setup(profile="ucf101", data_dir=str(data),
                                              stores_dir=str(stores)))
    assert full.frame_store == stores.resolve() / "ucf101" / "frames_native.h5"
    assert full.clip_store == stores.resolve() / "ucf101" / "frames_s128.h5"
    smoke = pipeline.data_paths(pipeline.Setup(profile="ucf101", data_dir=str(data),
                                               stores_dir=str(stores), smoke=True))
    assert smoke.frame_store == stores.resolve() / "ucf101-smoke" / "frames_native.h5"
    assert smoke.splits == stores.resolve() / "ucf101-smoke" / "ucfTrainTestlist"
    assert smoke.full_splits == data.resolve()  # the whole dataset's lists, for the forecast


def test_smoke_splits_pick_a_few_videos_of_a_few_classes(ucf_splits_dir, tmp_path):
    # a tree holding the listed videos of the first four classes (empty files: only their
    # names are read), in the official layout
    split = read_split(ucf_splits_dir, 1)
    tree = tmp_path / "UCF-101"
    for e in split.train + split.test:
        if e.label < 4:
            (tree / e.rel_path).parent.mkdir(parents=True, exist_ok=True)
            (tree / e.rel_path).write_bytes(b"")
    out = tmp_path / "smoke"
    names = pipeline.write_smoke_splits(tmp_path, ucf_splits_dir, out, 1, (22, 23, 24, 25))
    smoke = read_split(out, 1)  # the official parser accepts what we wrote
    assert (out / "trainlist01.txt").read_bytes().endswith(b"\r\n")
    assert smoke.class_names == split.class_names
    assert {e.label for e in smoke.train + smoke.test} == {0, 1, 2}
    per = pipeline.SMOKE_VIDEOS
    assert len(smoke.test) == 3 * per["test"]
    assert len([e for e in smoke.train if e.group >= 22]) == 3 * per["val"]
    assert len(smoke.train) == 3 * (per["train"] + per["val"])
    assert sorted(names) == sorted(e.name for e in smoke.train + smoke.test)
    # only one class has held-out videos in groups 22-25 with these val_groups
    (tmp_path / "few" / "UCF-101" / "ApplyEyeMakeup").mkdir(parents=True)
    for e in split.train + split.test:
        if e.label == 0:
            (tmp_path / "few" / "UCF-101" / e.rel_path).write_bytes(b"")
    with pytest.raises(UserError, match="at least 2 classes.*found 1"):
        pipeline.write_smoke_splits(tmp_path / "few", ucf_splits_dir, out, 1, (22,))
