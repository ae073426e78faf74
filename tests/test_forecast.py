"""The smoke run's forecast: what it says from the measured training rates, and what it says
for a model the smoke run did not train, and without TeX. The whole path runs in the
hostile rehearsal's cluster job (test_hostile_rehearsal.py)."""

from __future__ import annotations

import pytest

from helpers.errors import UserError
from helpers.workflow.forecast import Forecast, ModelForecast, format_forecast, measured_rate


def test_time_per_epoch_comes_from_the_measured_rate():
    m = ModelForecast("clip", items_per_epoch=1000, items_per_s=10.0, epochs=6, stages=2)
    assert m.seconds_per_epoch == 100.0
    text = format_forecast(Forecast(disk=[], models=[m]))
    assert "clip model: 1,000 items per epoch at 10.0/s measured here = 100 s per epoch, " \
           "10 min for 6 epochs over its 2 training stages" in text


def test_a_model_the_smoke_run_did_not_train_gets_no_time(tmp_path):
    assert measured_rate(tmp_path / "frame-holdout") is None
    m = ModelForecast("frame", items_per_epoch=76296, items_per_s=None, epochs=50, stages=2)
    assert m.seconds_per_epoch is None
    line = format_forecast(Forecast(disk=[], models=[m])).splitlines()[1]
    assert line == ("  frame model: 76,296 items per epoch; no time forecast, as this smoke run "
                    "did not train it (run its notebook too)")


def test_rate_is_the_last_epoch_and_a_torn_file_is_one_sentence(tmp_path):
    (tmp_path / "metrics.csv").write_text("epoch,train_items_per_s\n1,3.5\n2,4.25\n")
    assert measured_rate(tmp_path) == 4.25
    (tmp_path / "metrics.csv").write_text("epoch,train_items_per_s\n")
    with pytest.raises(UserError, match="holds no training rate"):
        measured_rate(tmp_path)


def test_a_smoke_run_without_tex_still_forecasts_the_whole_job():
    """No TeX on the node: no PDF in the smoke run, and none in the full job either (it is
    rendered later on a login node), so the job's total counts the notebooks alone."""
    from helpers.workflow.forecast import StepForecast, analysis_step
    from helpers.workflow.timings import Step

    notebooks = {"notebook 03_fusion_analysis": Step(20.0, 1), "notebook 04_report": Step(40.0, 1)}
    no_tex = analysis_step(notebooks)
    assert no_tex.seconds == 60.0 and "the PDF aside" in no_tex.name
    with_tex = analysis_step({**notebooks, "render": Step(15.0, 1)})
    assert (with_tex.name, with_tex.seconds) == ("the analysis and the PDF", 75.0)
    assert analysis_step({"render": Step(15.0, 1)}).seconds is None  # the notebooks did not run
    m = ModelForecast("clip", items_per_epoch=1000, items_per_s=10.0, epochs=6)
    text = format_forecast(Forecast(disk=[], models=[m], steps=[no_tex]))
    assert "the analysis (the PDF aside: it is rendered later, where TeX is): 60 s" in text
    assert "the whole job: about 11 min" in text
    unmeasured = StepForecast("the analysis and the PDF", None, "")
    assert "the whole job" not in format_forecast(Forecast(disk=[], models=[m],
                                                           steps=[unmeasured]))
