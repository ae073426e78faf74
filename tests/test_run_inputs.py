"""What a student gets wrong on a cluster is caught up front, in one sentence: no working GPU
for the ucf101 profile, real videos under the demo profile, notebooks of one run with
different parameters, a malformed batch size."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers.cli import main
from helpers.errors import UserError
from helpers.utils import environment
from helpers.workflow import pipeline
from helpers.workflow.pipeline import Setup


# ----------------------------------------------------------------------------- device
@pytest.mark.parametrize(("kw", "words"), [
    (dict(cuda_available=False, torch_cuda=None, driver=None), "CPU-only wheel"),
    (dict(cuda_available=False, torch_cuda="13.0", driver=""), "no NVIDIA GPU or driver"),
    (dict(cuda_available=False, torch_cuda="13.0", driver="535.104.05"),
     "driver 535.104.05 is too old for this torch build (CUDA 13.0 needs driver 580"),
    (dict(cuda_available=False, torch_cuda="12.6", driver="470.82"), "needs driver 525"),
    (dict(cuda_available=False, torch_cuda="13.0", driver="590.1", visible=""),
     "CUDA_VISIBLE_DEVICES=''"),
])
def test_the_reason_for_no_gpu_is_named(kw, words):
    assert words in environment.diagnose(**kw)


def test_a_working_gpu_has_nothing_to_diagnose():
    assert environment.diagnose(cuda_available=True, torch_cuda="13.0", driver="1") == ""


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
def test_ucf101_smoke_without_a_gpu_stops_in_one_sentence_unless_cpu_is_asked(
        tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("UCF_RUNS_DIR", str(tmp_path / "runs"))
    data = tmp_path / "ucf101"
    data.mkdir()
    argv = ["report", "--profile", "ucf101", "--smoke", "--data", str(data),
            "--run", str(tmp_path / "run"), "--only", "01"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs a GPU" in err[0] and "--cpu" in err[0], err
    assert not (tmp_path / "run").exists()
    # asked for on purpose, the run gets past the device check (and stops at the weights)
    assert main(argv + ["--cpu"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs a GPU" not in err[0] and "weights" in err[0].lower(), err


def test_the_demo_profile_needs_no_gpu():
    environment.check_device("demo", needs_gpu=False, allow_cpu=False)


def test_the_environment_is_described_for_the_report():
    env = environment.current(torch.device("cpu"))
    assert env.device == "cpu" and env.torch == torch.__version__
    assert "CPU" in env.describe()
    gpu = environment.Environment("cuda", "NVIDIA H200", 4, "2.14.1+cu130", "13.0", "580.65",
                                  "node1")
    assert gpu.describe().startswith("4 × NVIDIA H200 (driver 580.65")
    assert environment.Environment.from_dict(gpu.to_dict()) == gpu


# ----------------------------------------------------------------------------- data
def test_real_videos_under_the_demo_profile_are_refused(tmp_path):
    (tmp_path / "UCF-101" / "ApplyEyeMakeup").mkdir(parents=True)
    with pytest.raises(UserError, match="PROFILE=ucf101"):
        pipeline.data_paths(Setup(data_dir=str(tmp_path)))
    # the synthetic benchmark written by `synth` stays the demo's data
    (tmp_path / "classes.json").write_text("{}")
    assert pipeline.data_paths(Setup(data_dir=str(tmp_path))).synthetic


def test_make_report_with_real_data_and_no_profile_is_one_sentence(tmp_path, capsys,
                                                                   monkeypatch):
    monkeypatch.setenv("UCF_RUNS_DIR", str(tmp_path / "runs"))
    (tmp_path / "UCF-101" / "ApplyEyeMakeup").mkdir(parents=True)
    assert main(["report", "--data", str(tmp_path), "--only", "01",
                 "--run", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "PROFILE=ucf101" in err[0], err
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------- batch
def test_batch_size_reaches_the_models(tmp_path):
    setup = Setup(batch_size="frame=32,clip=8", accum_steps=2, amp=False)
    frame = pipeline.train_config(setup, "frame")
    clip = pipeline.train_config(setup, "clip")
    assert (frame.batch_size, clip.batch_size) == (32, 8)
    assert frame.accum_steps == clip.accum_steps == 2 and not frame.amp
    assert pipeline.train_config(Setup(batch_size="16"), "clip").batch_size == 16
    assert pipeline.train_config(Setup(), "frame").batch_size == \
        pipeline.get_profile("demo").frame.batch_size


@pytest.mark.parametrize("bad", ["big", "frame=0", "frames=8", "-4"])
def test_a_malformed_batch_size_is_one_sentence(bad):
    with pytest.raises(UserError, match="batch_size"):
        Setup(batch_size=bad)


def test_make_report_passes_batch_accum_and_amp():
    make = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    for flag in ("--batch-size", "--accum-steps", "--no-amp", "--cpu"):
        assert flag in make


# ----------------------------------------------------------------------------- notebooks
@pytest.fixture()
def runs(tmp_path, monkeypatch):
    from helpers.workflow import parameters

    monkeypatch.setattr(parameters, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(pipeline, "RUNS_DIR", tmp_path / "runs")
    return tmp_path / "runs"


def _namespace(setup: Setup) -> dict:
    return {**setup.__dict__, "display": print}


def test_parameters_are_set_once_per_run(runs, tmp_path):
    first = Setup(profile="demo", fast=True, split=2, run_dir=str(tmp_path / "r"))
    assert pipeline.notebook_setup(_namespace(first)) == first
    assert (tmp_path / "r" / pipeline.SETUP_JSON).is_file()
    # a later notebook left at its defaults reuses that run ...
    again = pipeline.notebook_setup(_namespace(Setup()))
    assert again.split == 2 and again.fast and Path(again.run_dir) == (tmp_path / "r").resolve()
    # ... one that says the same is accepted, and knobs that do not change results may differ
    assert pipeline.notebook_setup(_namespace(first.replace(cpu=True, accum_steps=2))).cpu
    # ... one that disagrees with the run folder is refused
    with pytest.raises(UserError, match="split = 2"):
        pipeline.notebook_setup(_namespace(first.replace(split=1)))


def test_without_a_run_set_up_defaults_are_the_demo(runs):
    setup = pipeline.notebook_setup(_namespace(Setup()))
    assert setup.profile == "demo" and (runs / pipeline.CURRENT_RUN).is_file()


def test_later_notebooks_read_the_recorded_setup(runs, tmp_path, capsys):
    first = Setup(profile="demo", fast=True, split=2, run_dir=str(tmp_path / "r"))
    pipeline.notebook_setup(_namespace(first.replace(batch_size="16")))
    resolved = first.replace(run_dir=str((tmp_path / "r").resolve()))
    # run_dir empty: the run set up last, said in a line; empty overrides keep the record
    assert pipeline.run_setup("", batch_size="", accum_steps=0) == resolved.replace(
        batch_size="16")
    assert "the run set up last" in capsys.readouterr().out
    # named: that folder, with the overrides given
    assert pipeline.run_setup(str(tmp_path / "r"), batch_size="8", accum_steps=2) == \
        resolved.replace(batch_size="8", accum_steps=2)
    # notebook 01 run again with other knobs records them for the notebooks after it
    pipeline.notebook_setup(_namespace(first.replace(cpu=True)))
    assert pipeline.run_setup("").cpu and pipeline.run_setup("").batch_size == ""
    with pytest.raises(UserError, match="set them in notebook 01"):
        pipeline.run_setup("", split=1)
    with pytest.raises(UserError, match="Unknown parameter"):
        pipeline.run_setup("", batch=8)


def test_later_notebooks_without_a_run_say_to_run_notebook_01(runs, tmp_path):
    with pytest.raises(UserError, match="run notebook 01 first") as err:
        pipeline.run_setup("")
    assert "\n" not in str(err.value)
    (tmp_path / "bare").mkdir()
    with pytest.raises(UserError, match=r"bare has no setup\.json; run notebook 01") as err:
        pipeline.run_setup(str(tmp_path / "bare"))
    assert "\n" not in str(err.value)


def test_out_of_memory_says_what_to_lower(tmp_path, monkeypatch):
    import helpers.training.train as trainer

    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(trainer, "train", oom)
    setup = Setup(run_dir=str(tmp_path / "run"), accum_steps=2)
    data = pipeline.DataPaths(tmp_path, tmp_path, tmp_path / "f.h5", tmp_path / "c.h5", True)
    with pytest.raises(UserError, match=r"ACCUM=4 .*BATCH=") as err:
        pipeline.train_model(setup, "clip", data, pipeline.run_paths(setup))
    assert "\n" not in str(err.value) and "8 clips per step" in str(err.value)


def test_papermill_reads_every_parameter_of_every_notebook():
    """papermill parses the parameters cell line by line; a comment it cannot parse drops the
    parameter from `papermill --help-notebook` and warns on every run. `helpers report` passes
    each notebook exactly what it declares: every Setup field to 01, the short set to 02-04."""
    import dataclasses
    import json

    from papermill.translators import PythonTranslator

    from helpers.workflow.notebooks import find_notebooks
    from helpers.workflow.report import notebook_parameters

    fields = [f.name for f in dataclasses.fields(Setup)]
    for path in find_notebooks():
        cell = json.loads(path.read_text())["cells"][0]
        names = [p.name for p in PythonTranslator.inspect({"source": "".join(cell["source"])})]
        passed = notebook_parameters(path, Setup(run_dir="/some/run", batch_size="8"))
        assert list(passed) == names, path.name
        if path.name.startswith("01"):
            assert names == fields
        else:
            assert names[0] == "run_dir" and len(names) <= 3 and set(names) < set(fields)
            assert passed["run_dir"] == "/some/run"
