"""Late fusion of two models' per-video probabilities (a = 2D frames, b = 3D clips).

Methods, simplest first (a tie on validation goes to the earlier one):
- `mean`:     (p_a + p_b) / 2, the assignment's "combined output"; no parameters.
- `weighted`: w p_a + (1 - w) p_b, w on a grid over [0, 1] (step 0.05) maximising validation
              top-1; ties go to lower validation NLL, then to the w nearest 0.5.
- `product`:  the renormalised geometric mean, i.e. the mean of log-probabilities.
- `stacking`: multinomial logistic regression on both models' log-probabilities (floored at
              1e-6) with one weight per model shared by all classes and a per-class bias;
              the bias penalty is the one with the lowest out-of-fold NLL within the
              validation set (see `fit_stacking` for why the weights are tied).

Everything is fitted on the validation predictions (the held-out training groups) only:
`fit_fusion` takes nothing else, and `evaluate_fusion` only applies the fitted parameters to
the test predictions. The method chosen is the one with the lowest validation NLL
(log-loss): a proper score that rewards calibrated probabilities, whereas top-1 on a few
hundred videos moves in coarse steps and often ties. For the two methods with fitted
parameters that NLL is out-of-fold (K folds over whole (class, group) clusters), so stacking
is not favoured for fitting and scoring on the same videos.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from helpers.errors import UserError
from helpers.evaluation.metrics import topk_accuracy
from helpers.evaluation.predictions import Predictions, align, video_groups

METHODS = ("mean", "weighted", "product", "stacking")
LOG_FLOOR = 1e-6
DEFAULT_L2S = (1e-3, 1e-2, 1e-1, 1.0)
# NLLs this close are equal up to float rounding (a weighted mean at w = 0.5 is the mean).
NLL_TIE = 1e-9
SELECTION = ("lowest validation NLL (out-of-fold for weighted and stacking, in-sample for mean "
             f"and product); within {NLL_TIE:g} the simpler method wins (mean, weighted, "
             "product, stacking)")

# What `fit_fusion` returns, in the order fusion.json lists it (the cache under a run's
# fusion/ folder adds `val_sha256`; the `fuse` command adds its inputs and test scores).
_FIT_KEYS = ("chosen", "selection", "params", "val_scores", "val_single", "val_single_nll",
             "num_val_videos", "class_names", "seed")


@dataclass(frozen=True)
class MethodScore:
    """One method's score on the validation predictions, and how it was scored."""

    top1: float
    nll: float  # mean negative log-probability of the true class (log-loss)
    scored: str  # "in-sample" or "out-of-fold, K folds ..."
    top1_by_l2: dict[str, float] | None = None  # stacking: per bias penalty tried
    nll_by_l2: dict[str, float] | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class WeightedParams:
    """`weighted`: the first model's weight w, fitted on a grid of this step."""

    w: float
    step: float

    def to_json(self) -> dict[str, float]:
        return {"w": self.w, "step": self.step}


@dataclass(frozen=True)
class StackingParams:
    """`stacking`: one weight per model on its log-probabilities, a bias per class, and the
    bias penalty chosen out of fold (`fit_stacking`)."""

    l2: float
    w_a: float
    w_b: float
    bias: tuple[float, ...]
    converged: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"l2": self.l2, "w_a": self.w_a, "w_b": self.w_b, "bias": list(self.bias),
                "converged": self.converged}

    @classmethod
    def from_json(cls, raw: Any) -> StackingParams:
        """Stacking's parameters as fusion.json holds them; an older version's (a full
        regression, `C` and `coef`, without per-class biases) is refused in one sentence."""
        try:
            return cls(float(raw["l2"]), float(raw["w_a"]), float(raw["w_b"]),
                       tuple(float(b) for b in raw["bias"]), bool(raw.get("converged", True)))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise _older("stacking", exc) from None


Params = WeightedParams | StackingParams | None  # what `fuse` takes: None for mean, product


@dataclass(frozen=True)
class FusionParams:
    """The fitted parameters of every method (`mean` and `product` have none)."""

    weighted: WeightedParams
    stacking: StackingParams

    def of(self, method: str) -> Params:
        """The parameters `fuse` takes for `method`."""
        if method not in METHODS:
            raise UserError(f"Unknown fusion method {method!r}; pick one of "
                            f"{', '.join(METHODS)}.")
        return {"weighted": self.weighted, "stacking": self.stacking}.get(method)

    def to_json(self) -> dict[str, dict[str, Any]]:
        """fusion.json's `params`: {method: {name: value}}, `{}` for a method without any."""
        return {m: (p.to_json() if (p := self.of(m)) else {}) for m in METHODS}

    @classmethod
    def from_json(cls, raw: Any) -> FusionParams:
        try:
            weighted = WeightedParams(float(raw["weighted"]["w"]),
                                      float(raw["weighted"]["step"]))
            stacking = raw["stacking"]
        except (KeyError, TypeError, ValueError) as exc:
            raise _older("fusion", exc) from None
        return cls(weighted, StackingParams.from_json(stacking))


