"""Every sentence of the report whose content depends on the run: its data, configs and
computed numbers. The fixed prose lives in the notebooks' markdown cells; the numbers come
from `helpers.evaluation.results`; the tables are in `helpers.reporting.tables`.

The assignment's questions are answered in one computed paragraph each, in the handout's
order:

1. did the results improve after combining (top-1, top-5 and top-10)? `combining`
2. the 10 best and 10 worst classes: differences and similarities across the three models;
   `best_worst`
3. which classes are discriminated by spatial and which by temporal information, measured
   with the temporal probes of the 3D model and read off the 3D - 2D gain;
   `spatial_temporal`
4. the 10 most confused pairs: which are notable (shared by both models, confused in both
   directions, resolved by the other model or by fusion). `confusions`

Every name and number comes from the run's predictions; the wording around them is fixed.

>>> name_list(["a", "b", "c"])
'a, b and c'
>>> held_groups([22, 23, 24, 25])
'g22–g25'
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from helpers.evaluation.metrics import RankedClasses
from helpers.evaluation.probes import PUBLISHED, order_dependence
from helpers.evaluation.results import (
    CLIP,
    FRAME,
    FUSED,
    Results,
    confused_pair_set,
    eval_config,
    kind_accuracy,
)
from helpers.evaluation.stats import Gain
from helpers.paths import DataPaths, RunPaths

SOLVED = 0.95  # a class "solved" by a model: at least this per-video accuracy
NO_PROBES = "This run has no temporal probes (`evaluate --probe`)."
NO_CONFUSIONS = "No confusions: every test video was given its true class."


# ----------------------------------------------------------------------------- pieces
def name_list(items: list[str]) -> str:
    """Items joined as English: "a, b and c"; "none" for no items."""
    if not items:
        return "none"
    return ", ".join(items[:-1]) + (" and " if len(items) > 1 else "") + items[-1]


def held_groups(groups: list[int]) -> str:
    """Group numbers as gGG, a consecutive run as a range."""
    if not groups:
        return "none"
    if list(groups) == list(range(min(groups), max(groups) + 1)) and len(groups) > 1:
        return f"g{min(groups):02d}–g{max(groups):02d}"
    return name_list([f"g{g:02d}" for g in groups])


def scored(cfg: dict[str, Any]) -> str:
    """What a test video is scored on, from a model's config."""
    crops = ", three crops each" if cfg.get("three_crop") else ""
    if cfg["model"] == "frame":
        frames = ("every frame" if cfg.get("eval_frames") in (None, -1)
                  else f"{cfg['eval_frames']} evenly spaced frames")
        return frames + crops
    stride = f" of every {cfg['stride']}th frame" if cfg.get("stride", 1) > 1 else ""
    return f"{cfg['clip_len']}-frame windows{stride} covering the whole video{crops}"


def verdict(gain: Gain) -> str:
    """Did fusion beat the best single model? One sentence from the test's numbers."""
    pct = (f"{gain.gain * 100:+.1f} points ({1 - gain.alpha:.0%} CI {gain.lo * 100:+.1f} to "
           f"{gain.hi * 100:+.1f}; McNemar p = {gain.test.p_value:.3g})")
    if gain.outcome == "better":
        return f"Yes: fusion improves top-1 by {pct}."
    if gain.outcome == "worse":
        return f"No: fusion is worse than the best single model by {pct}."
    return f"Not shown: the change of {pct} is within what chance on this test set allows."


def tie(r: RankedClasses) -> str:
    """The tie too large for a best or worst list's places, named in one sentence."""
    where = (f", more than the {r.n} places" if r.first_tied_place == 1 else
             f" for the last {r.n - len(r.ranked)} of the {r.n} places")
    return (f"**{len(r.tied)} classes tie at {r.tie_accuracy:.1%}**{where}, so all are "
            f"named: {name_list(list(r.tied['class']))}.")


def ranked_ahead(r: RankedClasses) -> str:
    """The line above the table of the classes ranked ahead of a tie."""
    return ("The class" if len(r.ranked) == 1 else f"The {len(r.ranked)} classes") + \
        " ranked ahead of them:"


def mutual_pairs(df: pd.DataFrame) -> str:
    """One line naming the pairs confused in both directions (`metrics.mutual_confusions`)."""
    if df.empty:
        return "No two classes are confused in both directions."
    return "**Confused in both directions** (videos each way): " + "; ".join(
        f"{r.a} → {r.b} ({r.count_ab}, back {r.count_ba})" for r in df.itertuples()) + "."


