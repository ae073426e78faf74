"""The synthetic benchmark: UCF-101's layout and formats, determinism, resume, CLI errors, and
the properties the whole demo rests on: a temporal pair looks the same frame by frame but
moves in opposite directions; a detail pair differs in a texture that a frame shows at full
resolution and that vanishes at the 3D model's half resolution. Linear probes on single
frames keep both claims honest."""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import shutil
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from scipy.stats import ks_2samp

from helpers.cli import main
from helpers.config import get_profile
from helpers.data import synthetic
from helpers.data.synthetic import SynthSummary, generate, load_class_meta
from helpers.errors import UserError

SIZE, NUM_FRAMES, VIDEOS_PER_GROUP = (64, 48), 16, 2
NUM_CLASSES = len(synthetic.CLASSES)
NAME = re.compile(r"^(\w+)/v_(\w+)_g(\d\d)_c(\d\d)\.avi$")


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> tuple[Path, SynthSummary]:
    out = tmp_path_factory.mktemp("synth") / "bench"
    summary = generate(out, seed=0, size=SIZE, num_frames=NUM_FRAMES,
                       videos_per_group=VIDEOS_PER_GROUP, num_workers=2)
    return out, summary


def _read_lines(path: Path) -> list[str]:
    data = path.read_bytes()
    assert data.endswith(b"\r\n") and data.count(b"\n") == data.count(b"\r\n"), f"{path} is not CRLF"
    return data.decode().split("\r\n")[:-1]


def _decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def _videos(root: Path, name: str) -> list[Path]:
    return sorted((root / "UCF-101" / name).glob("*.avi"))


# ---------------------------------------------------------------- layout and split files

def test_split_files_parse_back_to_the_right_counts(bench):
    root, summary = bench
    lists = root / "ucfTrainTestlist"
    class_ind = [line.split(" ") for line in _read_lines(lists / "classInd.txt")]
    assert [int(i) for i, _ in class_ind] == list(range(1, NUM_CLASSES + 1))
    names = [n for _, n in class_ind]
    assert names == sorted(c.name for c in synthetic.CLASSES)
    on_disk = {p.relative_to(root / "UCF-101").as_posix() for p in (root / "UCF-101").rglob("*")
               if p.is_file()}
    assert len(on_disk) == NUM_CLASSES * 25 * VIDEOS_PER_GROUP == summary.num_videos
    for split in (1, 2, 3):
        train = [line.split(" ") for line in _read_lines(lists / f"trainlist{split:02d}.txt")]
        test = _read_lines(lists / f"testlist{split:02d}.txt")
        assert all(len(t) == 2 for t in train) and all(" " not in t for t in test)
        for path, label in train:  # 1-based labels that match the folder
            assert names[int(label) - 1] == path.split("/")[0]
        train_paths = {p for p, _ in train}
        assert len(train_paths) == len(train) == 18 * VIDEOS_PER_GROUP * NUM_CLASSES
        assert len(set(test)) == len(test) == 7 * VIDEOS_PER_GROUP * NUM_CLASSES
        assert train_paths.isdisjoint(test) and train_paths | set(test) == on_disk
        assert summary.counts[split] == {"train": len(train), "test": len(test)}


def test_split_k_tests_on_groups_7k_minus_6_to_7k_and_g22_to_g25_always_train(bench):
    root, _ = bench
    for split in (1, 2, 3):
        for kind in ("test", "train"):
            lines = _read_lines(root / "ucfTrainTestlist" / f"{kind}list{split:02d}.txt")
            groups = {int(NAME.match(line.split(" ")[0])[3]) for line in lines}
            expected = set(range(7 * split - 6, 7 * split + 1))
            assert groups == (expected if kind == "test" else set(range(1, 26)) - expected)
            if kind == "train":
                assert {22, 23, 24, 25} <= groups


