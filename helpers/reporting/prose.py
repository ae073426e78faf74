"""The assignment's questions, each answered in one computed paragraph, in the handout's order:

1. did the results improve after combining (top-1, top-5 and top-10)?
2. the 10 best and 10 worst classes: differences and similarities across the three models;
3. which classes are discriminated by spatial and which by temporal information (measured
   with the temporal probes of the 3D model, not only read off 3D - 2D);
4. the 10 most confused pairs: which are notable (shared by both models, confused in both
   directions, resolved by the other model or by fusion).

Every name and number comes from the run's predictions; the wording around them is fixed.
"""

from __future__ import annotations

import pandas as pd

from helpers.evaluation.probes import PUBLISHED, order_dependence
from helpers.reporting.analysis import CLIP, FRAME, FUSED, Results, name_list

SOLVED = 0.95  # a class "solved" by a model: at least this per-video accuracy


def combining(res: Results) -> str:
    s = res.summaries
    parts = []
    for k in ("top1", "top5", "top10"):
        best = max(s[FRAME][k], s[CLIP][k])
        delta = (s[FUSED][k] - best) * 100
        verdict = ("higher than" if delta > 0.05 else "lower than" if delta < -0.05
                   else "equal to")
        parts.append(f"top-{k[3:]} {s[FUSED][k]:.1%}, {verdict} the better single model's "
                     f"{best:.1%} ({delta:+.1f} points)")
    return ("**Did combining improve the results?** The combined output (the mean of the two "
            "models' probabilities) reaches " + "; ".join(parts) + f". {res.gain['verdict']}")


def _lists(res: Results, name: str) -> tuple[list[str], list[str]]:
    s = res.summaries[name]
    return s["best_ranked"].classes, s["worst_ranked"].classes


def best_worst(res: Results) -> str:
    (b2, w2), (b3, w3), (bf, wf) = (_lists(res, m) for m in (FRAME, CLIP, FUSED))
    shared_best = [c for c in b2 if c in b3]
    shared_worst = [c for c in w2 if c in w3]
    acc = {m: res.summaries[m]["per_class"].set_index("class")["accuracy"]
           for m in (FRAME, CLIP, FUSED)}
    rescued = [c for c in dict.fromkeys(w2 + w3)
               if acc[FUSED][c] >= SOLVED and min(acc[FRAME][c], acc[CLIP][c]) < SOLVED]
    parts = [
        f"**Best and worst classes across the three models.** Of the single-frame model's "
        f"{len(b2)} best classes, {len(shared_best)} are also among the 3D model's best"
        + (f" ({name_list(shared_best[:8])}{', ...' if len(shared_best) > 8 else ''})"
           if shared_best else "") + ".",
        f"The two models share {len(shared_worst)} of their worst classes"
        + (f": {name_list(shared_worst)}" if shared_worst else "") + "; these stay hard whatever "
        "the input.",
    ]
    moved = [c for c in w2 if c in b3]
    if moved:
        parts.append(f"Classes among the single-frame model's worst but the 3D model's best: "
                     f"{name_list(moved)} — single frames miss what clips show.")
    moved_back = [c for c in w3 if c in b2]
    if moved_back:
        parts.append(f"The reverse, worst for 3D but best for single frames: "
                     f"{name_list(moved_back)}.")
    if rescued:
        parts.append(f"Combining rescues {name_list(rescued)}: at least {SOLVED:.0%} combined, "
                     "below that with one of the two models alone.")
    still = [c for c in wf if c in w2 and c in w3]
    if still:
        parts.append(f"Still among the worst after combining: {name_list(still)}.")
    return " ".join(parts)