def _gain_list(df: pd.DataFrame, sep: str = "→") -> str:
    return name_list([f"{r['class']} ({r['accuracy_a']:.0%} {sep} {r['accuracy_b']:.0%})"
                      for _, r in df.iterrows()])


# ----------------------------------------------------------------------------- method
def _held_out(res: Results) -> str:
    groups = res.held_out.groups
    return (f"the held-out training groups {held_groups(groups)}" if groups
            else "the held-out training groups")


def intro(data: DataPaths, run: RunPaths, frame_cfg: dict[str, Any],
          clip_cfg: dict[str, Any], res: Results) -> str:
    """What this run was computed on: the data, the split and its sizes, the run folder."""
    what = ("the **synthetic spatial/temporal benchmark** that ships with this repository, "
            "not UCF-101: some of its classes can be told from any single frame, others "
            "only by how things move" if data.synthetic
            else f"**UCF-101** (videos from `{data.source}`)")
    return (f"This report was computed on {what}, official-format split "
            f"{frame_cfg['split']}: {frame_cfg['num_train']} training videos for the reported "
            f"models, {res.held_out.videos} videos of {_held_out(res)} for validation, and "
            f"{res.summaries[FRAME].num_videos} test videos in {len(res.class_names)} "
            f"classes. The run's folder is `{run.root.name}/`.")


def method_facts(frame_cfg: dict[str, Any], clip_cfg: dict[str, Any],
                 res: Results | None = None, choices: dict[str, Any] | None = None) -> str:
    """The sampling and held-out groups of this run, from the reported models' saved configs
    and (for what fusion was fitted on) the validation predictions; under `refit`, how the
    reported models' length was set and what was carried over from the held-out models
    (from `choices`, the run's choices.json, and the fusion fit)."""
    f, c = frame_cfg["config"], clip_cfg["config"]
    k = f["frames_per_video"]
    text = (f"**In this run** the frame model trains on {k} frame{'s' if k != 1 else ''} per "
            f"video per epoch and scores {scored(eval_config(res, FRAME, f))} of each test "
            f"video; the clip model trains on one random {c['clip_len']}-frame window per "
            f"video per epoch and scores {scored(eval_config(res, CLIP, c))}.")
    if c["val_groups"]:
        held = held_groups(c["val_groups"])
        return text + (f" The reported models were trained without the held-out groups {held} "
                       f"({clip_cfg['num_val']} training videos), whose predictions fitted "
                       "the fusion: this run keeps the held-out models as the reported ones "
                       "(the `holdout` protocol, the CPU demo's default, which fits its time "
                       "budget); the `refit` protocol trains them again on every training "
                       "video.")
    fitted = (f" ({res.held_out.videos} videos of {_held_out(res)})"
              if res is not None else "")
    text += (f" The reported models were trained on all {clip_cfg['num_train']} "
             "training videos, after the fusion had been fitted on the validation "
             f"predictions{fitted} of models trained without those groups.")
    return " ".join([text, _length(f, c, choices or {}), _carried(res, choices or {})]).strip()


def _length(f: dict[str, Any], c: dict[str, Any], choices: dict[str, Any]) -> str:
    """How the reported models' number of epochs was set (`refit`)."""
    records = [choices.get(kind, {}).get("num_epochs") for kind in ("frame", "clip")]
    if any(r and "fitted_on" not in r for r in records):  # a run begun under the older rule
        return (f"They trained for {f['num_epochs']} (frame) and {c['num_epochs']} (clip) "
                "epochs, the epoch of each held-out model's lowest validation loss, as "
                "recorded before this run's reported models began.")
    return (f"They trained for as many epochs as the held-out models ({f['num_epochs']} for "
            f"the frame model, {c['num_epochs']} for the clip model) with the same "
            "learning-rate schedule as a function of training progress, each epoch taking "
            "more steps on the larger training set.")


