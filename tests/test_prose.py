"""The report's sentences (helpers.reporting.prose), branch by branch, on small synthetic
results: ties, empty lists, one class, 101 classes, fusion that helped or did not, runs with
and without temporal probes or class kinds. Each test asserts the words the report prints."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support import true_prob_predictions

from helpers.config import TrainConfig
from helpers.errors import UserError
from helpers.evaluation import probes
from helpers.evaluation.choices import Choices, CropChoice, EpochChoice, FittedOn
from helpers.evaluation.claims import ClassClaims, Ends, class_claims
from helpers.evaluation.fusion import (
    METHODS,
    FusionFit,
    FusionParams,
    MethodScore,
    StackingParams,
    WeightedParams,
)
from helpers.evaluation.metrics import rank_classes, summarize
from helpers.evaluation.predictions import Predictions
from helpers.evaluation.results import (
    CLIP,
    FRAME,
    FUSED,
    HeldOut,
    Results,
    class_tests,
    eval_config,
    per_class_table,
    topk_gains,
)
from helpers.evaluation.stats import PER_CLASS, Gain, PairedTest, accuracy_cis
from helpers.paths import DataPaths, RunPaths
from helpers.reporting import prose, tables
from helpers.training.records import RunRecord


# ----------------------------------------------------------------------------- builder
def _test(b: int, c: int, p: float, clusters: int = 12) -> PairedTest:
    return PairedTest(b=b, c=c, n_discordant=b + c, clusters=clusters, informative=b + c,
                      p_value=p)


YES = Gain(gain=0.08, lo=0.03, hi=0.13, test=_test(9, 1, 0.0215))
NO = Gain(gain=-0.06, lo=-0.1, hi=-0.02, test=_test(1, 8, 0.039))
UNSURE = Gain(gain=0.01, lo=-0.02, hi=0.04, test=_test(3, 2, 1.0))


def _pred(names: list[str], labels: list[int], preds: list[int], clusters: int = 2,
          **attrs: float) -> Predictions:
    """Predictions that give `preds[i]` to video i (probability 0.9, the rest spread); video
    i is in group 1 + i % `clusters` of its class."""
    c = len(names)
    probs = np.full((len(labels), c), 0.1 / c)
    probs[np.arange(len(labels)), preds] += 0.9
    ids = [f"v_{names[y]}_g{1 + i % clusters:02d}_c{i:02d}" for i, y in enumerate(labels)]
    return Predictions(ids, labels, probs, names, attrs)


def build(names: list[str], labels: list[int], frame: list[int], clip: list[int],
          fused: list[int] | None = None, *, chosen: str = "mean", gain: Gain = UNSURE,
          gain_chosen: Gain = UNSURE, kinds: dict[str, str] | None = None,
          probes: tuple[pd.DataFrame, pd.DataFrame] | None = None,
          held: list[int] | None = None, frame_accuracy: float | None = 0.5,
          clusters: int = 2) -> Results:
    """Results of three models whose predicted class per test video is given."""
    unit = {} if frame_accuracy is None else {"frame_accuracy": frame_accuracy}
    test = {FRAME: _pred(names, labels, frame, clusters, **unit),
            CLIP: _pred(names, labels, clip, clusters, clip_accuracy=0.6),
            FUSED: _pred(names, labels, clip if fused is None else fused, clusters)}
    summaries = {m: summarize(p) for m, p in test.items()}
    tests = class_tests(test, n_boot=200)
    nll = {m: 1.0 + 0.1 * i for i, m in enumerate(METHODS)}
    nll[chosen] = 0.5
    fit = FusionFit(chosen=chosen, selection="lowest validation NLL",
                    params=FusionParams(WeightedParams(0.5, 0.05),
                                        StackingParams(0.1, 0.5, 0.5, (0.0,) * len(names))),
                    val_scores={m: MethodScore(0.5, v, "in-sample") for m, v in nll.items()},
                    val_single={"a": 0.4, "b": 0.5}, val_single_nll={"a": 2.0, "b": 1.5},
                    num_val_videos=40, class_names=names, seed=0)
    rows = [{"method": m, "top1": 0.777 if m == chosen != "mean" else summaries[FUSED].top1,
             "top5": 0.9, "top10": 1.0, "chosen_on_val": m == chosen} for m in METHODS]
    return Results(
        class_names=names, test=test, summaries=summaries, fit=fit,
        fusion_table=pd.DataFrame(rows), fused={m: test[FUSED] for m in METHODS},
        cis=accuracy_cis({m: p.correct for m, p in test.items()}, n_boot=20),
        gain=gain, gain_chosen=gain_chosen, gains_topk=topk_gains(test, n_boot=200),
        per_class=per_class_table(summaries, tests.clip_vs_frame), class_tests=tests,
        held_out=HeldOut(groups=[22, 23, 24, 25] if held is None else held, videos=40),
        kinds=kinds, probe_table=probes[0] if probes else None,
        probe_overall=probes[1] if probes else None)


def per_class(names: list[str], frame: dict[str, int], clip: dict[str, int],
              fused: dict[str, int] | None = None, videos: int = 4, **kw) -> Results:
    """Results from the number of right videos (out of `videos`) per class and model; the
    wrong ones are given to the next class."""
    labels, out = [], {"frame": [], "clip": [], "fused": []}
    for y, name in enumerate(names):
        for i in range(videos):
            labels.append(y)
            for key, right in (("frame", frame), ("clip", clip), ("fused", fused or clip)):
                out[key].append(y if i < right.get(name, videos) else (y + 1) % len(names))
    return build(names, labels, out["frame"], out["clip"], out["fused"], **kw)


NAMES = ["Archery", "Bowling", "Diving", "Fencing", "Rowing", "Surfing"]
ALL_RIGHT = {n: 4 for n in NAMES}


PROBE_GROUPS, PROBE_VIDEOS = 8, 2  # clusters per class and videos per cluster, probe tests
# a cluster-level swing: half the clusters of a class lose 15 points, half gain them
SWING = np.repeat(np.where(np.arange(PROBE_GROUPS) % 2 == 0, -0.15, 0.15), PROBE_VIDEOS)


def _probe_pred(true: dict[str, float | np.ndarray], probe: str | None = None) -> Predictions:
    """Clip predictions with the given true-class probability per class (or per video; see
    `support.true_prob_predictions`)."""
    per_video = {n: np.broadcast_to(true[n], PROBE_GROUPS * PROBE_VIDEOS) for n in NAMES}
    return true_prob_predictions(NAMES, per_video, PROBE_VIDEOS, probe)


def _probes(normal: dict[str, float | np.ndarray] | None = None,
            **probed: dict[str, float | np.ndarray]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The probe table and overall drops of a clip model with these true-class
    probabilities on normal windows (0.95 for every class by default) and per probe."""
    base = _probe_pred(normal or {n: 0.95 for n in NAMES})
    preds = {p: _probe_pred(true, p) for p, true in probed.items()}
    return probes.probe_table(base, preds), probes.overall(base, preds, n_boot=200)