def spatial_temporal(res: Results, n: int = 5) -> str:
    frame_blind = ("The single-frame model's per-video score is a mean over frames, blind to "
                   "their order by construction, so any class it solves is told apart by "
                   "appearance.")
    if res.probe_table is None or res.probe_overall is None:
        return (f"**Spatial or temporal?** {frame_blind} This run has no temporal probes of "
                "the 3D model, so only the 3D − 2D gain below speaks to motion.")
    drops = res.probe_overall.set_index("windows")
    table = res.probe_table
    most, least = order_dependence(table, "shuffled", n)
    parts = [f"**Spatial or temporal?** {frame_blind} To measure what the 3D model takes from "
             f"motion, the same test windows were fed to it with their frames shuffled, "
             f"reversed, or replaced by one repeated frame. Its per-video top-1 falls from "
             f"{drops.loc['normal', 'top1']:.1%} to "
             + name_list([f"{drops.loc[p, 'top1']:.1%} {p}" for p in drops.index
                       if p != "normal"]) + "."]
    if len(most):
        parts.append("The classes that lose most when frame order is destroyed (shuffled), "
                     "i.e. need temporal information: " + name_list(
                         [f"{r['class']} ({r['normal']:.0%} → {r['shuffled']:.0%})"
                          for _, r in most.iterrows()]) + ".")
    if len(least):
        parts.append("Those that keep their accuracy without frame order, i.e. are told apart "
                     "by spatial information: " + name_list(
                         [f"{r['class']} ({r['normal']:.0%} → {r['shuffled']:.0%})"
                          for _, r in least.iterrows()]) + ".")
    if "reversed" in table:
        flipped = table[(table["normal"] >= SOLVED) & (table["reversed"] <= 0.25)]
        if len(flipped):
            parts.append("Playing windows backwards breaks " + name_list(list(flipped["class"]))
                         + ": these need the direction of motion, not just motion.")
    static = drops.loc["static", "drop"] * 100 if "static" in drops.index else None
    if static is not None:
        parts.append(f"One repeated frame costs {static:.1f} points overall. For comparison, "
                     f"{PUBLISHED[0]}, and {PUBLISHED[1]}: UCF-101 is largely solvable from "
                     "appearance.")
    return " ".join(parts)


def _pairs(res: Results, name: str) -> set[tuple[str, str]]:
    df = res.summaries[name]["confused_pairs"]
    return set(zip(df["true"], df["predicted"], strict=True))


def confusions(res: Results) -> str:
    p2, p3 = _pairs(res, FRAME), _pairs(res, CLIP)
    shared = sorted(p2 & p3)
    cm = {m: pd.DataFrame(res.summaries[m]["confusion"], index=res.class_names,
                          columns=res.class_names) for m in (FRAME, CLIP, FUSED)}
    resolved_by_3d = sorted((a, b) for a, b in p2 if cm[CLIP].loc[a, b] == 0)
    resolved_by_2d = sorted((a, b) for a, b in p3 if cm[FRAME].loc[a, b] == 0)
    by_fusion = sorted((a, b) for a, b in p2 | p3 if cm[FUSED].loc[a, b] == 0
                       and cm[FRAME].loc[a, b] > 0 and cm[CLIP].loc[a, b] > 0)
    mutual = {m: res.summaries[m]["mutual_confusions"] for m in (FRAME, CLIP)}

    def arrows(pairs: list[tuple[str, str]]) -> str:
        return name_list([f"{a} → {b}" for a, b in pairs[:8]]) + (", ..." if len(pairs) > 8 else "")

    parts = ["**Notable confused pairs.**"]
    parts.append(f"Both models share {len(shared)} of their top confusions"
                 + (f" ({arrows(shared)}): the two classes look and move alike" if shared
                    else "") + ".")
    for m, label in ((FRAME, "the single-frame model"), (CLIP, "the 3D model")):
        df = mutual[m]
        if len(df):
            parts.append(f"For {label}, {len(df)} pair(s) are confused in both directions, "
                         f"e.g. {df.iloc[0]['a']} and {df.iloc[0]['b']}.")
    if resolved_by_3d:
        parts.append(f"The 3D model never makes {len(resolved_by_3d)} of the single-frame "
                     f"model's top confusions ({arrows(resolved_by_3d)}).")
    if resolved_by_2d:
        parts.append(f"The single-frame model never makes {len(resolved_by_2d)} of the 3D "
                     f"model's ({arrows(resolved_by_2d)}).")
    if by_fusion:
        parts.append(f"Combining removes {arrows(by_fusion)}, which both models make.")
    return " ".join(parts)


def notable_pairs(res: Results, n: int = 3) -> pd.DataFrame:
    """The confused pairs worth a look at their frames: shared by both models first, then
    the single-frame model's that the 3D model resolves; columns like `confused_pairs`."""
    df2 = res.summaries[FRAME]["confused_pairs"]
    p3 = _pairs(res, CLIP)
    shared = df2[[(a, b) in p3 for a, b in zip(df2["true"], df2["predicted"], strict=True)]]
    rest = df2.drop(shared.index)
    return pd.concat([shared, rest]).head(n)
