"""What the report's best-and-worst paragraph says about classes, as sets of class names
decided from a run's `Results` before any sentence is written, so that the statements can be
checked against each other (`ClassClaims.conflicts`).

The rules that keep them consistent:
- a list is a list, not a verdict: each model's best and worst lists come from
  `metrics.class_ends`, which never puts a class at the top accuracy among the worst and
  never puts a class in both lists;
- a class "moves" between the 2D and 3D models, or is raised by combining, only when the
  per-class difference is beyond noise (`stats.ClassDiffs`: exact sign-flip test over the
  class's clusters at the 5% level, interval excluding zero); otherwise
  it is said not to be shown beyond noise;
- every class of the lists a statement draws on falls in exactly one of its outcomes.

`helpers.reporting.prose.best_worst` renders a `ClassClaims`; nothing here writes text
except `conflicts`, which describes what would contradict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations

from helpers.evaluation.metrics import ModelSummary
from helpers.evaluation.results import CLIP, FRAME, FUSED, Results
from helpers.evaluation.stats import HIGHER, LOWER, NOISE, ClassDiffs, min_clusters


@dataclass(frozen=True)
class Ends:
    """One model's best and worst lists (see `metrics.class_ends`) and its accuracies."""

    best: tuple[str, ...]
    worst: tuple[str, ...]
    places: int  # places per list
    top_accuracy: float  # the highest per-class accuracy
    below_top: int  # classes below it
    accuracy: Mapping[str, float]  # every class with test videos


@dataclass(frozen=True)
class ClassClaims:
    """The per-class statements of the best-and-worst paragraph.

    2D against 3D, on the classes among one model's worst but not the other's
    (`one_sided`): `higher_in_3d`, `higher_in_2d` or `similar` (not shown beyond noise).
    Combining, on the classes among either single model's worst, against each model that
    ranks the class among its worst: `rescued` (higher beyond noise against each, and not
    among the combined output's worst), `raised` (the same, but still among its worst),
    `lowered` (lower beyond noise against one of them) or `unchanged` (otherwise, within
    noise). `still_worst`: shared worst classes also among the combined output's worst.
    """

    ends: Mapping[str, Ends]  # FRAME, CLIP, FUSED
    shared_best: tuple[str, ...]
    shared_worst: tuple[str, ...]
    higher_in_3d: tuple[str, ...]
    higher_in_2d: tuple[str, ...]
    similar: tuple[str, ...]
    rescued: tuple[str, ...]
    raised: tuple[str, ...]
    unchanged: tuple[str, ...]
    lowered: tuple[str, ...]
    still_worst: tuple[str, ...]
    level: float  # level of each per-class test (false-discovery rate under BH)
    alpha: float  # the per-class intervals are at level 1 - alpha
    control: str  # how p-values were adjusted across classes (stats.PER_CLASS or BH)
    min_clusters: int  # fewest differing clusters a class needs to be beyond noise
    able: int = 0  # classes (2D vs 3D) that differ on enough clusters to be called at all
    chance_calls: float = 0.0  # 2D vs 3D, every class: calls chance alone would make
    chance_one_sided: float = 0.0  # the same over the classes compared in this paragraph
    chance_combined: float = 0.0  # combined vs single model, over the comparisons made here

    @property
    def one_sided(self) -> tuple[str, ...]:
        """Classes among exactly one single model's worst, in list order."""
        w2, w3 = self.ends[FRAME].worst, self.ends[CLIP].worst
        return _unique([c for c in w2 if c not in w3] + [c for c in w3 if c not in w2])

    @property
    def single_worst(self) -> tuple[str, ...]:
        """Classes among either single model's worst, in list order."""
        return _unique(self.ends[FRAME].worst + self.ends[CLIP].worst)

    def conflicts(self) -> list[str]:
        """One line per class named in two statements that exclude each other, or named
        against the numbers it rests on; empty when the claims are consistent."""
        out = []
        for model, e in self.ends.items():
            out += [f"{c} is among both the best and the worst of {model}."
                    for c in e.best if c in e.worst]
            out += [f"{c} is among the worst of {model} at its top accuracy "
                    f"({e.accuracy[c]:.1%})." for c in e.worst
                    if e.accuracy.get(c, float("nan")) >= e.top_accuracy]
        b2, b3 = self.ends[FRAME].best, self.ends[CLIP].best
        w2, w3, wf = (self.ends[m].worst for m in (FRAME, CLIP, FUSED))
        out += [f"{c} is called a shared best class but is not among both models' best."
                for c in self.shared_best if not (c in b2 and c in b3)]
        out += [f"{c} is called a shared worst class but is not among both models' worst."
                for c in self.shared_worst if not (c in w2 and c in w3)]
        out += _overlaps({"shared worst": self.shared_worst, "higher with 3D": self.higher_in_3d,
                          "higher with 2D": self.higher_in_2d, "2D vs 3D not shown beyond noise":
                          self.similar})
        out += [f"{c} is compared between 2D and 3D but is not among exactly one model's worst."
                for c in self.higher_in_3d + self.higher_in_2d + self.similar
                if c not in self.one_sided]
        out += _overlaps({"rescued by combining": self.rescued, "raised by combining":
                          self.raised, "unchanged by combining": self.unchanged,
                          "lowered by combining": self.lowered})
        out += [f"{c} is rescued by combining but is among the combined output's worst."
                for c in self.rescued if c in wf]
        out += [f"{c} is raised by combining yet not among the combined output's worst."
                for c in self.raised if c not in wf]
        top = self.ends[FUSED].top_accuracy
        out += [f"{c} is still among the worst after combining, named wrongly." for c in
                self.still_worst if c not in wf or c not in self.shared_worst
                or self.ends[FUSED].accuracy[c] >= top]
        out += [f"{c} is both rescued by combining and still among the worst." for c in
                self.still_worst if c in self.rescued]
        return out


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _overlaps(statements: Mapping[str, tuple[str, ...]]) -> list[str]:
    """A line per class that two of these mutually exclusive statements both name."""
    return [f"{c} is both {a} and {b}." for (a, xs), (b, ys) in
            combinations(statements.items(), 2) for c in xs if c in ys]