def test_avis_decode_to_the_promised_size_frame_count_and_codec(bench):
    root, _ = bench
    paths = sorted((root / "UCF-101").rglob("*.avi"))
    for path in paths:
        with av.open(str(path)) as container:
            assert container.format.name == "avi"
            stream = container.streams.video[0]
            assert stream.codec_context.name == "mpeg4"  # MPEG-4 Part 2, like UCF-101
            assert stream.codec_context.codec_tag == "XVID"
            assert stream.average_rate == 25
            frames = list(container.decode(video=0))
        assert len(frames) == NUM_FRAMES
        assert (frames[0].width, frames[0].height) == SIZE
        # Intra only: P-frame artefacts would leak the direction of time into single frames.
        assert all(f.key_frame for f in frames)
    for path in paths[::50]:  # OpenCV reads them too (the other decoder the project uses)
        cap = cv2.VideoCapture(str(path))
        count = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            assert frame.shape == (SIZE[1], SIZE[0], 3)
            count += 1
        cap.release()
        assert count == NUM_FRAMES


# ---------------------------------------------------------------- determinism and resume

def test_same_seed_is_identical_whatever_the_workers_and_another_seed_differs(bench, tmp_path):
    root, _ = bench
    again = generate(tmp_path / "again", seed=0, size=SIZE, num_frames=NUM_FRAMES,
                     videos_per_group=VIDEOS_PER_GROUP, num_workers=1).out
    for name in ["classes.json"] + [f"ucfTrainTestlist/{f}" for f in
                                    synthetic.split_files(VIDEOS_PER_GROUP)]:
        assert (again / name).read_bytes() == (root / name).read_bytes(), name
    for path in sorted((root / "UCF-101").rglob("*.avi")):
        twin = again / path.relative_to(root)
        assert twin.read_bytes() == path.read_bytes(), path.name
    for path in sorted((root / "UCF-101").rglob("*_c01.avi"))[::7]:
        np.testing.assert_array_equal(_decode(again / path.relative_to(root)), _decode(path))

    other = generate(tmp_path / "other", seed=1, size=SIZE, num_frames=NUM_FRAMES,
                     videos_per_group=1, num_workers=2).out
    for path in sorted((other / "UCF-101").rglob("*.avi"))[::5]:
        a, b = _decode(path), _decode(root / path.relative_to(other))
        assert np.abs(a.astype(int) - b).mean() > 5, path.name


def test_rerun_rebuilds_a_missing_video_and_clears_a_killed_runs_temp_file(bench, tmp_path):
    root, _ = bench
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    victim = copy / "UCF-101" / "Grow" / "v_Grow_g03_c02.avi"
    original = victim.read_bytes()
    victim.unlink()
    stale = victim.parent / ".v_Grow_g04_c01.avi.abc123.tmp"  # what SIGKILL mid-write leaves
    stale.write_bytes(b"half")
    summary = generate(copy, seed=0, size=SIZE, num_frames=NUM_FRAMES,
                       videos_per_group=VIDEOS_PER_GROUP, num_workers=1)
    assert summary.num_written == 1
    assert victim.read_bytes() == original
    assert not stale.exists()
    assert not (copy / synthetic.PENDING_FILE).exists()


def test_other_settings_in_the_same_out_are_refused(bench, tmp_path):
    root, _ = bench
    with pytest.raises(UserError, match="seed=0 \\(asked 3\\)"):
        generate(root, seed=3, size=SIZE, num_frames=NUM_FRAMES, videos_per_group=VIDEOS_PER_GROUP)
    with pytest.raises(UserError, match="num_frames=16 \\(asked 48\\)"):
        generate(root, seed=0, size=SIZE, num_frames=48, videos_per_group=VIDEOS_PER_GROUP)
    # An interrupted run (no classes.json yet) is protected by its pending marker.
    pending = tmp_path / "pending"
    pending.mkdir()
    (pending / synthetic.PENDING_FILE).write_text(json.dumps(synthetic.generation_config(0, (80, 60), 48, 2)))
    with pytest.raises(UserError, match="size"):
        generate(pending, seed=0, size=SIZE, num_frames=48, videos_per_group=2)
    # A second run into a directory that another run is writing.
    fcntl = pytest.importorskip("fcntl")
    with open(root / synthetic.LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(UserError, match="Another synth run"):
            generate(root, seed=0, size=SIZE, num_frames=NUM_FRAMES,
                     videos_per_group=VIDEOS_PER_GROUP)
        fcntl.flock(handle, fcntl.LOCK_UN)
    foreign = tmp_path / "foreign"
    (foreign / "UCF-101" / "Archery").mkdir(parents=True)
    with pytest.raises(UserError, match="did not make"):
        generate(foreign)


# ---------------------------------------------------------------- the temporal-pair property

FEATURES = ("area", "centroid x", "centroid y", "spread", "spread / reach", "2-fold orientation cos",
            "2-fold orientation sin", "3-fold orientation cos", "3-fold orientation sin",
            "red", "green", "blue")


def _foreground(frames: np.ndarray) -> np.ndarray:
    """Objects are saturated and bright; every background is greyish."""
    hsv = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2HSV) for f in frames])
    return (hsv[..., 1] > 128) & (hsv[..., 2] > 115)


