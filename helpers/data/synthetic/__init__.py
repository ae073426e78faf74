"""The synthetic spatial/temporal/detail benchmark: a tiny UCF-101 look-alike that answers, on
a laptop CPU, the assignment's questions "which classes need temporal information?" and "what
does the single-frame model see that the 3D model misses?".

It writes exactly what UCF-101 ships (an AVI tree with 25 groups, XviD at 25 fps, and the
official CRLF split files), so every real code path downstream runs unchanged, plus
`classes.json`, which gives each class its kind (spatial, temporal or detail) and, for the
last two, its partner. One deliberate difference: every frame is a keyframe (see `encode_avi`).

- Spatial classes differ in appearance (shape and colour) that survives any resolution, so
  any single frame names them, for both models. They may move, but their motion is symmetric
  in time.
- Temporal pairs share one stationary random process with a uniform random phase (positions,
  sizes and angles that wrap around). One class plays it forward, its partner plays it with
  the frame order reversed. Every frame then has the same marginal distribution in both
  classes: a single frame cannot tell them apart, but the direction of motion can.
- Detail pairs share one object and motion (a flag, a tile, a board, a shield); they differ
  only in a fine texture on it (pinstripes across or down, a checkerboard, or none) whose
  light and dark lines are one or two pixels wide, so a frame at full resolution shows it.
  The textures are built to vanish exactly when a frame is shrunk to half its size by area
  averaging, as the 3D model's store is (the demo's analogue of 224 against 112 pixels): each
  lies on a rectangle snapped to even pixel coordinates, wholly inside the object, and every
  aligned 2x2 block of it averages to the plain colour. Which lines are the light ones is
  random per video, so even at full resolution both classes have the same mean image: the
  local contrast energy, not the pixel values, tells them apart. Rendered from the same
  random stream and shrunk to half size, the two classes of a pair give the same video up to
  rounding.
- Each group (g01-g25) has its own nuisances, as UCF-101 groups share actors and scenes:
  background texture and palette, object scale and speed, noise level and camera jitter.

Randomness comes from (seed, group) and (seed, class, group, clip) only, so the output does
not depend on how the videos are spread across worker processes.

The modules, one idea each: `catalogue` (the classes and their kinds), `layout` (file names
and split files), `shapes` and `motions` (what is drawn and how it moves), `textures` (the
detail classes' fine patterns), `scene` (one video's frames), `encoding` (the AVI),
`masks` (each video's class-defining region per frame, the ground truth of attention maps),
`generation` (the benchmark on disk, resumable) and `cli` (`python -m helpers synth`). The
names most callers need are importable from this package directly.
"""

from helpers.data.synthetic.catalogue import CLASSES, KINDS, ClassSpec, class_names
from helpers.data.synthetic.encoding import FPS, encode_avi
from helpers.data.synthetic.generation import (
    DEFAULT_NUM_FRAMES,
    DEFAULT_SIZE,
    DEFAULT_VIDEOS_PER_GROUP,
    LOCK_FILE,
    META_FILE,
    PENDING_FILE,
    SynthSummary,
    generate,
    generation_config,
    load_class_meta,
    parse_size,
    summarize,
)
from helpers.data.synthetic.layout import (
    SPLIT_DIR,
    VIDEO_DIR,
    split_files,
    test_groups,
    video_name,
    video_path,
)
from helpers.data.synthetic.masks import MASKS_FILE, REGION, read_mask
from helpers.data.synthetic.scene import render_scene, render_video
from helpers.data.synthetic.textures import PATTERNS

__all__ = [
    "CLASSES", "DEFAULT_NUM_FRAMES", "DEFAULT_SIZE", "DEFAULT_VIDEOS_PER_GROUP", "FPS", "KINDS",
    "LOCK_FILE", "MASKS_FILE", "META_FILE", "PATTERNS", "PENDING_FILE", "REGION", "SPLIT_DIR",
    "VIDEO_DIR", "ClassSpec", "SynthSummary", "class_names", "encode_avi", "generate",
    "generation_config", "load_class_meta", "parse_size", "read_mask", "render_scene",
    "render_video", "split_files", "summarize", "test_groups", "video_name", "video_path",
]
