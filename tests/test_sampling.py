"""Which frames are read: training draws, evaluation frames and windows, temporal probes."""

from __future__ import annotations

import doctest
from collections import Counter

import numpy as np
import pytest

from helpers.data import sampling
from helpers.data.sampling import (
    eval_frames,
    eval_windows,
    num_eval_windows,
    probe_window,
    spaced,
    train_frame,
    train_window,
)


def test_docstring_examples_hold():
    result = doctest.testmod(sampling, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 8 and result.failed == 0


@pytest.mark.parametrize("clip_len", [1, 3, 16])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_eval_windows_cover_every_frame(clip_len, stride):
    for num_frames in [1, 2, 5, 15, 16, 17, 31, 32, 33, 48, 100, 177, 187]:
        windows = eval_windows(num_frames, clip_len, stride)
        assert len(windows) == num_eval_windows(num_frames, clip_len, stride)
        assert all(len(w) == clip_len for w in windows)
        assert sorted({f for w in windows for f in w}) == list(range(num_frames))
        block = clip_len * stride
        if num_frames >= block:  # no padding: every window is real, stride inside it
            assert all(len(set(w)) == clip_len for w in windows)
            assert all(b - a == stride for w in windows for a, b in zip(w, w[1:], strict=False))
            assert max(max(w) for w in windows) == num_frames - 1


def test_177_frame_video_last_window_ends_on_the_last_frame():
    windows = eval_windows(177, 16)
    assert len(windows) == 12
    assert windows[-1] == list(range(161, 177))  # overlaps the window before by 15 frames
    assert windows[:-1] == [list(range(s, s + 16)) for s in range(0, 176, 16)]
    counts = Counter(f for w in windows for f in w)
    assert set(counts) == set(range(177))
    # nothing repeats inside a window; a frame is read at most twice (the overlap)
    assert all(len(set(w)) == 16 for w in windows) and max(counts.values()) == 2


def test_only_videos_shorter_than_a_window_are_padded():
    assert eval_windows(5, 12) == [[0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]]
    assert eval_windows(4, 2, stride=2) == [[0, 2], [1, 3]]
    assert eval_windows(3, 2, stride=2) == [[0, 2], [1, 1]]
    assert eval_windows(20, 16)[1] == list(range(4, 20))  # was [16..19] looped 4 times


def test_train_window_in_range_and_strided():
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(200):
        w = train_window(rng, 40, 8, stride=2)
        assert len(w) == 8 and all(b - a == 2 for a, b in zip(w, w[1:], strict=False))
        assert 0 <= w[0] and w[-1] < 40
        starts.add(w[0])
    assert starts == set(range(0, 40 - 15 + 1))  # every legal start is reachable
    assert train_window(rng, 3, 5) == [0, 1, 2, 0, 1]  # too short: loops


def test_train_frames_cover_their_segments():
    rng = np.random.default_rng(0)
    seen = [{train_frame(rng, 100, 4, s) for _ in range(400)} for s in range(4)]
    assert [(min(f), max(f)) for f in seen] == [(0, 24), (25, 49), (50, 74), (75, 99)]
    assert train_frame(rng, 2, 8, 7) in (0, 1)  # more segments than frames


def test_spaced_and_eval_frames():
    assert spaced(10, None).tolist() == list(range(10))
    assert spaced(10, 20).tolist() == list(range(10))
    assert spaced(100, 4).tolist() == [12, 37, 62, 87]
    assert spaced(0, 3).tolist() == []
    assert eval_frames(48, None).tolist() == list(range(48))


def test_probes_keep_the_frames_and_destroy_the_order():
    window = list(range(10, 26))
    rng = np.random.default_rng(0)
    rev = probe_window(window, "reversed", rng)
    shuf = probe_window(window, "shuffled", rng)
    static = probe_window(window, "static", rng)
    assert sorted(rev) == window and rev == window[::-1]
    assert sorted(shuf) == window and shuf != window
    assert len(set(static)) == 1 and len(static) == 16 and static[0] in window
    assert probe_window(window, None, rng) == window
    # the shuffle is fixed by the rng it is given
    assert (probe_window(window, "shuffled", np.random.default_rng(3))
            == probe_window(window, "shuffled", np.random.default_rng(3)))
    with pytest.raises(ValueError, match="unknown probe"):
        probe_window(window, "sideways", rng)