def _with_probes(table_overall: tuple[pd.DataFrame, pd.DataFrame], *,
                 kinds: dict[str, str] | None = None, synthetic: bool | None) -> Results:
    res = per_class(NAMES, ALL_RIGHT, ALL_RIGHT)
    return dataclasses.replace(res, probe_table=table_overall[0],
                               probe_overall=table_overall[1], kinds=kinds, synthetic=synthetic)


# Two spatial classes kept by every probe; two temporal ones that shuffling costs half their
# probability, one of them also reversed; a detail class whose top-1 halves under shuffling
# while its probability only swings by cluster; one that loses a little, unevenly.
KINDS = {"Archery": "spatial", "Bowling": "spatial", "Diving": "temporal",
         "Fencing": "temporal", "Rowing": "detail", "Surfing": "detail"}
UNEVEN = 0.9 - np.repeat(np.linspace(0.0, 0.16, PROBE_GROUPS), PROBE_VIDEOS)  # 8 points
MIXED = dict(
    normal={"Archery": 0.95, "Bowling": 0.95, "Diving": 0.9, "Fencing": 0.9, "Rowing": 0.55,
            "Surfing": 0.9},
    reversed={"Archery": 0.95, "Bowling": 0.95, "Diving": 0.05, "Fencing": 0.9,
              "Rowing": 0.55, "Surfing": 0.9},
    shuffled={"Archery": 0.94, "Bowling": 0.95, "Diving": 0.45, "Fencing": 0.4,
              "Rowing": 0.55 + SWING, "Surfing": UNEVEN},
    static={"Archery": 0.93, "Bowling": 0.95, "Diving": 0.45, "Fencing": 0.45, "Rowing": 0.5,
            "Surfing": 0.85})


# ----------------------------------------------------------------------------- pieces
@pytest.mark.parametrize("items, text", [
    ([], "none"), (["a"], "a"), (["a", "b"], "a and b"), (["a", "b", "c"], "a, b and c")])
def test_name_list(items, text):
    assert prose.name_list(items) == text


def test_name_list_of_101_classes_names_every_one():
    names = [f"C{i:03d}" for i in range(101)]
    text = prose.name_list(names)
    assert text.count(", ") == 99 and text.endswith("C099 and C100")


@pytest.mark.parametrize("groups, text", [
    ([], "none"), ([22], "g22"), ([22, 23, 24, 25], "g22–g25"), ([1, 3], "g01 and g03")])
def test_held_groups(groups, text):
    assert prose.held_groups(groups) == text


@pytest.mark.parametrize("options, text", [
    ({"model": "frame"}, "every frame"),
    ({"model": "frame", "eval_frames": None, "three_crop": True}, "every frame, three crops each"),
    ({"model": "frame", "eval_frames": 5}, "5 evenly spaced frames"),
    ({"model": "clip", "clip_len": 16}, "16-frame windows covering the whole video"),
    ({"model": "clip", "clip_len": 16, "stride": 2, "three_crop": True},
     "16-frame windows of every 2th frame covering the whole video, three crops each"),
])
def test_scored(options, text):
    assert prose.scored(TrainConfig(**options)) == text


def _with_test_config(res: Results, model: str, config: dict) -> Results:
    """`res` whose test predictions of `model` record this config (as `evaluate` writes it)."""
    test = dict(res.test)
    test[model] = dataclasses.replace(test[model], attrs={**test[model].attrs, "config": config})
    return dataclasses.replace(res, test=test)


def test_eval_config_reads_the_predictions_config_and_falls_back_on_an_older_one():
    own = TrainConfig(model="frame", frames_per_video=3)
    res = per_class(NAMES, ALL_RIGHT, ALL_RIGHT)
    assert eval_config(None, FRAME, own) == own and eval_config(res, FRAME, own) == own
    # chosen at evaluation: what the predictions record wins over the model's own config
    crops = {**own.to_dict(), "three_crop": True, "eval_frames": 5}
    got = eval_config(_with_test_config(res, FRAME, crops), FRAME, own)
    assert (got.three_crop, got.eval_frames, got.frames_per_video) == (True, 5, 3)
    # an older file's config: options it lacks are the model's own ...
    lacking = {"model": "frame", "three_crop": True}
    got = eval_config(_with_test_config(res, FRAME, lacking), FRAME, own)
    assert got == dataclasses.replace(own, three_crop=True)
    # ... and one this code cannot read (a removed option, a value now refused) is the model's
    for old in ({**crops, "tta_flips": 2}, {**crops, "eval_frames": -1}):
        assert eval_config(_with_test_config(res, FRAME, old), FRAME, own) == own
    assert prose.scored(eval_config(_with_test_config(res, FRAME, {**crops, "tta_flips": 2}),
                                    FRAME, own)) == "every frame"


def test_verdict_in_each_outcome():
    assert prose.verdict(YES) == ("Yes: fusion improves top-1 by +8.0 points (95% CI +3.0 to "
                                  "+13.0; cluster sign-flip test over 12 clusters, p = 0.0215).")
    assert prose.verdict(NO) == ("No: fusion is worse than the best single model by -6.0 "
                                 "points (95% CI -10.0 to -2.0; cluster sign-flip test over 12 "
                                 "clusters, p = 0.039).")
    assert prose.verdict(UNSURE) == ("Not shown: the change of +1.0 points (95% CI -2.0 to "
                                     "+4.0; cluster sign-flip test over 12 clusters, p = 1) is "
                                     "within what chance on this test set allows.")
    # significant by the test but an interval across zero is not a verdict either way
    odd = Gain(gain=0.01, lo=-0.01, hi=0.03, test=_test(9, 1, 0.02))
    assert prose.verdict(odd).startswith("Not shown")


