"""The typed records of a run folder other than config.json: choices.json (`Choices`),
weights.json (`WeightsRecord`) and fusion.json's parameters (`FusionParams`). Each writes and
reads back equal, keeps the layout older runs wrote (so their files still read), and refuses a
malformed or older file in one sentence."""

from __future__ import annotations

import json

import pytest

from helpers.errors import UserError
from helpers.evaluation.choices import (
    CHOICES_JSON,
    Choices,
    CropChoice,
    EpochChoice,
    FittedOn,
    HeadChoice,
)
from helpers.evaluation.fusion import FusionFit, FusionParams, StackingParams, WeightedParams
from helpers.training.weights_record import WEIGHTS_JSON, RecordedWeights, WeightsRecord


def _one_sentence(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and text.endswith(".") and text.count(". ") == 0, text
    return text


# ----------------------------------------------------------------------------- choices.json
HELD = FittedOn("frame-holdout/model.pt", "ab" * 32)
CHOICES = Choices(
    num_epochs={"frame": EpochChoice(18, "the held-out model's", HELD),
                "clip": EpochChoice(14, "the held-out model's",
                                    FittedOn("clip-holdout/model.pt", "cd" * 32))},
    three_crop=CropChoice(True, "three crops when higher", HELD, {"1 crop": 0.5, "3 crops": 0.6}),
    head=HeadChoice("gru", False, "lowest log-loss", {"gru": 1.2, "mean guarded": 1.4}, HELD))
# What `record_choice` wrote before the record was typed (the layout stays).
OLD_LAYOUT = {
    "frame": {"num_epochs": {"value": 18, "rule": "the held-out model's",
                             "fitted_on": HELD.to_json()},
              "three_crop": {"value": True, "rule": "three crops when higher",
                             "val_top1": {"1 crop": 0.5, "3 crops": 0.6},
                             "fitted_on": HELD.to_json()}},
    "clip": {"num_epochs": {"value": 14, "rule": "the held-out model's",
                            "fitted_on": {"checkpoint": "clip-holdout/model.pt",
                                          "sha256": "cd" * 32}}},
    "head": {"candidate": {"value": "gru", "guard": False, "rule": "lowest log-loss",
                           "val_log_loss": {"gru": 1.2, "mean guarded": 1.4},
                           "fitted_on": HELD.to_json()}},
}


def test_choices_write_and_read_back_in_the_layout_older_runs_wrote(tmp_path):
    assert Choices.read(tmp_path) == Choices()  # none made yet
    CHOICES.write(tmp_path)
    assert json.loads((tmp_path / CHOICES_JSON).read_text()) == OLD_LAYOUT
    assert Choices.read(tmp_path) == CHOICES
    (tmp_path / CHOICES_JSON).write_text(json.dumps(OLD_LAYOUT))
    assert Choices.read(tmp_path) == CHOICES
    # one choice added keeps the others
    later = Choices.read(tmp_path).with_epochs("clip", EpochChoice(20, "r", HELD))
    assert later.epochs("frame") == CHOICES.epochs("frame") and later.head == CHOICES.head


def test_an_older_runs_epoch_choice_reads_without_its_checkpoint(tmp_path):
    # an older run's rule recorded no `fitted_on`; the report refuses it (test_prose)
    old = {"clip": {"num_epochs": {"value": 7, "rule": "epoch of the lowest validation loss"}},
           "frame": {"three_crop": {"value": False, "rule": "r", "fitted_on": HELD.to_json()}}}
    (tmp_path / CHOICES_JSON).write_text(json.dumps(old))
    choices = Choices.read(tmp_path)
    assert choices.epochs("clip") == EpochChoice(7, "epoch of the lowest validation loss")
    assert choices.epochs("frame") is None and choices.three_crop.val_top1 == {}
    assert choices.to_json() == old


@pytest.mark.parametrize("content, says", [
    ({"clip": {"num_epochs": {"rule": "r"}}}, "clip num_epochs lacks value"),
    ({"frame": {"three_crop": {"value": True, "rule": "r"}}}, "frame three_crop lacks fitted_on"),
    ({"head": {"candidate": {"value": "gru", "guard": False, "rule": "r",
                             "val_log_loss": [], "fitted_on": HELD.to_json()}}},
     "head candidate"),
    ({"clip": {"num_epochs": {"value": "seven", "rule": "r"}}}, "clip num_epochs"),
    (["not", "an", "object"], "is not a JSON object"),
])
def test_a_malformed_choices_json_is_refused_in_one_sentence(tmp_path, content, says):
    (tmp_path / CHOICES_JSON).write_text(json.dumps(content))
    with pytest.raises(UserError) as exc:
        Choices.read(tmp_path)
    text = _one_sentence(exc)
    assert says in text and str(tmp_path / CHOICES_JSON) in text
    assert text.endswith("delete it to make the choices again.")


# ----------------------------------------------------------------------------- weights.json
WEIGHTS = WeightsRecord(
    frame=RecordedWeights("/w/resnet50-11ad3fa6.pth", "11ad3fa6" * 8,
                          "torchvision resnet50 IMAGENET1K_V2", True, (102_540_417, 17)),
    clip=None)


def test_weights_write_and_read_back_in_the_layout_older_runs_wrote(tmp_path):
    assert WeightsRecord.read(tmp_path) == WeightsRecord()  # none recorded: from scratch
    WEIGHTS.write(tmp_path)
    assert json.loads((tmp_path / WEIGHTS_JSON).read_text()) == {
        "frame": {"path": "/w/resnet50-11ad3fa6.pth", "sha256": "11ad3fa6" * 8,
                  "name": "torchvision resnet50 IMAGENET1K_V2", "published": True,
                  "stamp": [102_540_417, 17]},
        "clip": None}
    assert WeightsRecord.read(tmp_path) == WEIGHTS
    assert WEIGHTS.get("frame") is WEIGHTS.frame and WEIGHTS.get("clip") is None
    # an entry without its stamp is read (and its file identified again when recorded)
    (tmp_path / WEIGHTS_JSON).write_text(json.dumps({"clip": {
        "path": "/w/r3d50.pth", "sha256": "0" * 64, "name": "Hara R3D-50", "published": False}}))
    assert WeightsRecord.read(tmp_path).clip.stamp is None


@pytest.mark.parametrize("content, says", [
    ({"clip": {"sha256": "f" * 64}}, "malformed entry for the clip model (it lacks path)"),
    ({"frame": {"path": "/w", "sha256": "0", "name": "n", "stamp": "x"}},
     "malformed entry for the frame model"),
    ({"frame": "resnet50.pth"}, "malformed entry for the frame model"),
    ([1, 2], "is not a JSON object"),
])
def test_a_malformed_weights_json_is_refused_in_one_sentence(tmp_path, content, says):
    (tmp_path / WEIGHTS_JSON).write_text(json.dumps(content))
    with pytest.raises(UserError) as exc:
        WeightsRecord.read(tmp_path)
    text = _one_sentence(exc)
    assert says in text and "identifies the weights again" in text


# ----------------------------------------------------------------------------- fusion params
PARAMS = FusionParams(WeightedParams(0.35, 0.05),
                      StackingParams(l2=0.01, w_a=0.8, w_b=1.25, bias=(0.1, -0.1, 0.0)))


def test_fusion_params_keep_fusion_jsons_layout():
    raw = PARAMS.to_json()
    assert raw == {"mean": {}, "weighted": {"w": 0.35, "step": 0.05}, "product": {},
                   "stacking": {"l2": 0.01, "w_a": 0.8, "w_b": 1.25, "bias": [0.1, -0.1, 0.0],
                                "converged": True}}
    assert FusionParams.from_json(json.loads(json.dumps(raw))) == PARAMS
    assert [PARAMS.of(m) for m in ("mean", "weighted", "product", "stacking")] == [
        None, PARAMS.weighted, None, PARAMS.stacking]
    with pytest.raises(UserError, match="Unknown fusion method 'max'"):
        PARAMS.of("max")


@pytest.mark.parametrize("params", [
    {"mean": {}, "weighted": {"w": 0.5, "step": 0.05}, "product": {},
     "stacking": {"C": 1.0, "coef": [], "intercept": []}},  # an older full regression
    {"mean": {}, "weighted": {"step": 0.05}, "product": {}, "stacking": {}},
    {"weighted": None},
])
def test_older_fusion_params_are_refused_in_one_sentence(params):
    with pytest.raises(UserError) as exc:
        FusionParams.from_json(params)
    text = _one_sentence(exc)
    assert "older version of this code" in text and text.endswith("fit the fusion again.")
    with pytest.raises(UserError, match="older version"):  # the same through fusion.json
        FusionFit.from_json({"chosen": "mean", "selection": "", "params": params,
                             "val_scores": {}, "val_single": {}, "val_single_nll": {},
                             "num_val_videos": 2, "class_names": [], "seed": 0})
