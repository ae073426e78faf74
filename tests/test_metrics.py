import warnings

import numpy as np
import pandas as pd
import pytest

from helpers.errors import UserError
from helpers.evaluation.metrics import (
    best_worst,
    class_ends,
    compare_per_class,
    comparison_table,
    confusion_matrix,
    most_confused_pairs,
    mutual_confusions,
    per_class_accuracy,
    rank_classes,
    row_normalize,
    summarize,
    to_markdown,
    topk_accuracy,
    topk_classes,
    true_class_rank,
)
from helpers.evaluation.predictions import Predictions

# Hand-made scores with ties. Rule: equal scores rank by ascending class index.
PROBS = np.array([
    [0.40, 0.40, 0.10, 0.10],  # label 1 ties class 0, which ranks first -> rank 1
    [0.25, 0.25, 0.25, 0.25],  # label 0, all tied -> rank 0
    [0.25, 0.25, 0.25, 0.25],  # label 3, all tied -> rank 3
    [0.10, 0.20, 0.30, 0.40],  # label 2 -> rank 1
])
LABELS = np.array([1, 0, 3, 2])


def test_topk_with_ties_matches_hand_computation():
    np.testing.assert_array_equal(true_class_rank(PROBS, LABELS), [1, 0, 3, 1])
    acc = topk_accuracy(PROBS, LABELS, ks=(1, 2, 3, 4, 10))
    assert acc == {1: 0.25, 2: 0.75, 3: 0.75, 4: 1.0, 10: 1.0}
    # the same rule as the explicit top-k lists and as argmax
    top2 = topk_classes(PROBS, 2)
    np.testing.assert_array_equal(top2, [[0, 1], [0, 1], [0, 1], [3, 2]])
    np.testing.assert_array_equal(top2[:, 0], PROBS.argmax(1))
    with pytest.raises(UserError):
        topk_accuracy(PROBS[:0], LABELS[:0])


def test_topk_agrees_with_sorting_on_random_tied_scores():
    rng = np.random.default_rng(0)
    probs = rng.integers(0, 4, size=(200, 7)).astype(float) + 1  # many ties
    labels = rng.integers(0, 7, size=200)
    for k in (1, 3, 5):
        expected = (topk_classes(probs, k) == labels[:, None]).any(1).mean()
        assert topk_accuracy(probs, labels, ks=(k,))[k] == pytest.approx(expected)