def model_ends(s: ModelSummary) -> Ends:
    pc = s.per_class.dropna(subset=["accuracy"])
    return Ends(best=tuple(s.best_ranked.classes), worst=tuple(s.worst_ranked.classes),
                places=s.best_ranked.n,
                top_accuracy=float(pc["accuracy"].max()) if len(pc) else float("nan"),
                below_top=max(s.worst_ranked.below_top, 0),
                accuracy=dict(zip(pc["class"], pc["accuracy"].astype(float), strict=True)))


def _combined(res: Results, cls: str, models: list[str]) -> str:
    """The combined output against the models that rank `cls` among their worst."""
    decisions = [res.class_tests.fused_vs(m).decision(cls) for m in models]
    if LOWER in decisions:
        return LOWER
    return HIGHER if all(d == HIGHER for d in decisions) else NOISE


def class_claims(res: Results) -> ClassClaims:
    """The statements of the best-and-worst paragraph, decided from the numbers."""
    ends = {m: model_ends(res.summaries[m]) for m in (FRAME, CLIP, FUSED)}
    b2, w2 = ends[FRAME].best, ends[FRAME].worst
    b3, w3 = ends[CLIP].best, ends[CLIP].worst
    wf = ends[FUSED].worst
    shared_worst = tuple(c for c in w2 if c in w3)
    diffs = res.class_tests.clip_vs_frame
    one_sided = _unique([c for c in w2 if c not in w3] + [c for c in w3 if c not in w2])
    moved = {c: diffs.decision(c) for c in one_sided}
    combined = {c: _combined(res, c, [m for m, w in ((FRAME, w2), (CLIP, w3)) if c in w])
                for c in _unique(w2 + w3)}

    def having(d: Mapping[str, str], decision: str) -> tuple[str, ...]:
        return tuple(c for c, v in d.items() if v == decision)

    return ClassClaims(
        ends=ends, shared_best=tuple(c for c in b2 if c in b3), shared_worst=shared_worst,
        higher_in_3d=having(moved, HIGHER), higher_in_2d=having(moved, LOWER),
        similar=having(moved, NOISE),
        rescued=tuple(c for c in having(combined, HIGHER) if c not in wf),
        raised=tuple(c for c in having(combined, HIGHER) if c in wf),
        unchanged=having(combined, NOISE), lowered=having(combined, LOWER),
        still_worst=tuple(c for c in shared_worst if c in wf),
        level=diffs.level, alpha=diffs.alpha, control=diffs.control,
        min_clusters=min_clusters(diffs.level), able=diffs.able,
        chance_calls=diffs.chance_calls,
        chance_one_sided=_chance(diffs, one_sided),
        chance_combined=sum(_chance(res.class_tests.fused_vs(m), [c for c in combined if c in w])
                            for m, w in ((FRAME, w2), (CLIP, w3))))


def _chance(diffs: ClassDiffs, classes: Iterable[str]) -> float:
    """Calls chance alone would make among `classes`: the sum of their attainable rates."""
    t = diffs.table.set_index("class")
    return float(sum(t.at[c, "attainable"] for c in classes if c in t.index))