def _older(what: str, exc: Exception) -> UserError:
    why = f"they lack {exc}" if isinstance(exc, KeyError) else str(exc)
    return UserError(f"These {what} parameters come from an older version of this code "
                     f"({why}); fit the fusion again.")


@dataclass(frozen=True)
class FusionFit:
    """Every method fitted on the validation predictions, and the one chosen (see
    `SELECTION`). `params.of(method)` is what `fuse` takes for a method; `val_single` and
    `val_single_nll` hold each model's own top-1 and NLL under "a" and "b"."""

    chosen: str
    selection: str
    params: FusionParams
    val_scores: dict[str, MethodScore]
    val_single: dict[str, float]
    val_single_nll: dict[str, float]
    num_val_videos: int
    class_names: list[str]
    seed: int
    val_sha256: str | None = None  # the validation predictions it was fitted on (the cache)

    def to_json(self) -> dict[str, Any]:
        """The dict fusion.json holds (JSON-serialisable, keys in `_FIT_KEYS` order)."""
        out = {k: getattr(self, k) for k in _FIT_KEYS}
        out["params"] = self.params.to_json()
        out["val_scores"] = {m: v.to_json() for m, v in self.val_scores.items()}
        if self.val_sha256 is not None:
            out["val_sha256"] = self.val_sha256
        return copy.deepcopy(out)

    @classmethod
    def from_json(cls, data: Any) -> FusionFit:
        """A fit read back from fusion.json; one that an older version wrote (or not a fit
        at all) is refused with a UserError, so the caller can fit again."""
        try:
            fields = {k: data[k] for k in _FIT_KEYS}
            fields["params"] = FusionParams.from_json(data["params"])
            fields["val_scores"] = {m: MethodScore(**data["val_scores"][m]) for m in METHODS}
        except (KeyError, TypeError) as exc:
            raise UserError(f"This fusion.json comes from an older version of this code (it "
                            f"lacks {exc}); fit the fusion again.") from None
        return cls(**fields, val_sha256=data.get("val_sha256"))


def _log(p: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(p, dtype=np.float64), LOG_FLOOR, 1.0))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fuse(method: str, probs_a: np.ndarray, probs_b: np.ndarray,
         params: Params = None) -> np.ndarray:
    """Fused probabilities [N, C] (float64, rows sum to 1) of one method with its parameters
    (`FusionParams.of(method)`)."""
    pa = np.asarray(probs_a, dtype=np.float64)
    pb = np.asarray(probs_b, dtype=np.float64)
    if pa.shape != pb.shape:
        raise UserError(f"Cannot fuse probabilities of shapes {pa.shape} and {pb.shape}.")
    if method == "mean":
        return (pa + pb) / 2
    if method == "product":
        return _softmax((_log(pa) + _log(pb)) / 2)
    if method not in METHODS:
        raise UserError(f"Unknown fusion method {method!r}; pick one of {', '.join(METHODS)}.")
    wanted = WeightedParams if method == "weighted" else StackingParams
    if not isinstance(params, wanted):
        raise UserError(f"The {method} fusion takes {wanted.__name__}, not "
                        f"{type(params).__name__}; pass `FusionFit.params.of({method!r})`.")
    if isinstance(params, WeightedParams):
        return params.w * pa + (1 - params.w) * pb
    bias = np.asarray(params.bias, dtype=np.float64)
    if bias.shape != (pa.shape[1],):
        raise UserError(f"The stacking fit has {bias.size} classes, the predictions "
                        f"{pa.shape[1]}; fit and apply fusion with the same class list.")
    return _softmax(_stack_logits(pa, pb, params.w_a, params.w_b, bias))


def _nll(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)).mean())


def _top1(probs: np.ndarray, labels: np.ndarray) -> float:
    return topk_accuracy(probs, labels, ks=(1,))[1]


def _fit_weight(pa: np.ndarray, pb: np.ndarray, labels: np.ndarray, step: float) -> float:
    grid = np.round(np.arange(0.0, 1.0 + step / 2, step), 10)
    scored = []
    for w in grid:
        p = fuse("weighted", pa, pb, WeightedParams(float(w), step))
        scored.append((-_top1(p, labels), _nll(p, labels), abs(w - 0.5), float(w)))
    return min(scored)[3]


def _stack_logits(pa: np.ndarray, pb: np.ndarray, w_a: float, w_b: float,
                  bias: np.ndarray) -> np.ndarray:
    return w_a * _log(pa) + w_b * _log(pb) + bias


