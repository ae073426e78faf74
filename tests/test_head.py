"""The temporal head (beyond averaging): its candidates train, the feature cache resumes
exactly after an interruption, the leak guard is applied, and the order probes change the
output of an order-sensitive head only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from helpers.config import HeadConfig, get_profile
from helpers.data.sampling import head_frames
from helpers.data.splits import load_split_data
from helpers.evaluation.head_scores import temporal_share
from helpers.evaluation.results import FRAME
from helpers.training import features, head_fit
from helpers.training.features import FeatureJob, FeatureSet, cache_features, load_features
from helpers.training.head_fit import Candidate, head_probs, reorder, select, train_head
from helpers.training.train import train

CPU = torch.device("cpu")


def _ramps(n: int, frames: int = 8, dim: int = 6, seed: int = 0) -> FeatureSet:
    """Two classes with the same mean feature: class 0 rises over time, class 1 falls, so
    only the order of the frames tells them apart."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    t = np.linspace(-1, 1, frames)[None, :, None]
    sign = np.where(labels == 0, 1.0, -1.0)[:, None, None]
    x = sign * t * np.ones((1, 1, dim)) + 0.1 * rng.standard_normal((n, frames, dim))
    ids = [f"v_C{y}_g{i // 4 + 1:02d}_c{i % 4 + 1:02d}" for i, y in enumerate(labels)]
    return FeatureSet(ids, labels.astype(np.int64), x.astype(np.float16), ["C0", "C1"],
                      "frame/model.pt", "sha")


CFG = HeadConfig(frames=8, hidden=16, epochs=30, batch_size=16, candidates=("mean", "gru"))


def test_head_frames_are_evenly_spaced_and_always_as_many():
    assert head_frames(32, 16).tolist() == list(range(1, 32, 2))
    assert len(head_frames(5, 16)) == 16 and head_frames(5, 16).max() == 4


def test_candidates_train_and_only_the_order_sensitive_head_reads_order():
    train, val = _ramps(64), _ramps(32, seed=1)
    selection, chosen = select(train, val, CFG, CPU, run_root=Path("."))
    assert [(r["candidate"], r["guard"]) for r in selection.rows] == [
        ("mean", False), ("mean", True), ("gru", False), ("gru", True)]
    scores = {(r["candidate"], r["guard"]): r for r in selection.rows}
    assert selection.chosen.name == "gru"  # the mean of the features cannot see order
    assert min(scores["gru", g]["val_top1"] for g in (False, True)) >= 0.9
    assert max(scores["mean", g]["val_top1"] for g in (False, True)) <= 0.75
    normal = head_probs(chosen, val.features, CPU)
    backwards = head_probs(chosen, val.features, CPU, probe="reversed")
    shuffled = head_probs(chosen, val.features, CPU, probe="shuffled")
    assert (backwards.argmax(1) != val.labels).mean() >= 0.9  # reversed: the other class
    assert not np.allclose(normal, shuffled, atol=1e-3)
    mean = train_head(Candidate("mean", False), train, CFG, CPU)
    for probe in ("reversed", "shuffled"):  # order-blind: the same output in any order
        np.testing.assert_allclose(head_probs(mean, val.features, CPU, probe=probe),
                                   head_probs(mean, val.features, CPU), atol=1e-3)


def test_reorder_keeps_each_videos_frames():
    x = np.arange(2 * 5 * 1, dtype=np.float16).reshape(2, 5, 1)
    assert reorder(x, "reversed")[0, :, 0].tolist() == [4, 3, 2, 1, 0]
    shuffled = reorder(x, "shuffled")
    assert sorted(shuffled[1, :, 0].tolist()) == x[1, :, 0].tolist()
    assert np.array_equal(reorder(x, "shuffled"), shuffled)  # seeded per video


