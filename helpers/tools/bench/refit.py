"""`bench refit`: what carrying the held-out models' choices over to the reported models costs.

Under the `refit` protocol the fusion (and the frame model's test crops) is fitted on the
validation predictions of the held-out models' final checkpoints, then applied unchanged to
the reported models, which train the same schedule again on every training video. For a
finished `refit` run this measures the shift on test: each model's held-out and reported
version (top-1, log-loss), and each fusion method, fitted once on validation, applied to the
held-out models and to the reported models. The held-out models' test predictions are made
on first use (into `<run>/predictions/holdout/`, with the reported models' test settings);
nothing is fitted on test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.errors import UserError
from helpers.evaluation.metrics import log_loss, to_markdown, topk_accuracy
from helpers.evaluation.predictions import Predictions, align, load
from helpers.paths import RunPaths

KINDS = ("frame", "clip")


@dataclass(frozen=True)
class ModelShift:
    """One model on test: the held-out version (trained without the held-out groups) and the
    reported one (trained again on every training video with the same schedule)."""

    model: str  # "frame" or "clip"
    holdout_top1: float
    holdout_nll: float
    reported_top1: float
    reported_nll: float


@dataclass(frozen=True)
class FusionShift:
    """One fusion method, fitted on the held-out models' validation predictions, applied on
    test to the held-out models and to the reported models."""

    method: str
    chosen: bool  # chosen on validation (lowest validation log-loss)
    val_top1: float
    val_nll: float
    holdout_top1: float
    holdout_nll: float
    reported_top1: float
    reported_nll: float


@dataclass(frozen=True)
class RefitBench:
    run: Path
    test_videos: int
    val_videos: int
    models: list[ModelShift]
    fusion: list[FusionShift]

    def method(self, name: str) -> FusionShift:
        return next(f for f in self.fusion if f.method == name)

    def lost_advantage(self) -> list[str]:
        """Fitted methods ahead of the mean on validation log-loss whose test top-1, applied
        to the reported models, falls below the mean's while applied to the held-out models
        it was not: the fitted parameters did not transfer."""
        mean = self.method("mean")
        return [f.method for f in self.fusion
                if f.method in ("weighted", "stacking") and f.val_nll < mean.val_nll
                and f.holdout_top1 >= mean.holdout_top1 and f.reported_top1 < mean.reported_top1]


def holdout_test_predictions(run: RunPaths, kind: str) -> Path:
    """The held-out model's test predictions, made with the reported model's test settings
    (evaluation frames, crops) when the run does not have them yet."""
    from helpers.evaluation.evaluate import evaluate_to_file

    reported = load(run.predictions(kind, "test")).attrs
    cfg = reported.get("config") or {}
    out = run.root / "predictions" / "holdout" / f"{kind}_test.h5"
    return evaluate_to_file(run.model_dir(kind, "holdout"), out, subset="test",
                            eval_frames=cfg.get("eval_frames"),
                            three_crop=bool(cfg.get("three_crop", False)))


def bench_refit(run_dir: str | Path) -> RefitBench:
    """Measure the held-out -> reported shift of a finished `refit` run (see the module)."""
    from helpers.evaluation.fusion import METHODS, fuse
    from helpers.evaluation.results import cached_fit

    run = RunPaths(Path(run_dir).resolve(), "refit")
    _check_refit_run(run)
    val = [load(run.predictions(k, "val")) for k in KINDS]
    fit = cached_fit(run, *val)  # the fit the report used, on the held-out models' predictions
    held = align(*(load(holdout_test_predictions(run, k)) for k in KINDS))
    reported = align(*(load(run.predictions(k, "test")) for k in KINDS))
    if held[0].video_ids != reported[0].video_ids:
        raise UserError(f"The held-out and reported models of {run.root} were scored on "
                        "different test videos; delete predictions/holdout/ and run again.")
    models = [ModelShift(k, *_scores(h), *_scores(r))
              for k, h, r in zip(KINDS, held, reported, strict=True)]
    fusion = []
    for method in METHODS:
        params = fit.params.of(method)
        h = _fused(fuse(method, held[0].probs, held[1].probs, params), held[0])
        r = _fused(fuse(method, reported[0].probs, reported[1].probs, params), reported[0])
        score = fit.val_scores[method]
        fusion.append(FusionShift(method, method == fit.chosen, score.top1, score.nll,
                                  *_scores(h), *_scores(r)))
    return RefitBench(run.root, held[0].num_videos, fit.num_val_videos, models, fusion)


def _check_refit_run(run: RunPaths) -> None:
    needed = [run.model_dir(k, s) / "model.pt" for k in KINDS for s in ("holdout", "reported")]
    needed += [run.predictions(k, s) for k in KINDS for s in ("val", "test")]
    missing = [p for p in needed if not p.is_file()]
    if missing:
        raise UserError(f"{run.root} is not a finished refit run ({missing[0]} is missing); "
                        "run `make report PROTOCOL=refit` (or `report --protocol refit`) first.")


def _fused(probs: np.ndarray, like: Predictions) -> Predictions:
    probs = probs / probs.sum(axis=1, keepdims=True)
    return Predictions(list(like.video_ids), like.labels, probs, list(like.class_names))


def _scores(pred: Predictions) -> tuple[float, float]:
    return topk_accuracy(pred.probs, pred.labels, ks=(1,))[1], log_loss(pred.probs, pred.labels)


def model_table(result: RefitBench) -> pd.DataFrame:
    return pd.DataFrame([{
        "model": m.model, "top-1 held-out": m.holdout_top1, "top-1 reported": m.reported_top1,
        "log-loss held-out": m.holdout_nll, "log-loss reported": m.reported_nll}
        for m in result.models])


def fusion_table(result: RefitBench) -> pd.DataFrame:
    mean = result.method("mean")
    return pd.DataFrame([{
        "method": f.method + (" (chosen)" if f.chosen else ""), "val top-1": f.val_top1,
        "val log-loss": f.val_nll, "test top-1 on held-out": f.holdout_top1,
        "test top-1 on reported": f.reported_top1,
        "vs mean, held-out": f.holdout_top1 - mean.holdout_top1,
        "vs mean, reported": f.reported_top1 - mean.reported_top1,
        "test log-loss on held-out": f.holdout_nll, "test log-loss on reported": f.reported_nll}
        for f in result.fusion])


def format_result(result: RefitBench) -> str:
    """The two markdown tables and the verdict on the transfer."""
    losses = {c: ".3f" for c in ("log-loss held-out", "log-loss reported", "val log-loss",
                                 "test log-loss on held-out", "test log-loss on reported")}
    gains = {c: "+.1%" for c in ("vs mean, held-out", "vs mean, reported")}
    lost = result.lost_advantage()
    verdict = (f"lost their validation advantage after the transfer: {', '.join(lost)}" if lost
               else "no fitted method lost its validation advantage after the transfer")
    return "\n\n".join([
        f"refit run {result.run}: {result.test_videos} test videos, fusion fitted on "
        f"{result.val_videos} validation videos of the held-out models",
        to_markdown(model_table(result), formats=losses),
        to_markdown(fusion_table(result), formats={**losses, **gains}),
        verdict])