def _frame_features(frames: np.ndarray) -> np.ndarray:
    """[T, len(FEATURES)]: the object's area, centroid, spread about the centroid (also relative
    to its farthest pixel, which sees how far ripples have travelled whatever the scale),
    orientation (complex moments of order 2 and 3, which see a bar's and a three-armed
    spinner's angle) and mean colour in each frame."""
    mask = _foreground(frames).astype(np.float64)
    area = mask.sum((1, 2))
    norm = np.maximum(area, 1)
    ys, xs = np.mgrid[0:mask.shape[1], 0:mask.shape[2]]
    z = xs + 1j * ys
    centre = (mask * z).sum((1, 2)) / norm
    offset = z[None] - centre[:, None, None]
    spread = (mask * np.abs(offset)).sum((1, 2)) / norm
    reach = np.maximum((mask * np.abs(offset)).max((1, 2)), 1e-9)
    moments = []
    for order in (2, 3):
        m = (mask * offset**order).sum((1, 2)) / np.maximum((mask * np.abs(offset) ** order).sum((1, 2)), 1e-9)
        moments += [m.real, m.imag]
    colour = (frames * mask[..., None]).sum((1, 2)) / norm[:, None]
    return np.column_stack([area, centre.real, centre.imag, spread, spread / reach, *moments,
                            colour])


@functools.cache
def _class_features(root: Path, name: str) -> np.ndarray:
    """[videos, T, 6]; cached, several tests compare the same classes."""
    return np.stack([_frame_features(_decode(p)) for p in _videos(root, name)])


def _pooled_permutation_p(fa: np.ndarray, fb: np.ndarray, rounds: int = 3999) -> float:
    """KS distance between all frames of two classes ([videos, T] each), with a p-value from
    permuting whole videos between the classes: frames of one video are correlated, videos
    are independent. A reversed video holds the same frames as a forward one, so under the
    claim the videos of the two classes are exchangeable and the test is exact."""
    videos = np.concatenate([fa, fb])
    num_videos, num_frames = videos.shape
    values = videos.ravel()
    order = np.argsort(values, kind="stable")
    owner = np.repeat(np.arange(num_videos), num_frames)[order]
    # Compare the two ECDFs only where the sorted value changes (after a run of ties).
    ends = np.r_[values[order][1:] != values[order][:-1], True]
    rng = np.random.default_rng(0)
    in_a = np.zeros((rounds + 1, num_videos), dtype=bool)
    in_a[0, :len(fa)] = True  # row 0 is the observed labelling
    for row in in_a[1:]:
        row[rng.permutation(num_videos)[:len(fa)]] = True
    in_a = in_a[:, owner]
    cdf_a = np.cumsum(in_a, axis=1, dtype=np.int32)[:, ends] / (len(fa) * num_frames)
    cdf_b = np.cumsum(~in_a, axis=1, dtype=np.int32)[:, ends] / (len(fb) * num_frames)
    distance = np.abs(cdf_a - cdf_b).max(axis=1)
    return float((np.sum(distance[1:] >= distance[0] - 1e-12) + 1) / (rounds + 1))