def _carried(res: Results | None, choices: dict[str, Any]) -> str:
    """What was fitted on the held-out models' final checkpoints and applied unchanged to
    the reported models (`refit`): the fusion and its parameters, the test crops."""
    items = []
    if res is not None:
        chosen = res.fit.chosen
        items.append(f"the fusion method chosen on their validation predictions, {chosen} "
                     f"({_fusion_parameters(chosen, res.fit.params.get(chosen, {}))})")
    crops = choices.get("frame", {}).get("three_crop")
    if crops is not None:
        items.append("the frame model's test crops, chosen on validation top-1 ("
                     + ("three crops" if crops["value"] else "the centre crop") + ")")
    if not items:
        return ""
    return ("Carried over unchanged from the held-out models' final checkpoints to the "
            f"reported models: {name_list(items)}.")


def _fusion_parameters(method: str, params: dict[str, Any]) -> str:
    """The fitted parameters of a fusion method, in words."""
    if method == "weighted" and "w" in params:
        return f"the frame model's weight w = {params['w']:.2f}"
    if method == "stacking" and "bias" in params:
        return (f"one weight per model, {params['w_a']:.2f} (frame) and {params['w_b']:.2f} "
                f"(clip), and {len(params['bias'])} per-class biases")
    return "no fitted parameters"


# ----------------------------------------------------------------------------- fusion
def ci_clusters(res: Results) -> str:
    """What the bootstrap intervals resample."""
    n = res.summaries[FRAME].num_videos
    return (f"The intervals resample the {res.num_clusters} (class, group) clusters of the "
            f"{n} test videos.")


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
    """Question 1: did combining improve top-1, top-5 and top-10?"""
    s = res.summaries
    parts = []
    for k, label in (("top1", "1"), ("top5", "5"), ("top10", "10")):
        a, b, fused = (getattr(s[m], k) for m in (FRAME, CLIP, FUSED))
        best = max(a, b)
        delta = (fused - best) * 100
        change = ("higher than" if delta > 0.05 else "lower than" if delta < -0.05
                  else "equal to")
        parts.append(f"top-{label} {fused:.1%}, {change} the better single model's "
                     f"{best:.1%} ({delta:+.1f} points)")
    return ("**Did combining improve the results?** The combined output (the mean of the two "
            "models' probabilities) reaches " + "; ".join(parts) + f". {verdict(res.gain)}")


