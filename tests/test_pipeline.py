"""The protocol as the notebooks run it: held-out models give the validation predictions,
and under `refit` the reported models are trained again on every training video; plus the
smoke run's split files and the setup's checks."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from helpers import config
from helpers.data.splits import read_split
from helpers.errors import UserError
from helpers.evaluation.choices import Choices, EpochChoice
from helpers.evaluation.predictions import load
from helpers.training.records import RunRecord
from helpers.training.runs import CONFIG_JSON
from helpers.workflow import pipeline, protocol


@pytest.fixture
def refit_demo(monkeypatch):
    """The demo profile under the `ucf101` profile's protocol and choices."""
    demo = config.PROFILES["demo"]
    monkeypatch.setitem(config.PROFILES, "demo", dataclasses.replace(
        demo, protocol="refit", choose_three_crop=True))


def test_refit_protocol_on_the_tiny_configuration(fast_run):
    """The shared `report --fast --protocol refit` run: the held-out models leave out g22-g25
    and give the validation predictions; the reported ones train the same schedule on every
    training video and give the test predictions; fusion is fitted on the held-out groups."""
    from helpers.evaluation import results

    run = pipeline.RunPaths(fast_run.run, protocol="refit")
    listed = read_split(fast_run.splits, 1)
    held = [e for e in listed.train if e.group in (22, 23, 24, 25)]
    for kind in ("frame", "clip"):
        fit_on = json.loads((run.model_dir(kind, "holdout") / CONFIG_JSON).read_text())
        final = json.loads((run.model_dir(kind) / CONFIG_JSON).read_text())
        assert fit_on["num_train"] == len(listed.train) - len(held) and held
        assert final["num_train"] == len(listed.train)  # every training video
        assert final["config"]["val_groups"] == [] and final["num_val"] == 0
        choice = Choices.read(run.root).epochs(kind)
        # the held-out model's schedule: its epochs, its recipe, more steps per epoch
        assert final["config"]["num_epochs"] == fit_on["config"]["num_epochs"]
        assert {k: v for k, v in final["config"].items() if k != "val_groups"} == \
            {k: v for k, v in fit_on["config"].items() if k != "val_groups"}
        assert choice.value == fit_on["config"]["num_epochs"]
        assert choice.fitted_on.checkpoint == f"{kind}-holdout/model.pt"
        val, test = load(run.predictions(kind, "val")), load(run.predictions(kind, "test"))
        assert val.attrs["checkpoint"] == str(run.model_dir(kind, "holdout") / "model.pt")
        assert test.attrs["checkpoint"] == str(run.model_dir(kind) / "model.pt")
        assert set(val.video_ids) == {e.name for e in held}
    for probe in ("reversed", "shuffled", "static"):
        pred = load(run.predictions("clip", "test", probe))
        assert pred.attrs["probe"] == probe
    res = results.analyze(run, n_boot=50)
    # fusion was fitted on the held-out models' validation predictions
    fit = json.loads((run.fusion_dir / "fusion.json").read_text())
    assert fit["num_val_videos"] == len(held) and res.fit.chosen == fit["chosen"]


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


# ----------------------------------------------------------------------------- refit schedule
def _held_out_model(run, kind: str, cfg) -> None:
    """A held-out model.pt that records `cfg` (only its config is read)."""
    import torch

    out = run.model_dir(kind, "holdout")
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"config": cfg.to_dict()}, out / "model.pt")


