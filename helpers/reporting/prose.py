"""Every sentence of the report whose content depends on the run: its data, configs and
computed numbers. The fixed prose lives in the notebooks' markdown cells; the numbers come
from `helpers.evaluation.results`; the tables are in `helpers.reporting.tables`.

The assignment's questions are answered in one computed paragraph each, in the handout's
order:

1. did the results improve after combining (top-1, top-5 and top-10)? `combining`
2. the 10 best and 10 worst classes: differences and similarities across the three models;
   `best_worst` renders the statements `helpers.evaluation.claims.class_claims` decides,
   which cannot contradict each other, and calls a per-class difference only beyond noise
3. which classes are discriminated by spatial and which by temporal information, measured
   with the temporal probes of the 3D model and read off the 3D - 2D gain;
   `spatial_temporal`
4. the 10 most confused pairs: which are notable (shared by both models, confused in both
   directions, resolved by the other model or by fusion). `confusions`

Every name and number comes from the run's predictions; the wording around them is fixed.

Longer than 500 lines because every computed sentence of the report lives here, one section
per question of the handout, so that the report's wording is read, reviewed and tested in
one place (tests/test_prose.py); the decisions behind the sentences are made elsewhere
(`helpers.evaluation`).

>>> name_list(["a", "b", "c"])
'a, b and c'
>>> held_groups([22, 23, 24, 25])
'g22–g25'
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from helpers.evaluation.claims import ClassClaims, class_claims
from helpers.evaluation.metrics import RankedClasses
from helpers.evaluation.probes import (
    ALPHA,
    APPEARANCE,
    DIRECTION_PROBE,
    NEEDS_ORDER,
    ORDER_PROBE,
    PUBLISHED,
    PUBLISHED_MOTION_COST,
    RECOGNISED,
    SMALL,
    UNCLEAR,
    by_reading,
    losing,
    probe_names,
)
from helpers.evaluation.results import (
    CLIP,
    FRAME,
    FUSED,
    TOPK,
    Results,
    confused_pair_set,
    eval_config,
    kind_accuracy,
)
from helpers.evaluation.stats import BH, HIGHER, LOWER, Gain
from helpers.paths import DataPaths, RunPaths

SOLVED = 0.95  # a class "solved" by a model: at least this per-video accuracy
_LABEL = {FRAME: "single-frame model", CLIP: "3D model", FUSED: "combined output"}
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


def gain_numbers(gain: Gain) -> str:
    """A gain in points with its interval and the clustered test that judged it."""
    return (f"{gain.gain * 100:+.1f} points ({1 - gain.alpha:.0%} CI {gain.lo * 100:+.1f} to "
            f"{gain.hi * 100:+.1f}; {gain.test.name}, p = {gain.test.p_value:.3g})")


def verdict(gain: Gain) -> str:
    """Did fusion beat the best single model? One sentence from the test's numbers."""
    pct = gain_numbers(gain)
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


def below_top(r: RankedClasses) -> str:
    """The sentence above a worst list that ties at the top accuracy leave short of its
    places: how many classes could be listed, and that the list holds just those."""
    top = f"{r.top_accuracy:.1%}"
    if r.eligible <= 0:
        why = (f"No class is below the top accuracy ({top})" if r.below_top <= 0 else
               f"Every class below the top accuracy ({top}) is among the best")
        return f"{why}, so no class is listed as worst."
    rest = "" if r.eligible == r.below_top else " and not among the best"
    one = r.eligible == 1
    return (f"Only {r.eligible} {'class is' if one else 'classes are'} below the top accuracy "
            f"({top}){rest}, so the list holds {'it' if one else 'those ' + str(r.eligible)}:")


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


