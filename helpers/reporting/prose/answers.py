"""The handout's questions answered from the numbers, one computed paragraph each:

1. did the results improve after combining (top-1, top-5 and top-10)? `combining`
2. the 10 best and 10 worst classes: differences and similarities across the three models;
   `best_worst` renders the statements `helpers.evaluation.claims.class_claims` decides,
   which cannot contradict each other, and calls a per-class difference only beyond noise
3. spatial or temporal: `helpers.reporting.prose.motion_text.spatial_temporal`
4. the 10 most confused pairs: which are notable (shared by both models, confused in both
   directions, resolved by the other model or by fusion). `confusions`

and the fusion result and conclusion around them. Every name and number comes from the
run's predictions; the wording around them is fixed.
"""

from __future__ import annotations

import pandas as pd

from helpers.evaluation.claims import ClassClaims, class_claims
from helpers.evaluation.results import (
    CLIP,
    FRAME,
    FUSED,
    TOPK,
    Results,
    confused_pair_set,
)
from helpers.evaluation.stats import BH, HIGHER, LOWER, min_clusters
from helpers.reporting.prose.english import (
    MODEL_LABEL,
    gain_list,
    gain_numbers,
    name_list,
    or_nan,
    verb,
    verdict,
)


# ----------------------------------------------------------------------------- fusion
# ----------------------------------------------------------------------------- fusion
def ci_clusters(res: Results) -> str:
    """What the bootstrap intervals resample, and what a class-level test can detect at this
    run's cluster counts (stated once)."""
    n = res.summaries[FRAME].num_videos
    text = (f"The intervals resample the {res.num_clusters} (class, group) clusters of the "
            f"{n} test videos within each class, so every resample keeps the test split's "
            "classes.")
    diffs = res.class_tests.clip_vs_frame
    gaps = diffs.smallest_gaps
    need = min_clusters(diffs.level)
    if gaps.empty:
        return text + (f" No class has the {need} clusters a class-level test needs to pass "
                       "at all, so no per-class difference can be shown beyond noise.")
    return text + (f" A class-level test can pass only when the two models differ on at least "
                   f"{need} of the class's clusters, all one way: at this run's class sizes "
                   f"that is a gap of at least {gaps.median():.0%} of top-1 (from "
                   f"{gaps.min():.0%} to {gaps.max():.0%} over the {len(gaps)} classes with "
                   f"{need} or more clusters); a smaller gap cannot be shown, and a larger one can still be missed.")


def fusion_result(res: Results) -> str:
    """The best single model, the combined output, whether combining helped, and the fusion
    method chosen on validation."""
    s, best, chosen = res.summaries, res.best_single, res.fit.chosen
    nll = {m: v.nll for m, v in res.fit.val_scores.items()}
    lines = [
        f"The best single model is **{best}** with top-1 {s[best].top1:.1%}. The mean of "
        f"the two models' probabilities (the combined output) gives **{s[FUSED].top1:.1%}**.",
        f"**Did combining help?** {verdict(res.gain)} Of the test videos, "
        f"{res.gain.test.b} are right only when combined and {res.gain.test.c} only with "
        f"{best}.",
    ]
    if chosen == "mean":
        lines.append(f"On the held-out groups the mean also has the lowest log-loss of the "
                     f"{len(nll)} fusion methods ({nll['mean']:.3f}), so the fusion chosen on "
                     "validation is the combined output itself.")
    else:
        lines.append(
            f"On the held-out groups **{chosen}** has the lowest log-loss of the {len(nll)} "
            f"fusion methods ({nll[chosen]:.3f}, against {nll['mean']:.3f} for the mean); on "
            f"test it reaches {res.chosen_test['top1']:.1%}. Against {best}: "
            f"{verdict(res.gain_chosen)}")
    return "\n\n".join(lines)


def combining(res: Results) -> str:
    """Question 1: did combining improve top-1, top-5 and top-10? Each k against the better
    single model at that k, judged by its interval and the clustered test."""
    s = res.summaries
    parts = []
    for k in TOPK:
        gain, best = res.gains_topk[k], res.best_single_at(k)
        if gain.test.b == gain.test.c == 0:  # the same videos right: nothing to test
            parts.append(f"top-{k} {getattr(s[FUSED], f'top{k}'):.1%}, right on exactly the "
                         f"videos the {MODEL_LABEL[best]} gets right")
            continue
        change = {"better": "higher than", "worse": "lower than"}.get(gain.outcome,
                                                                      "not shown beyond noise against")
        parts.append(f"top-{k} {getattr(s[FUSED], f'top{k}'):.1%}, {change} the "
                     f"{getattr(s[best], f'top{k}'):.1%} of the {MODEL_LABEL[best]}: "
                     + gain_numbers(gain))
    return ("**Did combining improve the results?** The combined output (the mean of the two "
            "models' probabilities) reaches " + "; ".join(parts) + ", each against the better "
            "single model at that k. A change counts as higher or lower only when the test "
            f"gives p < {res.gain.level:g} and the interval excludes zero.")