# ----------------------------------------------------------------------------- classes
def best_worst(res: Results) -> str:
    """Question 2: the best and worst classes across the three models."""
    (b2, w2), (b3, w3), (_, wf) = ((res.summaries[m].best_ranked.classes,
                                    res.summaries[m].worst_ranked.classes)
                                   for m in (FRAME, CLIP, FUSED))
    shared_best = [c for c in b2 if c in b3]
    shared_worst = [c for c in w2 if c in w3]
    acc = {m: res.summaries[m].per_class.set_index("class")["accuracy"]
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


# ----------------------------------------------------------------------------- motion
def spatial_temporal(res: Results, n: int = 5) -> str:
    """Question 3: spatial or temporal? What the temporal probes measure (frame order
    destroyed), then what the 3D - 2D gain per class shows, and on the synthetic benchmark
    the accuracy per kind of class."""
    return _probed(res, n) + "\n\n" + _gains(res, n)


_FRAME_BLIND = ("The single-frame model's per-video score is a mean over frames, blind to "
                "their order by construction, so any class it solves is told apart by "
                "appearance.")


def _probed(res: Results, n: int) -> str:
    if res.probe_table is None or res.probe_overall is None:
        return (f"**Spatial or temporal?** {_FRAME_BLIND} This run has no temporal probes of "
                "the 3D model, so only the 3D − 2D gain below speaks to motion.")
    drops = res.probe_overall.set_index("windows")
    table = res.probe_table
    most, least = order_dependence(table, "shuffled", n)
    parts = [f"**Spatial or temporal?** {_FRAME_BLIND} To measure what the 3D model takes "
             f"from motion, the same test windows were fed to it with their frames shuffled, "
             f"reversed, or replaced by one repeated frame. Its per-video top-1 falls from "
             f"{drops.loc['normal', 'top1']:.1%} to "
             + name_list([f"{drops.loc[p, 'top1']:.1%} {p}" for p in drops.index
                          if p != "normal"]) + "."]
    if len(most):
        parts.append("The classes that lose most when frame order is destroyed (shuffled), "
                     "i.e. need temporal information: " + _shuffled_list(most) + ".")
    if len(least):
        parts.append("Those that keep their accuracy without frame order, i.e. are told apart "
                     "by spatial information: " + _shuffled_list(least) + ".")
    if "reversed" in table:
        flipped = table[(table["normal"] >= SOLVED) & (table["reversed"] <= 0.25)]
        if len(flipped):
            parts.append("Playing windows backwards breaks " + name_list(list(flipped["class"]))
                         + ": these need the direction of motion, not just motion.")
    if "static" in drops.index:
        parts.append(f"One repeated frame costs {drops.loc['static', 'drop'] * 100:.1f} points "
                     f"overall. For comparison, {PUBLISHED[0]}, and {PUBLISHED[1]}: UCF-101 is "
                     "largely solvable from appearance.")
    return " ".join(parts)


def _shuffled_list(df: pd.DataFrame) -> str:
    return name_list([f"{r['class']} ({r['normal']:.0%} → {r['shuffled']:.0%})"
                      for _, r in df.iterrows()])


_KIND_SAID = {"spatial": "the spatial classes",
              "temporal": "the temporal classes, whose two members look alike frame by "
                          "frame (chance within a pair is 50%),",
              "detail": "the detail classes, told apart by a detail the 3D model's smaller "
                        "input loses,"}


def _gains(res: Results, n: int) -> str:
    pc = res.per_class.dropna(subset=["gain"])
    motion = pc[pc["gain"] > 0].head(n)
    one_frame = pc[(pc["accuracy_a"] >= SOLVED)].sort_values(
        ["accuracy_a", "class"], ascending=[False, True], kind="mergesort")
    worse = pc[pc["gain"] < 0].sort_values(["gain", "class"], kind="mergesort").head(n)
    lines = []
    if len(motion):
        lines.append("**Largest gains of the 3D model:** " + _gain_list(motion) + ".")
    lines.append(f"**Solved by one frame** (single-frame accuracy at least {SOLVED:.0%}): "
                 f"{len(one_frame)} of {len(pc)} classes"
                 + (f", e.g. {name_list(list(one_frame['class'].head(n)))}." if len(one_frame)
                    else "."))
    if len(worse):
        lines.append("**Better with one frame than with 3D:** " + _gain_list(worse, "vs") + ".")
    kinds = kind_accuracy(res)
    if kinds is not None:
        parts = [f"over {_KIND_SAID.get(r['kind'], r['kind'])} the single-frame model reaches "
                 f"{r[FRAME]:.1%} and the 3D model {r[CLIP]:.1%}" for _, r in kinds.iterrows()]
        lines.append("On the synthetic benchmark the ground truth is known: "
                     + "; ".join(parts) + ".")
    return "\n\n".join(lines)


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
    parts.append(f"Both models share {len(shared)} of their top confusions"
                 + (f" ({arrows(shared)}): the two classes look and move alike" if shared
                    else "") + ".")
    for m, label in ((FRAME, "the single-frame model"), (CLIP, "the 3D model")):
        df = res.summaries[m].mutual_confusions
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


# ----------------------------------------------------------------------------- conclusion
def conclusion(res: Results) -> str:
    """The three models' top-1, the verdict on combining, and where the 3D model wins."""
    s, chosen = res.summaries, res.fit.chosen
    parts = [f"The single-frame model reaches {s[FRAME].top1:.1%} per video "
             f"({_or_nan(s[FRAME].frame_accuracy):.1%} per frame), the 3D model "
             f"{s[CLIP].top1:.1%} ({_or_nan(s[CLIP].clip_accuracy):.1%} per clip) "
             f"and their combination {s[FUSED].top1:.1%}"
             + (f" ({res.chosen_test['top1']:.1%} with {chosen}, the fusion chosen on "
                "validation)." if chosen != "mean" else ".")]
    parts.append(verdict(res.gain))
    pc = res.per_class.dropna(subset=["gain"])
    won = list(pc.loc[pc["gain"] > 0, "class"])
    parts.append(f"The 3D model is better on {len(won)} classes and worse on "
                 f"{int((pc['gain'] < 0).sum())} of {len(pc)}.")
    if res.kinds and won:
        n_temporal = sum(res.kinds.get(c) == "temporal" for c in won)
        parts.append(f"{n_temporal} of the {len(won)} classes it wins are temporal classes of "
                     "the benchmark, whose single frames look alike within their pair.")
    elif won:
        parts.append("It gains most on " + _gain_list(pc[pc["gain"] > 0].head(3)) + ".")
    return " ".join(parts)


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else value
