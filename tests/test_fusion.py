import dataclasses
import inspect
import json

import numpy as np
import pytest

from helpers.cli import main
from helpers.errors import UserError
from helpers.evaluation.fusion import (
    METHODS,
    FusionFit,
    FusionParams,
    StackingParams,
    WeightedParams,
    choose_method,
    evaluate_fusion,
    fit_fusion,
    fit_stacking,
    fuse,
    make_folds,
)
from helpers.evaluation.metrics import topk_accuracy
from helpers.evaluation.predictions import Predictions, load

C = 6
NAMES = [f"Class{i}" for i in range(C)]


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _pair(n, groups, seed, subset="val"):
    """Two models on the same videos: a sees classes 0-2 well, b sees classes 3-5 well."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % C
    strength_a = np.where(labels < 3, 3.0, 0.6)
    strength_b = np.where(labels < 3, 0.6, 3.0)
    ids = [f"v_{NAMES[y]}_g{groups[i % len(groups)]:02d}_c{i:03d}" for i, y in enumerate(labels)]
    out = []
    for name, strength in (("2d", strength_a), ("3d", strength_b)):
        z = rng.normal(size=(n, C))
        z[np.arange(n), labels] += strength
        out.append(Predictions(ids, labels, _softmax(z), NAMES, {"model": name, "subset": subset,
                                                                  "split": 1}))
    return out


def test_fuse_formulas():
    a = np.array([[0.8, 0.2], [0.9, 0.1]])
    b = np.array([[0.2, 0.8], [0.5, 0.5]])
    np.testing.assert_allclose(fuse("mean", a, b), [[0.5, 0.5], [0.7, 0.3]])
    np.testing.assert_allclose(fuse("weighted", a, b, WeightedParams(1.0, 0.05)), a)
    np.testing.assert_allclose(fuse("weighted", a, b, WeightedParams(0.25, 0.05)),
                               0.25 * a + 0.75 * b)
    # geometric mean renormalised: sqrt(.45) : sqrt(.05) = 3 : 1
    np.testing.assert_allclose(fuse("product", a, b), [[0.5, 0.5], [0.75, 0.25]])
    plain = StackingParams(l2=0.0, w_a=0.5, w_b=0.5, bias=(0.0, 0.0))
    np.testing.assert_allclose(fuse("stacking", a, b, plain), fuse("product", a, b))
    shifted = fuse("stacking", a, b, dataclasses.replace(plain, bias=(np.log(3), 0.0)))
    np.testing.assert_allclose(shifted[0], [0.75, 0.25])
    with pytest.raises(UserError, match="Unknown fusion method"):
        fuse("max", a, b)
    with pytest.raises(UserError, match="The stacking fusion takes StackingParams, not "
                                        "WeightedParams"):
        fuse("stacking", a, b, WeightedParams(0.5, 0.05))


def test_stacking_recovers_a_known_temperature():
    rng = np.random.default_rng(1)
    n = 3000
    pa = _softmax(rng.normal(size=(n, 5)))
    pb = np.full((n, 5), 0.2)  # uninformative second model
    # true labels follow softmax(3 log pa): the fitted weight of model a must be ~3
    truth = _softmax(3 * np.log(pa))
    labels = (truth.cumsum(1) > rng.random((n, 1))).argmax(1)
    fit = fit_stacking(pa, pb, labels, l2=1e-3)
    assert fit.converged
    assert fit.w_a == pytest.approx(3.0, abs=0.3)
    assert fit_stacking(pa, pb, labels, l2=1e-3) == fit  # deterministic


def test_fit_fusion_improves_on_validation_and_is_json():
    val_a, val_b = _pair(240, groups=[8, 9, 10, 11], seed=0)
    fit = fit_fusion(val_a, val_b)
    assert set(fit.params.to_json()) == set(METHODS) == set(fit.val_scores)
    best_single = max(fit.val_single.values())
    for m in METHODS:
        assert fit.val_scores[m].top1 > best_single + 0.05
    chosen = fit.chosen
    assert fit.val_scores[chosen].nll == min(s.nll for s in fit.val_scores.values())
    by_l2 = fit.val_scores["stacking"].nll_by_l2
    assert by_l2[str(fit.params.stacking.l2)] == min(by_l2.values())
    assert fit.val_scores["stacking"].nll == min(by_l2.values())
    assert 0.0 <= fit.params.weighted.w <= 1.0
    assert fit_fusion(val_a, val_b) == fit
    # a fit reloaded from fusion.json equals, and applies exactly like, the one in memory
    test_a, test_b = _pair(60, groups=[1, 2], seed=1, subset="test")
    reloaded = FusionFit.from_json(json.loads(json.dumps(fit.to_json())))
    assert reloaded == fit
    assert list(fit.to_json()) == ["chosen", "selection", "params", "val_scores", "val_single",
                                   "val_single_nll", "num_val_videos", "class_names", "seed"]
    for m in METHODS:
        np.testing.assert_array_equal(
            fuse(m, test_a.probs, test_b.probs, fit.params.of(m)),
            fuse(m, test_a.probs, test_b.probs, reloaded.params.of(m)))
    # fusion.json's params keep their layout: {method: {name: value}}
    params = fit.to_json()["params"]
    assert params["mean"] == params["product"] == {}
    assert set(params["weighted"]) == {"w", "step"}
    assert set(params["stacking"]) == {"l2", "w_a", "w_b", "bias", "converged"}
    assert FusionParams.from_json(json.loads(json.dumps(params))) == fit.params
    with pytest.raises(UserError, match="older version"):  # a full regression's parameters
        StackingParams.from_json({"C": 1.0, "coef": []})


def _always_right(n=60, right=0.8):
    labels = np.arange(n) % 3
    probs = np.full((n, 3), (1 - right) / 2)
    probs[np.arange(n), labels] = right
    ids = [f"v_{NAMES[y]}_g{8 + i % 3:02d}_c{i:02d}" for i, y in enumerate(labels)]
    return Predictions(ids, labels, probs, NAMES[:3])


def test_a_tie_on_top1_is_decided_by_validation_nll():
    # Both models are always right: every method scores 100% top-1, so top-1 cannot choose
    # (the old rule took "mean"). Stacking learns to sharpen the under-confident 0.8 and has
    # by far the lowest out-of-fold NLL, so it is chosen.
    a = _always_right()
    fit = fit_fusion(a, a)
    scores = fit.val_scores
    assert all(s.top1 == 1.0 for s in scores.values())
    assert scores["stacking"].nll < 0.5 * scores["mean"].nll
    assert fit.chosen == "stacking"
    assert "lowest validation NLL" in fit.selection


def test_equal_nll_goes_to_the_simplest_method():
    # Identical models: the weighted mean is the mean up to float rounding, which must not
    # decide; a real difference in NLL does.
    def scores(**nll):
        return {m: nll.get(m, 1.0) for m in METHODS}

    assert choose_method(scores(mean=0.3, weighted=0.3 - 1e-13, product=0.3)) == "mean"
    assert choose_method(scores(mean=0.3, weighted=0.3 - 1e-6)) == "weighted"
    assert choose_method(scores(stacking=0.2)) == "stacking"
    a = _always_right(right=1.0)
    fit = fit_fusion(a, a)
    assert fit.val_scores["weighted"].nll == pytest.approx(0.0, abs=1e-12)
    assert fit.chosen == "mean"


def test_validation_files_of_different_splits_are_refused():
    val_a, val_b = _pair(60, groups=[8, 9, 10], seed=0)
    val_b.attrs["split"] = 2
    with pytest.raises(UserError, match=r"different splits \(1 and 2\)"):
        fit_fusion(val_a, val_b)
    del val_b.attrs["split"]  # a file without the attribute is not refused
    fit_fusion(val_a, val_b)
    val_b.attrs["split"] = "1"  # the same split written as text
    fit_fusion(val_a, val_b)


def test_folds_hold_whole_groups_or_fall_back_to_shuffled_videos():
    ids = [f"v_X_g{g:02d}_c{i:02d}" for i, g in enumerate([8, 8, 9, 9, 10, 10, 11, 11, 8])]
    folds = make_folds(ids, n_folds=3)
    for g in (8, 9, 10, 11):
        members = {f for f, v in zip(folds, ids, strict=True) if f"_g{g:02d}_" in v}
        assert len(members) == 1
    # The unit is the (class, group) pair: each pair stays in one fold, and a class's four
    # groups spread over all three folds (so every fold trains on every class).
    ids = [f"v_{c}_g{g:02d}_c{k}" for c in ("Archery", "YoYo") for g in range(22, 26)
           for k in (1, 2)]
    folds = make_folds(ids, n_folds=3)
    pairs = {}
    for f, v in zip(folds, ids, strict=True):
        pairs.setdefault(v.rsplit("_c", 1)[0], set()).add(int(f))
    assert all(len(fs) == 1 for fs in pairs.values()) and len(pairs) == 8
    for c in ("Archery", "YoYo"):
        assert set().union(*(fs for k, fs in pairs.items() if c in k)) == {0, 1, 2}
    two = make_folds(ids[:4], n_folds=3)  # two groups: one fold each
    assert two.tolist() == [0, 0, 1, 1]
    plain = make_folds([f"clip{i}" for i in range(10)], n_folds=3, seed=0)
    assert sorted(np.bincount(plain).tolist()) == [3, 3, 4]


def _applied(table, fused):
    """What evaluate_fusion applied: per method the parameters, the choice, the fused probs."""
    return {m: (json.dumps(p.attrs["fusion_params"], sort_keys=True), p.attrs["chosen_on_val"],
                p.probs.tobytes()) for m, p in fused.items()} | {
        "chosen": table.loc[table["chosen_on_val"], "method"].tolist(),
        "val_top1": table["val_top1"].tolist()}


def test_test_labels_cannot_influence_any_fitted_choice():
    # The fitting API has no way to receive test data.
    params = inspect.signature(fit_fusion).parameters
    positional = [p for p in params.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert [p.name for p in positional] == ["val_a", "val_b"]

    val_a, val_b = _pair(240, groups=[8, 9, 10, 11], seed=0)
    test_a, test_b = _pair(180, groups=[1, 2, 3], seed=1, subset="test")
    rng = np.random.default_rng(7)
    scrambled = rng.permutation(test_a.labels)
    sa = Predictions(test_a.video_ids, scrambled, test_a.probs, NAMES, test_a.attrs)
    sb = Predictions(test_b.video_ids, scrambled, test_b.probs, NAMES, test_b.attrs)

    # Two independent fits, each followed by evaluation on the true or the scrambled test
    # labels: everything that was fitted or applied is the same, only the test scores differ.
    fit1, fit2 = fit_fusion(val_a, val_b), fit_fusion(val_a, val_b)
    table1, fused1 = evaluate_fusion(fit1, test_a, test_b)
    table2, fused2 = evaluate_fusion(fit2, sa, sb)
    assert json.dumps(fit1.to_json(), sort_keys=True) == json.dumps(fit2.to_json(), sort_keys=True)
    assert _applied(table1, fused1) == _applied(table2, fused2)
    assert _applied(table1, fused1)["chosen"] == [fit1.chosen]
    assert not np.allclose(table1["top1"], table2["top1"])
    for m in METHODS:  # fused probabilities depend on test inputs, never on test labels
        np.testing.assert_array_equal(fused1[m].probs, fused2[m].probs)
        assert fused2[m].labels.tolist() == scrambled.tolist()

    # The same comparison does see a change in the data the fit is allowed to use: with
    # altered validation labels the fitted weights and the fused test probabilities move.
    flipped = val_a.labels.copy()
    flipped[val_a.labels < 3] = (flipped[val_a.labels < 3] + 3) % C  # a's strong classes
    fa = Predictions(val_a.video_ids, flipped, val_a.probs, NAMES, val_a.attrs)
    fb = Predictions(val_b.video_ids, flipped, val_b.probs, NAMES, val_b.attrs)
    table3, fused3 = evaluate_fusion(fit_fusion(fa, fb), test_a, test_b)
    assert _applied(table3, fused3) != _applied(table1, fused1)
    assert any(not np.array_equal(fused3[m].probs, fused1[m].probs) for m in METHODS)


def test_validation_files_must_not_be_test_files():
    val_a, val_b = _pair(60, groups=[8, 9, 10], seed=0, subset="test")
    with pytest.raises(UserError, match="subset='test'"):
        fit_fusion(val_a, val_b)


def test_evaluate_reports_every_method_and_marks_the_choice():
    val_a, val_b = _pair(240, groups=[8, 9, 10, 11], seed=0)
    test_a, test_b = _pair(180, groups=[1, 2, 3], seed=1, subset="test")
    fit = fit_fusion(val_a, val_b)
    table, fused = evaluate_fusion(fit, test_a, test_b.take(np.arange(180)[::-1]))
    assert table["method"].tolist() == ["2d", "3d", *METHODS]
    assert table["chosen_on_val"].sum() == 1
    for m in METHODS:
        row = table.set_index("method").loc[m]
        p = fused[m]
        assert p.video_ids == test_a.video_ids and p.attrs["subset"] == "test"
        assert row["top1"] == pytest.approx(topk_accuracy(p.probs, p.labels, (1,))[1])
        assert p.attrs["chosen_on_val"] == (m == fit.chosen)
    other = Predictions(test_a.video_ids, test_a.labels, test_a.probs, list("abcdef"))
    with pytest.raises(UserError, match="class list"):
        evaluate_fusion(fit, other, other)


def test_fuse_cli_writes_files_and_ignores_test_labels(tmp_path, capsys):
    val_a, val_b = _pair(240, groups=[8, 9, 10, 11], seed=0)
    test_a, test_b = _pair(180, groups=[1, 2, 3], seed=1, subset="test")
    paths = {k: p.save(tmp_path / f"{k}.h5") for k, p in
             {"va": val_a, "vb": val_b, "ta": test_a, "tb": test_b}.items()}

    def fuse_cli(out, ta="ta", tb="tb"):
        return main(["fuse", "--a", str(paths[ta]), "--b", str(paths[tb]), "--val-a",
                     str(paths["va"]), "--val-b", str(paths["vb"]), "--out", str(out)])

    assert fuse_cli(tmp_path / "out1") == 0
    printed = capsys.readouterr().out
    assert "| method |" in printed and "chosen on validation" in printed
    report = json.loads((tmp_path / "out1" / "fusion.json").read_text())
    assert len(report["test"]) == 2 + len(METHODS)
    for m in METHODS:
        assert load(tmp_path / "out1" / f"fused_{m}.h5").attrs["fusion_method"] == m

    labels = np.random.default_rng(3).permutation(test_a.labels)
    for k, p in (("ta", test_a), ("tb", test_b)):
        Predictions(p.video_ids, labels, p.probs, NAMES, p.attrs).save(paths[k])
    assert fuse_cli(tmp_path / "out2") == 0
    report2 = json.loads((tmp_path / "out2" / "fusion.json").read_text())
    for key in ("params", "val_scores", "chosen"):
        assert report2[key] == report[key]
    assert report2["test"] != report["test"]

    # validation videos that are also test videos are refused with one sentence
    assert fuse_cli(tmp_path / "out3", ta="va", tb="vb") == 1
    assert "share" in capsys.readouterr().err


def test_analysis_refits_when_the_validation_predictions_change(tmp_path):
    # The report reuses the cached fit; new validation predictions (a re-evaluation) must
    # not be scored with a fit made on the old ones.
    from helpers.evaluation.results import analyze
    from helpers.workflow.pipeline import RunPaths

    run = RunPaths(tmp_path)

    def write(seed):
        for kind, pred in zip(("frame", "clip"), _pair(120, (22, 23, 24, 25), seed), strict=True):
            pred.save(run.predictions(kind, "val"))
        for kind, pred in zip(("frame", "clip"), _pair(84, (1, 2, 3), 9, "test"), strict=True):
            pred.save(run.predictions(kind, "test"))

    write(seed=1)
    first = analyze(run, n_boot=50).fit
    assert analyze(run, n_boot=50).fit == first  # cached
    write(seed=2)
    second = analyze(run, n_boot=50).fit
    assert second.val_sha256 != first.val_sha256
    assert second == dataclasses.replace(fit_fusion(*_pair(120, (22, 23, 24, 25), 2)),
                                         val_sha256=second.val_sha256)


def test_a_cached_fit_from_an_older_version_is_fitted_again(tmp_path):
    # fusion.json written by an older version (a key missing, or stacking without its
    # per-class bias) is not a KeyError: the report fits the fusion again and overwrites it.
    from helpers.evaluation.results import analyze
    from helpers.workflow.pipeline import RunPaths

    run = RunPaths(tmp_path)
    for kind, pred in zip(("frame", "clip"), _pair(120, (22, 23, 24, 25), 1), strict=True):
        pred.save(run.predictions(kind, "val"))
    for kind, pred in zip(("frame", "clip"), _pair(84, (1, 2, 3), 9, "test"), strict=True):
        pred.save(run.predictions(kind, "test"))
    fresh = analyze(run, n_boot=50).fit
    path = run.fusion_dir / "fusion.json"
    for stale in ({k: v for k, v in fresh.to_json().items() if k != "val_single_nll"},
                  {**fresh.to_json(), "params": {**fresh.params.to_json(), "stacking": {"C": 1.0}}},
                  ["not", "a", "fit"]):
        path.write_text(json.dumps(stale))
        assert analyze(run, n_boot=50).fit == fresh
        assert FusionFit.from_json(json.loads(path.read_text())) == fresh
    with pytest.raises(UserError, match="older version"):
        FusionFit.from_json({"chosen": "mean"})