def _pc(acc: dict[str, tuple[int, int]]) -> pd.DataFrame:
    return pd.DataFrame({"class": list(acc), "accuracy": [c / s for c, s in acc.values()],
                         "support": [s for _, s in acc.values()],
                         "correct": [c for c, _ in acc.values()]})


def test_tie_names_every_tied_class_and_where_it_starts():
    everyone = rank_classes(_pc({f"K{i:02d}": (4, 4) for i in range(12)}), 10)
    assert prose.tie(everyone) == (
        "**12 classes tie at 100.0%**, more than the 10 places, so all are named: "
        + ", ".join(f"K{i:02d}" for i in range(11)) + " and K11.")
    late = rank_classes(_pc({"Top": (4, 4), **{f"K{i:02d}": (2, 4) for i in range(12)}}), 10)
    assert prose.tie(late).startswith("**12 classes tie at 50.0%** for the last 9 of the 10 "
                                      "places, so all are named: K00, ")
    assert prose.ranked_ahead(late) == "The class ranked ahead of them:"
    two = rank_classes(_pc({"A": (4, 4), "B": (4, 4), **{f"K{i}": (1, 4) for i in range(9)}}),
                       10, best=True)
    assert prose.ranked_ahead(two) == "The 2 classes ranked ahead of them:"


def test_mutual_pairs():
    df = pd.DataFrame({"a": ["B", "C"], "b": ["A", "D"], "count_ab": [3, 1],
                       "count_ba": [2, 1]})
    assert prose.mutual_pairs(df) == ("**Confused in both directions** (videos each way): "
                                      "B → A (3, back 2); C → D (1, back 1).")
    assert prose.mutual_pairs(df.iloc[:0]) == "No two classes are confused in both directions."


# ----------------------------------------------------------------------------- method
def _cfgs(val_groups: list[int], frames: int = 3) -> tuple[RunRecord, RunRecord]:
    """The reported models' records (config.json) of a small run."""
    where = {"store": "/stores/s.h5", "splits": "/splits", "split": 1, "num_train": 120}
    frame = RunRecord(config=TrainConfig(model="frame", frames_per_video=frames,
                                         eval_frames=None, val_groups=tuple(val_groups),
                                         num_epochs=5), num_val=0, **where)
    clip = RunRecord(config=TrainConfig(model="clip", clip_len=8, val_groups=tuple(val_groups),
                                        num_epochs=30), num_val=30, **where)
    return frame, clip


def _data(source: Path, synthetic: bool) -> DataPaths:
    return DataPaths(source=source, splits=source / "splits", frame_store=source / "f.h5",
                     clip_store=source / "c.h5", synthetic=synthetic)


def test_intro_names_the_data_the_split_and_the_run(tmp_path):
    res = per_class(NAMES, ALL_RIGHT, ALL_RIGHT)
    run = RunPaths(tmp_path / "demo-fast")
    synth = _data(tmp_path / "synthetic", synthetic=True)
    frame, clip = _cfgs([])
    assert prose.intro(synth, run, frame, clip, res) == (
        "This report was computed on the **synthetic spatial/temporal benchmark** that ships "
        "with this repository, not UCF-101: some of its classes can be told from any single "
        "frame, others only by how things move, official-format split 1: 120 training videos "
        "for the reported models, 40 videos of the held-out training groups g22–g25 for "
        "validation, and 24 test videos in 6 classes. The run's folder is `demo-fast/`.")
    ucf = _data(Path("/data/UCF-101"), synthetic=False)
    bare = per_class(NAMES, ALL_RIGHT, ALL_RIGHT, held=[])
    text = prose.intro(ucf, run, frame, clip, bare)
    assert text.startswith("This report was computed on **UCF-101** (videos from "
                           "`/data/UCF-101`), official-format split 1")
    assert "40 videos of the held-out training groups for validation" in text


def test_recipe_table_reads_the_records_and_the_test_predictions_config():
    frame, clip = _cfgs([])
    res = per_class(NAMES, ALL_RIGHT, ALL_RIGHT)
    crops = _with_test_config(res, FRAME, {**frame.config.to_dict(), "three_crop": True})
    table = tables.recipe_table(frame, clip, crops)
    assert ("| single frame | resnet50 | imagenet | 224×224 frames | sgd lr 0.01, cosine, 5 "
            "epochs, batch 64 | every frame, three crops each |") in table
    assert "| 8×224×224 clips | sgd lr 0.01, cosine, 30 epochs" in table
    assert "three crops" not in tables.recipe_table(frame, clip)


def test_provenance_names_where_each_model_trained():
    from helpers.utils.environment import Environment

    gpu = Environment("cuda", "NVIDIA H200", 2, "2.5.1+cu124", "12.4", "570.86", "node1")
    cpu = Environment("cpu", "", 0, "2.5.1", "", "", "laptop")
    frame, clip = _cfgs([])
    on = [dataclasses.replace(r, environment=gpu) for r in (frame, clip)]
    assert prose.provenance(*on, None) == (
        "Both models trained on 2 × NVIDIA H200 (driver 570.86, torch 2.5.1+cu124, CUDA 12.4). "
        "Both models were trained from scratch (no pretrained weights).")
    mixed = prose.provenance(on[0], dataclasses.replace(clip, environment=cpu), None)
    assert mixed.startswith("The frame model trained on 2 × NVIDIA H200 (driver 570.86, torch "
                            "2.5.1+cu124, CUDA 12.4); the clip model trained on the CPU (torch "
                            "2.5.1, no GPU). ")
    assert prose.provenance(frame, clip, None) == prose.provenance(None, None, None)