def fit_stacking(pa: np.ndarray, pb: np.ndarray, labels: np.ndarray,
                 l2: float) -> StackingParams:
    """Multinomial logistic regression on the two models' log-probabilities with one weight
    per model shared by all classes, plus a per-class bias (L2 penalty `l2` on the biases).

    Why tied weights: a full regression (2C inputs per class, ~20k weights for 101 classes)
    has about 15 validation videos per class to learn from; it scored below either single
    model out of fold on synthetic 101-class data, while this one (C + 2 parameters) learns
    each model's trust (temperature) and class priors. The problem is convex, so L-BFGS from
    the plain product (0.5, 0.5, 0) reaches the same optimum on every run.
    """
    from scipy.optimize import minimize

    la, lb = _log(pa), _log(pb)
    n, c = la.shape
    onehot = np.zeros((n, c))
    onehot[np.arange(n), labels] = 1.0

    def loss_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w_a, w_b, bias = theta[0], theta[1], theta[2:]
        z = w_a * la + w_b * lb + bias
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        loss = -(logp * onehot).sum() / n + 0.5 * l2 * bias @ bias
        dz = (np.exp(logp) - onehot) / n
        grad = np.concatenate([[(dz * la).sum(), (dz * lb).sum()], dz.sum(axis=0) + l2 * bias])
        return float(loss), grad

    theta0 = np.concatenate([[0.5, 0.5], np.zeros(c)])
    res = minimize(loss_grad, theta0, jac=True, method="L-BFGS-B",
                   options={"maxiter": 1000, "gtol": 1e-8})
    return StackingParams(float(l2), float(res.x[0]), float(res.x[1]),
                          tuple(res.x[2:].tolist()), bool(res.success))


def make_folds(video_ids: list[str], n_folds: int = 3, seed: int = 0) -> np.ndarray:
    """Fold id per video: whole (class, group) clusters per fold (so one actor's clips of a
    class never sit on both sides), or a seeded shuffle of videos when names carry fewer than
    two clusters. Cluster ids are sorted by class, so each class's clusters spread over the
    folds and every fold's training part sees every class with two or more clusters."""
    try:
        groups = video_groups(video_ids)
    except UserError:
        groups = None
    if groups is not None and len(np.unique(groups)) >= 2:
        uniq = np.unique(groups)  # with fewer clusters than folds, one fold per cluster
        return np.searchsorted(uniq, groups) % min(n_folds, len(uniq))
    perm = np.random.default_rng(seed).permutation(len(video_ids))
    folds = np.empty(len(video_ids), dtype=np.int64)
    folds[perm] = np.arange(len(video_ids)) % n_folds
    return folds


def _out_of_fold(fit_predict, n: int, folds: np.ndarray, num_classes: int) -> np.ndarray:
    out = np.zeros((n, num_classes))
    for f in np.unique(folds):
        held = folds == f
        out[held] = fit_predict(~held, held)
    return out


def fit_fusion(val_a: Predictions, val_b: Predictions, *, weight_step: float = 0.05,
               l2s: tuple[float, ...] = DEFAULT_L2S, n_folds: int = 3, seed: int = 0) -> FusionFit:
    """Fit every method on validation predictions and choose the one with the lowest
    validation NLL (see `SELECTION`); `FusionFit.to_json` is what fusion.json holds."""
    for p in (val_a, val_b):
        if str(p.attrs.get("subset", "")).lower() == "test":
            raise UserError("Fusion must be fitted on validation predictions (held-out training "
                            "groups), but a file given as validation has subset='test'.")
    splits = [val_a.attrs.get("split"), val_b.attrs.get("split")]
    if None not in splits and str(splits[0]) != str(splits[1]):
        raise UserError(f"The two validation files come from different splits ({splits[0]} and "
                        f"{splits[1]}); evaluate both models on the same split.")
    a, b = align(val_a, val_b)
    labels, pa, pb = a.labels, a.probs.astype(np.float64), b.probs.astype(np.float64)
    n, num_classes = pa.shape
    if n < 2 * n_folds or len(np.unique(labels)) < 2:
        raise UserError(f"Too few validation videos to fit fusion ({n} videos, "
                        f"{len(np.unique(labels))} classes); hold out more training groups.")
    folds = make_folds(a.video_ids, n_folds, seed)
    scores: dict[str, MethodScore] = {}
    for m in ("mean", "product"):
        p = fuse(m, pa, pb)
        scores[m] = MethodScore(_top1(p, labels), _nll(p, labels), "in-sample")

    weighted = WeightedParams(_fit_weight(pa, pb, labels, weight_step), weight_step)

    def weighted_oof(train: np.ndarray, held: np.ndarray) -> np.ndarray:
        w = _fit_weight(pa[train], pb[train], labels[train], weight_step)
        return fuse("weighted", pa[held], pb[held], WeightedParams(w, weight_step))

    p = _out_of_fold(weighted_oof, n, folds, num_classes)
    scores["weighted"] = MethodScore(_top1(p, labels), _nll(p, labels),
                                     f"out-of-fold, {n_folds} folds")

    by_l2 = []
    for l2 in l2s:
        def stack_oof(train: np.ndarray, held: np.ndarray, l2: float = l2) -> np.ndarray:
            prm = fit_stacking(pa[train], pb[train], labels[train], l2)
            return fuse("stacking", pa[held], pb[held], prm)

        p = _out_of_fold(stack_oof, n, folds, num_classes)
        by_l2.append((_nll(p, labels), -float(l2), _top1(p, labels)))
    nll, neg_l2, top1 = min(by_l2)  # lowest out-of-fold NLL; ties: the stronger penalty
    stacking = fit_stacking(pa, pb, labels, -neg_l2)
    scores["stacking"] = MethodScore(
        top1, nll, f"out-of-fold, {n_folds} folds (l2 with the lowest NLL of {list(l2s)})",
        top1_by_l2={str(-l2): t for _, l2, t in by_l2},
        nll_by_l2={str(-l2): v for v, l2, _ in by_l2})
    return FusionFit(
        chosen=choose_method({m: scores[m].nll for m in METHODS}), selection=SELECTION,
        params=FusionParams(weighted, stacking), val_scores={m: scores[m] for m in METHODS},
        val_single={"a": _top1(pa, labels), "b": _top1(pb, labels)},
        val_single_nll={"a": _nll(pa, labels), "b": _nll(pb, labels)},
        num_val_videos=n, class_names=list(a.class_names), seed=seed)