def provenance(frame_cfg: dict[str, Any], clip_cfg: dict[str, Any],
               weights: dict[str, Any] | None) -> str:
    """What the models trained on (device, GPU model and count, torch, CUDA) and which
    pretrained files they started from, as recorded in the run."""
    from helpers.utils.environment import Environment

    envs = {kind: Environment.from_dict(cfg["environment"]).describe()
            for kind, cfg in (("frame", frame_cfg), ("clip", clip_cfg)) if cfg.get("environment")}
    if not envs:
        where = ""
    elif len(set(envs.values())) == 1:
        where = f"Both models trained on {next(iter(envs.values()))}."
    else:
        where = "; ".join(f"the {k} model trained on {v}" for k, v in envs.items())
        where = where[0].upper() + where[1:] + "."
    weights = weights or {}
    started = [f"the {kind} model from {w['name']} (sha256 `{w['sha256'][:12]}`"
               f"{', the published file' if w.get('published') else ''})"
               for kind, w in (("frame", weights.get("frame")), ("clip", weights.get("clip")))
               if w]
    if started:
        start = f"Pretrained weights: {'; '.join(started)}."
    else:
        start = "Both models were trained from scratch (no pretrained weights)."
    return f"{where} {start}".strip()


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
    """Question 1: did combining improve top-1, top-5 and top-10? Each k against the better
    single model at that k, judged by its interval and the clustered test."""
    s = res.summaries
    parts = []
    for k in TOPK:
        gain, best = res.gains_topk[k], res.best_single_at(k)
        if gain.test.b == gain.test.c == 0:  # the same videos right: nothing to test
            parts.append(f"top-{k} {getattr(s[FUSED], f'top{k}'):.1%}, right on exactly the "
                         f"videos the {_LABEL[best]} gets right")
            continue
        change = {"better": "higher than", "worse": "lower than"}.get(gain.outcome,
                                                                      "within noise of")
        parts.append(f"top-{k} {getattr(s[FUSED], f'top{k}'):.1%}, {change} the "
                     f"{getattr(s[best], f'top{k}'):.1%} of the {_LABEL[best]}: "
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
    accuracies it rests on; what is within noise is said to be."""
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
        parts.append("T" + name_list([f"the {_LABEL[m]}" for m in flat])[1:]
                     + f" {'gives' if one else 'each give'} every class the same accuracy ("
                     + (tops[0] if len(set(tops)) == 1 else name_list(tops))
                     + f"), so {'it has no' if one else 'none has any'} worst classes.")
    for model in (FRAME, CLIP, FUSED):
        e = cl.ends[model]
        if 0 < e.below_top and len(e.worst) < e.places:
            rest = "" if len(e.worst) == e.below_top else " and not among its best"
            parts.append(f"Only {len(e.worst)} of the {_LABEL[model]}'s classes "
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
            clauses.append("the difference is within noise on "
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
            clauses.append(f"on {name_list(list(cl.unchanged))} the change is within noise")
        parts.append(f"After combining, of the {len(cl.single_worst)} classes among either "
                     "single model's worst: " + "; ".join(clauses) + ".")
    if cl.still_worst:
        parts.append("Shared worst classes still among the worst after combining: "
                     + with_acc(cl.still_worst, (FUSED,)) + ".")
    if cl.one_sided or cl.single_worst:
        parts.append(noise_rule(cl))
    return " ".join(parts)


def noise_rule(cl: ClassClaims) -> str:
    """What "beyond noise" means for a class, and how many calls chance alone could make."""
    base = (f"Beyond noise means an exact sign-flip test over the class's (class, group) "
            f"clusters at the {cl.level:.0%} level"
            + (f" with {cl.control} across classes" if cl.control == BH else "")
            + f", and a {1 - cl.alpha:.0%} cluster-bootstrap interval that excludes zero; a "
            f"class whose two models differ on fewer than {cl.min_clusters} of its clusters "
            "can never pass.")
    if cl.control == BH:
        return base
    return base + (f" Each class is tested on its own: of the {cl.able} classes whose 2D and "
                   f"3D models differ on enough clusters, up to {cl.chance_calls:.1f} could be "
                   "called by chance alone.")


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
    head = f"**Spatial or temporal?** {_FRAME_BLIND}"
    if res.probe_table is None or res.probe_overall is None:
        return (f"{head} This run has no temporal probes of the 3D model, so only the 3D − 2D "
                "gain below speaks to motion.")
    table, ov = res.probe_table, res.probe_overall.set_index("windows")
    run = probe_names(table)
    parts = [head, "To measure what the 3D model takes from motion, the same test windows "
             "were fed to it with their frames " + _or_list([_PROBE_SAID[p] for p in run])
             + f". Its per-video top-1 is {ov.loc['normal', 'top1']:.1%} on normal windows, "
             + name_list([f"{ov.loc[p, 'top1']:.1%} {p}" for p in run]) + ".",
             _probe_method(len(table), len(run), ORDER_PROBE in run)]
    parts += _readings(table, n, ORDER_PROBE in run)
    if DIRECTION_PROBE in run:
        parts.append(_direction(table, n))
    if "static" in ov.index:
        parts.append(_closing(ov.loc["static"]))
        if res.synthetic is False:  # UCF-101: the published numbers are about it
            parts.append(_published(ov.loc["static"]))
    if res.kinds:
        parts.append(_ground_truth(table, res.kinds))
    return " ".join(parts)


_PROBE_SAID = {"shuffled": "shuffled", "reversed": "reversed",
               "static": "replaced by one repeated frame"}


def _or_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + ", or " + items[-1]


def _pts(x: float) -> str:
    """A probability or share as whole points, with a true minus sign (never "−0")."""
    return str(round(x * 100)).replace("-", "−")


def _probe_method(num_classes: int, num_probes: int, has_order: bool) -> str:
    order = (f"needs frame order when shuffling costs it at least {_pts(SMALL)} points with "
             "its interval above zero; it " if has_order else "")
    return ("Per class, the measure is the drop in the mean probability the 3D model gives "
            "the true class, in points, with a bootstrap interval over the class's (class, "
            f"group) clusters; the intervals hold together at {1 - ALPHA:.0%} for all "
            f"{num_classes * num_probes} class–probe pairs (Bonferroni), so chance alone is "
            "unlikely to name a class. Only classes the 3D model recognises (top-1 and "
            f"precision at least {RECOGNISED:.0%}) are read: one {order}is told apart by "
            f"appearance when under every probe its interval lies within ±{_pts(SMALL)} points.")


def _verb(count: int, one: str, many: str) -> str:
    return one if count == 1 else many


def _capped(items: list[str], n: int) -> str:
    """The first n items and how many more; all of them when only one more would be left."""
    if len(items) <= n + 1:
        return name_list(items)
    return name_list([*items[:n], f"{len(items) - n} more"])


def _drop_list(df: pd.DataFrame, probe: str, n: int) -> str:
    """Classes with their drop on `probe` windows and its interval, in order (see `_capped`)."""
    return _capped([f"{r['class']} ({_pts(r[f'dprob_{probe}'])} points, "
                    f"{_pts(r[f'lo_{probe}'])} to {_pts(r[f'hi_{probe}'])})"
                    for _, r in df.iterrows()], n)


def _readings(table: pd.DataFrame, n: int, has_order: bool) -> list[str]:
    """Which classes need frame order, which are told apart by appearance, how many are
    unclear: each named class with the numbers that put it there."""
    k = len(table)
    order, looks = by_reading(table, NEEDS_ORDER), by_reading(table, APPEARANCE)
    parts = []
    if has_order:
        parts.append(f"{len(order)} of {k} classes {_verb(len(order), 'needs', 'need')} frame "
                     "order" + (", largest drop first: " + _drop_list(order, ORDER_PROBE, n)
                                if len(order) else "") + ".")
    if len(looks):
        items = [f"{r['class']} (within ±{_pts(r['reach'])})" for _, r in looks.iterrows()]
        parts.append(f"{len(looks)} {_verb(len(looks), 'is', 'are')} told apart by appearance, "
                     f"the tightest first: {_capped(items, n)}.")
    else:
        parts.append("No class is shown to be told apart by appearance.")
    unclear = k - len(order) - len(looks)
    if unclear:
        parts.append(f"The other {unclear} {_verb(unclear, 'is', 'are')} unclear: neither "
                     f"reading holds (an interval too wide to tell, a loss under {_pts(SMALL)} "
                     "points, or a class the 3D model does not recognise).")
    return parts


def _direction(table: pd.DataFrame, n: int) -> str:
    lost = losing(table, DIRECTION_PROBE)
    if not len(lost):
        return (f"Played backwards, no class loses at least {_pts(SMALL)} points with its "
                "interval above zero: none is shown to need the direction of motion.")
    who, need = (("1 class loses", "it needs") if len(lost) == 1 else
                 (f"{len(lost)} classes lose", "they need"))
    return (f"Played backwards, {who} at least {_pts(SMALL)} points with the interval above "
            f"zero, so {need} the direction of motion, not just motion: "
            + _drop_list(lost, DIRECTION_PROBE, n) + ".")


def _closing(static: pd.Series) -> str:
    """What one repeated frame costs overall, read from its interval."""
    ci = f"95% CI {static['drop_lo'] * 100:.1f} to {static['drop_hi'] * 100:.1f}"
    if static["drop_lo"] > 0:
        return (f"One repeated frame costs the 3D model {static['drop'] * 100:.1f} points of "
                f"top-1 overall ({ci}).")
    if static["drop_hi"] < 0:
        return (f"One repeated frame raises the 3D model's top-1 by "
                f"{-static['drop'] * 100:.1f} points overall ({ci}).")
    change = (0.0 - static["drop"]) * 100  # 0.0 - x: no "-0.0"
    return (f"One repeated frame changes the 3D model's top-1 by {change:+.1f} points overall "
            f"({ci}), within what chance allows.")


def _published(static: pd.Series) -> str:
    """The overall cost of one repeated frame set beside published UCF-101 numbers."""
    cost = PUBLISHED_MOTION_COST
    side = ("more than that" if static["drop_lo"] > cost else
            "less than that" if static["drop_hi"] < cost else "an interval that includes it")
    return (f"For comparison, {PUBLISHED[0]}; this run's cost is {side}. {PUBLISHED[1]}; "
            f"from one repeated frame this 3D model reaches {static['top1']:.1%}.")


_KIND_ORDER = ("spatial", "temporal", "detail")


def _tally(names: list[str], kinds: dict[str, str]) -> str:
    """How many of `names` are of each kind, most first: "4 are detail and 1 spatial"."""
    got = [kinds.get(c, "unknown") for c in names]
    order = sorted(dict.fromkeys(got), key=lambda k: (-got.count(k), _rank(k)))
    counts = [f"{got.count(k)} {k}" for k in order]
    return ("1 is " if got.count(order[0]) == 1 else f"{got.count(order[0])} are ") + name_list(
        [order[0], *counts[1:]])


def _rank(kind: str) -> tuple[int, str]:
    return (_KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER), kind)


def _ground_truth(table: pd.DataFrame, kinds: dict[str, str]) -> str:
    """The readings checked against the kinds the benchmark gave its classes."""
    groups = [("classes named as needing frame order", by_reading(table, NEEDS_ORDER)),
              ("told apart by appearance", by_reading(table, APPEARANCE)),
              ("named as needing the direction of motion", losing(table, DIRECTION_PROBE)),
              ("unclear", by_reading(table, UNCLEAR))]
    said = [f"of the {len(df)} {what}, {_tally(list(df['class']), kinds)}"
            for what, df in groups if len(df)]
    temporal = sum(k == "temporal" for c, k in kinds.items() if c in set(table["class"]))
    return ("Checked against the benchmark's ground truth (its temporal classes need frame "
            "order, its spatial and detail classes do not): "
            + ("; ".join(said) if said else "no class is named") + f". The benchmark has "
            f"{temporal} temporal classes among these {len(table)}.")


_KIND_SAID = {"spatial": "the spatial classes",
              "temporal": "the temporal classes, whose two members look alike frame by "
                          "frame (chance within a pair is 50%),",
              "detail": "the detail classes, told apart by a detail the 3D model's smaller "
                        "input loses,"}


def _noise_note(df: pd.DataFrame) -> str:
    """Which of these per-class differences (rows of `Results.per_class`) are beyond noise."""
    beyond = list(df.loc[df["decision"].isin([HIGHER, LOWER]), "class"])
    if not beyond:
        return "each within noise" if len(df) > 1 else "within noise"
    if len(beyond) == len(df):
        return "each beyond noise" if len(df) > 1 else "beyond noise"
    return f"beyond noise: {name_list(beyond)}; the rest within noise"


def _gains(res: Results, n: int) -> str:
    pc = res.per_class.dropna(subset=["gain"])
    motion = pc[pc["gain"] > 0].head(n)
    one_frame = pc[(pc["accuracy_a"] >= SOLVED)].sort_values(
        ["accuracy_a", "class"], ascending=[False, True], kind="mergesort")
    worse = pc[pc["gain"] < 0].sort_values(["gain", "class"], kind="mergesort").head(n)
    lines = []
    if len(motion):
        lines.append("**Largest gains of the 3D model:** " + _gain_list(motion)
                     + f" ({_noise_note(motion)}).")
    lines.append(f"**Solved by one frame** (single-frame accuracy at least {SOLVED:.0%}): "
                 f"{len(one_frame)} of {len(pc)} classes"
                 + (f", e.g. {name_list(list(one_frame['class'].head(n)))}." if len(one_frame)
                    else "."))
    if len(worse):
        lines.append("**Better with one frame than with 3D:** " + _gain_list(worse, "vs")
                     + f" ({_noise_note(worse)}).")
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
    still = [(a, b) for a, b in shared if cm[FUSED].loc[a, b] > 0]
    after = ("" if not shared else
             f"; the combined output still makes {arrows(still)}" if still else
             "; the combined output makes none of them")
    parts.append(f"Both models share {len(shared)} of their top confusions"
                 + (f" ({arrows(shared)})" if shared else "") + after + ".")
    for m, label in ((FRAME, "the single-frame model"), (CLIP, "the 3D model")):
        df = res.summaries[m].mutual_confusions
        if len(df):
            parts.append(f"For {label}, {len(df)} {_verb(len(df), 'pair is', 'pairs are')} "
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
             f"({_or_nan(s[FRAME].frame_accuracy):.1%} per frame), the 3D model "
             f"{s[CLIP].top1:.1%} ({_or_nan(s[CLIP].clip_accuracy):.1%} per clip) "
             f"and their combination {s[FUSED].top1:.1%}"
             + (f" ({res.chosen_test['top1']:.1%} with {chosen}, the fusion chosen on "
                "validation)." if chosen != "mean" else ".")]
    parts.append(verdict(res.gain))
    pc = res.per_class.dropna(subset=["gain"])
    won = list(pc.loc[pc["decision"] == HIGHER, "class"])
    lost = int((pc["decision"] == LOWER).sum())
    parts.append(f"Beyond noise, the 3D model is better on {len(won)} of {len(pc)} classes and "
                 f"worse on {lost}; on the other {len(pc) - len(won) - lost} the difference is "
                 "within noise.")
    if res.kinds and won:
        n_temporal = sum(res.kinds.get(c) == "temporal" for c in won)
        parts.append(f"{n_temporal} of the {len(won)} classes it wins are temporal classes of "
                     "the benchmark, whose single frames look alike within their pair.")
    elif won:
        parts.append("It gains most on "
                     + _gain_list(pc[pc["decision"] == HIGHER].head(3)) + ".")
    return " ".join(parts)


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else value


# ----------------------------------------------------------------------------- temporal head
NO_HEAD = "This run has no temporal head (notebook 01, \"Beyond averaging\")."
NG_2015 = ("Ng et al. (CVPR 2015, \"Beyond Short Snippets\") pool or run an LSTM over the "
           "frame features of a 2D network and reach 82.6% on UCF-101 from frames alone, "
           "against 73.0% before")


def head_result(res: Results) -> str:
    """The head against the frame model's mean of softmaxes, on the same test videos."""
    h = res.head
    if h is None:
        return NO_HEAD
    g = h.vs_frame
    judged = {"better": "higher, beyond noise", "worse": "lower, beyond noise"}.get(
        g.outcome, "within noise")
    return (f"The head chosen on the held-out groups ({h.chosen}) reaches "
            f"{h.summary.top1:.1%} top-1 on test against {res.summaries[FRAME].top1:.1%} for "
            f"the mean of the frame model's softmaxes: {gain_numbers(g)}, {judged}. It reads "
            "the features of the same frame model, so the difference is what modelling the "
            "sequence adds to averaging.")


def head_guard(res: Results) -> str:
    """What the held-out groups say about the leak and its guard."""
    h = res.head
    if h is None:
        return ""
    sel = h.selection
    on = sel[sel["guard"]].set_index("candidate")["val_log_loss"]
    off = sel[~sel["guard"]].set_index("candidate")["val_log_loss"]
    helped = [c for c in on.index if c in off.index and on[c] < off[c]]
    gap = sel["val_log_loss"] - sel["train_log_loss"]
    text = (f"On the held-out groups the mean of the frame model's softmaxes has a log-loss "
            f"of {h.frame_val_log_loss:.3f}. The guard lowered the held-out log-loss of "
            f"{len(helped)} of {len(on)} candidates"
            + (f" ({name_list(helped)})" if helped else "") + ". ")
    if (gap > 0).all():
        return text + (f"Every candidate's log-loss on the training videos, whose features "
                       f"the frame model saw in training, is below its held-out one by "
                       f"{gap.min():.3f} to {gap.max():.3f}: that gap is the leak the guard "
                       "works against.")
    return text + (f"The training videos' log-loss is not below the held-out one for every "
                   f"candidate (gaps {gap.min():+.3f} to {gap.max():+.3f}), so this run "
                   "shows no clear leak.")


def head_order(res: Results) -> str:
    """Did the head learn frame order? Its top-1 and true-class probability on features in
    reversed and in shuffled order."""
    h = res.head
    if h is None or h.probe_overall is None:
        return ""
    ov = h.probe_overall.set_index("windows")
    pieces = [f"{name} features cost it {_pts(ov.loc[name, 'dprob'])} points of "
              f"true-class probability (95% CI {_pts(ov.loc[name, 'dprob_lo'])} to "
              f"{_pts(ov.loc[name, 'dprob_hi'])})" for name in ov.index[1:]]
    learned = ("so it learned to read frame order" if h.learned_order else
               "so there is no sign that it reads frame order")
    said = name_list(pieces)
    return (f"{said[:1].upper()}{said[1:]}; {learned}. (An order-blind head, such as the "
            "mean of the features, gives the same output in any order.)")


def head_pairs(res: Results) -> str:
    """Synthetic benchmark: which temporal pairs the head separates, and what the features
    show of the motion of those it does not."""
    h = res.head
    if h is None or h.pairs is None or h.pairs.empty:
        return ""
    p = h.pairs
    won = p[p["outcome"] == "better"]
    rest = p[p["outcome"] != "better"]
    parts = []
    if len(won):
        parts.append(f"The head separates {name_list(list(won['pair']))}: "
                     + "; ".join(f"{r['pair']} {r['frame']:.0%} → {r['head']:.0%}, "
                                 f"{r['head_reversed']:.0%} on reversed features"
                                 for _, r in won.iterrows())
                     + " (the frame model's mean, which cannot see order, sits near chance).")
    else:
        parts.append("The head separates no temporal pair beyond noise.")
    if len(rest):
        parts.append(f"{name_list(list(rest['pair']))} "
                     f"{_verb(len(rest), 'stays', 'stay')} within noise of the frame mean.")
        if len(won) and rest["temporal_share"].max() < won["temporal_share"].min():
            parts.append(
                f"Their features change little over a video: "
                f"{rest['temporal_share'].max():.0%} or less of their spread lies within a "
                f"video, against {won['temporal_share'].min():.0%} or more for the pairs it "
                "separates. The frame model's features are pooled over the whole frame, so "
                "they keep what a frame shows (shape, size, orientation) but not where; a "
                "motion that only moves an object leaves no order in them to read.")
        elif len(won):
            parts.append("Their features change over a video about as much as those of the "
                         "pairs it separates, so the features alone do not explain it.")
        else:
            parts.append(
                f"Their features do change over a video ({rest['temporal_share'].min():.0%} "
                f"to {rest['temporal_share'].max():.0%} of their spread lies within a video; "
                "0% would be frames that all look alike), so the sequences differ in time, "
                "yet the head did not learn to read their order"
                + (": its probes above show no loss on reversed or shuffled features."
                   if h.learned_order is False else "."))
    return " ".join(parts)
