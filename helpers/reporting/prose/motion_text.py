"""Question 3 of the handout, spatial or temporal: what the temporal probes of the 3D model
measure (frame order destroyed), class by class, and what the 3D - 2D gain per class shows;
on the synthetic benchmark, checked against its ground truth."""

from __future__ import annotations

import pandas as pd

from helpers.evaluation.probes import (
    ALPHA,
    APPEARANCE,
    DIRECTION_PROBE,
    NEEDS_ORDER,
    ORDER_PROBE,
    PUBLISHED,
    PUBLISHED_NAIVE_COST,
    RECOGNISED,
    SMALL,
    UNCLEAR,
    by_reading,
    chance_losses,
    losing,
    probe_names,
    recognised,
)
from helpers.evaluation.results import CLIP, FRAME, Results, kind_accuracy
from helpers.evaluation.stats import HIGHER, LOWER
from helpers.reporting.prose.english import capped, gain_list, name_list, or_list, pts, verb

SOLVED = 0.95  # a class "solved" by a model: at least this per-video accuracy
NO_PROBES = "This run has no temporal probes (`evaluate --probe`)."
_PROBE_SAID = {"shuffled": "shuffled", "reversed": "reversed",
               "static": "replaced by one repeated frame"}


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
             "were fed to it with their frames " + or_list([_PROBE_SAID[p] for p in run])
             + f". Its per-video top-1 is {ov.loc['normal', 'top1']:.1%} on normal windows, "
             + name_list([f"{ov.loc[p, 'top1']:.1%} {p}" for p in run]) + ".",
             _probe_method(table, run, ORDER_PROBE in run)]
    parts += _readings(table, n, ORDER_PROBE in run)
    if DIRECTION_PROBE in run:
        parts.append(_direction(table, n))
    if "static" in ov.index:
        parts.append(_closing(ov.loc["static"]))
        if res.synthetic is False:  # UCF-101: the published numbers are about it
            parts.append(_published(ov.loc["static"], ov.loc["normal", "top1"]))
    if res.kinds:
        parts.append(_ground_truth(table, res.kinds))
    return " ".join(parts)



def _probe_method(table: pd.DataFrame, run: list[str], has_order: bool) -> str:
    order = (f"needs frame order when shuffling costs it at least {pts(SMALL)} points with "
             "its interval above zero"
             + (" and one repeated frame does not leave it unchanged" if "static" in run else "")
             + "; it " if has_order else "")
    read = int(recognised(table).sum())
    chance = name_list([f"{chance_losses(table, p):.1f} ({p})" for p in run])
    return ("Per class, the measure is the drop in the mean probability the 3D model gives "
            "the true class, in points, with an exact sign-flip test over the class's (class, "
            f"group) clusters and the {1 - ALPHA:.0%} interval that test gives. Each class is "
            "tested on its own, so the readings are exploratory: were no class affected, "
            f"chance alone would read about {chance} of the {read} recognised classes as "
            "losing (the sum of each class's attainable rate under its discrete null). Only "
            f"classes the 3D model recognises (top-1 and precision at least {RECOGNISED:.0%}) "
            f"are read: one {order}is told apart by appearance when under every probe its "
            f"interval lies within ±{pts(SMALL)} points.")



def _drop_list(df: pd.DataFrame, probe: str, n: int) -> str:
    """Classes with their drop on `probe` windows and its interval, in order (see `_capped`)."""
    return capped([f"{r['class']} ({pts(r[f'dprob_{probe}'])} points, "
                    f"{pts(r[f'lo_{probe}'])} to {pts(r[f'hi_{probe}'])})"
                    for _, r in df.iterrows()], n)