def _same_distribution_pvalues(fa: np.ndarray, fb: np.ndarray) -> list[float]:
    """p-values for "same per-frame distribution", per feature: exact KS across videos at the
    first, middle and last frame (frame 0 of a reversed video was rendered last), then all
    frames pooled with a permutation test."""
    num_frames = fa.shape[1]
    pvalues = []
    for k in range(fa.shape[2]):
        for t in (0, num_frames // 2, num_frames - 1):
            pvalues.append(ks_2samp(fa[:, t, k], fb[:, t, k]).pvalue)
        pvalues.append(_pooled_permutation_p(fa[..., k], fb[..., k]))
    return pvalues


def _pairs(root: Path, kind: str = "temporal") -> list[tuple[str, str]]:
    meta = {c["name"]: c for c in load_class_meta(root)}
    return sorted({tuple(sorted((n, c["partner"]))) for n, c in meta.items() if c["kind"] == kind})


def test_class_metadata_describes_three_kinds_and_symmetric_pairs(bench):
    root, summary = bench
    meta = load_class_meta(root)
    assert [c["name"] for c in meta] == [c["name"] for c in summary.classes]
    by_name = {c["name"]: c for c in meta}
    kinds = {k: [c for c in meta if c["kind"] == k] for k in synthetic.KINDS}
    assert len(meta) >= 20 and sum(map(len, kinds.values())) == len(meta)
    assert len(kinds["spatial"]) >= 4 and len(kinds["temporal"]) >= 6 and len(kinds["detail"]) >= 6
    assert all(c["partner"] is None for c in kinds["spatial"])
    for c in kinds["temporal"] + kinds["detail"]:
        partner = by_name[c["partner"]]
        assert partner["partner"] == c["name"] != c["partner"] and partner["kind"] == c["kind"]
    # A detail pair is one object and motion with two textures; a temporal pair one process
    # played both ways.
    specs = {c.name: c for c in synthetic.CLASSES}
    for c in kinds["detail"]:
        a, b = specs[c["name"]], specs[c["partner"]]
        assert a.motion == b.motion and not a.reverse and not b.reverse
        assert a.pattern in synthetic.PATTERNS and b.pattern in synthetic.PATTERNS
        assert a.pattern != b.pattern
    for c in kinds["temporal"]:
        a, b = specs[c["name"]], specs[c["partner"]]
        assert a.motion == b.motion and a.reverse != b.reverse and a.pattern is b.pattern is None
    doc = json.loads((root / "classes.json").read_text())
    assert (doc["seed"], doc["size"], doc["num_frames"]) == (0, list(SIZE), NUM_FRAMES)


def test_temporal_pairs_have_the_same_per_frame_distribution(bench):
    root, _ = bench
    pairs = _pairs(root)
    assert len(pairs) >= 3
    num_tests = 4 * len(FEATURES) * len(pairs)
    for a, b in pairs:
        pvalues = _same_distribution_pvalues(_class_features(root, a), _class_features(root, b))
        # Bonferroni over every test in this function, family-wise level 5%.
        assert min(pvalues) > 0.05 / num_tests, (a, b, np.round(pvalues, 4))


def test_rendered_pairs_match_frame_by_frame_with_many_videos():
    """The same claim with more power, before encoding: 150 videos a class straight from the
    renderer. Frame 0 of a reversed video was rendered last, so this fails if a process is not
    stationary (e.g. a phase that does not start uniformly at random)."""
    specs = {c.name: c for c in synthetic.CLASSES}
    pairs = sorted({tuple(sorted((c.name, c.partner))) for c in synthetic.CLASSES
                    if c.kind == "temporal"})
    num_tests = 3 * len(FEATURES) * len(pairs)
    for a, b in pairs:
        fa, fb = (np.stack([_frame_features(synthetic.render_video(
            specs[name], group, clip, seed=5, size=SIZE, num_frames=NUM_FRAMES))
            for group in range(1, 26) for clip in range(1, 7)]) for name in (a, b))
        pvalues = [ks_2samp(fa[:, t, k], fb[:, t, k]).pvalue
                   for t in (0, NUM_FRAMES // 2, NUM_FRAMES - 1) for k in range(len(FEATURES))]
        assert min(pvalues) > 0.05 / num_tests, (a, b, np.round(pvalues, 5))


def test_the_same_statistic_tells_different_looking_classes_apart(bench):
    """Negative control: the test above can fail. Two spatial classes, and two classes from
    different pairs, differ per frame."""
    root, _ = bench
    for a, b in [("RedBallBounce", "BlueBoxSway"), ("GreenTriangleFloat", "YellowCrossPulse"),
                 ("SlideRight", "Grow"), ("Shrink", "SpinClockwise")]:
        pvalues = _same_distribution_pvalues(_class_features(root, a), _class_features(root, b))
        assert min(pvalues) < 1e-6, (a, b)


def _motion(frames: np.ndarray) -> tuple[float, float, float]:
    """Median over frame pairs of the object's optical flow: mean horizontal flow, mean radial
    flow (outwards > 0) and mean tangential flow (clockwise on screen > 0) about the centre of
    the area the object covers over the whole video (the ring's centre, the hand's pivot)."""
    mask = _foreground(frames)
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    ys, xs = np.mgrid[0:mask.shape[1], 0:mask.shape[2]].astype(np.float64)
    cx, cy = (mask * xs).sum() / mask.sum(), (mask * ys).sum() / mask.sum()
    per_pair = []
    for t in range(len(frames) - 1):
        flow = cv2.calcOpticalFlowFarneback(gray[t], gray[t + 1], None, 0.5, 2, 9, 3, 5, 1.1, 0)
        on = mask[t] | mask[t + 1]
        u, v = flow[..., 0][on], flow[..., 1][on]
        rx, ry = xs[on] - cx, ys[on] - cy
        r = np.hypot(rx, ry) + 1e-6
        per_pair.append([u.mean(), ((u * rx + v * ry) / r).mean(), ((rx * v - ry * u) / r).mean()])
    return tuple(np.median(per_pair, axis=0))


# forward class -> index of the motion statistic that is positive for it
FORWARD = {"SlideRight": 0, "Grow": 1, "SpinClockwise": 2}


def test_temporal_pairs_move_in_opposite_directions(bench):
    root, _ = bench
    meta = {c["name"]: c for c in load_class_meta(root)}
    assert {tuple(sorted((f, meta[f]["partner"]))) for f in FORWARD} == set(_pairs(root))
    for forward, k in FORWARD.items():
        backward = meta[forward]["partner"]
        fwd = np.array([_motion(_decode(p))[k] for p in _videos(root, forward)])
        bwd = np.array([_motion(_decode(p))[k] for p in _videos(root, backward)])
        assert (fwd > 0).mean() >= 0.9 and (bwd < 0).mean() >= 0.9, (forward, fwd, bwd)
        # Reversed, not just different: the backward speeds mirror the forward ones.
        assert ks_2samp(fwd, -bwd).pvalue > 0.01, (forward, fwd, bwd)
    # Spatial classes have no direction: the same statistics sit near zero.
    for name in ("BlueBoxSway", "YellowCrossPulse"):
        stats = np.array([_motion(_decode(p)) for p in _videos(root, name)])
        assert 0.2 <= (stats > 0).mean(axis=0).min() and (stats > 0).mean(axis=0).max() <= 0.8, name


# ---------------------------------------------------------------- the detail-pair property

def _shrink(frames: np.ndarray, factor: int) -> np.ndarray:
    """Frames [T, H, W, 3] made `factor` times smaller by area averaging, as `prepare` makes
    the 3D model's store."""
    if factor == 1:
        return frames
    height, width = frames.shape[1] // factor, frames.shape[2] // factor
    return np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in frames])


def _clip_shrink() -> int:
    """How many times smaller the demo's 3D model sees a frame than its 2D model: the frame
    model reads the native store (80x60 frames, 56x56 crops), the clip model a store at half
    the height (40x30, 28x28 crops). The tests shrink their 64x48 frames by the same factor."""
    demo = get_profile("demo")
    native = synthetic.DEFAULT_SIZE[1]
    assert demo.frame_short_side is None and demo.clip_short_side
    assert native % demo.clip_short_side == 0
    assert demo.clip.crop_size <= demo.clip_short_side < demo.frame.crop_size
    return native // demo.clip_short_side


def test_a_detail_pair_differs_only_in_what_half_resolution_loses():
    """Render a video of one class of a detail pair, and the same video (the same random
    stream: object, motion, noise and texture signs) with its partner's texture: shrunk as
    the 3D model's store is, the two agree to rounding; at full resolution they differ."""
    factor = _clip_shrink()
    assert factor == 2  # every aligned 2x2 block of a texture sums to zero
    specs = {c.name: c for c in synthetic.CLASSES}
    details = [c for c in synthetic.CLASSES if c.kind == "detail"]
    assert len(details) >= 6
    for spec in details:
        twin = dataclasses.replace(spec, pattern=specs[spec.partner].pattern)
        for group, clip in ((1, 1), (9, 2), (17, 1), (25, 2)):
            kwargs = dict(seed=3, size=synthetic.DEFAULT_SIZE, num_frames=8)
            a = synthetic.render_video(spec, group, clip, **kwargs).astype(int)
            b = synthetic.render_video(twin, group, clip, **kwargs).astype(int)
            small = np.abs(_shrink(a.astype(np.uint8), factor).astype(int)
                           - _shrink(b.astype(np.uint8), factor))
            assert small.max() <= 1, (spec.name, group, clip, small.max())
            # The texture covers a patch of every frame, with the contrast it was made with.
            changed = (np.abs(a - b).max(axis=3) > 40).mean(axis=(1, 2))
            assert changed.min() > 0.01, (spec.name, group, clip, changed)


@functools.cache
def _probe_sample(root: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """4 evenly spaced frames of every video of a class ([4 * videos, H, W, 3]) and the group
    of each frame."""
    frames, groups = [], []
    for path in _videos(root, name):
        video = _decode(path)
        frames.append(video[np.linspace(0, len(video) - 1, 4).round().astype(int)])
        groups += [int(NAME.match(f"{name}/{path.name}")[3])] * 4
    return np.concatenate(frames), np.array(groups)


def _pixels(frames: np.ndarray) -> np.ndarray:
    return frames.reshape(len(frames), -1).astype(np.float32) / 255


def _energy(frames: np.ndarray, cell: int) -> np.ndarray:
    """Local contrast energy: squared differences of horizontally and vertically neighbouring
    luma values, each averaged over cells of `cell` x `cell` pixels."""
    luma = frames.astype(np.float32) @ np.float32([0.299, 0.587, 0.114]) / 255
    n = len(luma)
    maps = [np.diff(luma, axis=2)[:, :-1] ** 2, np.diff(luma, axis=1)[:, :, :-1] ** 2]
    h, w = (maps[0].shape[1] // cell) * cell, (maps[0].shape[2] // cell) * cell
    return np.concatenate([m[:, :h, :w].reshape(n, h // cell, cell, w // cell, cell)
                           .mean(axis=(2, 4)).reshape(n, -1) for m in maps], axis=1)


def _probe(root: Path, a: str, b: str, features) -> float:
    """Held-out accuracy of a logistic regression telling single frames of class a from
    class b: standardised features, C = 0.1, 5 folds of whole groups (never a video, an
    actor or a scene on both sides)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    (fa, ga), (fb, gb) = _probe_sample(root, a), _probe_sample(root, b)
    x = np.concatenate([features(fa), features(fb)])
    y = np.r_[np.zeros(len(fa)), np.ones(len(fb))]
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    # One BLAS thread: these small problems run ~20x slower when BLAS threads compete.
    with threadpool_limits(limits=1):
        return float(cross_val_score(model, x, y, groups=np.r_[ga, gb], cv=GroupKFold(5)).mean())


def test_linear_probes_cannot_tell_a_temporal_pair_apart_from_one_frame(bench):
    """Two probes on full-resolution frames: a logistic regression on the raw RGB pixels, and
    one on fixed local-contrast features (`_energy`, 4x4-pixel cells), which is what sees a
    detail. Neither tells the classes of a temporal pair apart (chance is 0.5); the energy
    probe does tell two temporal classes of different pairs apart."""
    root, _ = bench
    for a, b in _pairs(root):
        pixels = _probe(root, a, b, _pixels)
        energy = _probe(root, a, b, lambda f: _energy(f, 4))
        assert pixels <= 0.70 and energy <= 0.70, (a, b, pixels, energy)
    assert _probe(root, "SlideRight", "Grow", lambda f: _energy(f, 4)) >= 0.85


def test_linear_probes_see_a_detail_at_full_resolution_only(bench):
    """A detail pair at the 2D model's resolution and at the 3D model's (`_clip_shrink`).

    Raw pixels cannot see the texture at any resolution (its phase is random per video, so
    both classes have the same mean image), so the probe that must succeed at full
    resolution uses fixed features: the squared differences of neighbouring luma values,
    averaged over cells of 4x4 full-resolution pixels (`_energy`). Shrunk frames get the
    same cells (2x2 pixels at half size), and both that probe and one on the raw pixels stay
    near chance there. Control: the pixel probe on shrunk frames still tells two detail
    objects of different pairs apart, so it is not blind."""
    root, _ = bench
    factor = _clip_shrink()
    pairs = _pairs(root, "detail")
    assert len(pairs) >= 3
    for a, b in pairs:
        full = _probe(root, a, b, lambda f: _energy(f, 4))
        pixels = _probe(root, a, b, lambda f: _pixels(_shrink(f, factor)))
        energy = _probe(root, a, b, lambda f: _energy(_shrink(f, factor), 4 // factor))
        assert full >= 0.85 and pixels <= 0.70 and energy <= 0.70, (a, b, full, pixels, energy)
    (a, _), (b, _) = pairs[:2]
    assert _probe(root, a, b, lambda f: _pixels(_shrink(f, factor))) >= 0.85


# ---------------------------------------------------------------- CLI

def test_cli_writes_the_benchmark_and_prints_its_summary(tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(["synth", "--out", str(out), "--seed", "2", "--size", "32x24", "--num-frames", "8",
                 "--videos-per-group", "1", "--workers", "2"])
    printed = capsys.readouterr().out
    assert code == 0
    for c in synthetic.CLASSES:
        assert re.search(rf"{c.name}\s+{c.kind}", printed), c.name
    for split in (1, 2, 3):
        assert f"split {split}: {18 * NUM_CLASSES} train / {7 * NUM_CLASSES} test videos" in printed
    num_bytes = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert f"{num_bytes / 1e6:.1f} MB" in printed
    with av.open(str(out / "UCF-101" / "Grow" / "v_Grow_g01_c01.avi")) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (32, 24)
    # The summary of the finished benchmark, without writing anything: what a report prints.
    again = synthetic.summarize(out)
    assert str(again) == again.format()
    assert again.format().splitlines()[:-1] == printed.splitlines()[:-1]  # classes, splits
    assert f"{num_bytes / 1e6:.1f} MB" in str(again) and again.num_written == 0


@pytest.mark.parametrize("args, message", [
    (["--size", "80by60"], "WIDTHxHEIGHT"),
    (["--size", "16x12"], "out of range"),
    (["--size", "81x60"], "odd side"),
    (["--num-frames", "3"], "--num-frames: 3 is less than 8"),
    (["--videos-per-group", "0"], "between 1 and 99"),
    (["--videos-per-group", "100"], "between 1 and 99"),
    (["--seed", "-1"], "negative"),
    (["--seed", "x"], "not a whole number"),
    (["--workers", "0"], "--workers: 0 is less than 1"),
])
def test_cli_rejects_bad_values_in_one_sentence_and_exit_2(tmp_path, capsys, args, message):
    out = tmp_path / "never"
    with pytest.raises(SystemExit) as exc:
        main(["synth", "--out", str(out), *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and len(err.splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("kwargs, message", [
    ({"size": (16, 12)}, "out of range"),
    ({"size": (81, 60)}, "odd side"),
    ({"num_frames": 3}, "too few"),
    ({"videos_per_group": 0}, "between 1 and 99"),
    ({"seed": -1}, "negative"),
    ({"num_workers": 0}, "Workers"),
])
def test_python_api_still_checks_values(tmp_path, kwargs, message):
    with pytest.raises(UserError, match=message):
        generate(tmp_path / "never", **kwargs)
    assert not (tmp_path / "never").exists()


def test_cli_usage_errors_exit_2(tmp_path, capsys):
    for args in (["synth"], ["synth", "--out", str(tmp_path), "--num-frames", "many"]):
        with pytest.raises(SystemExit) as exc:
            main(args)
        assert exc.value.code == 2
        assert capsys.readouterr().err.startswith("error:")


def test_out_that_is_a_file_and_missing_metadata_are_user_errors(tmp_path, capsys):
    file = tmp_path / "file"
    file.write_text("x")
    assert main(["synth", "--out", str(file)]) == 1
    assert "is a file" in capsys.readouterr().err
    assert main(["synth", "--out", str(file / "below")]) == 1  # NotADirectoryError
    err = capsys.readouterr().err
    assert err.startswith("error: Cannot create") and len(err.splitlines()) == 1
    with pytest.raises(UserError, match="classes.json is missing"):
        load_class_meta(tmp_path)
