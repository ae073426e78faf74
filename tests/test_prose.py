"""The report's sentences (helpers.reporting.prose), branch by branch, on small synthetic
results: ties, empty lists, one class, 101 classes, fusion that helped or did not, runs with
and without temporal probes or class kinds. Each test asserts the words the report prints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.evaluation.fusion import METHODS, FusionFit, MethodScore
from helpers.evaluation.metrics import compare_per_class, rank_classes, summarize
from helpers.evaluation.predictions import Predictions
from helpers.evaluation.results import CLIP, FRAME, FUSED, HeldOut, Results
from helpers.evaluation.stats import Gain, McNemar, accuracy_cis
from helpers.paths import DataPaths, RunPaths
from helpers.reporting import prose, tables

# ----------------------------------------------------------------------------- builder
YES = Gain(gain=0.08, lo=0.03, hi=0.13, test=McNemar(b=9, c=1, n_discordant=10, p_value=0.0215))
NO = Gain(gain=-0.06, lo=-0.1, hi=-0.02, test=McNemar(b=1, c=8, n_discordant=9, p_value=0.039))
UNSURE = Gain(gain=0.01, lo=-0.02, hi=0.04, test=McNemar(b=3, c=2, n_discordant=5, p_value=1.0))


def _pred(names: list[str], labels: list[int], preds: list[int], **attrs: float) -> Predictions:
    """Predictions that give `preds[i]` to video i (probability 0.9, the rest spread)."""
    c = len(names)
    probs = np.full((len(labels), c), 0.1 / c)
    probs[np.arange(len(labels)), preds] += 0.9
    ids = [f"v_{names[y]}_g{1 + i % 2:02d}_c{i:02d}" for i, y in enumerate(labels)]
    return Predictions(ids, labels, probs, names, attrs)


def build(names: list[str], labels: list[int], frame: list[int], clip: list[int],
          fused: list[int] | None = None, *, chosen: str = "mean", gain: Gain = UNSURE,
          gain_chosen: Gain = UNSURE, kinds: dict[str, str] | None = None,
          probes: tuple[pd.DataFrame, pd.DataFrame] | None = None,
          held: list[int] | None = None, frame_accuracy: float | None = 0.5) -> Results:
    """Results of three models whose predicted class per test video is given."""
    unit = {} if frame_accuracy is None else {"frame_accuracy": frame_accuracy}
    test = {FRAME: _pred(names, labels, frame, **unit),
            CLIP: _pred(names, labels, clip, clip_accuracy=0.6),
            FUSED: _pred(names, labels, clip if fused is None else fused)}
    summaries = {m: summarize(p) for m, p in test.items()}
    nll = {m: 1.0 + 0.1 * i for i, m in enumerate(METHODS)}
    nll[chosen] = 0.5
    fit = FusionFit(chosen=chosen, selection="lowest validation NLL",
                    params={m: {} for m in METHODS},
                    val_scores={m: MethodScore(0.5, v, "in-sample") for m, v in nll.items()},
                    val_single={"a": 0.4, "b": 0.5}, val_single_nll={"a": 2.0, "b": 1.5},
                    num_val_videos=40, class_names=names, seed=0)
    rows = [{"method": m, "top1": 0.777 if m == chosen != "mean" else summaries[FUSED].top1,
             "top5": 0.9, "top10": 1.0, "chosen_on_val": m == chosen} for m in METHODS]
    return Results(
        class_names=names, test=test, summaries=summaries, fit=fit,
        fusion_table=pd.DataFrame(rows), fused={m: test[FUSED] for m in METHODS},
        cis=accuracy_cis({m: p.correct for m, p in test.items()}, n_boot=20),
        gain=gain, gain_chosen=gain_chosen,
        per_class=compare_per_class(summaries[FRAME].per_class, summaries[CLIP].per_class),
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


def _probes(shuffled: list[float], reversed_: list[float] | None = None,
            static: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    table = pd.DataFrame({"class": NAMES, "support": 4, "normal": 1.0, "shuffled": shuffled})
    table["drop_shuffled"] = table["normal"] - table["shuffled"]
    rows = [{"windows": "normal", "top1": 1.0, "drop": 0.0},
            {"windows": "shuffled", "top1": float(np.mean(shuffled)),
             "drop": 1 - float(np.mean(shuffled))}]
    if reversed_ is not None:
        table["reversed"] = reversed_
        table["drop_reversed"] = table["normal"] - table["reversed"]
        rows.append({"windows": "reversed", "top1": float(np.mean(reversed_)),
                     "drop": 1 - float(np.mean(reversed_))})
    if static:
        rows.append({"windows": "static", "top1": 0.875, "drop": 0.125})
    return table, pd.DataFrame(rows)


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


@pytest.mark.parametrize("cfg, text", [
    ({"model": "frame"}, "every frame"),
    ({"model": "frame", "eval_frames": -1, "three_crop": True}, "every frame, three crops each"),
    ({"model": "frame", "eval_frames": 5}, "5 evenly spaced frames"),
    ({"model": "clip", "clip_len": 16}, "16-frame windows covering the whole video"),
    ({"model": "clip", "clip_len": 16, "stride": 2, "three_crop": True},
     "16-frame windows of every 2th frame covering the whole video, three crops each"),
])
def test_scored(cfg, text):
    assert prose.scored(cfg) == text


def test_verdict_in_each_outcome():
    assert prose.verdict(YES) == ("Yes: fusion improves top-1 by +8.0 points (95% CI +3.0 to "
                                  "+13.0; McNemar p = 0.0215).")
    assert prose.verdict(NO) == ("No: fusion is worse than the best single model by -6.0 "
                                 "points (95% CI -10.0 to -2.0; McNemar p = 0.039).")
    assert prose.verdict(UNSURE) == ("Not shown: the change of +1.0 points (95% CI -2.0 to "
                                     "+4.0; McNemar p = 1) is within what chance on this test "
                                     "set allows.")
    # significant by McNemar but an interval across zero is not a verdict either way
    odd = Gain(gain=0.01, lo=-0.01, hi=0.03, test=McNemar(9, 1, 10, 0.02))
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
def _cfgs(val_groups: list[int], frames: int = 3) -> tuple[dict, dict]:
    frame = {"split": 1, "num_train": 120, "num_val": 0,
             "config": {"model": "frame", "frames_per_video": frames, "eval_frames": None,
                        "val_groups": val_groups, "num_epochs": 5}}
    clip = {"split": 1, "num_train": 120, "num_val": 30,
            "config": {"model": "clip", "clip_len": 8, "val_groups": val_groups,
                       "num_epochs": 30}}
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
    record = {"value": 5, "fitted_on": {"checkpoint": "frame-holdout/model.pt", "sha256": "ab"}}
    choices = {"frame": {"num_epochs": record, "three_crop": {"value": True}},
               "clip": {"num_epochs": {**record, "value": 30}}}
    res = per_class(NAMES, ALL_RIGHT, ALL_RIGHT, chosen="weighted")
    res.fit.params["weighted"].update(w=0.35)
    text = prose.method_facts(frame, clip, res, choices)
    assert ("They trained for as many epochs as the held-out models (5 for the frame model, "
            "30 for the clip model) with the same learning-rate schedule as a function of "
            "training progress, each epoch taking more steps on the larger training set.") in text
    assert text.endswith(
        "Carried over unchanged from the held-out models' final checkpoints to the reported "
        "models: the fusion method chosen on their validation predictions, weighted (the frame "
        "model's weight w = 0.35) and the frame model's test crops, chosen on validation top-1 "
        "(three crops).")
    # stacking names its fitted parameters; an older run's recorded epochs say so
    res = per_class(NAMES, ALL_RIGHT, ALL_RIGHT, chosen="stacking")
    res.fit.params["stacking"].update(w_a=0.8, w_b=1.25, bias=[0.0] * 6)
    old = {"frame": {"num_epochs": {"value": 5, "rule": "epoch of the lowest validation loss"}}}
    text = prose.method_facts(frame, clip, res, old)
    assert ("stacking (one weight per model, 0.80 (frame) and 1.25 (clip), and 6 per-class "
            "biases).") in text
    assert "the epoch of each held-out model's lowest validation loss" in text


# ----------------------------------------------------------------------------- fusion
def test_ci_clusters():
    res = per_class(NAMES, ALL_RIGHT, ALL_RIGHT)
    assert prose.ci_clusters(res) == ("The intervals resample the 12 (class, group) clusters "
                                      "of the 24 test videos.")


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


def test_combining_says_higher_lower_or_equal_per_k():
    # 2D right on 3 of 4 videos per class, 3D on 2, combined on 4: higher at top-1
    better = per_class(NAMES, {n: 3 for n in NAMES}, {n: 2 for n in NAMES}, ALL_RIGHT,
                       gain=YES)
    text = prose.combining(better)
    assert text.startswith("**Did combining improve the results?** The combined output (the "
                           "mean of the two models' probabilities) reaches top-1 100.0%, "
                           "higher than the better single model's 75.0% (+25.0 points); ")
    assert "top-5 100.0%, higher than the better single model's 91.7% (+8.3 points)" in text
    assert text.endswith("top-10 100.0%, equal to the better single model's 100.0% (+0.0 "
                         f"points). {prose.verdict(YES)}")
    worse = per_class(NAMES, ALL_RIGHT, ALL_RIGHT, {n: 2 for n in NAMES}, gain=NO)
    assert "top-1 50.0%, lower than the better single model's 100.0% (-50.0 points)" in \
        prose.combining(worse)


# ----------------------------------------------------------------------------- classes
def test_best_worst_when_every_class_is_solved_by_every_model():
    # Every class ties at 100%, so each is both among the best and among the worst of both
    # models, and every list names all six (what the report has always said in this case).
    res = per_class(NAMES, ALL_RIGHT, ALL_RIGHT)
    every = "Archery, Bowling, Diving, Fencing, Rowing and Surfing"
    assert prose.best_worst(res) == (
        "**Best and worst classes across the three models.** Of the single-frame model's 6 "
        f"best classes, 6 are also among the 3D model's best ({every}). The two models share "
        f"6 of their worst classes: {every}; these stay hard whatever the input. Classes "
        f"among the single-frame model's worst but the 3D model's best: {every} — single "
        "frames miss what clips show. The reverse, worst for 3D but best for single frames: "
        f"{every}. Still among the worst after combining: {every}.")


def test_best_worst_names_moves_rescues_and_what_stays_hard():
    names = [f"K{i:02d}" for i in range(24)]  # more classes than the lists' 10 places
    frame = {n: 4 - (i % 5) for i, n in enumerate(names)}
    clip = {n: (i % 5) for i, n in enumerate(names)}
    fused = {n: 4 if i % 5 in (1, 2) else 0 for i, n in enumerate(names)}
    text = prose.best_worst(per_class(names, frame, clip, fused))
    # each model's best are the other's worst: no shared best, no shared worst
    assert "6 best classes" not in text and "10 best classes, 0 are also among" in text
    assert "The two models share 0 of their worst classes; these stay hard" in text
    # the 2D model's worst: four at 0%, five at 25%, and the five tied at 50% for place 10
    assert ("Classes among the single-frame model's worst but the 3D model's best: K04, K09, "
            "K14, K19, K03, K08, K13, K18, K23, K02, K07, K12, K17 and K22 — single frames miss "
            "what clips show.") in text
    assert ("The reverse, worst for 3D but best for single frames: K00, K05, K10, K15, K20, "
            "K01, K06, K11, K16 and K21.") in text
    assert ("Combining rescues K02, K07, K12, K17, K22, K01, K06, K11, K16 and K21: at least "
            "95% combined, below that with one of the two models alone.") in text
    assert "Still among the worst" not in text


def test_best_worst_shortens_a_long_shared_list():
    names = [f"K{i:02d}" for i in range(101)]
    res = per_class(names, {n: 4 for n in names}, {n: 4 for n in names})
    text = prose.best_worst(res)
    assert ("Of the single-frame model's 101 best classes, 101 are also among the 3D model's "
            "best (K00, K01, K02, K03, K04, K05, K06 and K07, ...).") in text


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
                             "Bowling (50% → 100%).")
    assert paragraphs[2] == ("**Solved by one frame** (single-frame accuracy at least 95%): 4 "
                             "of 6 classes, e.g. Diving, Fencing, Rowing and Surfing.")
    assert paragraphs[3] == "**Better with one frame than with 3D:** Surfing (100% vs 75%)."
    assert len(paragraphs) == 4  # no class kinds: no ground-truth sentence


def test_spatial_temporal_with_probes_kinds_and_no_gain():
    kinds = {"Archery": "spatial", "Bowling": "spatial", "Diving": "temporal",
             "Fencing": "temporal", "Rowing": "detail", "Surfing": "other"}
    res = per_class(NAMES, {n: 0 for n in NAMES}, {n: 0 for n in NAMES}, kinds=kinds,
                    probes=_probes([1.0, 1.0, 0.5, 0.25, 1.0, 0.0],
                                   reversed_=[1.0, 1.0, 0.0, 0.25, 1.0, 0.5]))
    paragraphs = prose.spatial_temporal(res).split("\n\n")
    assert paragraphs[0].endswith(
        "To measure what the 3D model takes from motion, the same test windows were fed to it "
        "with their frames shuffled, reversed, or replaced by one repeated frame. Its "
        "per-video top-1 falls from 100.0% to 62.5% shuffled, 62.5% reversed and 87.5% static. "
        "The classes that lose most when frame order is destroyed (shuffled), i.e. need "
        "temporal information: Surfing (100% → 0%), Fencing (100% → 25%) and Diving (100% → "
        "50%). Those that keep their accuracy without frame order, i.e. are told apart by "
        "spatial information: Archery (100% → 100%), Bowling (100% → 100%), Rowing (100% → "
        "100%), Diving (100% → 50%) and Fencing (100% → 25%). Playing windows backwards "
        "breaks Diving and Fencing: these need the direction of motion, not just motion. One "
        "repeated frame costs 12.5 points overall. For comparison, Huang et al. (CVPR 2018, "
        "\"What makes a video a video\") find that properly removing motion costs a 3D CNN "
        "only about 6 points on UCF-101, and Choi et al. (NeurIPS 2019, \"Why can't I dance "
        "in the mall?\") reach 59.7% on UCF-101 from the scene alone: UCF-101 is largely "
        "solvable from appearance.")
    # no class gains or loses, none is solved by one frame
    assert paragraphs[1] == ("**Solved by one frame** (single-frame accuracy at least 95%): 0 "
                             "of 6 classes.")
    assert paragraphs[2] == (
        "On the synthetic benchmark the ground truth is known: over the spatial classes the "
        "single-frame model reaches 0.0% and the 3D model 0.0%; over the temporal classes, "
        "whose two members look alike frame by frame (chance within a pair is 50%), the "
        "single-frame model reaches 0.0% and the 3D model 0.0%; over the detail classes, told "
        "apart by a detail the 3D model's smaller input loses, the single-frame model reaches "
        "0.0% and the 3D model 0.0%; over other the single-frame model reaches 0.0% and the 3D "
        "model 0.0%.")


def test_spatial_temporal_probes_without_a_loss_reversal_or_static_frame():
    res = per_class(NAMES, ALL_RIGHT, ALL_RIGHT, probes=_probes([1.0] * 6, static=False))
    first = prose.spatial_temporal(res).split("\n\n")[0]
    assert "falls from 100.0% to 100.0% shuffled." in first
    assert "lose most" not in first and "backwards" not in first
    assert "One repeated frame costs" not in first
    assert "Those that keep their accuracy without frame order" in first
    # a clip model that recognises no class well: no class can show what survives shuffling;
    # reversed windows that break nothing: no direction sentence
    table, overall = _probes([0.25] * 6, reversed_=[1.0] * 6)
    table["normal"] = 0.5
    table["drop_shuffled"] = 0.25
    weak = per_class(NAMES, ALL_RIGHT, ALL_RIGHT, probes=(table, overall))
    first = prose.spatial_temporal(weak).split("\n\n")[0]
    assert "The classes that lose most when frame order is destroyed" in first
    assert "keep their accuracy" not in first and "backwards" not in first


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
        "**Notable confused pairs.** Both models share 1 of their top confusions (A → B): the "
        "two classes look and move alike. For the single-frame model, 1 pair(s) are confused "
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
                                            "classes, 1 are also among the 3D model's best "
                                            "(Only).")


# ----------------------------------------------------------------------------- conclusion
def test_conclusion_with_kinds_and_the_mean_chosen():
    kinds = {n: "temporal" if i < 2 else "spatial" for i, n in enumerate(NAMES)}
    res = per_class(NAMES, {"Archery": 2, "Bowling": 2, "Diving": 2}, ALL_RIGHT, kinds=kinds,
                    gain=YES)
    assert prose.conclusion(res) == (
        "The single-frame model reaches 75.0% per video (50.0% per frame), the 3D model 100.0% "
        "(60.0% per clip) and their combination 100.0%. " + prose.verdict(YES)
        + " The 3D model is better on 3 classes and worse on 0 of 6. 2 of the 3 classes it "
        "wins are temporal classes of the benchmark, whose single frames look alike within "
        "their pair.")


def test_conclusion_without_kinds_names_the_largest_gains():
    res = per_class(NAMES, {"Archery": 0, "Bowling": 1, "Diving": 2, "Fencing": 3},
                    {"Surfing": 0}, chosen="product", frame_accuracy=None)
    text = prose.conclusion(res)
    assert text.startswith("The single-frame model reaches 58.3% per video (nan% per frame), "
                           "the 3D model 83.3% (60.0% per clip) and their combination 83.3% "
                           "(77.7% with product, the fusion chosen on validation).")
    assert text.endswith("The 3D model is better on 4 classes and worse on 1 of 6. It gains "
                         "most on Archery (0% → 100%), Bowling (25% → 100%) and Diving (50% → "
                         "100%).")


def test_conclusion_when_the_3d_model_wins_no_class():
    res = per_class(NAMES, ALL_RIGHT, ALL_RIGHT, kinds={n: "spatial" for n in NAMES})
    assert prose.conclusion(res).endswith("The 3D model is better on 0 classes and worse on 0 "
                                          "of 6.")


# ----------------------------------------------------------------------------- tables
def test_tables_use_the_prose_for_their_empty_cases():
    res = per_class(NAMES, ALL_RIGHT, ALL_RIGHT)
    assert tables.probe_md(res) == prose.NO_PROBES
    assert tables.pairs_table(res.summaries[FRAME].confused_pairs) == prose.NO_CONFUSIONS
    assert tables.kind_table(res) is None
    section = tables.classes_md(FRAME, res.summaries[FRAME])
    assert section.startswith(f"## {FRAME}\n\n### 10 best classes\n\n")
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