def test_method_facts_for_the_holdout_and_the_refit_protocols():
    res = per_class(NAMES, ALL_RIGHT, ALL_RIGHT)
    frame, clip = _cfgs([22, 23, 24, 25])
    holdout = prose.method_facts(frame, clip, res)
    assert holdout.startswith(
        "**In this run** the frame model trains on 3 frames per video per epoch and scores "
        "every frame of each test video; the clip model trains on one random 8-frame window "
        "per video per epoch and scores 8-frame windows covering the whole video.")
    assert ("The reported models were trained without the held-out groups g22–g25 (30 "
            "training videos), whose predictions fitted the fusion") in holdout
    assert "epochs" not in holdout and "Carried over" not in holdout
    # test predictions written by an older version, with an option this code no longer knows
    older = _with_test_config(res, FRAME, {"model": "frame", "tta_flips": 2})
    assert prose.method_facts(frame, clip, older) == holdout
    frame, clip = _cfgs([], frames=1)
    refit = prose.method_facts(frame, clip, res)
    assert "trains on 1 frame per video" in refit
    assert (
        "The reported models were trained on all 120 training videos, after the fusion had "
        "been fitted on the validation predictions (40 videos of the held-out training groups "
        "g22–g25) of models trained without those groups.") in refit
    assert "validation predictions of models" in prose.method_facts(frame, clip)  # no res


def test_method_facts_say_how_the_refit_length_was_set_and_what_was_carried_over():
    frame, clip = _cfgs([], frames=1)
    fitted_on = FittedOn("frame-holdout/model.pt", "ab")
    record = EpochChoice(5, "the held-out model's", fitted_on)
    choices = Choices(
        num_epochs={"frame": record, "clip": dataclasses.replace(record, value=30)},
        three_crop=CropChoice(True, "rule", fitted_on))
    res = per_class(NAMES, ALL_RIGHT, ALL_RIGHT, chosen="weighted")
    res = _with_params(res, weighted=WeightedParams(w=0.35, step=0.05))
    text = prose.method_facts(frame, clip, res, choices)
    assert ("They trained for as many epochs as the held-out models (5 for the frame model, "
            "30 for the clip model) with the same learning-rate schedule as a function of "
            "training progress, each epoch taking more steps on the larger training set.") in text
    assert text.endswith(
        "Carried over unchanged from the held-out models' final checkpoints to the reported "
        "models: the fusion method chosen on their validation predictions, weighted (the frame "
        "model's weight w = 0.35) and the frame model's test crops, chosen on validation top-1 "
        "(three crops).")
    # stacking names its fitted parameters; an older run's recorded epochs are refused
    res = per_class(NAMES, ALL_RIGHT, ALL_RIGHT, chosen="stacking")
    res = _with_params(res, stacking=StackingParams(l2=0.1, w_a=0.8, w_b=1.25, bias=(0.0,) * 6))
    text = prose.method_facts(frame, clip, res, choices)
    assert ("stacking (one weight per model, 0.80 (frame) and 1.25 (clip), and 6 per-class "
            "biases)") in text
    old = Choices.from_json({"frame": {"num_epochs": {
        "value": 5, "rule": "epoch of the lowest validation loss"}}}, "choices.json")
    with pytest.raises(UserError, match="older rule"):
        prose.method_facts(frame, clip, res, old)


def _with_params(res, **changes):
    """`res` whose fusion fit has these parameters (`FusionParams` fields)."""
    params = dataclasses.replace(res.fit.params, **changes)
    return dataclasses.replace(res, fit=dataclasses.replace(res.fit, params=params))


# ----------------------------------------------------------------------------- fusion
def test_ci_clusters():
    res = per_class(NAMES, ALL_RIGHT, ALL_RIGHT)
    assert prose.ci_clusters(res) == (
        "The intervals resample the 12 (class, group) clusters of the 24 test videos within "
        "each class, so every resample keeps the test split's classes. No class has the 6 "
        "clusters a class-level test needs to pass at all, so no per-class difference can be "
        "shown beyond noise.")
    # with enough clusters: the smallest gap that could pass, 6 clusters of 8 videos
    wide = per_class(NAMES, {"Archery": 0}, {}, videos=8, clusters=8)
    assert prose.ci_clusters(wide).endswith(
        "A class-level test can pass only when the two models differ on at least 6 of the "
        "class's clusters, all one way: at this run's class sizes that is a gap of at least "
        "75% of top-1 (from 75% to 75% over the 6 classes with 6 or more clusters); a smaller "
        "gap cannot be shown, and a larger one can still be missed.")


def test_fusion_result_when_validation_chose_the_mean():
    res = per_class(NAMES, {"Archery": 1}, ALL_RIGHT, gain=YES)
    text = prose.fusion_result(res).split("\n\n")
    assert text[0] == ("The best single model is **3D clips** with top-1 100.0%. The mean of the "
                       "two models' probabilities (the combined output) gives **100.0%**.")
    assert text[1] == (f"**Did combining help?** {prose.verdict(YES)} Of the test videos, 9 "
                       "are right only when combined and 1 only with 3D clips.")
    assert text[2] == ("On the held-out groups the mean also has the lowest log-loss of the 4 "
                       "fusion methods (0.500), so the fusion chosen on validation is the "
                       "combined output itself.")


def test_fusion_result_when_validation_chose_another_method():
    res = per_class(NAMES, ALL_RIGHT, {"Archery": 1}, chosen="stacking", gain_chosen=NO)
    assert res.best_single == FRAME
    last = prose.fusion_result(res).split("\n\n")[-1]
    assert last == ("On the held-out groups **stacking** has the lowest log-loss of the 4 fusion "
                    "methods (0.500, against 1.000 for the mean); on test it reaches 77.7%. "
                    f"Against {FRAME}: {prose.verdict(NO)}")


