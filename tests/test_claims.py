"""The best-and-worst paragraph cannot contradict itself (helpers.evaluation.claims): property
tests on random, all-tied and 101-class results check that `class_claims` finds no conflict
and that every class the paragraph names is named as the claims say; hand-made contradictory
claims show that the check fails when it should."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_prose import build

from helpers.evaluation.claims import ClassClaims, Ends, class_claims
from helpers.evaluation.results import CLIP, FRAME, FUSED, Results
from helpers.reporting import prose

LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)  # few accuracy levels, so that ties are common


def outcomes_results(rng: np.random.Generator, num_classes: int, videos: int, clusters: int,
                     mode: str = "random") -> Results:
    """Results whose models get each video right with a per-class probability drawn from
    LEVELS ("random"), or all right ("perfect"), or every class at one accuracy per model
    ("flat"); a wrong video is given the next class. Video i of a class is in its group
    1 + i % clusters."""
    names = [f"K{i:03d}" for i in range(num_classes)]
    labels = np.repeat(np.arange(num_classes), videos)
    preds = []
    for _ in range(3):
        if mode == "perfect":
            right = np.ones(len(labels), bool)
        elif mode == "flat":
            right = np.tile(np.arange(videos) < rng.integers(0, videos + 1), num_classes)
        else:
            p = rng.choice(LEVELS, size=num_classes)[labels]
            right = rng.random(len(labels)) < p
        if num_classes == 1:
            right[:] = True  # no other class to be wrong with
        preds.append(np.where(right, labels, (labels + 1) % num_classes).tolist())
    return build(names, labels.tolist(), *preds, clusters=clusters)


# ----------------------------------------------------------------------------- the text
_NAME = re.compile(r"\bK\d{3}\b")
_COMBINED = {"than with each model": "rescued", "but still among": "raised",
             "lower beyond noise": "lowered", "the change is not shown beyond noise": "unchanged"}
_MOVES = {"the 3D model is higher": "higher_in_3d", "the single-frame model is higher":
          "higher_in_2d", "the difference is not shown beyond noise": "similar"}


def named_in_paragraph(text: str) -> dict[str, list[str]]:
    """The classes each statement of the best-and-worst paragraph names, by claims field."""
    named: dict[str, list[str]] = {}

    def add(field: str, part: str) -> None:
        named.setdefault(field, []).extend(_NAME.findall(part))

    for sentence in re.split(r"(?<=\.) (?=[A-Z*])", text):
        if sentence.startswith("**Best and worst"):
            add("shared_best", sentence)
        elif sentence.startswith("The two models share"):
            add("shared_worst", sentence)
        elif sentence.startswith("Shared worst classes still among"):
            add("still_worst", sentence)
        elif sentence.startswith(("Of the", "After combining")):
            table = _MOVES if sentence.startswith("Of the") else _COMBINED
            for clause in sentence.split("; "):
                fields = [f for key, f in table.items() if key in clause]
                assert len(fields) == 1, clause
                add(fields[0], clause)
        else:  # the ties, the test: no class names
            assert not _NAME.findall(sentence), sentence
    return named


def check_paragraph(text: str, claims: ClassClaims) -> None:
    """Every class the paragraph names is named in the statement the claims put it in."""
    named = named_in_paragraph(text)
    for field in ("shared_worst", "still_worst", "higher_in_3d", "higher_in_2d", "similar",
                  "rescued", "raised", "lowered", "unchanged"):
        assert named.get(field, []) == list(getattr(claims, field)), field
    shared = named.get("shared_best", [])
    assert shared == list(claims.shared_best[:len(shared)])
    assert len(shared) == len(claims.shared_best) or ", ..." in text


def assert_consistent(res: Results) -> None:
    claims = class_claims(res)
    assert claims.conflicts() == []
    text = prose.best_worst(res)
    check_paragraph(text, claims)
    named = named_in_paragraph(text)
    # the "Done when" of the issue, in terms of the numbers themselves
    for model in (FRAME, CLIP, FUSED):
        acc = res.summaries[model].per_class.set_index("class")["accuracy"]
        worst = res.summaries[model].worst_ranked.classes
        assert not set(worst) & set(res.summaries[model].best_ranked.classes)
        assert all(acc[c] < acc.max() for c in worst)
    top = res.summaries[FUSED].per_class["accuracy"].max()
    fused = res.summaries[FUSED].per_class.set_index("class")["accuracy"]
    assert all(fused[c] < top for c in named.get("still_worst", []))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), num_classes=st.integers(1, 24),
       videos=st.integers(1, 8), clusters=st.integers(1, 8),
       mode=st.sampled_from(["random", "random", "random", "perfect", "flat"]))
def test_random_results_give_consistent_claims(seed, num_classes, videos, clusters, mode):
    res = outcomes_results(np.random.default_rng(seed), num_classes, videos,
                           min(clusters, videos), mode)
    assert_consistent(res)


@pytest.mark.parametrize("seed, mode", [(0, "random"), (1, "random"), (2, "perfect"),
                                        (3, "flat")])
def test_101_classes_give_consistent_claims(seed, mode):
    # UCF-101's shape: 101 classes, about 37 test videos in 7 clusters each
    res = outcomes_results(np.random.default_rng(seed), 101, 35, 7, mode)
    assert_consistent(res)


def test_many_classes_at_the_top_are_never_worst():
    # the case: 14 of 20 classes at 100% for the single-frame model
    rng = np.random.default_rng(5)
    res = outcomes_results(rng, 20, 14, 7)
    claims = class_claims(res)
    for model in (FRAME, CLIP, FUSED):
        e = claims.ends[model]
        assert all(e.accuracy[c] < e.top_accuracy for c in e.worst)
        assert not set(e.best) & set(e.worst)
    assert_consistent(res)


# ----------------------------------------------------------------------------- the check fails
def _ends(best: tuple, worst: tuple, acc: dict[str, float]) -> Ends:
    top = max(acc.values())
    return Ends(best=best, worst=worst, places=2, top_accuracy=top,
                below_top=sum(a < top for a in acc.values()), accuracy=acc)


ACC = {"A": 0.1, "B": 0.2, "C": 0.5, "T": 1.0, "U": 1.0}
GOOD = ClassClaims(
    ends={m: _ends(("T", "U"), ("A", "B"), ACC) for m in (FRAME, CLIP, FUSED)},
    shared_best=("T", "U"), shared_worst=("A", "B"), higher_in_3d=(), higher_in_2d=(),
    similar=(), rescued=(), raised=(), unchanged=("A", "B"), lowered=(), still_worst=("A",),
    level=0.05, alpha=0.05, control="Benjamini-Hochberg", min_clusters=6)


@pytest.mark.parametrize("change, expected", [
    # the old report: a 100% class among the worst, and so among the best and the worst
    ({"ends": {**GOOD.ends, FRAME: _ends(("T", "U"), ("A", "T"), ACC)}},
     ["T is among both the best and the worst of Single frame (2D).",
      "T is among the worst of Single frame (2D) at its top accuracy (100.0%).",
      "B is called a shared worst class but is not among both models' worst."]),
    # "worst for 3D but best for single frames" while shared worst
    ({"higher_in_2d": ("A",)}, ["A is both shared worst and higher with 2D.",
                                "A is compared between 2D and 3D but is not among exactly "
                                "one model's worst."]),
    ({"higher_in_3d": ("C",), "higher_in_2d": ("C",)},
     ["C is both higher with 3D and higher with 2D.",
      "C is compared between 2D and 3D but is not among exactly one model's worst.",
      "C is compared between 2D and 3D but is not among exactly one model's worst."]),
    # rescued by combining, yet still among the worst after combining
    ({"rescued": ("A",)}, ["A is both rescued by combining and unchanged by combining.",
                           "A is rescued by combining but is among the combined output's "
                           "worst.", "A is both rescued by combining and still among the "
                                     "worst."]),
    # still among the worst at the combined top accuracy
    ({"still_worst": ("T",)}, ["T is still among the worst after combining, named wrongly."]),
    ({"shared_best": ("T", "A")}, ["A is called a shared best class but is not among both "
                                   "models' best."]),
    ({"raised": ("C",)}, ["C is raised by combining yet not among the combined output's "
                          "worst."]),
])
def test_conflicts_name_each_contradiction(change, expected):
    assert GOOD.conflicts() == []
    assert dataclasses.replace(GOOD, **change).conflicts() == expected


def test_the_text_check_fails_on_a_paragraph_that_names_a_class_wrongly():
    res = outcomes_results(np.random.default_rng(0), 20, 8, 8)
    claims = class_claims(res)
    text = prose.best_worst(res)
    check_paragraph(text, claims)
    assert claims.unchanged  # so the edit below changes the paragraph
    wrong = text.replace("the change is not shown beyond noise", "the change is lower beyond noise")
    with pytest.raises(AssertionError, match="unchanged|lowered"):
        check_paragraph(wrong, claims)
    with pytest.raises(AssertionError):  # a clause that reads as two statements
        named_in_paragraph(text.replace("the change is not shown beyond noise",
                                        "the change is not shown beyond noise but still among"))