def test_reported_model_trains_the_held_out_schedule_over_more_steps(tmp_path):
    from helpers.training.train import lr_factor

    setup = pipeline.Setup(profile="ucf101", run_dir=str(tmp_path))
    run = pipeline.run_paths(setup)
    held_cfg = pipeline.train_config(setup, "clip", "holdout").replace(num_epochs=12)
    _held_out_model(run, "clip", held_cfg)
    reported = protocol.reported_config("clip", run,
                                        pipeline.train_config(setup, "clip", "reported"))
    assert reported.num_epochs == 12 and reported.val_groups == ()
    record = Choices.read(run.root).epochs("clip")
    assert record.value == 12 and record.fitted_on.checkpoint == "clip-holdout/model.pt"
    assert len(record.fitted_on.sha256) == 64
    # split 1: 7,430 videos without the held-out groups, 9,537 with them, 64 a batch
    steps = {"held": 7430 // 64, "reported": 9537 // 64}
    for progress in np.linspace(0, 0.999, 200):
        held = lr_factor(held_cfg, int(progress * 12 * steps["held"]), steps["held"])
        again = lr_factor(reported, int(progress * 12 * steps["reported"]), steps["reported"])
        assert again == pytest.approx(held, abs=0.005), progress
    # what a cut of the longer schedule would have been: at 12 of 20 epochs, far from zero
    cut = held_cfg.replace(num_epochs=20)
    assert lr_factor(cut, 12 * steps["held"] - 1, steps["held"]) > 0.3
    assert lr_factor(reported, 12 * steps["reported"] - 1, steps["reported"]) < 0.001


def test_a_ucf101_smoke_runs_reported_clip_model_trains_the_held_out_recipe(tmp_path):
    """What a `--smoke` run of the real profile trains under refit: the held-out clip
    model's recipe, on every training video (no held-out groups)."""
    setup = pipeline.Setup(profile="ucf101", smoke=True, run_dir=str(tmp_path))
    run = pipeline.run_paths(setup)
    held = pipeline.train_config(setup, "clip", "holdout")
    _held_out_model(run, "clip", held)
    reported = protocol.reported_config("clip", run,
                                        pipeline.train_config(setup, "clip", "reported"))
    assert held.val_groups and reported.val_groups == ()
    assert reported.replace(val_groups=held.val_groups) == held
    assert (reported.arch, reported.crop_size, reported.clip_len) == ("r3d50", 112, 16)


def test_reported_model_that_would_not_reproduce_its_held_out_model_is_refused(tmp_path):
    setup = pipeline.Setup(profile="ucf101", run_dir=str(tmp_path))
    run = pipeline.run_paths(setup)
    _held_out_model(run, "frame", pipeline.train_config(setup, "frame").replace(lr=0.1))
    with pytest.raises(UserError, match=r"would not reproduce .*lr: 0\.1 -> 0\.01"):
        protocol.reported_config("frame", run,
                                 pipeline.train_config(setup, "frame", "reported"))


def test_an_older_runs_epoch_choice_is_refused_where_the_reported_model_began_with_it(tmp_path):
    setup = pipeline.Setup(profile="ucf101", run_dir=str(tmp_path))
    run = pipeline.run_paths(setup)
    cfg = pipeline.train_config(setup, "clip", "reported")
    _held_out_model(run, "clip", pipeline.train_config(setup, "clip"))  # 20 epochs
    old = EpochChoice(7, "epoch of the lowest validation loss of the held-out model")
    Choices().with_epochs("clip", old).write(run.root)
    assert "fitted_on" not in json.loads(run.choices.read_text())["clip"]["num_epochs"]
    # begun: config.json and a checkpoint of a 7-epoch run -> it resumes exactly
    reported_dir = run.model_dir("clip")
    reported_dir.mkdir(parents=True)
    RunRecord(config=cfg.replace(num_epochs=7), store="store.h5", splits="splits", split=1,
              num_train=1).write(reported_dir)
    (reported_dir / "checkpoint.pt").write_bytes(b"")
    with pytest.raises(UserError, match="under an older rule") as exc:  # one sentence
        protocol.reported_config("clip", run, cfg)
    assert str(exc.value).count(". ") == 0
    assert Choices.read(run.root).epochs("clip") == old
    # not begun (no checkpoint yet): the held-out model's schedule, and the record says so
    (reported_dir / "checkpoint.pt").unlink()
    assert protocol.reported_config("clip", run, cfg).num_epochs == 20
    record = Choices.read(run.root).epochs("clip")
    assert record.value == 20 and record.rule == pipeline.NUM_EPOCHS_RULE


def test_epochs_from_validation_is_refused_in_one_sentence(monkeypatch):
    ucf = config.PROFILES["ucf101"]
    monkeypatch.setitem(config.PROFILES, "ucf101",
                        dataclasses.replace(ucf, epochs_from_validation=True))
    with pytest.raises(UserError, match="each candidate length would need its own complete "
                                        "schedule") as exc:
        pipeline.Setup(profile="ucf101")
    assert str(exc.value).count(". ") == 0
    assert pipeline.Setup(profile="ucf101", protocol="holdout").protocol == "holdout"
    assert not any(p.epochs_from_validation for p in (ucf, config.PROFILES["demo"]))


def test_protocol_comes_from_the_profile_or_the_setup_and_names_the_run(tmp_path):
    assert pipeline.Setup().protocol == "holdout"
    assert pipeline.Setup(profile="ucf101").protocol == "refit"
    assert pipeline.run_paths(pipeline.Setup(protocol="refit")).root.name == "demo-refit"
    assert pipeline.run_paths(pipeline.Setup(protocol="holdout")).root.name == "demo"
    assert pipeline.run_paths(pipeline.Setup(profile="ucf101", protocol="holdout",
                                             split=2)).root.name == "ucf101-holdout-split2"
    assert pipeline.run_paths(pipeline.Setup(protocol="refit", fast=True)).root.name == \
        "demo-refit-fast"
    with pytest.raises(UserError, match="Unknown protocol 'retrain'"):
        pipeline.Setup(protocol="retrain")
    # a run folder never mixes the protocols
    (tmp_path / "frame-holdout").mkdir()
    with pytest.raises(UserError, match="holds models of the refit protocol.*--protocol refit"):
        protocol.check_protocol(pipeline.RunPaths(tmp_path, "holdout"))
    protocol.check_protocol(pipeline.RunPaths(tmp_path, "refit"))
    other = tmp_path / "other"
    (other / "clip").mkdir(parents=True)
    RunRecord(config=config.get_profile("demo").config("clip").replace(val_groups=(22,)),
              store="store.h5", splits="splits", split=1, num_train=1).write(other / "clip")
    with pytest.raises(UserError, match="holds models of the holdout protocol"):
        protocol.check_protocol(pipeline.RunPaths(other, "refit"))