# ----------------------------------------------------------------------------- classes
def best_worst(res: Results) -> str:
    """Question 2: the best and worst classes across the three models (`class_claims`)."""
    return render_claims(class_claims(res))


def _names(items: tuple[str, ...], n: int = 8) -> str:
    return name_list(list(items[:n])) + (", ..." if len(items) > n else "")


def _are(items: tuple[str, ...]) -> str:
    return "is" if len(items) == 1 else "are"


def _it(items: tuple[str, ...]) -> str:
    return "it" if len(items) == 1 else "them"


def render_claims(cl: ClassClaims) -> str:
    """The best-and-worst paragraph: one sentence per statement of `cl`, each class with the
    accuracies it rests on; what is not shown beyond noise is said to be."""
    acc = {m: cl.ends[m].accuracy for m in (FRAME, CLIP, FUSED)}

    def with_acc(items: tuple[str, ...], models: tuple[str, ...] = (FRAME, CLIP, FUSED)) -> str:
        short = {FRAME: "2D", CLIP: "3D", FUSED: "combined"}
        return name_list([f"{c} (" + ", ".join(f"{short[m]} {acc[m][c]:.0%}" for m in models)
                          + ")" for c in items])

    e2 = cl.ends[FRAME]
    parts = [f"**Best and worst classes across the three models.** Of the single-frame model's "
             f"{len(e2.best)} best classes, {len(cl.shared_best)} {_are(cl.shared_best)} also "
             "among the 3D model's best" + (f" ({_names(cl.shared_best)})" if cl.shared_best else "") + "."]
    flat = [m for m in (FRAME, CLIP, FUSED) if cl.ends[m].below_top == 0]
    if flat:
        tops = [f"{cl.ends[m].top_accuracy:.1%}" for m in flat]
        one = len(flat) == 1
        parts.append("T" + name_list([f"the {MODEL_LABEL[m]}" for m in flat])[1:]
                     + f" {'gives' if one else 'each give'} every class the same accuracy ("
                     + (tops[0] if len(set(tops)) == 1 else name_list(tops))
                     + f"), so {'it has no' if one else 'none has any'} worst classes.")
    for model in (FRAME, CLIP, FUSED):
        e = cl.ends[model]
        if 0 < e.below_top and len(e.worst) < e.places:
            rest = "" if len(e.worst) == e.below_top else " and not among its best"
            parts.append(f"Only {len(e.worst)} of the {MODEL_LABEL[model]}'s classes "
                         f"{_are(e.worst)} below its top accuracy ({e.top_accuracy:.1%}){rest}, "
                         "so its worst list is that short.")
    if e2.worst and cl.ends[CLIP].worst:
        parts.append(f"The two models share {len(cl.shared_worst)} of their worst classes"
                     + (f": {with_acc(cl.shared_worst)}" if cl.shared_worst else "") + ".")
    if cl.one_sided:
        clauses = []
        if cl.higher_in_3d:
            clauses.append("the 3D model is higher beyond noise on "
                           + with_acc(cl.higher_in_3d, (FRAME, CLIP)))
        if cl.higher_in_2d:
            clauses.append("the single-frame model is higher beyond noise on "
                           + with_acc(cl.higher_in_2d, (FRAME, CLIP)))
        if cl.similar:
            clauses.append("the difference is not shown beyond noise on "
                           + with_acc(cl.similar, (FRAME, CLIP)))
        parts.append(f"Of the {len(cl.one_sided)} classes among one model's worst but not the "
                     "other's, " + "; ".join(clauses) + ".")
    if cl.single_worst:
        clauses = []
        if cl.rescued:
            clauses.append(f"{with_acc(cl.rescued)} {_are(cl.rescued)} higher beyond noise "
                           f"than with each model that ranks {_it(cl.rescued)} among its "
                           "worst, and not among the combined output's worst")
        if cl.raised:
            clauses.append(f"{with_acc(cl.raised)} {_are(cl.raised)} higher beyond noise but "
                           "still among the combined output's worst")
        if cl.lowered:
            clauses.append(f"{with_acc(cl.lowered)} {_are(cl.lowered)} lower beyond noise "
                           f"than with a model that ranks {_it(cl.lowered)} among its worst")
        if cl.unchanged:
            clauses.append(f"on {name_list(list(cl.unchanged))} the change is not shown beyond noise")
        parts.append(f"After combining, of the {len(cl.single_worst)} classes among either "
                     "single model's worst: " + "; ".join(clauses) + ".")
    if cl.still_worst:
        parts.append("Shared worst classes still among the worst after combining: "
                     + with_acc(cl.still_worst, (FUSED,)) + ".")
    if cl.one_sided or cl.single_worst:
        parts.append(noise_rule(cl))
    return " ".join(parts)