def test_combining_judges_each_k_by_its_interval_and_clustered_test():
    # 2D right on 3 of 4 videos per class, 3D on 2, combined on 4: top-1 +25 points; 6 of
    # the 12 clusters differ, all one way (p = 2 / 2^6)
    better = per_class(NAMES, {n: 3 for n in NAMES}, {n: 2 for n in NAMES}, ALL_RIGHT,
                       gain=YES)
    text = prose.combining(better)
    g1, g5 = better.gains_topk[1], better.gains_topk[5]
    assert g1.outcome == "better" and g5.outcome == "not shown"
    assert text.startswith(
        "**Did combining improve the results?** The combined output (the mean of the two "
        "models' probabilities) reaches top-1 100.0%, higher than the 75.0% of the "
        "single-frame model: +25.0 points (95% CI ")
    assert f"cluster sign-flip test over 12 clusters, p = {g1.test.p_value:.3g}); " in text
    # +8.3 points at top-5 is not called higher: its test cannot reach 5% on 12 clusters
    assert "top-5 100.0%, not shown beyond noise against the 91.7% of the single-frame model: +8.3 points" \
        in text
    assert "top-10 100.0%, right on exactly the videos the single-frame model gets right" in text
    assert text.endswith("each against the better single model at that k. A change counts as "
                         "higher or lower only when the test gives p < 0.05 and the interval "
                         "excludes zero.")
    worse = per_class(NAMES, ALL_RIGHT, ALL_RIGHT, {n: 2 for n in NAMES}, gain=NO)
    assert "top-1 50.0%, lower than the 100.0% of the single-frame model: -50.0 points" in \
        prose.combining(worse)
    # the same +25 points on too few clusters to decide: within noise
    few = per_class(NAMES[:2], {n: 3 for n in NAMES[:2]}, {n: 2 for n in NAMES[:2]},
                    {n: 4 for n in NAMES[:2]})
    assert few.gains_topk[1].test.clusters == 4
    assert "top-1 100.0%, not shown beyond noise against the 75.0% of the single-frame model: +25.0" in \
        prose.combining(few)


# ----------------------------------------------------------------------------- classes
def test_best_worst_when_every_class_is_solved_by_every_model():
    # Every class ties at 100%: each model's best list names all six, and no class is worst.
    res = per_class(NAMES, ALL_RIGHT, ALL_RIGHT)
    assert class_claims(res).conflicts() == []
    assert prose.best_worst(res) == (
        "**Best and worst classes across the three models.** Of the single-frame model's 6 "
        "best classes, 6 are also among the 3D model's best (Archery, Bowling, Diving, "
        "Fencing, Rowing and Surfing). The single-frame model, the 3D model and the combined "
        "output each give every class the same accuracy (100.0%), so none has any worst "
        "classes.")


def _ends(best: tuple, worst: tuple, acc: dict[str, float], places: int = 10) -> Ends:
    top = max(acc.values())
    return Ends(best=best, worst=worst, places=places, top_accuracy=top,
                below_top=sum(a < top for a in acc.values()), accuracy=acc)


def _claims(**kw) -> ClassClaims:
    """Claims over classes A-H and T1-T4 (at 100% for every model), with these fields."""
    acc = {"A": 0.1, "B": 0.2, "C": 0.3, "D": 0.4, "E": 0.5, "F": 0.6, "G": 0.7, "H": 0.8,
           **{f"T{i}": 1.0 for i in range(1, 5)}}
    base = {"ends": {m: _ends(("T1", "T2", "T3"), ("A", "B", "C", "D"), acc, places=3)
                     for m in (FRAME, CLIP, FUSED)},
            "shared_best": ("T1", "T2", "T3"), "shared_worst": ("A", "B", "C", "D"),
            "higher_in_3d": (), "higher_in_2d": (), "similar": (), "rescued": (), "raised": (),
            "unchanged": ("A", "B", "C", "D"), "lowered": (), "still_worst": ("A", "B"),
            "level": 0.05, "alpha": 0.05, "control": "Benjamini-Hochberg", "min_clusters": 6}
    return ClassClaims(**{**base, **kw})