def choose_method(nll: Mapping[str, float]) -> str:
    """The simplest method (METHODS order) whose validation NLL is within NLL_TIE of the lowest."""
    best = min(nll[m] for m in METHODS)
    return next(m for m in METHODS if nll[m] <= best + NLL_TIE)


def _name(p: Predictions, default: str) -> str:
    return str(p.attrs.get("model") or default)


def evaluate_fusion(fit: FusionFit, test_a: Predictions,
                    test_b: Predictions) -> tuple[pd.DataFrame, dict[str, Predictions]]:
    """Apply the fitted methods to the test predictions. Returns a table (one row per single
    model and per method: val_top1, val_nll, top1, top5, top10 on test, chosen_on_val) and
    the fused Predictions per method. Nothing here is fitted: test labels only score the
    results."""
    a, b = align(test_a, test_b)
    if a.class_names != fit.class_names:
        raise UserError("The test predictions use a different class list than the fitted "
                        "fusion; fit and evaluate with the same classInd.txt.")
    name_a, name_b = _name(a, "a"), _name(b, "b")
    if name_a == name_b:
        name_a, name_b = f"{name_a} (a)", f"{name_b} (b)"
    rows = []
    for name, p, key in ((name_a, a, "a"), (name_b, b, "b")):
        top = topk_accuracy(p.probs, p.labels)
        rows.append({"method": name, "kind": "single", "val_top1": fit.val_single[key],
                     "val_nll": fit.val_single_nll[key],
                     "top1": top[1], "top5": top[5], "top10": top[10], "chosen_on_val": False})
    fused: dict[str, Predictions] = {}
    for m in METHODS:
        params = fit.params.of(m)
        probs = fuse(m, a.probs, b.probs, params).astype(np.float32)
        probs /= probs.sum(axis=1, keepdims=True)
        attrs = {"model": f"fusion-{m}", "fusion_method": m,
                 "fusion_params": params.to_json() if params else {},
                 "sources": [name_a, name_b], "chosen_on_val": m == fit.chosen}
        for key in ("split", "subset"):
            if a.attrs.get(key) is not None:
                attrs[key] = a.attrs[key]
        fused[m] = Predictions(list(a.video_ids), a.labels.copy(), probs,
                               list(a.class_names), attrs)
        top = topk_accuracy(probs, a.labels)
        rows.append({"method": m, "kind": "fusion", "val_top1": fit.val_scores[m].top1,
                     "val_nll": fit.val_scores[m].nll, "top1": top[1], "top5": top[5],
                     "top10": top[10], "chosen_on_val": m == fit.chosen})
    return pd.DataFrame(rows), fused


def check_disjoint(val: Predictions, test: Predictions) -> None:
    """Refuse validation and test sets that share videos (the fit would see test data)."""
    shared = sorted(set(val.video_ids) & set(test.video_ids))
    if shared:
        raise UserError(f"Validation and test predictions share {len(shared)} videos (e.g. "
                        f"{shared[0]}); fit fusion on held-out training groups only.")
