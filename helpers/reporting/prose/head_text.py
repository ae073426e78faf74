"""The temporal head's paragraphs ("Beyond averaging"): its test score against the frame
model's mean, what the held-out groups say about the leak, whether its output depends on
frame order, and on the synthetic benchmark which temporal pairs it separates."""

from __future__ import annotations

from helpers.evaluation.results import FRAME, Results
from helpers.reporting.prose.english import gain_numbers, name_list, pts, verb

# ----------------------------------------------------------------------------- temporal head
NO_HEAD = "This run has no temporal head (notebook 01, \"Beyond averaging\")."
NG_2015 = ("Ng et al. (CVPR 2015, \"Beyond Short Snippets\") pool or run an LSTM over the "
           "frame features of a 2D network and reach 82.6% on UCF-101 from frames alone, "
           "against 73.0% before")


def head_result(res: Results) -> str:
    """The head against the frame model's mean softmax over the same frames and crop it
    reads (like for like), with the full frame model beside it, labelled as such; the
    sentence on modelling the sequence only when the head depends on order and beats that
    baseline beyond noise."""
    h = res.head
    if h is None:
        return NO_HEAD
    g = h.vs_frame
    judged = {"better": "higher, beyond noise", "worse": "lower, beyond noise"}.get(
        g.outcome, "not shown beyond noise")
    full = res.summaries[FRAME].top1
    if not h.like_for_like:
        return (f"The head chosen on the held-out groups ({h.chosen}) reaches "
                f"{h.summary.top1:.1%} top-1 on test against {full:.1%} for the full frame "
                f"model, which reads other frames and crops than the head: {gain_numbers(g)}, "
                f"{judged}. This run has no like-for-like baseline (the frame model on the "
                "head's own frames), so the difference mixes the frames read with how they "
                "are combined.")
    text = (f"The head chosen on the held-out groups ({h.chosen}) reaches "
            f"{h.summary.top1:.1%} top-1 on test against {h.baseline_top1:.1%} for the mean "
            "of the frame model's softmaxes over the same frames and crop the head reads: "
            f"{gain_numbers(g)}, {judged}. (The full frame model, which scores its own frames "
            f"and crops, reaches {full:.1%}.)")
    if h.order_sensitive and g.outcome == "better":
        text += (" The head's output depends on frame order and it beats the mean over the "
                 "same frames beyond noise, so the difference is what reading the sequence "
                 "adds to averaging.")
    return text


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
                       f"{gap.min():.3f} to {gap.max():.3f}. That gap mixes two things: the "
                       "head's own overfitting to its training videos, and the frame model's "
                       "leak (cleaner features of videos it trained on), which the guard works "
                       "against.")
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
    pieces = [f"{name} features cost it {pts(ov.loc[name, 'dprob'])} points of "
              f"true-class probability (95% CI {pts(ov.loc[name, 'dprob_lo'])} to "
              f"{pts(ov.loc[name, 'dprob_hi'])})" for name in ov.index[1:]]
    learned = ("so its output depends on frame order" if h.learned_order else
               "so its output is not shown to depend on frame order")
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
                     f"{verb(len(rest), 'is', 'are')} not shown beyond noise of the frame mean.")
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
                "yet the head's output is not shown to depend on their order"
                + (": its probes above show no loss on reversed or shuffled features."
                   if h.learned_order is False else "."))
    return " ".join(parts)
