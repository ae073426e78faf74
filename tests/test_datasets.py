"""Datasets and transforms: eval coverage, determinism, clip-consistent augmentation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from support import write_grey_tree
from torch.utils.data import DataLoader

from helpers.data.datasets import ClipDataset, FrameDataset
from helpers.data.sampling import num_eval_windows
from helpers.data.transforms import (
    EvalTransform,
    TrainTransform,
    eval_boxes,
    random_resized_crop_box,
)
from helpers.errors import UserError


@dataclass(frozen=True)
class _Video:
    name: str
    label: str
    label_id: int
    num_frames: int


class ArrayStore:
    """The store's reader interface over in-memory frames (picklable, for worker tests).

    mode "flat": every pixel of frame f is f (tells which frames were read).
    mode "ramp": a horizontal ramp plus 2*f (tells crops, flips and frame offsets apart).
    """

    def __init__(self, frame_counts: dict[str, int], size: tuple[int, int] = (24, 32),
                 mode: str = "flat") -> None:
        self.videos = [_Video(n, "C", 0, c) for n, c in frame_counts.items()]
        self.class_names = ["C"]
        self.frame_size = size
        self.mode = mode
        self.reads: list[list[int]] = []

    def __len__(self) -> int:
        return len(self.videos)

    def index(self, name: str) -> int:
        return [v.name for v in self.videos].index(name)

    def read_frames(self, video: int, frames) -> np.ndarray:
        frames = list(frames)
        assert all(0 <= f < self.videos[video].num_frames for f in frames), frames
        self.reads.append(frames)
        h, w = self.frame_size
        f = np.asarray(frames, dtype=np.int64)[:, None, None, None]
        if self.mode == "flat":
            out = np.broadcast_to(f, (len(frames), h, w, 3))
        else:
            ramp = np.linspace(0, 120, w)[None, None, :, None]
            out = np.broadcast_to(ramp + 2 * f, (len(frames), h, w, 3))
        return np.ascontiguousarray(out, dtype=np.uint8)


# --- transforms ---------------------------------------------------------------------

def test_random_resized_crop_box_within_frame_and_scale():
    rng = np.random.default_rng(1)
    for _ in range(500):
        y, x, h, w = random_resized_crop_box(rng, 240, 320, scale=(0.25, 1.0))
        assert 0 <= y and y + h <= 240 and 0 <= x and x + w <= 320
        assert 0.2 <= h * w / (240 * 320) <= 1.0
        assert 3 / 4 - 0.02 <= w / h <= 4 / 3 + 0.02


def test_eval_boxes_centre_and_three_crops():
    # Short side 240 -> 112 then a 112 crop: a 240x240 square of the source.
    assert eval_boxes(240, 320, crop_size=112, short_side=112) == [(0, 40, 240, 240)]
    assert eval_boxes(240, 320, crop_size=112, short_side=112, num_crops=3) == [
        (0, 0, 240, 240), (0, 40, 240, 240), (0, 80, 240, 240)]
    # 256/224 convention: the crop is 7/8 of the short side.
    assert eval_boxes(240, 320, crop_size=224, short_side=256) == [(15, 55, 210, 210)]
    # Portrait frames crop along the height.
    assert [b[0] for b in eval_boxes(320, 240, crop_size=112, short_side=112,
                                     num_crops=3)] == [0, 40, 80]


def test_eval_transform_matches_resize_then_crop():
    import cv2
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), (9, 9), 3)
    ours = EvalTransform(112, 112, num_crops=3)(img[None], crop=2)[0]
    resized = cv2.resize(img, (149, 112), interpolation=cv2.INTER_AREA)
    ref = resized[:, -112:]
    assert np.abs(ours.astype(int) - ref.astype(int)).mean() < 3


def test_train_transform_same_crop_and_flip_on_every_frame():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 150, (60, 80, 3)).astype(np.uint8)
    clip = np.stack([base + 5 * t for t in range(6)]).astype(np.uint8)
    tf = TrainTransform(32)
    for i in range(30):
        out = tf(clip, np.random.default_rng(i)).astype(int)
        assert out.shape == (6, 32, 32, 3)
        for t in range(1, 6):  # a different crop or flip per frame would break this
            diff = out[t] - out[0]
            assert diff.min() >= 5 * t - 1 and diff.max() <= 5 * t + 1


def test_train_transform_flips_about_half_and_consistently():
    ramp = np.broadcast_to(np.linspace(0, 200, 80)[None, :, None], (60, 80, 3))
    clip = np.stack([ramp] * 4).astype(np.uint8)
    tf = TrainTransform(32, scale=(0.5, 1.0))
    flipped = []
    for i in range(200):
        out = tf(clip, np.random.default_rng(i)).astype(int)
        direction = np.sign(out[:, 16, -1, 0] - out[:, 16, 0, 0])
        assert len(set(direction.tolist())) == 1 and direction[0] != 0
        flipped.append(direction[0] < 0)
    assert 0.35 < np.mean(flipped) < 0.65


# --- datasets -----------------------------------------------------------------------

COUNTS = {"v_A_g01_c01": 37, "v_B_g01_c01": 5, "v_C_g02_c01": 16, "v_D_g02_c01": 64}
IDS = list(COUNTS)
LABELS = [0, 1, 1, 2]


def _items(ds):
    return [ds[i] for i in range(len(ds))]


def _same(a, b):
    return all(torch.equal(x["x"], y["x"]) and x["frame" if "frame" in x else "start"]
               == y["frame" if "frame" in y else "start"] for x, y in zip(a, b, strict=True))


def test_frame_dataset_eval_enumerates_every_frame_with_video_ids():
    ds = FrameDataset(ArrayStore(COUNTS), IDS, LABELS, transform=EvalTransform(16, 16))
    assert len(ds) == sum(COUNTS.values())
    items = _items(ds)
    for item in items:
        assert item["x"].dtype == torch.uint8 and item["x"].shape == (3, 16, 16)
        assert item["x"].is_contiguous()
        assert int(item["x"][0, 0, 0]) == item["frame"]  # the frame it says it is
        assert item["label"] == LABELS[item["video"]]
    pairs = [(i["video"], i["frame"]) for i in items]
    assert pairs == [(v, f) for v, n in enumerate(COUNTS.values()) for f in range(n)]


def test_frame_dataset_eval_frames_and_three_crops():
    ds = FrameDataset(ArrayStore(COUNTS), IDS, LABELS, transform=EvalTransform(16, 16, 3),
                      eval_frames=10)
    assert len(ds) == 3 * (10 + 5 + 10 + 10)
    items = _items(ds)
    assert [i["crop"] for i in items[:6]] == [0, 1, 2, 0, 1, 2]
    assert [i["frame"] for i in items if i["video"] == 1 and i["crop"] == 0] == [0, 1, 2, 3, 4]


def test_frame_dataset_train_draws_k_frames_spread_over_video():
    store = ArrayStore(COUNTS)
    ds = FrameDataset(store, IDS, LABELS, transform=TrainTransform(16), frames_per_video=4)
    assert len(ds) == 4 * len(IDS)
    for epoch in range(5):
        ds.set_epoch(epoch)
        for v, n in enumerate(COUNTS.values()):
            frames = [ds[v * 4 + j]["frame"] for j in range(4)]
            assert all(0 <= f < n for f in frames)
            if n >= 4:  # one from each quarter
                assert all(j * n // 4 <= f < (j + 1) * n // 4 for j, f in enumerate(frames))


def test_datasets_are_deterministic_and_change_with_epoch_and_seed():
    def make(cls, seed=0, **kw):
        return cls(ArrayStore(COUNTS, size=(40, 56), mode="ramp"), IDS, LABELS,
                   transform=TrainTransform(16), seed=seed, **kw)

    for cls, kw in [(FrameDataset, {"frames_per_video": 3}), (ClipDataset, {"clip_len": 8})]:
        a, b = make(cls, **kw), make(cls, **kw)
        assert _same(_items(a), _items(b))
        # Order of access does not matter: draws depend on (seed, epoch, index) only.
        assert _same(_items(a), [b[i] for i in reversed(range(len(b)))][::-1])
        first = _items(a)
        a.set_epoch(1)
        assert not _same(first, _items(a))
        a.set_epoch(0)
        assert _same(first, _items(a))
        assert not _same(first, _items(make(cls, seed=1, **kw)))


def _batches(ds, num_workers):
    loader = DataLoader(ds, batch_size=3, num_workers=num_workers, shuffle=False)
    return torch.cat([b["x"] for b in loader])


def test_distributed_sampler_ranks_draw_what_one_process_draws():
    # Two DDP ranks, each with its own DistributedSampler (shuffled, epoch 3): every item
    # a rank reads is the very item one process reads at that index, so sharding changes
    # nothing but who reads what.
    from torch.utils.data import DistributedSampler

    for cls, kw in [(FrameDataset, {"frames_per_video": 2}), (ClipDataset, {"clip_len": 8})]:
        single = cls(ArrayStore(COUNTS, size=(40, 56), mode="ramp"), IDS, LABELS,
                     transform=TrainTransform(16), seed=5, **kw)
        single.set_epoch(3)
        seen: dict[int, torch.Tensor] = {}
        for rank in (0, 1):
            ds = cls(ArrayStore(COUNTS, size=(40, 56), mode="ramp"), IDS, LABELS,
                     transform=TrainTransform(16), seed=5, **kw)
            sampler = DistributedSampler(ds, num_replicas=2, rank=rank, shuffle=True, seed=5)
            sampler.set_epoch(3)
            ds.set_epoch(3)
            loader = DataLoader(ds, batch_size=1, sampler=sampler, num_workers=2)
            for index, batch in zip(list(sampler), loader, strict=True):
                seen[index] = batch["x"][0]
        assert sorted(seen) == list(range(len(single)))
        for index, x in seen.items():
            assert torch.equal(x, single[index]["x"])


def test_same_draws_with_and_without_workers():
    for cls in (FrameDataset, ClipDataset):
        ds = cls(ArrayStore(COUNTS, size=(40, 56), mode="ramp"), IDS, LABELS,
                 transform=TrainTransform(16), seed=3)
        ds.set_epoch(2)
        assert torch.equal(_batches(ds, 0), _batches(ds, 2))


def test_clip_dataset_train_reads_a_window_and_crops_it_alike():
    ds = ClipDataset(ArrayStore(COUNTS, size=(40, 56), mode="ramp"), IDS, LABELS, transform=TrainTransform(16),
                     clip_len=8, stride=2)
    assert len(ds) == len(IDS)
    for epoch in range(4):
        ds.set_epoch(epoch)
        for item in _items(ds):
            x = item["x"].to(torch.int32)
            assert item["x"].dtype == torch.uint8 and x.shape == (3, 8, 16, 16)
            n = list(COUNTS.values())[item["video"]]
            window = [(item["start"] + 2 * t) for t in range(8)]
            if window[-1] >= n:  # short video: looped
                continue
            for t in range(8):  # same crop on every frame: only the 2*f offset differs
                diff = x[:, t] - x[:, 0]
                assert int(diff.min()) >= 4 * t - 1 and int(diff.max()) <= 4 * t + 1


def test_clip_dataset_eval_windows_cover_every_frame():
    store = ArrayStore(COUNTS)
    ds = ClipDataset(store, IDS, LABELS, transform=EvalTransform(8, 8), clip_len=16)
    assert len(ds) == sum(num_eval_windows(n, 16) for n in COUNTS.values())
    seen: dict[int, list[int]] = {}
    for item in _items(ds):
        assert item["x"].shape == (3, 16, 8, 8) and item["x"].dtype == torch.uint8
        frames = item["x"][0, :, 0, 0].tolist()  # flat store: pixel value = frame index
        seen.setdefault(item["video"], []).extend(sorted(set(frames)))
    for v, n in enumerate(COUNTS.values()):
        assert sorted(set(seen[v])) == list(range(n))
    # Short video (5 frames): decoded once per frame, not once per padded slot.
    assert [0, 1, 2, 3, 4] in store.reads


def test_clip_dataset_three_crop_multiplies_items():
    one = ClipDataset(ArrayStore(COUNTS), IDS, LABELS, transform=EvalTransform(8, 8))
    three = ClipDataset(ArrayStore(COUNTS), IDS, LABELS, transform=EvalTransform(8, 8, 3))
    assert len(three) == 3 * len(one)
    assert [three[i]["crop"] for i in range(3)] == [0, 1, 2]


def test_missing_video_is_a_clear_error():
    with pytest.raises(UserError, match=r"2 of 3 videos are not in the store.*v_X_g01_c01"):
        FrameDataset(ArrayStore(COUNTS), ["v_A_g01_c01", "v_X_g01_c01", "v_Y_g01_c01"],
                     [0, 0, 0], transform=TrainTransform(8))
    with pytest.raises(UserError, match="labels"):
        ClipDataset(ArrayStore(COUNTS), IDS, [0], transform=TrainTransform(8))
    with pytest.raises(UserError, match=r"1 of 1 test videos are not in the store"):
        FrameDataset(ArrayStore(COUNTS), ["v_X_g01_c01"], [0], transform=EvalTransform(8, 8), what="test videos")


def _many(n: int) -> dict[str, int]:
    return {f"v_K{i:03d}_g01_c01": 3 + i % 5 for i in range(n)}


def test_a_few_videos_prepare_skipped_are_left_out_with_a_warning(capfd):
    counts = _many(40)
    ids = list(counts) + ["v_Gone_g01_c01"]  # 1 of 41 (2.4%) is absent, e.g. unreadable
    labels = list(range(len(ids)))
    ds = FrameDataset(ArrayStore(counts), ids, labels, transform=EvalTransform(8, 8),
                      what="test videos")
    err = capfd.readouterr().err
    assert err.startswith("warning: 1 of 41 test videos are not in the store and are left "
                          "out (v_Gone_g01_c01)") and "STORE.report.json" in err
    assert len(err.strip().splitlines()) == 1
    assert ds.video_ids == list(counts) and ds.missing_ids == ["v_Gone_g01_c01"]
    assert ds.labels.tolist() == labels[:40]
    assert len(ds) == sum(counts.values())
    assert {ds[i]["video"] for i in range(len(ds))} == set(range(40))
    # videos keep their own labels when the absent one sits in the middle
    middle = [ids[0], "v_Gone_g01_c01", *ids[1:40]]
    mid = ClipDataset(ArrayStore(counts), middle, list(range(41)), transform=TrainTransform(8),
                      clip_len=2)
    assert mid.video_ids == ids[:40] and mid.labels.tolist() == [0, *range(2, 41)]
    assert [mid[i]["label"] for i in range(3)] == [0, 2, 3]
    capfd.readouterr()


def test_more_than_five_percent_absent_is_a_wrong_store(capfd):
    counts = _many(38)
    ids = list(counts) + ["v_Gone_g01_c01", "v_Gone_g01_c02"]  # 2 of 40 = 5%: still kept
    assert len(FrameDataset(ArrayStore(counts), ids, [0] * 40, transform=TrainTransform(8)).video_ids) == 38
    ids.append("v_Gone_g01_c03")  # 3 of 41 = 7.3%
    with pytest.raises(UserError, match=r"3 of 41 videos are not in the store .*more than the "
                                        r"5% that `prepare` may skip"):
        FrameDataset(ArrayStore(counts), ids, [0] * 41, transform=TrainTransform(8))
    capfd.readouterr()


# --- on a real store ----------------------------------------------------------------

REAL_COUNTS = {"v_Alpha_g01_c01": 20, "v_Alpha_g02_c01": 5, "v_Beta_g01_c01": 33}


@pytest.fixture(scope="module")
def real_store(tmp_path_factory):
    from helpers.data.prepare import prepare_store

    root = write_grey_tree(tmp_path_factory.mktemp("tree"), REAL_COUNTS)
    prepare_store(root, root / "splits", root / "store.h5", num_workers=1)
    return root / "store.h5"


def test_real_store_eval_frames_and_windows(real_store):
    from helpers.data.store import VideoStore

    store = VideoStore(real_store)
    ids = list(REAL_COUNTS)
    frames = FrameDataset(real_store, ids, [0, 0, 1], transform=EvalTransform(32, 32))
    assert len(frames) == sum(REAL_COUNTS.values())
    for i in range(0, len(frames), 7):
        item = frames[i]
        assert abs(int(item["x"].float().mean()) - 6 * item["frame"]) <= 3
    clips = ClipDataset(store, ids, [0, 0, 1], transform=EvalTransform(32, 32), clip_len=8)
    assert len(clips) == 3 + 1 + 5
    got: dict[int, list[int]] = {}
    for item in _items(clips):  # each window's distinct frames, read back from the pixels
        means = (item["x"].float().mean((0, 2, 3)) / 6).round().long().tolist()
        got.setdefault(item["video"], []).extend(set(means))
    for v, name in enumerate(ids):
        assert sorted(set(got[v])) == list(range(REAL_COUNTS[name]))


def test_real_store_same_draws_across_workers(real_store):
    ds = ClipDataset(real_store, list(REAL_COUNTS), [0, 0, 1], transform=TrainTransform(24), clip_len=8, seed=5)
    ds.set_epoch(3)
    assert torch.equal(_batches(ds, 0), _batches(ds, 2))


def test_real_store_missing_video(real_store):
    with pytest.raises(UserError, match=r"1 of 2 videos are not in the store"):
        ClipDataset(real_store, ["v_Alpha_g01_c01", "v_Gamma_g01_c01"], [0, 1], transform=TrainTransform(8))



def test_clip_dataset_probes_rearrange_the_same_windows():
    def frames(probe):
        ds = ClipDataset(ArrayStore(COUNTS), IDS, LABELS, transform=EvalTransform(8, 8),
                         clip_len=4, probe=probe)
        return [item["x"][0, :, 0, 0].tolist() for item in _items(ds)]

    normal, rev, shuf, static = (frames(p) for p in (None, "reversed", "shuffled", "static"))
    assert rev == [w[::-1] for w in normal]
    assert all(sorted(s) == sorted(w) for s, w in zip(shuf, normal, strict=True))
    assert shuf != normal and shuf == frames("shuffled")  # a fixed shuffle
    assert all(len(set(s)) == 1 and s[0] in w for s, w in zip(static, normal, strict=True))
    with pytest.raises(UserError, match="evaluation only"):
        ClipDataset(ArrayStore(COUNTS), IDS, LABELS, transform=TrainTransform(8),
                    probe="reversed")