def noise_rule(cl: ClassClaims) -> str:
    """What "beyond noise" means for a class, and how many of this paragraph's calls chance
    alone would make (each class's attainable rejection rate, summed)."""
    base = (f"Beyond noise means an exact sign-flip test over the class's (class, group) "
            f"clusters at the {cl.level:.0%} level"
            + (f" with {cl.control} across classes" if cl.control == BH else "")
            + f", and a {1 - cl.alpha:.0%} cluster-bootstrap interval that excludes zero; a "
            f"class whose two models differ on fewer than {cl.min_clusters} of its clusters "
            "can never pass, and a difference not shown beyond noise is not shown to be "
            "absent.")
    if cl.control == BH:
        return base
    return base + (" Each class is tested on its own, so these readings are exploratory: were "
                   "no class truly different, chance alone would make about "
                   f"{cl.chance_one_sided:.2f} of the 2D-against-3D calls above and "
                   f"{cl.chance_combined:.2f} of the calls on combining (the sum of each "
                   "class's attainable rejection rate under its discrete null).")



# ----------------------------------------------------------------------------- confusions
def confusions(res: Results) -> str:
    """Question 4: the notable confused pairs."""
    p2, p3 = confused_pair_set(res, FRAME), confused_pair_set(res, CLIP)
    shared = sorted(p2 & p3)
    cm = {m: pd.DataFrame(res.summaries[m].confusion, index=res.class_names,
                          columns=res.class_names) for m in (FRAME, CLIP, FUSED)}
    resolved_by_3d = sorted((a, b) for a, b in p2 if cm[CLIP].loc[a, b] == 0)
    resolved_by_2d = sorted((a, b) for a, b in p3 if cm[FRAME].loc[a, b] == 0)
    by_fusion = sorted((a, b) for a, b in p2 | p3 if cm[FUSED].loc[a, b] == 0
                       and cm[FRAME].loc[a, b] > 0 and cm[CLIP].loc[a, b] > 0)

    def arrows(pairs: list[tuple[str, str]]) -> str:
        return name_list([f"{a} → {b}" for a, b in pairs[:8]]) + (", ..." if len(pairs) > 8 else "")

    parts = ["**Notable confused pairs.**"]
    still = [(a, b) for a, b in shared if cm[FUSED].loc[a, b] > 0]
    after = ("" if not shared else
             f"; the combined output still makes {arrows(still)}" if still else
             "; the combined output makes none of them")
    parts.append(f"Both models share {len(shared)} of their top confusions"
                 + (f" ({arrows(shared)})" if shared else "") + after + ".")
    for m, label in ((FRAME, "the single-frame model"), (CLIP, "the 3D model")):
        df = res.summaries[m].mutual_confusions
        if len(df):
            parts.append(f"For {label}, {len(df)} {verb(len(df), 'pair is', 'pairs are')} "
                         f"confused in both directions, e.g. {df.iloc[0]['a']} and "
                         f"{df.iloc[0]['b']}.")
    if resolved_by_3d:
        parts.append(f"The 3D model never makes {len(resolved_by_3d)} of the single-frame "
                     f"model's top confusions ({arrows(resolved_by_3d)}).")
    if resolved_by_2d:
        parts.append(f"The single-frame model never makes {len(resolved_by_2d)} of the 3D "
                     f"model's ({arrows(resolved_by_2d)}).")
    if by_fusion:
        parts.append(f"Combining removes {arrows(by_fusion)}, which both models make.")
    return " ".join(parts)


# ----------------------------------------------------------------------------- conclusion
def conclusion(res: Results) -> str:
    """The three models' top-1, the verdict on combining, and where the 3D model wins."""
    s, chosen = res.summaries, res.fit.chosen
    parts = [f"The single-frame model reaches {s[FRAME].top1:.1%} per video "
             f"({or_nan(s[FRAME].frame_accuracy):.1%} per frame), the 3D model "
             f"{s[CLIP].top1:.1%} ({or_nan(s[CLIP].clip_accuracy):.1%} per clip) "
             f"and their combination {s[FUSED].top1:.1%}"
             + (f" ({res.chosen_test['top1']:.1%} with {chosen}, the fusion chosen on "
                "validation)." if chosen != "mean" else ".")]
    parts.append(verdict(res.gain))
    pc = res.per_class.dropna(subset=["gain"])
    won = list(pc.loc[pc["decision"] == HIGHER, "class"])
    lost = int((pc["decision"] == LOWER).sum())
    parts.append(f"Beyond noise, the 3D model is better on {len(won)} of {len(pc)} classes and "
                 f"worse on {lost}; on the other {len(pc) - len(won) - lost} a difference is "
                 "not shown beyond noise. Each class is tested on its own: were no class "
                 f"different, chance alone would make about "
                 f"{res.class_tests.clip_vs_frame.chance_calls:.1f} such calls.")
    if res.kinds and won:
        n_temporal = sum(res.kinds.get(c) == "temporal" for c in won)
        parts.append(f"{n_temporal} of the {len(won)} classes it wins are temporal classes of "
                     "the benchmark, whose single frames look alike within their pair.")
    elif won:
        parts.append("It gains most on "
                     + gain_list(pc[pc["decision"] == HIGHER].head(3)) + ".")
    return " ".join(parts)