def test_the_leak_guard_perturbs_every_guarded_training_batch(monkeypatch):
    calls = []
    real = head_fit.guard

    def spy(x, cfg):
        out = real(x, cfg)
        calls.append(float((out == 0).float().mean()))
        assert not torch.equal(out, x)
        return out

    monkeypatch.setattr(head_fit, "guard", spy)
    cfg = CFG.replace(epochs=2, guard_noise=0.0)  # zeros stay zeros
    train_head(Candidate("mean", False), _ramps(32), cfg, CPU)
    assert calls == []  # unguarded: the features as they are
    train_head(Candidate("mean", True), _ramps(32), cfg, CPU)
    assert len(calls) == 2 * 2  # two batches of 16 per epoch
    assert all(0.3 < share < 0.7 for share in calls)  # guard_dropout 0.5 zeroes about half


def test_temporal_share_is_zero_without_change_over_time():
    still = np.repeat(np.random.default_rng(0).standard_normal((4, 1, 3)), 6, axis=1)
    assert temporal_share(still) == pytest.approx(0.0)
    assert temporal_share(_ramps(8).features) > 0.5


@pytest.fixture(scope="module")
def frame_model(tiny_bench, tmp_path_factory):
    cfg = get_profile("demo").config("frame").replace(
        crop_size=32, batch_size=16, num_workers=0, frames_per_video=1, num_epochs=1,
        eval_frames=2, eval_batch_size=32, val_max_items=8)
    out = tmp_path_factory.mktemp("head") / "frame"
    train(cfg, store=tiny_bench["store"], splits=tiny_bench["splits"], split=1, out=out,
          resume=True)
    return out


