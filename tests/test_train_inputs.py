"""Trainer inputs and internals: config validation, CLI usage errors, gradient accumulation
that ends with every epoch (exact resume), resume on other data, the DDP backend."""

from __future__ import annotations

import json
import re

import pytest
import torch
import torch.distributed as dist
from torch import nn

import helpers.training.runs as R
import helpers.training.train as T
from helpers.cli import main
from helpers.config import TrainConfig, get_profile
from helpers.data.splits import load_split_data
from helpers.errors import UserError
from helpers.utils import distributed as D


# ----------------------------------------------------------------------------- config
@pytest.mark.parametrize("change, message", [
    ({"schedule": "cosin"}, "Unknown schedule 'cosin'"),
    ({"optimizer": "adam"}, "Unknown optimizer 'adam'"),
    ({"model": "audio"}, "Unknown model"),
    ({"accum_steps": 0}, "accum_steps must be an integer >= 1"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1"),
    ({"num_epochs": 0}, "num_epochs must be an integer >= 1"),
    ({"num_epochs": 2.5}, "num_epochs must be an integer"),
    ({"lr": -0.1}, "lr must be a number > 0"),
    ({"lr": 0}, "lr must be a number > 0"),
    ({"lr": float("nan")}, "lr must be a number > 0"),
    ({"weight_decay": -1e-4}, "weight_decay must be a number >= 0"),
    ({"warmup_epochs": -1}, "warmup_epochs must be a number >= 0"),
    ({"label_smoothing": 1.0}, r"label_smoothing must be a number in \[0, 1\)"),
    ({"flip_p": 1.5}, r"flip_p must be a number in \[0, 1\]"),
    ({"crop_scale": (0.8, 0.2)}, "crop_scale must be two area fractions"),
    ({"num_workers": -1}, "num_workers must be an integer >= 0"),
    ({"eval_frames": 0}, "eval_frames must be an integer >= 1"),
    ({"val_groups": (0, 1)}, "val_groups must be positive group numbers"),
    ({"shortcut_type": "C"}, "Unknown shortcut_type 'C'"),
])
def test_config_refuses_values_no_run_can_use(change, message):
    base = get_profile("demo").config("frame")
    with pytest.raises(UserError, match=message):
        base.replace(**change)
    with pytest.raises(UserError, match=message):
        TrainConfig.from_dict({**base.to_dict(), **change})  # as a notebook or a saved run


def test_every_profile_is_valid_and_defaults_are_kept():
    from helpers.config import PROFILES

    for profile in PROFILES.values():
        for kind in ("frame", "clip"):
            cfg = profile.config(kind)
            assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig().replace(eval_frames=None, val_max_items=None).eval_frames is None


def test_lr_factor_refuses_an_unknown_schedule():
    cfg = get_profile("demo").config("frame")
    for schedule in ("cosine", "step", "constant"):
        cfg.schedule = schedule
        assert 0 < T.lr_factor(cfg, 5, 10) <= 1
    cfg.schedule = "cosin"  # changed in place, past the dataclass checks
    with pytest.raises(UserError, match="Unknown schedule 'cosin'"):
        T.lr_factor(cfg, 5, 10)


# ----------------------------------------------------------------------------- CLI
_TRAIN = ["train", "--model", "frame", "--store", "s.h5", "--splits", "splits", "--out", "r"]


@pytest.mark.parametrize("flag, value, message", [
    ("--schedule", "cosin", "invalid choice: 'cosin'"),
    ("--optimizer", "adam", "invalid choice: 'adam'"),
    ("--accum-steps", "0", "accum_steps must be an integer >= 1"),
    ("--batch-size", "0", "batch_size must be an integer >= 1"),
    ("--num-epochs", "0", "num_epochs must be an integer >= 1"),
    ("--num-epochs", "two", "expected a whole number, got 'two'"),
    ("--lr", "-0.01", "lr must be a number > 0"),
    ("--lr", "fast", "expected a number, got 'fast'"),
    ("--label-smoothing", "1", r"label_smoothing must be a number in \[0, 1\)"),
    ("--flip-p", "2", r"flip_p must be a number in \[0, 1\]"),
    ("--num-workers", "-1", "num_workers must be an integer >= 0"),
    ("--val-groups", "0-3", "group numbers start at 1"),
    ("--shortcut-type", "C", "invalid choice: 'C'"),
    ("--norm", "kinetics", "invalid choice: 'kinetics'"),
    ("--dropout", "1", r"dropout must be a number in \[0, 1\)"),
])
def test_train_cli_bad_value_is_a_usage_error(flag, value, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*_TRAIN, flag, value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert flag in err
    assert re.search(message, err), err


@pytest.mark.parametrize("args, message", [
    (["--eval-frames", "0"], "expected 'all' or a number >= 1"),
    (["--eval-frames", "many"], "expected 'all' or a number"),
    (["--batch-size", "0"], "0 is less than 1; use 1 or more"),
    (["--num-workers", "-2"], "-2 is negative; use 0 or more"),
])
def test_evaluate_cli_bad_value_is_a_usage_error(args, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--run-dir", "r", "--out", "p.h5", *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and args[0] in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["--probe", "sideways"], "invalid choice: 'sideways'"),
])
def test_evaluate_cli_bad_probe_is_a_usage_error(args, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--run-dir", "r", "--out", "p.h5", *args])
    assert exc.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("model, weights, message", [
    ("clip", "missing.pth", r"The Kinetics weights file .*missing\.pth does not exist"),
    ("frame", "missing.pth", r"missing\.pth"),
])
def test_train_cli_missing_weights_file_is_one_sentence(tiny_bench, tmp_path, capsys, model,
                                                        weights, message):
    args = ["train", "--model", model, "--profile", "ucf101", "--store", str(tiny_bench["store"]),
            "--splits", str(tiny_bench["splits"]), "--out", str(tmp_path / "r"),
            "--weights", str(tmp_path / weights)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert re.search(message, err) and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


def test_evaluate_cli_run_without_model_is_one_sentence(tmp_path, capsys):
    assert main(["evaluate", "--run-dir", str(tmp_path), "--out", str(tmp_path / "p.h5")]) == 1
    err = capsys.readouterr().err
    assert "holds no trained model (model.pt)" in err and len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- accumulation
def test_accumulation_groups_end_with_the_epoch():
    groups = T.accumulation_groups(17, 3)
    assert [size for size, _ in groups] == [3] * 15 + [2, 2]
    assert [i for i, (_, step) in enumerate(groups) if step] == [2, 5, 8, 11, 14, 16]
    assert T.optimizer_steps_per_epoch(17, 3) == 6
    assert T.accumulation_groups(6, 3) == [(3, False), (3, False), (3, True)] * 2
    assert all(step for _, step in T.accumulation_groups(4, 1))


def test_partial_group_gradient_is_the_mean_over_its_micro_batches():
    torch.manual_seed(0)
    net = nn.Linear(5, 3)
    x, y = torch.randn(8, 5), torch.randint(0, 3, (8,))
    cfg = get_profile("demo").config("frame").replace(accum_steps=3)
    crit = nn.CrossEntropyLoss()
    cpu = torch.device("cpu")
    for half in (slice(0, 4), slice(4, 8)):  # a last group of 2 micro-batches of 4
        T.training_step(net, x[half], y[half], crit, cfg, cpu, group_size=2)
    accumulated = net.weight.grad.clone()
    net.zero_grad()
    crit(net(x), y).backward()  # the whole batch at once
    torch.testing.assert_close(accumulated, net.weight.grad)


class _Stop(Exception):
    pass


def _cfg(**changes) -> TrainConfig:
    # 1 frame per training video, micro-batches of 24 / 3 = 8: the number of micro-batches
    # per epoch is not a multiple of 3, so the last accumulation group of each epoch is
    # smaller (checked in the test).
    return get_profile("demo").config("frame").replace(
        num_epochs=2, batch_size=24, accum_steps=3, crop_size=32, frames_per_video=1,
        num_workers=0, val_max_items=20, lr=0.003, **changes)


def test_accumulation_resume_is_exact_when_batches_do_not_divide(tiny_bench, tmp_path,
                                                                 monkeypatch):
    data = dict(store=tiny_bench["store"], splits=tiny_bench["splits"], split=1)
    cfg = _cfg()
    straight = T.train(cfg, out=tmp_path / "straight", **data)

    written = R.write_metrics

    def stop_after_first_epoch(out, history):
        written(out, history)
        raise _Stop

    monkeypatch.setattr(R, "write_metrics", stop_after_first_epoch)
    with pytest.raises(_Stop):
        T.train(cfg, out=tmp_path / "killed", **data)
    monkeypatch.setattr(R, "write_metrics", written)
    ckpt = torch.load(tmp_path / "killed" / R.CHECKPOINT, map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 1
    micro = len(load_split_data(tiny_bench["splits"], 1, cfg.val_groups).train_ids) // 8
    assert micro % 3  # the last group of the epoch is partial, and it steps too
    assert ckpt["scheduler"]["last_epoch"] == -(-micro // 3)

    # an interrupted run is not resumed on another split or store
    with pytest.raises(UserError, match=r"checkpoint\.pt was trained on other data \(split 1 -> 2"):
        T.train(cfg, out=tmp_path / "killed", resume=True,
                **{**data, "split": 2})

    T.train(cfg, out=tmp_path / "killed", resume=True, **data)
    a = torch.load(straight, map_location="cpu", weights_only=True)
    b = torch.load(tmp_path / "killed" / R.MODEL, map_location="cpu", weights_only=True)
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for k, v in a["state_dict"].items():
        w = b["state_dict"][k]
        assert (torch.equal(v, w) if torch.is_tensor(v) else v == w), k
    summary = json.loads((tmp_path / "killed" / "config.json").read_text())
    assert summary["data"]["split"] == 1 and len(summary["data"]["store_sha256"]) == 64


# ----------------------------------------------------------------------------- data identity
def test_data_identity_follows_content_not_path(tiny_bench, tmp_path):
    import shutil

    from helpers.data.store import VideoStore

    cfg = _cfg()
    moved = tmp_path / "moved.h5"
    shutil.copy(tiny_bench["store"], moved)
    ids = []
    for store, split in ((tiny_bench["store"], 1), (moved, 1), (moved, 2)):
        vs = VideoStore(store)
        data = load_split_data(tiny_bench["splits"], split, cfg.val_groups, vs.class_names)
        ids.append(R.data_identity(vs, data, split))
    assert ids[0]["store_sha256"] == ids[1]["store_sha256"]
    assert ids[0]["split_sha256"] == ids[1]["split_sha256"] != ids[2]["split_sha256"]
    R.check_same_data(ids[1], ids[0], tmp_path / "model.pt")  # a moved store is the same
    with pytest.raises(UserError, match=r"split 1 -> 2; split files with other"):
        R.check_same_data(ids[2], ids[0], tmp_path / "model.pt")
    other = dict(ids[0], store_sha256="0" * 64)
    with pytest.raises(UserError, match=r"other videos, classes or frame size.*another --out"):
        R.check_same_data(ids[0], other, tmp_path / "model.pt")
    # a run saved before the identity was recorded: its config.json's split and store
    (tmp_path / "config.json").write_text(json.dumps({"split": 2, "store": ids[0]["store"]}))
    legacy = R.saved_identity({}, tmp_path)
    with pytest.raises(UserError, match="split 2 -> 1"):
        R.check_same_data(ids[0], legacy, tmp_path / "model.pt")


# ----------------------------------------------------------------------------- DDP backend
def test_ddp_on_cuda_has_a_cpu_backend_for_the_running_sums(monkeypatch):
    seen = {}
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: seen.setdefault("device", device))
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group",
                        lambda backend=None, **kw: seen.setdefault("backend", backend))
    device = D.setup()
    assert device == torch.device("cuda", 0) and seen["device"] == device
    # NCCL alone rejects the CPU tensors that train and evaluate all-reduce
    backends = dict(p.split(":") for p in seen["backend"].split(","))
    assert backends == {"cpu": "gloo", "cuda": "nccl"}
    assert dist.Backend(seen["backend"]) == seen["backend"]  # a string torch accepts


def test_ddp_on_cpu_uses_gloo(monkeypatch):
    seen = {}
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group",
                        lambda backend=None, **kw: seen.setdefault("backend", backend))
    assert D.setup() == torch.device("cpu") and seen["backend"] == "gloo"


@pytest.mark.parametrize("name, on_cpu", [("gloo", True), ("nccl", False),
                                          ("cpu:gloo,cuda:nccl", True), ("cuda:nccl", False)])
def test_cpu_reductions_know_the_backend(name, on_cpu, monkeypatch):
    monkeypatch.setattr(dist, "get_backend", lambda group=None: name)
    assert D.reduces_on_cpu() is on_cpu