def test_render_claims_words_each_statement_with_its_numbers():
    acc = {c: a for c, a in zip("ABCDEFGH", [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
                                strict=True)} | {"T1": 1.0, "T2": 1.0}
    ends = {FRAME: _ends(("T1", "T2"), ("A", "B", "C", "D"), acc, places=4),
            CLIP: _ends(("T1", "E"), ("A", "F", "G", "H"), acc, places=4),
            FUSED: _ends(("T1", "T2"), ("A", "B"), acc, places=4)}
    cl = _claims(ends=ends, shared_best=("T1",), shared_worst=("A",), higher_in_3d=("B",),
                 higher_in_2d=("F",), similar=("C", "D", "G", "H"), rescued=("C",),
                 raised=("B",), lowered=("F",), unchanged=("A", "D", "G", "H"),
                 still_worst=("A",))
    assert cl.conflicts() == []
    assert prose.render_claims(cl) == (
        "**Best and worst classes across the three models.** Of the single-frame model's 2 "
        "best classes, 1 is also among the 3D model's best (T1). Only 2 of the combined "
        "output's classes are below its top accuracy (100.0%) and not among its best, so its "
        "worst list is that short. The two models share 1 of their worst classes: A (2D 0%, 3D 0%, combined 0%). "
        "Of the 6 classes among one model's worst but not the other's, the 3D model is higher "
        "beyond noise on B (2D 10%, 3D 10%); the single-frame model is higher beyond noise on "
        "F (2D 50%, 3D 50%); the difference is not shown beyond noise on C (2D 20%, 3D 20%), D (2D 30%, "
        "3D 30%), G (2D 60%, 3D 60%) and H (2D 70%, 3D 70%). After combining, of the 7 classes "
        "among either single model's worst: C (2D 20%, 3D 20%, combined 20%) is higher beyond "
        "noise than with each model that ranks it among its worst, and not among the combined "
        "output's worst; B (2D 10%, 3D 10%, combined 10%) is higher beyond noise but still "
        "among the combined output's worst; F (2D 50%, 3D 50%, combined 50%) is lower beyond "
        "noise than with a model that ranks it among its worst; on A, D, G and H the change is "
        "not shown beyond noise. Shared worst classes still among the worst after combining: A "
        "(combined 0%). Beyond noise means an exact sign-flip test over the class's (class, "
        "group) clusters at the 5% level with Benjamini-Hochberg across classes, and a 95% "
        "cluster-bootstrap interval that excludes zero; a class whose two models differ on "
        "fewer than 6 of its clusters can never pass, and a difference not shown beyond noise "
        "is not shown to be absent.")


def test_noise_rule_says_how_many_calls_chance_alone_could_make():
    own = prose.noise_rule(_claims(control=PER_CLASS, able=40, chance_calls=2.0,
                                   chance_one_sided=0.12, chance_combined=0.05))
    assert own.endswith("Each class is tested on its own, so these readings are exploratory: "
                        "were no class truly different, chance alone would make about 0.12 of "
                        "the 2D-against-3D calls above and 0.05 of the calls on combining (the "
                        "sum of each class's attainable rejection rate under its discrete "
                        "null).")
    assert "chance" not in prose.noise_rule(_claims())  # Benjamini-Hochberg controls it


def test_best_worst_calls_a_move_only_beyond_noise():
    # 24 classes, 8 videos each, each video its own cluster: a class whose 8 videos all
    # differ can pass (p = 2/2^8 before the adjustment); one whose 4 differ cannot
    names = [f"K{i:02d}" for i in range(24)]
    frame = {n: 8 - 2 * (i % 5) for i, n in enumerate(names)}
    clip = {n: 2 * (i % 5) for i, n in enumerate(names)}
    fused = {n: 8 if i % 5 in (1, 2) else 0 for i, n in enumerate(names)}
    res = per_class(names, frame, clip, fused, videos=8, clusters=8)
    cl = class_claims(res)
    assert cl.conflicts() == []
    text = prose.best_worst(res)
    # 8 of 8 against 0 of 8 is beyond noise, 6 against 2 is not
    assert ("the 3D model is higher beyond noise on K04 (2D 0%, 3D 100%), K09 (2D 0%, 3D "
            "100%), K14 (2D 0%, 3D 100%) and K19 (2D 0%, 3D 100%); the single-frame model is "
            "higher beyond noise on K00 (2D 100%, 3D 0%)") in text
    assert "the difference is not shown beyond noise on K03 (2D 25%, 3D 75%)" in text
    assert set(cl.higher_in_3d) == {"K04", "K09", "K14", "K19"}
    # combining lifts the classes at 50% to 100%: only 4 of 8 clusters differ, within noise;
    # those at 25% for 3D (6 clusters differ, all one way) are rescued
    assert "K02" in cl.unchanged and set(cl.rescued) == {"K01", "K06", "K11", "K16", "K21"}
    assert ("K01 (2D 75%, 3D 25%, combined 100%), K06 (2D 75%, 3D 25%, combined 100%), K11 "
            "(2D 75%, 3D 25%, combined 100%), K16 (2D 75%, 3D 25%, combined 100%) and K21 (2D "
            "75%, 3D 25%, combined 100%) are higher beyond noise than with each model that ranks "
            "them among its worst") in text
    assert "these stay hard" not in text and "miss what clips show" not in text


def test_best_worst_shortens_a_long_shared_list():
    names = [f"K{i:02d}" for i in range(101)]
    res = per_class(names, {n: 4 for n in names}, {n: 4 for n in names})
    text = prose.best_worst(res)
    assert ("Of the single-frame model's 101 best classes, 101 are also among the 3D model's "
            "best (K00, K01, K02, K03, K04, K05, K06 and K07, ...).") in text


def test_best_worst_with_ties_at_the_top_lists_only_the_classes_below_it():
    # 14 of 20 classes at 100% for the single-frame model: its worst list holds the 6 below
    names = [f"K{i:02d}" for i in range(20)]
    frame = {n: 4 if i < 14 else i - 16 for i, n in enumerate(names)}
    res = per_class(names, {n: max(v, 0) for n, v in frame.items()}, {n: 3 for n in names})
    cl = class_claims(res)
    assert cl.conflicts() == [] and set(cl.ends[FRAME].worst) == set(names[14:])
    text = prose.best_worst(res)
    # the 3D model gives every class 75%: it has no worst class, so none is shared
    assert ("The 3D model and the combined output each give every class the same accuracy "
            "(75.0%), so none has any worst classes. Only 6 of the single-frame model's classes "
            "are below its top accuracy (100.0%), so its worst list is that short. Of the 6 "
            "classes among one model's worst but not the other's, the difference is not shown "
            "beyond noise on K14 (2D 0%, 3D 75%), ") in text
    assert "share" not in text and "still among the worst" not in text


# ----------------------------------------------------------------------------- motion
def test_spatial_temporal_without_probes_reads_the_gain_alone():
    res = per_class(NAMES, {"Archery": 0, "Bowling": 2}, {"Surfing": 3})
    paragraphs = prose.spatial_temporal(res).split("\n\n")
    assert paragraphs[0] == (
        "**Spatial or temporal?** The single-frame model's per-video score is a mean over "
        "frames, blind to their order by construction, so any class it solves is told apart "
        "by appearance. This run has no temporal probes of the 3D model, so only the 3D − 2D "
        "gain below speaks to motion.")
    assert paragraphs[1] == ("**Largest gains of the 3D model:** Archery (0% → 100%) and "
                             "Bowling (50% → 100%) (none shown beyond noise).")
    assert paragraphs[2] == ("**Solved by one frame** (single-frame accuracy at least 95%): 4 "
                             "of 6 classes, e.g. Diving, Fencing, Rowing and Surfing.")
    assert paragraphs[3] == ("**Better with one frame than with 3D:** Surfing (100% vs 75%) "
                             "(not shown beyond noise).")
    assert len(paragraphs) == 4  # no class kinds: no ground-truth sentence


def test_spatial_temporal_names_classes_from_their_intervals_on_the_benchmark():
    table, overall = _probes(**MIXED)
    res = _with_probes((table, overall), kinds=KINDS, synthetic=True)
    first = prose.spatial_temporal(res).split("\n\n")[0]
    ci = overall.set_index("windows").loc["static", ["drop_lo", "drop_hi"]] * 100
    chance = ", ".join(f"{probes.chance_losses(table, p):.1f} ({p})"
                       for p in ("reversed", "shuffled"))
    chance += f" and {probes.chance_losses(table, 'static'):.1f} (static)"
    read = int(probes.recognised(table).sum())
    assert first.endswith(
        "To measure what the 3D model takes from motion, the same test windows were fed to it "
        "with their frames reversed, shuffled, or replaced by one repeated frame. Its "
        "per-video top-1 is 100.0% on normal windows, 83.3% reversed, 58.3% shuffled and "
        "66.7% static. Per class, the measure is the drop in the mean probability the 3D "
        "model gives the true class, in points, with an exact sign-flip test over the class's "
        "(class, group) clusters and the 95% interval that test gives. Each class is tested "
        "on its own, so the readings are exploratory: were no class affected, chance alone "
        f"would read about {chance} of the {read} recognised classes as losing (the sum of each "
        "class's attainable rate under its discrete null). Only classes the 3D "
        "model recognises (top-1 and precision at least 80%) are read: one needs frame order "
        "when shuffling "
        "costs it at least 10 points with its interval above zero and one repeated frame "
        "does not leave it unchanged; it is told apart by "
        "appearance when under every probe its interval lies within ±10 points. 2 of 6 "
        "classes need frame "
        "order, largest drop first: Fencing (50 points, 50 to 50) and Diving (45 points, 45 "
        "to 45). 2 are told apart by appearance, the tightest first: Bowling (within ±0) and "
        "Archery (within ±2). The other 2 are unclear: neither reading holds (an interval too "
        "wide to tell, a loss under 10 points, a loss when shuffled with no change on one "
        "repeated frame, or a class the 3D model does not recognise). "
        "Played backwards, 1 class loses at least 10 points with the interval above zero, so "
        "it needs the direction of motion, not just motion: Diving (85 points, 85 to 85). "
        f"One repeated frame costs the 3D model 33.3 points of top-1 overall (95% CI "
        f"{ci['drop_lo']:.1f} to {ci['drop_hi']:.1f}). Checked against the benchmark's ground "
        "truth (its temporal classes need frame order, its spatial and detail classes do "
        "not): of the 2 classes named as needing frame order, 2 are temporal; of the 2 told "
        "apart by appearance, 2 are spatial; of the 1 named as needing the direction of "
        "motion, 1 is temporal; of the 2 unclear, 2 are detail. The benchmark has 2 temporal "
        "classes among these 6.")
    # the detail class loses half its top-1 to shuffling, yet its interval spans zero
    rowing = table.set_index("class").loc["Rowing"]
    assert rowing["drop_shuffled"] == 0.5 and rowing["lo_shuffled"] < 0 < rowing["hi_shuffled"]
    assert "Rowing (" not in first
    assert "UCF-101" not in prose.spatial_temporal(res)  # nothing said about another dataset


def test_spatial_temporal_compares_with_published_numbers_only_on_ucf101():
    table_overall = _probes(**MIXED)
    ucf = prose.spatial_temporal(_with_probes(table_overall, synthetic=False))
    # like with like: the naive-removal figure, this run's cost in points and relative
    assert ("For comparison, Huang et al. (CVPR 2018, \"What makes a video a video\") find "
            "that naive ways of removing motion, of which one repeated frame is one, cost a "
            "3D CNN about 25% on UCF-101 (about 6% once motion is removed without such "
            "artifacts). This run's repeated frame costs 33.3% of top-1 in points and 33% "
            "relative to its normal top-1, above and above their 25% respectively; from one "
            "repeated frame this 3D model reaches 66.7%.") in ucf
    assert "Choi" not in ucf  # a scene-only model is another input
    assert "ground truth (its temporal" not in ucf
    unknown = prose.spatial_temporal(_with_probes(table_overall, synthetic=None))
    assert "UCF-101" not in unknown and "For comparison" not in unknown


def test_spatial_temporal_when_no_interval_says_anything():
    noisy = {n: 0.6 + 2 * SWING for n in NAMES}  # +-30 points by cluster, no net drop
    res = _with_probes(_probes({n: 0.6 for n in NAMES}, shuffled=noisy), synthetic=False)
    first = prose.spatial_temporal(res).split("\n\n")[0]
    assert first.endswith(
        "0 of 6 classes need frame order. No class is shown to be told apart by appearance. "
        "The other 6 are unclear: neither reading holds (an interval too wide to tell, a loss "
        "under 10 points, a loss when shuffled with no change on one repeated frame, or a "
        "class the 3D model does not recognise).")
    assert "backwards" not in first and "One repeated frame" not in first


def test_spatial_temporal_when_every_class_keeps_its_probability():
    same = {n: 0.95 for n in NAMES}
    res = _with_probes(_probes(reversed=same, shuffled=same, static=same),
                       kinds=KINDS, synthetic=True)
    first = prose.spatial_temporal(res).split("\n\n")[0]
    assert ("0 of 6 classes need frame order. 6 are told apart by appearance, the tightest "
            "first: Archery (within ±0), Bowling (within ±0), Diving (within ±0), Fencing "
            "(within ±0), Rowing (within ±0) and Surfing (within ±0). Played backwards, no "
            "class loses at least 10 points with its interval above zero: none is shown to "
            "need the direction of motion. One repeated frame changes the 3D model's top-1 by "
            "+0.0 points overall (95% CI 0.0 to 0.0), not shown beyond noise.") in first
    # a longer list than n names the first n and counts the rest
    assert "Diving (within ±0), Fencing (within ±0) and 2 more." in prose.spatial_temporal(
        res, n=4)
    assert "unclear" not in first.split("Checked against")[0]
    assert first.endswith("of the 6 told apart by appearance, 2 are spatial, 2 temporal and 2 "
                          "detail. The benchmark has 2 temporal classes among these 6.")


def test_probe_md_shows_top1_and_the_drop_with_its_interval():
    res = _with_probes(_probes(**MIXED), kinds=KINDS, synthetic=True)
    text = tables.probe_md(res)
    assert text.startswith("| windows | top-1 | top-1 drop, points (95% CI) | true-class "
                           "probability | its drop, points (95% CI) |")
    # one table per reading, ranked by effect size; the unclear classes are counted
    order = text.split("**Need frame order** (2):")[1].split("**Told apart")[0]
    assert order.index("| Fencing | 100 / 100 / 0 / 0 | +0 (+0 to +0) | +50 (+50 to +50) | "
                       "+45 (+45 to +45) |") < order.index("| Diving |")
    assert "**Told apart by appearance** (2):" in text and "| Rowing |" not in text
    assert "The other 2 classes are unclear and not listed" in text
    assert "not simultaneous over the 18 class–probe pairs" in text
    assert "| temporal (2) |" in text


# ----------------------------------------------------------------------------- confusions
def test_confusions_of_perfect_models():
    res = per_class(NAMES, ALL_RIGHT, ALL_RIGHT)
    assert prose.confusions(res) == ("**Notable confused pairs.** Both models share 0 of their "
                                     "top confusions.")


def test_confusions_shared_mutual_resolved_and_removed_by_fusion():
    names = ["A", "B", "C", "D"]
    labels = [0, 0, 1, 1, 2, 2, 3, 3]
    frame = [1, 0, 0, 1, 3, 2, 3, 3]  # A→B, B→A (both ways), C→D
    clip = [1, 0, 1, 1, 2, 2, 2, 3]   # A→B, D→C
    fused = [0, 0, 1, 1, 2, 2, 3, 3]  # combining removes A→B
    text = prose.confusions(build(names, labels, frame, clip, fused))
    assert text == (
        "**Notable confused pairs.** Both models share 1 of their top confusions (A → B); the "
        "combined output makes none of them. For the single-frame model, 1 pair is confused "
        "in both directions, e.g. A and B. The 3D model never makes 2 of the single-frame "
        "model's top confusions (B → A and C → D). The single-frame model never makes 1 of "
        "the 3D model's (D → C). Combining removes A → B, which both models make.")


def test_confusions_shorten_a_long_list_of_pairs():
    names = [f"K{i:02d}" for i in range(101)]
    labels = list(range(101))
    frame = [(y + 1) % 101 for y in labels]  # every class taken for the next
    text = prose.confusions(build(names, labels, frame, labels, labels))
    assert ("The 3D model never makes 10 of the single-frame model's top confusions (K00 → "
            "K01, K01 → K02, K02 → K03, K03 → K04, K04 → K05, K05 → K06, K06 → K07 and K07 → "
            "K08, ...).") in text
    assert "Both models share 0" in text and "Combining removes" not in text


def test_confusions_of_one_class():
    res = build(["Only"], [0, 0], [0, 0], [0, 0])
    assert prose.confusions(res).endswith("share 0 of their top confusions.")
    assert prose.best_worst(res).startswith("**Best and worst classes across the three "
                                            "models.** Of the single-frame model's 1 best "
                                            "classes, 1 is also among the 3D model's best "
                                            "(Only).")


# ----------------------------------------------------------------------------- conclusion
def test_conclusion_with_kinds_and_the_mean_chosen():
    # 8 videos per class, each its own cluster: 0 of 8 against 8 of 8 is beyond noise
    kinds = {n: "temporal" if i < 2 else "spatial" for i, n in enumerate(NAMES)}
    res = per_class(NAMES, {"Archery": 0, "Bowling": 0, "Diving": 0}, {}, kinds=kinds,
                    gain=YES, videos=8, clusters=8)
    assert prose.conclusion(res) == (
        "The single-frame model reaches 50.0% per video (50.0% per frame), the 3D model 100.0% "
        "(60.0% per clip) and their combination 100.0%. " + prose.verdict(YES)
        + " Beyond noise, the 3D model is better on 3 of 6 classes and worse on 0; on the other "
        "3 a difference is not shown beyond noise. Each class is tested on its own: were no "
        "class different, chance alone would make about 0.0 such calls. 2 of the 3 classes it wins are temporal classes of "
        "the benchmark, whose single frames look alike within their pair.")


def test_conclusion_counts_only_differences_beyond_noise():
    res = per_class(NAMES, {"Archery": 0, "Bowling": 1, "Diving": 2, "Fencing": 3},
                    {"Surfing": 0}, chosen="product", frame_accuracy=None, videos=8,
                    clusters=8)
    text = prose.conclusion(res)
    assert text.startswith("The single-frame model reaches 45.8% per video (nan% per frame), "
                           "the 3D model 83.3% (60.0% per clip) and their combination 83.3% "
                           "(77.7% with product, the fusion chosen on validation).")
    # Fencing (3 of 8 against 8 of 8: 5 clusters differ) cannot pass; Benjamini-Hochberg
    # over 6 classes keeps the four with 6 or more
    assert text.endswith("Beyond noise, the 3D model is better on 3 of 6 classes and worse on "
                         "1; on the other 2 a difference is not shown beyond noise. Each class "
                         "is tested on its own: were no class different, chance alone would "
                         "make about 0.1 such calls. It gains most on "
                         "Archery (0% → 100%), Bowling (12% → 100%) and Diving (25% → 100%).")
    # the same accuracies on 4 videos in 2 clusters per class: nothing is beyond noise
    few = per_class(NAMES, {"Archery": 0, "Bowling": 1}, {"Surfing": 0})
    assert prose.conclusion(few).endswith("Beyond noise, the 3D model is better on 0 of 6 "
                                          "classes and worse on 0; on the other 6 a "
                                          "difference is not shown beyond noise. Each class "
                                          "is tested on its own: were no class different, "
                                          "chance alone would make about 0.0 such calls.")


# ----------------------------------------------------------------------------- tables
def test_tables_use_the_prose_for_their_empty_cases():
    res = per_class(NAMES, ALL_RIGHT, ALL_RIGHT)
    assert tables.probe_md(res) == prose.NO_PROBES
    assert tables.pairs_table(res.summaries[FRAME].confused_pairs) == prose.NO_CONFUSIONS
    assert tables.kind_table(res) is None
    section = tables.classes_md(FRAME, res.summaries[FRAME])
    assert section.startswith(f"## {FRAME}\n\n### 3 best classes\n\n")  # half of 6
    assert "No class is below the top accuracy (100.0%), so no class is listed as worst." \
        in section
    assert "No two classes are confused in both directions." in section


def test_topk_and_kind_tables():
    kinds = {n: "temporal" if i < 2 else "spatial" for i, n in enumerate(NAMES)}
    res = per_class(NAMES, {"Archery": 2}, ALL_RIGHT, chosen="weighted", kinds=kinds)
    topk = tables.topk_table(res)
    assert topk["model"].tolist() == [FRAME, CLIP, FUSED,
                                      "Fusion chosen on validation (weighted)"]
    assert topk["unit"].tolist() == ["per-frame", "per-clip", "-", "-"]
    assert topk.loc[3, "top-1"] == 0.777 and np.isnan(topk.loc[2, "frame/clip top-1"])
    kt = tables.kind_table(res)
    assert kt.columns.tolist() == ["classes", FRAME, CLIP, FUSED]
    assert kt["classes"].tolist() == ["temporal (2)", "spatial (4)"]
    assert kt[FRAME].tolist() == [0.75, 1.0]


def test_combining_says_when_the_same_videos_are_right():
    res = per_class(NAMES, ALL_RIGHT, ALL_RIGHT)  # every model right on every video
    text = prose.combining(res)
    assert "top-1 100.0%, right on exactly the videos the single-frame model gets right" in text
    assert "within noise" not in text and "p = 1" not in text