def test_feature_cache_resumes_exactly_after_an_interruption(frame_model, tiny_bench, tmp_path,
                                                             monkeypatch):
    split = load_split_data(tiny_bench["splits"], 1, (22, 23, 24, 25))
    job = FeatureJob("train", split.train_ids, split.train_labels, [frame_model])
    kwargs = dict(store=tiny_bench["store"], frames=4, split=1,
                  class_names=split.class_names, run_root=frame_model.parent, device=CPU,
                  num_workers=0)
    monkeypatch.setattr(features, "CHUNK_VIDEOS", 64)
    straight = load_features(cache_features([job], out_dir=tmp_path / "a", **kwargs)[
        frame_model, "train"])
    assert straight.features.dtype == np.float16 and straight.frames == 4
    assert straight.video_ids == list(split.train_ids)

    real, done = features.pooled_features, []

    def dies_on_the_third_chunk(*args, **kw):
        if len(done) == 2:
            raise KeyboardInterrupt
        done.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(features, "pooled_features", dies_on_the_third_chunk)
    with pytest.raises(KeyboardInterrupt):
        cache_features([job], out_dir=tmp_path / "b", **kwargs)
    path = features.cache_path(tmp_path / "b", frame_model, "train")
    assert not path.exists() and len(list((tmp_path / "b" / "parts").rglob("*.npy"))) == 2
    monkeypatch.setattr(features, "pooled_features", lambda *a, **k: done.append(1) or real(*a, **k))
    resumed = load_features(cache_features([job], out_dir=tmp_path / "b", **kwargs)[
        frame_model, "train"])
    assert len(done) == 2 + -(-len(split.train_ids) // 64) - 2  # only the missing chunks
    np.testing.assert_array_equal(resumed.features, straight.features)
    assert not (tmp_path / "b" / "parts").exists()
    # made already by this checkpoint: kept, nothing is computed again
    before = path.stat().st_mtime_ns
    cache_features([job], out_dir=tmp_path / "b", **kwargs)
    assert path.stat().st_mtime_ns == before


def test_the_heads_baseline_is_the_frame_model_on_the_same_features(frame_model, tiny_bench,
                                                                   tmp_path):
    """Like for like: the frame model's own last layer on the features the head reads, its
    softmaxes averaged over those frames."""
    import torch

    from helpers.training.head_fit import frame_mean_on_features
    from helpers.training.runs import load_trained

    split = load_split_data(tiny_bench["splits"], 1, (22, 23, 24, 25))
    job = FeatureJob("test", split.test_ids, split.test_labels, [frame_model])
    fs = load_features(cache_features(
        [job], out_dir=tmp_path, store=tiny_bench["store"], frames=4, split=1,
        class_names=split.class_names, run_root=frame_model.parent, device=CPU,
        num_workers=0)[frame_model, "test"])
    base = frame_mean_on_features(fs, frame_model, subset="test", split=1)
    model, _ = load_trained(frame_model)
    with torch.no_grad():
        want = model.fc(torch.from_numpy(fs.features.astype(np.float32))).softmax(-1).mean(1)
    np.testing.assert_allclose(base.probs, want.numpy(), rtol=1e-4, atol=1e-5)
    assert base.video_ids == fs.video_ids and base.attrs["frames"] == 4


def test_the_head_sentence_claims_the_sequence_only_when_warranted():
    from types import SimpleNamespace

    from helpers.evaluation.head_scores import HeadResult
    from helpers.evaluation.stats import Gain, PairedTest
    from helpers.reporting import prose

    better = Gain(0.08, 0.03, 0.13, PairedTest(9, 1, 10, 40, 9, 0.004))
    unsure = Gain(0.01, -0.02, 0.04, PairedTest(3, 2, 5, 40, 4, 0.6))
    overall = pd.DataFrame({"windows": ["normal", "shuffled"], "dprob": [0.0, 0.2],
                            "dprob_lo": [0.0, 0.1], "dprob_hi": [0.0, 0.3]})

    def head(chosen, gain, like=True, probes=overall):
        h = HeadResult(test=None, summary=SimpleNamespace(top1=0.9), top1_ci=(0.8, 0.95),
                       vs_frame=gain, chosen=chosen, selection=None, frame_val_log_loss=0.5,
                       probe_overall=probes, like_for_like=like, baseline_top1=0.82)
        return SimpleNamespace(head=h, summaries={FRAME: SimpleNamespace(top1=0.85)})

    text = prose.head_result(head("gru, guarded", better))
    assert "82.0% for the mean of the frame model's softmaxes over the same frames" in text
    assert "(The full frame model, which scores its own frames and crops, reaches 85.0%.)" in text
    assert "what reading the sequence adds" in text
    assert "sequence" not in prose.head_result(head("mean, guarded", better))  # order-blind
    assert "sequence" not in prose.head_result(head("gru, guarded", unsure))
    flat = overall.assign(dprob_lo=[0.0, -0.1])
    assert "sequence" not in prose.head_result(head("gru, guarded", better, probes=flat))
    old = prose.head_result(head("gru, guarded", better, like=False))
    assert "no like-for-like baseline" in old and "sequence adds" not in old
    order = prose.head_order(head("gru, guarded", better))
    assert "so its output depends on frame order" in order and "learned" not in order


def test_the_pair_sentences_follow_the_measurements():
    from types import SimpleNamespace

    import pandas as pd

    from helpers.reporting import prose

    pairs = pd.DataFrame([
        {"pair": "Spin / Unspin", "frame": 0.5, "head": 1.0, "head_reversed": 0.0,
         "outcome": "better", "temporal_share": 0.4},
        {"pair": "Left / Right", "frame": 0.5, "head": 0.5, "head_reversed": 0.5,
         "outcome": "not shown", "temporal_share": 0.02}])
    res = SimpleNamespace(head=SimpleNamespace(pairs=pairs, learned_order=True))
    text = prose.head_pairs(res)
    assert text.startswith("The head separates Spin / Unspin: Spin / Unspin 50% → 100%, 0% on "
                           "reversed features")
    assert "Left / Right is not shown beyond noise" in text and "2% or less" in text
    res.head.pairs = pairs.assign(outcome="not shown", temporal_share=[0.4, 0.3])
    res.head.learned_order = False
    text = prose.head_pairs(res)
    assert text.startswith("The head separates no temporal pair beyond noise.")
    assert "30% to 40% of their spread" in text and "show no loss" in text