def test_confusion_matrix_counts_and_row_normalisation():
    preds = PROBS.argmax(1)  # [0, 0, 0, 3]
    cm = confusion_matrix(LABELS, preds, 4)
    expected = np.zeros((4, 4), int)
    expected[1, 0] = expected[0, 0] = expected[3, 0] = expected[2, 3] = 1
    np.testing.assert_array_equal(cm, expected)
    cm2 = np.array([[3, 1, 0], [0, 0, 0], [2, 0, 2]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an empty row must not warn
        norm = row_normalize(cm2)
    np.testing.assert_allclose(norm, [[0.75, 0.25, 0], [0, 0, 0], [0.5, 0, 0.5]])
    with pytest.raises(UserError, match="outside"):
        confusion_matrix([0, 5], [0, 1], 4)


NAMES6 = ["Alpha", "Beta", "Gamma", "Delta", "Epsilon", "Zeta"]
# rows: true class. Alpha 2/2, Beta 4/4, Gamma 1/2, Delta 0/3, Epsilon 0/3, Zeta no videos.
CM6 = np.array([
    [2, 0, 0, 0, 0, 0],
    [0, 4, 0, 0, 0, 0],
    [0, 1, 1, 0, 0, 0],
    [1, 0, 0, 0, 2, 0],
    [0, 0, 0, 3, 0, 0],
    [0, 0, 0, 0, 0, 0],
])


def test_per_class_and_best_worst_tie_breaks():
    pc = per_class_accuracy(CM6, NAMES6)
    assert list(pc.columns) == ["class", "accuracy", "support", "correct"]
    assert pc["support"].tolist() == [2, 4, 2, 3, 3, 0]
    assert np.isnan(pc.loc[5, "accuracy"])
    best, worst = best_worst(pc, n=3)
    # 5 scored classes: each list gets 2 places, so no class is in both; equal accuracy goes
    # to more videos first, then name A-Z; the class without videos is left out
    assert best["class"].tolist() == ["Beta", "Alpha"]
    assert worst["class"].tolist() == ["Delta", "Epsilon"]
    b10, w10 = best_worst(pc, n=10)
    assert len(b10) == 2 and not set(b10["class"]) & set(w10["class"])
    # all at the top accuracy: no worst class at all
    tied = _per_class({"A": (1, 1), "B": (2, 2), "C": (3, 3)})
    assert best_worst(tied, n=1)[1].empty


def _per_class(accuracies: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """A per-class table from {class: (correct, support)}."""
    names = list(accuracies)
    correct = np.array([c for c, _ in accuracies.values()])
    support = np.array([t for _, t in accuracies.values()])
    return pd.DataFrame({"class": names, "accuracy": correct / support,
                         "support": support, "correct": correct})


def test_best_list_names_a_tie_larger_than_its_places():
    # 15 classes at 100% (with different supports), then 12 below, all different.
    perfect = {f"Perfect{i:02d}": (10 + i % 3, 10 + i % 3) for i in range(15)}
    rest = {f"Rest{i:02d}": (i, 20) for i in range(12)}
    pc = _per_class({**perfect, **rest})
    best = rank_classes(pc, 10, best=True)
    assert sorted(best.tied["class"]) == sorted(perfect) and len(best.tied) == 15
    assert best.ranked.empty and best.tie_accuracy == 1.0 and best.first_tied_place == 1
    assert sorted(best.classes) == sorted(perfect)
    # the worst end has no tie at its boundary: the usual ranked list of 10
    worst = rank_classes(pc, 10, best=False)
    assert worst.tied.empty and len(worst.ranked) == 10
    assert worst.ranked["class"].tolist() == [f"Rest{i:02d}" for i in range(10)]
    # with fewer classes below the top, the worst list holds only those, never the 100% tie
    few = rank_classes(_per_class({**perfect, "Low": (1, 10)}), 10, best=False)
    assert few.classes == ["Low"] and few.tied.empty
    assert (few.eligible, few.below_top, few.top_accuracy, few.short) == (1, 1, 1.0, True)
    assert not worst.short and worst.eligible == 12
    # summarize carries the honest lists
    labels = np.repeat(np.arange(3), 4)
    probs = np.full((12, 3), 0.1)
    probs[np.arange(12), labels] = 0.8  # every video right: all 3 classes tie at 100%
    s = summarize(Predictions([f"v_X_g01_c{i:02d}" for i in range(12)], labels, probs,
                              ["a", "b", "c"], {}), n=2)
    # (3 classes: one place per list, and no class below the top for the worst)
    assert sorted(s.best_ranked.classes) == ["a", "b", "c"] and len(s.best) == 1
    assert s.worst.empty and s.worst_ranked.classes == []


def test_class_ends_are_disjoint_and_the_worst_leave_out_the_best_and_the_top():
    # 6 classes: 3 places each; 3 at 100% fill the best list, so the worst holds the 3 below
    pc = _per_class({"A": (4, 4), "B": (3, 3), "C": (2, 2), "D": (1, 2), "E": (1, 4),
                     "F": (0, 3)})
    best, worst = class_ends(pc, 10)
    assert best.classes == ["A", "B", "C"] and worst.classes == ["F", "E", "D"]
    assert best.n == worst.n == 3
    # 5 classes, 2 places each, 4 tied at 100%: the best list names the whole tie, and the
    # worst may only take the one class left
    pc = _per_class({"A": (4, 4), "B": (3, 3), "C": (2, 2), "D": (1, 1), "E": (0, 3)})
    best, worst = class_ends(pc, 10)
    assert sorted(best.classes) == ["A", "B", "C", "D"] and worst.classes == ["E"]
    assert worst.short and worst.below_top == 1
    # rank_classes leaves out what it is told to, at either end
    assert rank_classes(pc, 2, best=True, exclude=["A", "B"]).classes == ["C", "D"]


def test_tie_across_the_last_place_is_named_after_the_classes_ahead_of_it():
    # 3 classes above, then 4 tie at 50% for places 4-7 of a 5-place list
    pc = _per_class({"A": (9, 10), "B": (8, 10), "C": (7, 10), "D": (1, 2), "E": (2, 4),
                     "F": (3, 6), "G": (5, 10), "H": (1, 10)})
    r = rank_classes(pc, 5, best=True)
    assert r.ranked["class"].tolist() == ["A", "B", "C"]
    assert r.tied["class"].tolist() == ["G", "F", "E", "D"]  # more videos first, then A-Z
    assert r.first_tied_place == 4 and r.tie_accuracy == 0.5
    # a tie that ends at the last place is an ordinary list
    r4 = rank_classes(pc, 7, best=True)
    assert r4.tied.empty and r4.ranked["class"].tolist() == list("ABCGFED")
    # fewer classes than places: all of them, no tie
    assert rank_classes(pc, 20).classes == list("ABCGFEDH")


def test_pairs_confused_in_both_directions():
    names = ["Alpha", "Beta", "Gamma", "Delta"]
    cm = np.array([
        [5, 2, 0, 2],  # Alpha -> Beta 2, Alpha -> Delta 2
        [3, 4, 1, 0],  # Beta -> Alpha 3, Beta -> Gamma 1
        [0, 0, 6, 0],  # Gamma is never confused
        [2, 0, 0, 3],  # Delta -> Alpha 2
    ])
    mutual = mutual_confusions(cm, names)
    # Alpha<->Beta (3 + 2) and Alpha<->Delta (2 + 2); Beta->Gamma only one way
    assert mutual.to_dict("records") == [
        {"a": "Beta", "b": "Alpha", "count_ab": 3, "count_ba": 2},
        {"a": "Alpha", "b": "Delta", "count_ab": 2, "count_ba": 2},
    ]
    assert mutual_confusions(np.diag([3, 4]), ["x", "y"]).empty
    pairs = most_confused_pairs(cm, names)  # the top list itself stays directed
    assert ("Beta", "Alpha") in set(zip(pairs["true"], pairs["predicted"], strict=True))


def test_most_confused_pairs_rates_counts_and_ties():
    pairs = most_confused_pairs(CM6, NAMES6, n=10)
    # Epsilon->Delta 3/3; Delta->Epsilon 2/3; then Gamma->Beta 1/2; Delta->Alpha 1/3
    assert list(zip(pairs["true"], pairs["predicted"], strict=True)) == [
        ("Epsilon", "Delta"), ("Delta", "Epsilon"), ("Gamma", "Beta"), ("Delta", "Alpha")]
    np.testing.assert_allclose(pairs["rate"], [1.0, 2 / 3, 0.5, 1 / 3])
    assert pairs["count"].tolist() == [3, 2, 1, 1]
    assert pairs["true_index"].tolist() == [4, 3, 2, 3]
    # equal rate: higher count first, then names
    cm = np.array([[0, 1, 1, 0], [2, 0, 0, 2], [0, 0, 2, 0], [0, 0, 0, 0]])
    tied = most_confused_pairs(cm, ["d", "c", "b", "a"], n=3)
    assert list(zip(tied["true"], tied["predicted"], strict=True)) == [
        ("c", "a"), ("c", "d"), ("d", "b")]


def test_summarize_bundles_everything_and_frame_accuracy():
    probs = np.eye(3)[[0, 1, 1, 2, 0]] * 0.7 + 0.1
    pred = Predictions([f"v_X_g01_c{i:02d}" for i in range(5)], [0, 1, 2, 2, 1], probs,
                       ["a", "b", "c"], {"model": "m", "frame_accuracy": 0.5, "subset": "test"})
    s = summarize(pred)
    assert s.top1 == pytest.approx(0.6) and s.top5 == 1.0
    assert s.confusion.sum() == 5 and s.confusion[2, 1] == 1
    assert s.frame_accuracy == 0.5 and s.clip_accuracy is None and s.unit == "frame"
    assert s.confused_pairs.iloc[0][["true", "predicted"]].tolist() == ["b", "a"]
    table = comparison_table({"2D": s})
    assert table.loc[0, "unit"] == "frame" and table.loc[0, "unit_accuracy"] == 0.5
    bare = summarize(Predictions(pred.video_ids, pred.labels, pred.probs, pred.class_names))
    assert bare.unit is None and np.isnan(bare.unit_accuracy)
    assert comparison_table({"?": bare}).loc[0, "unit"] == "-"


def test_compare_per_class_sorts_by_gain():
    a = pd.DataFrame({"class": ["x", "y", "z"], "accuracy": [0.5, 0.2, 0.9],
                      "support": [2, 5, 10], "correct": [1, 1, 9]})
    b = a.assign(accuracy=[0.5, 0.8, 0.95])
    g = compare_per_class(a, b)
    assert g["class"].tolist() == ["y", "z", "x"]
    np.testing.assert_allclose(g["gain"], [0.6, 0.05, 0.0])


def test_to_markdown_formats_cells():
    df = pd.DataFrame({"model": ["a|b", "c"], "top1": [0.8123, np.nan], "n": [10, 3],
                       "p": [0.01234, 1.0], "chosen": [True, False]})
    text = to_markdown(df, formats={"p": ".3g"})
    assert text.splitlines() == [
        "| model | top1 | n | p | chosen |",
        "|:---|---:|---:|---:|:---|",
        "| a\\|b | 81.2% | 10 | 0.0123 | yes |",
        "| c | n/a | 3 | 1 | no |",
    ]


def test_to_markdown_proportional_widths():
    df = pd.DataFrame({"model": ["3D clips"], "weights": ["data/weights/r3d50_K_200ep.pth"],
                       "optimisation": ["sgd lr 0.01, cosine, 20 epochs, batch 64"],
                       "top1": [0.5]})
    sep = to_markdown(df, proportional=True).splitlines()[1]
    dashes = [len(c.strip(":")) for c in sep.strip("|").split("|")]
    assert len(sep) <= 72  # the dashes line alone never makes a table wide for pandoc
    # the long sentence gets the most room, the long path more than the short name
    assert dashes[2] == max(dashes) and dashes[1] > dashes[0]
    assert sep.split("|")[4].endswith(":")  # numbers stay right-aligned
    assert to_markdown(df).splitlines()[1] == "|:---|:---|:---|---:|"



def test_report_text_names_the_whole_tie_and_both_directions():
    from helpers.reporting import prose, tables

    perfect = {f"Perfect{i:02d}": (10, 10) for i in range(15)}
    pc = _per_class({**perfect, "Half": (5, 10), "Low": (1, 10)})
    text = tables.ranked_classes_md(rank_classes(pc, 10, best=True))
    assert text.startswith("**15 classes tie at 100.0%**, more than the 10 places")
    assert all(name in text for name in perfect) and "|" not in text  # no table: none ahead
    worst = tables.ranked_classes_md(rank_classes(_per_class({**perfect, "Low": (1, 10)}), 10,
                                                  best=False))
    # the worst list never reaches the 100% tie: it says how many classes are below the top
    assert worst.startswith("Only 1 class is below the top accuracy (100.0%)")
    assert "| Low | 10.0% | 1 | 10 |" in worst and "Perfect" not in worst
    mutual = mutual_confusions(np.array([[5, 2, 0], [3, 4, 1], [0, 0, 6]]), ["A", "B", "C"])
    assert prose.mutual_pairs(mutual) == (
        "**Confused in both directions** (videos each way): B → A (3, back 2).")
    assert prose.mutual_pairs(mutual.iloc[:0]).startswith("No two classes")
