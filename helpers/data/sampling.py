"""Which frames are read: every decision of the project about frame indices lives here.

One convention throughout: frame indices are 0-based positions in the stored video, and
"evenly spaced" means the centres of equal segments (`spaced`), so a video's start and end
weigh the same as its middle.

Training
    frame model: `train_frame` draws frame j of a video from segment j of `frames_per_video`
                 equal segments (TSN's segment sampling), so an epoch sees the whole video;
    clip model:  `train_window` draws one random window of `clip_len` frames.
Evaluation
    frame model: `eval_frames`: every frame of the video, or `count` evenly spaced ones;
    clip model:  `eval_windows`: windows of `clip_len` frames that together hold every
                 frame. The last one ends on the video's last frame and overlaps its
                 neighbour rather than repeating frames; only a video shorter than one
                 window is padded by looping.
Temporal probes (`probe_window`) rearrange an evaluation window to test what the clip
model takes from frame order.
Temporal head: `head_frames` picks the frames whose features the head reads (a fixed
number per video, repeating frames of a shorter video). `spaced` also picks validation subsets and figure frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PROBES = ("reversed", "shuffled", "static")
HEAD_PROBES = ("reversed", "shuffled")  # the temporal head's, on its features' frame axis


def spaced(n: int, count: int | None) -> np.ndarray:
    """`count` evenly spaced indices into `range(n)` (segment centres); all of them when
    `count` is None or not smaller than `n`.

    >>> spaced(100, 4).tolist()
    [12, 37, 62, 87]
    >>> spaced(3, 6).tolist()
    [0, 1, 2]
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if count is None or count >= n:
        return np.arange(n)
    return ((np.arange(count) + 0.5) * n / count).astype(np.int64)


def train_frame(rng: np.random.Generator, num_frames: int, segments: int, segment: int) -> int:
    """A random frame from segment `segment` of `segments` equal parts of the video.

    >>> train_frame(np.random.default_rng(0), 100, 4, 2) in range(50, 75)
    True
    """
    lo = segment * num_frames // segments
    hi = max(lo + 1, (segment + 1) * num_frames // segments)
    return int(rng.integers(min(lo, num_frames - 1), min(hi, num_frames)))


def eval_frames(num_frames: int, count: int | None) -> np.ndarray:
    """The frames the frame model scores: every frame (`count` None) or `count` evenly
    spaced ones.

    >>> eval_frames(10, None).tolist()
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    >>> eval_frames(48, 4).tolist()
    [6, 18, 30, 42]
    """
    return spaced(num_frames, count)


def head_frames(num_frames: int, count: int) -> np.ndarray:
    """The `count` frames whose features the temporal head reads: segment centres, as in
    `spaced`, but always `count` of them (a shorter video repeats frames in order), so that
    every video gives a sequence of the same length.

    >>> head_frames(100, 4).tolist()
    [12, 37, 62, 87]
    >>> head_frames(3, 6).tolist()
    [0, 0, 1, 1, 2, 2]
    """
    if num_frames < 1 or count < 1:
        raise ValueError(f"need num_frames, count >= 1, got {num_frames}, {count}")
    return ((np.arange(count) + 0.5) * num_frames / count).astype(np.int64)


def train_window(rng: np.random.Generator, num_frames: int, clip_len: int,
                 stride: int = 1) -> list[int]:
    """A random window of `clip_len` frames `stride` apart; a video too short for it is
    looped.

    >>> train_window(np.random.default_rng(0), 3, 5)
    [0, 1, 2, 0, 1]
    """
    _check_clip(num_frames, clip_len, stride)
    span = (clip_len - 1) * stride + 1
    start = int(rng.integers(0, max(num_frames - span, 0) + 1))
    return _loop_pad(list(range(start, min(num_frames, start + span), stride)), clip_len)


def eval_windows(num_frames: int, clip_len: int, stride: int = 1) -> list[list[int]]:
    """Windows of `clip_len` frame indices that together hold every frame of the video.

    The video is cut into blocks of `clip_len * stride` frames; a block gives `stride`
    interleaved windows (offsets 0..stride-1), so each frame is in one window. When the
    frames do not divide evenly, the last block is moved back to end on the last frame: it
    overlaps the block before instead of padding with repeats. Only a video shorter than
    one block is padded, by looping its own frames.

    >>> eval_windows(40, 16)[-1] == list(range(24, 40))
    True
    >>> eval_windows(5, 4)
    [[0, 1, 2, 3], [1, 2, 3, 4]]
    >>> eval_windows(3, 4)
    [[0, 1, 2, 0]]
    """
    _check_clip(num_frames, clip_len, stride)
    block = clip_len * stride
    if num_frames < block:  # shorter than one block: interleave and loop
        return [_loop_pad(list(range(offset, num_frames, stride)), clip_len)
                for offset in range(min(stride, num_frames))]
    starts = list(range(0, num_frames - block + 1, block))
    if starts[-1] + block < num_frames:
        starts.append(num_frames - block)
    return [list(range(s + offset, s + block, stride)) for s in starts for offset in range(stride)]


def num_eval_windows(num_frames: int, clip_len: int, stride: int = 1) -> int:
    """len(eval_windows(...)) without building them.

    >>> num_eval_windows(177, 16)
    12
    """
    _check_clip(num_frames, clip_len, stride)
    block = clip_len * stride
    if num_frames < block:
        return min(stride, num_frames)
    return -(-num_frames // block) * stride


def probe_window(frames: Sequence[int], probe: str | None, rng: np.random.Generator) -> list[int]:
    """An evaluation window with its temporal structure destroyed, to measure what the clip
    model takes from frame order: `reversed` plays it backwards, `shuffled` permutes its
    frames (drawn from `rng`), `static` repeats its middle frame; None keeps it.

    >>> probe_window([3, 4, 5, 6], "reversed", np.random.default_rng(0))
    [6, 5, 4, 3]
    >>> probe_window([3, 4, 5, 6], "static", np.random.default_rng(0))
    [5, 5, 5, 5]
    """
    frames = list(frames)
    if probe is None:
        return frames
    if probe == "reversed":
        return frames[::-1]
    if probe == "shuffled":
        return [frames[i] for i in rng.permutation(len(frames))]
    if probe == "static":
        return [frames[len(frames) // 2]] * len(frames)
    raise ValueError(f"unknown probe {probe!r}; choose one of {', '.join(PROBES)}")


def _loop_pad(frames: list[int], clip_len: int) -> list[int]:
    reps = -(-clip_len // len(frames))
    return (frames * reps)[:clip_len]


def _check_clip(num_frames: int, clip_len: int, stride: int) -> None:
    if num_frames < 1 or clip_len < 1 or stride < 1:
        raise ValueError(f"need num_frames, clip_len, stride >= 1, got "
                         f"{num_frames}, {clip_len}, {stride}")
