"""The English of the report: lists, group ranges, points, verdicts on a gain, and the
sentences around the best/worst and confusion tables. No decision is made here.

>>> name_list(["a", "b", "c"])
'a, b and c'
>>> held_groups([22, 23, 24, 25])
'g22–g25'
>>> pts(-0.004)
'0'
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from helpers.config import TrainConfig
from helpers.evaluation.metrics import RankedClasses
from helpers.evaluation.results import CLIP, FRAME, FUSED
from helpers.evaluation.stats import Gain

MODEL_LABEL = {FRAME: "single-frame model", CLIP: "3D model", FUSED: "combined output"}
NO_CONFUSIONS = "No confusions: every test video was given its true class."


# ----------------------------------------------------------------------------- pieces
def name_list(items: list[str]) -> str:
    """Items joined as English: "a, b and c"; "none" for no items."""
    if not items:
        return "none"
    return ", ".join(items[:-1]) + (" and " if len(items) > 1 else "") + items[-1]


def held_groups(groups: Sequence[int]) -> str:
    """Group numbers as gGG, a consecutive run as a range."""
    if not groups:
        return "none"
    if list(groups) == list(range(min(groups), max(groups) + 1)) and len(groups) > 1:
        return f"g{min(groups):02d}–g{max(groups):02d}"
    return name_list([f"g{g:02d}" for g in groups])


def scored(cfg: TrainConfig) -> str:
    """What a test video is scored on, from a model's config."""
    crops = ", three crops each" if cfg.three_crop else ""
    if cfg.model == "frame":
        frames = ("every frame" if cfg.eval_frames is None
                  else f"{cfg.eval_frames} evenly spaced frames")
        return frames + crops
    stride = f" of every {cfg.stride}th frame" if cfg.stride > 1 else ""
    return f"{cfg.clip_len}-frame windows{stride} covering the whole video{crops}"


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


def gain_list(df: pd.DataFrame, sep: str = "→") -> str:
    """Classes with their accuracy under model a and b: "X (50% → 90%)"."""
    return name_list([f"{r['class']} ({r['accuracy_a']:.0%} {sep} {r['accuracy_b']:.0%})"
                      for _, r in df.iterrows()])


def or_list(items: list[str]) -> str:
    """Items joined with "or": "a, b, or c"."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + ", or " + items[-1]


def pts(x: float) -> str:
    """A probability or share as whole points, with a true minus sign (never "−0")."""
    return str(round(x * 100)).replace("-", "−")


def verb(count: int, one: str, many: str) -> str:
    """The singular or plural form for `count`."""
    return one if count == 1 else many


def capped(items: list[str], n: int) -> str:
    """The first n items and how many more; all of them when only one more would be left."""
    if len(items) <= n + 1:
        return name_list(items)
    return name_list([*items[:n], f"{len(items) - n} more"])


def or_nan(value: float | None) -> float:
    """NaN for a missing number, so that a format string still prints."""
    return float("nan") if value is None else value
