"""The `refit` protocol end to end on the tiny configuration (`report --fast --protocol
refit`): the reported models train the held-out models' schedule, every choice names the
checkpoint it was fitted on, the PDF says so, and `bench refit` measures the transfer (its
table is printed: run with -s to read it). It reads the shared `fast_run`."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from helpers.cli import main
from helpers.evaluation.choices import Choices, FittedOn
from helpers.tools.bench.refit import bench_refit, format_result
from helpers.utils.io import sha256_file


@pytest.fixture
def refit_run(fast_run):
    """The shared end-to-end run (conftest's `fast_run`) is a refit run."""
    return {"root": fast_run.root, "pdf": fast_run.pdf, "run": fast_run.run,
            "env": fast_run.env}


def test_reported_models_train_the_held_out_schedule_and_choices_name_their_checkpoint(
        refit_run):
    run = refit_run["run"]
    choices = Choices.read(run)
    for kind in ("frame", "clip"):
        held = json.loads((run / f"{kind}-holdout" / "config.json").read_text())
        reported = json.loads((run / kind / "config.json").read_text())
        assert reported["num_train"] > held["num_train"] and reported["num_val"] == 0
        assert reported["config"] == {**held["config"], "val_groups": []}
        record = choices.epochs(kind)
        assert record.value == held["config"]["num_epochs"]
        assert record.fitted_on == FittedOn(f"{kind}-holdout/model.pt",
                                            sha256_file(run / f"{kind}-holdout" / "model.pt"))
    fusion = json.loads((run / "fusion" / "fusion.json").read_text())
    for kind in ("frame", "clip"):
        assert fusion["fitted_on"][kind]["checkpoint"] == f"{kind}-holdout/model.pt"
    # the temporal head: chosen on the held-out frame model's features, then trained again
    # on every training video under the reported one
    assert choices.head.fitted_on.checkpoint == "frame-holdout/model.pt"
    assert (run / "head" / "holdout.pt").is_file() and (run / "head" / "reported.pt").is_file()


def test_pdf_says_how_long_the_reported_models_trained_and_what_was_carried_over(refit_run):
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed")
    text = subprocess.run(["pdftotext", str(refit_run["pdf"]), "-"], capture_output=True,
                          text=True, check=True).stdout
    joined = " ".join(text.split()).replace("’", "'")  # pandoc's typographic apostrophe
    assert "as many epochs as the held-out models" in joined
    assert "Carried over unchanged from the held-out models' final checkpoints" in joined


def test_bench_refit_measures_the_transfer(refit_run, capsys, monkeypatch):
    for key in ("UCF_DATA_DIR", "UCF_RUNS_DIR"):
        monkeypatch.setenv(key, refit_run["env"][key])
    result = bench_refit(refit_run["run"])
    assert [m.model for m in result.models] == ["frame", "clip"]
    assert [f.method for f in result.fusion] == ["mean", "weighted", "product", "stacking"]
    assert sum(f.chosen for f in result.fusion) == 1
    for row in [*result.models, *result.fusion]:
        assert 0 <= row.holdout_top1 <= 1 and 0 <= row.reported_top1 <= 1
        assert row.holdout_nll > 0 and row.reported_nll > 0
    assert (refit_run["run"] / "predictions" / "holdout" / "clip_test.h5").is_file()
    # the command prints the same tables
    assert main(["bench", "refit", "--run", str(refit_run["run"])]) == 0
    out = capsys.readouterr().out
    assert format_result(result) in out and "| stacking" in out
    with capsys.disabled():
        print("\n" + out)


def test_bench_refit_refuses_a_run_that_is_not_a_finished_refit_run(tmp_path, capsys):
    assert main(["bench", "refit", "--run", str(tmp_path)]) == 1
    assert "is not a finished refit run" in capsys.readouterr().err