def _readings(table: pd.DataFrame, n: int, has_order: bool) -> list[str]:
    """Which classes need frame order, which are told apart by appearance, how many are
    unclear: each named class with the numbers that put it there."""
    k = len(table)
    order, looks = by_reading(table, NEEDS_ORDER), by_reading(table, APPEARANCE)
    parts = []
    if has_order:
        parts.append(f"{len(order)} of {k} classes {verb(len(order), 'needs', 'need')} frame "
                     "order" + (", largest drop first: " + _drop_list(order, ORDER_PROBE, n)
                                if len(order) else "") + ".")
    if len(looks):
        items = [f"{r['class']} (within ±{pts(r['reach'])})" for _, r in looks.iterrows()]
        parts.append(f"{len(looks)} {verb(len(looks), 'is', 'are')} told apart by appearance, "
                     f"the tightest first: {capped(items, n)}.")
    else:
        parts.append("No class is shown to be told apart by appearance.")
    unclear = k - len(order) - len(looks)
    if unclear:
        parts.append(f"The other {unclear} {verb(unclear, 'is', 'are')} unclear: neither "
                     f"reading holds (an interval too wide to tell, a loss under {pts(SMALL)} "
                     "points, a loss when shuffled with no change on one repeated frame, or a "
                     "class the 3D model does not recognise).")
    return parts


def _direction(table: pd.DataFrame, n: int) -> str:
    lost = losing(table, DIRECTION_PROBE)
    if not len(lost):
        return (f"Played backwards, no class loses at least {pts(SMALL)} points with its "
                "interval above zero: none is shown to need the direction of motion.")
    who, need = (("1 class loses", "it needs") if len(lost) == 1 else
                 (f"{len(lost)} classes lose", "they need"))
    return (f"Played backwards, {who} at least {pts(SMALL)} points with the interval above "
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
            f"({ci}), not shown beyond noise.")


def _published(static: pd.Series, normal_top1: float) -> str:
    """The overall cost of one repeated frame beside Huang et al.'s naive-removal figure, as
    points of top-1 and relative to the normal top-1 (their figure does not say which)."""
    absolute = static["drop"]
    relative = absolute / normal_top1 if normal_top1 > 0 else float("nan")

    def side(x: float) -> str:
        return "above" if x > PUBLISHED_NAIVE_COST else "below"

    return (f"For comparison, {PUBLISHED}. This run's repeated frame costs {absolute:.1%} of "
            f"top-1 in points and {relative:.0%} relative to its normal top-1, "
            f"{side(absolute)} and {side(relative)} their {PUBLISHED_NAIVE_COST:.0%} "
            "respectively; from one repeated frame this 3D model reaches "
            f"{static['top1']:.1%}.")


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
        return "none shown beyond noise" if len(df) > 1 else "not shown beyond noise"
    if len(beyond) == len(df):
        return "each beyond noise" if len(df) > 1 else "beyond noise"
    return f"beyond noise: {name_list(beyond)}; the rest not shown beyond noise"


def _gains(res: Results, n: int) -> str:
    pc = res.per_class.dropna(subset=["gain"])
    motion = pc[pc["gain"] > 0].head(n)
    one_frame = pc[(pc["accuracy_a"] >= SOLVED)].sort_values(
        ["accuracy_a", "class"], ascending=[False, True], kind="mergesort")
    worse = pc[pc["gain"] < 0].sort_values(["gain", "class"], kind="mergesort").head(n)
    lines = []
    if len(motion):
        lines.append("**Largest gains of the 3D model:** " + gain_list(motion)
                     + f" ({_noise_note(motion)}).")
    lines.append(f"**Solved by one frame** (single-frame accuracy at least {SOLVED:.0%}): "
                 f"{len(one_frame)} of {len(pc)} classes"
                 + (f", e.g. {name_list(list(one_frame['class'].head(n)))}." if len(one_frame)
                    else "."))
    if len(worse):
        lines.append("**Better with one frame than with 3D:** " + gain_list(worse, "vs")
                     + f" ({_noise_note(worse)}).")
    kinds = kind_accuracy(res)
    if kinds is not None:
        parts = [f"over {_KIND_SAID.get(r['kind'], r['kind'])} the single-frame model reaches "
                 f"{r[FRAME]:.1%} and the 3D model {r[CLIP]:.1%}" for _, r in kinds.iterrows()]
        lines.append("On the synthetic benchmark the ground truth is known: "
                     + "; ".join(parts) + ".")
    return "\n\n".join(lines)

