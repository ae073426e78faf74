"""Frames to an XviD-tagged MPEG-4 Part 2 AVI at 25 fps, byte-identical for the same frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FPS = 25
QUANTIZER = 2  # fixed MPEG-4 quantizer (1 best .. 31 worst): constant quality, byte-deterministic


def encode_avi(path: Path, frames: np.ndarray) -> None:
    """Write frames [T, H, W, 3] uint8 RGB as an XviD-tagged MPEG-4 Part 2 AVI, intra only."""
    import av

    with av.open(str(path), "w", format="avi", container_options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream("mpeg4", rate=FPS)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        ctx = stream.codec_context
        ctx.codec_tag = "XVID"
        # Every frame a keyframe, unlike UCF-101's single one: a P-frame's compression artefacts
        # depend on the motion before it, which leaks the direction of time into single frames
        # (measured: a moment statistic told SlideLeft from SlideRight frames at p = 0.001).
        ctx.gop_size = 1
        ctx.thread_count = 1  # one thread and a fixed quantizer: byte-identical output
        ctx.qmin = ctx.qmax = QUANTIZER
        ctx.flags |= av.codec.context.Flags.bitexact
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
