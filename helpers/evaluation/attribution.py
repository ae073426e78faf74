"""Where the two networks look: Grad-CAM maps (captum's `LayerGradCam`) of the frame model on
each frame of a window and of the clip model on the whole window, and their scores against
the synthetic benchmark's ground truth (`helpers.data.synthetic.masks`).

- The map of a video is for the class the model predicts for the whole video (the argmax of
  its per-video probabilities in the predictions file), so it shows what the report's
  prediction rests on.
- Both models see the same frames: the middle evaluation window of the clip model (its
  `clip_len` frames), each frame alone for the frame model, the clip as a whole for the clip
  model. Each model's own evaluation crop (centre) is used.
- Target layer: the deepest residual stage whose output still has at least `MIN_CELLS` cells
  along each axis (time too, for the clip model), so the map can point somewhere: on UCF-101
  that is ResNet-50's last stage (7x7 at 224 pixels); the clip model's last stage has a
  single time step at 16 frames, so its profile over time comes from an earlier stage. The
  demo's small inputs move both to an earlier stage too; the report names the layer and grid.
- Upsampling: `LayerAttribution.interpolate` to the model's input (bilinear per frame,
  trilinear over time and space for the clip).
- Scores, per frame of the window, then averaged per video: the pointing game (the share of
  the map's highest pixels that lie inside the region, so a flat map scores the region's
  area share, not 0 or 1) and the share of the map's mass inside the region; a uniform map
  gets the region's area share on both, which is the baseline. A map that is zero everywhere
  counts as uniform. The clip model's temporal profile is each frame's share of the map's
  mass; its spread is the effective number of frames (exp of its entropy) over the window.

Maps are computed once per (model checkpoint, video) and cached in `<run>/attention/`
(one .npz per model and video, written atomically), so a rerun of the report reads them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from helpers.errors import UserError

MIN_CELLS = 4  # cells per axis the target layer keeps, so a peak can fall inside a region
STAGES = ("layer4", "layer3", "layer2")  # residual stages, deepest first (both ResNets)
CACHE_DIR = "attention"
CACHE_VERSION = 1
KINDS = ("frame", "clip")


@dataclass(frozen=True)
class Target:
    """The layer a model's Grad-CAM reads, and its output grid (T, H, W; T = 1 for frames)."""

    name: str
    grid: tuple[int, int, int]


@dataclass(frozen=True)
class VideoMap:
    """One model's map of one video's window: [T, S, S] at its input size, nonnegative."""

    video: str
    model: str  # "frame" or "clip"
    cam: np.ndarray  # float32 [T, S, S]
    frames: np.ndarray  # the window's frame indices [T]
    target: int  # the class the map is for (the model's prediction for the video)
    box: tuple[float, float, float, float]  # the crop (y, x, h, w) as fractions of the frame
    layer: str
    grid: tuple[int, int, int]


@dataclass(frozen=True)
class MapScore:
    """Per-video scores of one map against its region (means over the window's frames)."""

    pointing: float  # share of the map's peak pixels inside the region
    mass: float  # share of the map's mass inside the region
    area: float  # the region's share of the crop: a uniform map's score on both
    spread: float  # effective number of frames / window length (1 = evenly spread)
    frames: int  # frames scored (those whose region is in the crop)


# ----------------------------------------------------------------------------- the maps
def target_layer(model: torch.nn.Module, x: torch.Tensor, kind: str) -> tuple[torch.nn.Module, Target]:
    """The deepest of `STAGES` whose output on input `x` has `MIN_CELLS` cells per axis."""
    from captum.attr import LayerActivation

    backbone = model.backbone
    stages = [getattr(backbone, s) for s in STAGES]
    with torch.no_grad():
        acts = LayerActivation(backbone, stages).attribute(model.normalize(x[:1]))
    for name, module, act in zip(STAGES, stages, acts, strict=True):
        grid = tuple(int(n) for n in act.shape[2:])
        grid3 = grid if kind == "clip" else (1, *grid)
        axes = grid3 if kind == "clip" else grid3[1:]
        if min(axes) >= MIN_CELLS or name == STAGES[-1]:
            return module, Target(name, grid3)  # type: ignore[arg-type]
    raise AssertionError("unreachable")


def grad_cam(model: torch.nn.Module, layer: torch.nn.Module, x: torch.Tensor,
             target: int) -> torch.Tensor:
    """Grad-CAM of uint8 input `x` ([N, 3, H, W] or [1, 3, T, H, W]) for class `target`,
    upsampled to the input: [N, H, W] or [T, H, W]."""
    from captum.attr import LayerAttribution, LayerGradCam

    cam = LayerGradCam(model.backbone, layer)
    raw = cam.attribute(model.normalize(x), target=target, relu_attributions=True)
    mode = "trilinear" if x.dim() == 5 else "bilinear"
    up = LayerAttribution.interpolate(raw, tuple(x.shape[2:]), interpolate_mode=mode)
    return up[:, 0] if x.dim() == 4 else up[0, 0]


@dataclass(frozen=True)
class LoadedModel:
    """A trained network with the store and evaluation crop it reads."""

    kind: str
    net: torch.nn.Module
    store: object  # VideoStore
    transform: object  # EvalTransform
    clip_len: int
    stride: int
    sha256: str


def load_model(run_model_dir: str | os.PathLike, store_path: str | os.PathLike,
               device: str | torch.device = "cpu") -> LoadedModel:
    """The trained network of a model folder, in eval mode, with its store and crop."""
    from helpers.config import TrainConfig
    from helpers.data.presets import transform
    from helpers.data.store import VideoStore
    from helpers.training.runs import MODEL, load_trained
    from helpers.utils.io import sha256_file

    net, saved = load_trained(run_model_dir, device)
    cfg = TrainConfig.from_dict(saved["config"])
    return LoadedModel(cfg.model, net, VideoStore(store_path), transform(cfg, train=False),
                       cfg.clip_len, cfg.stride, sha256_file(Path(run_model_dir) / MODEL))


def window(num_frames: int, clip_len: int, stride: int) -> np.ndarray:
    """The clip model's middle evaluation window: the frames both models' maps cover."""
    from helpers.data.sampling import eval_windows

    windows = eval_windows(num_frames, clip_len, stride)
    return np.asarray(windows[len(windows) // 2], dtype=np.int64)


def model_input(m: LoadedModel, video: str, frames: np.ndarray,
                device: str | torch.device = "cpu"
                ) -> tuple[torch.Tensor, tuple[float, float, float, float]]:
    """The model's uint8 input for `frames` of `video` (its centre evaluation crop), and the
    crop as fractions of the stored frame."""
    from helpers.data.transforms import crop_resize, eval_boxes

    store = m.store
    index = store.index(video)  # type: ignore[attr-defined]
    images = store.read_frames(index, frames.tolist())  # type: ignore[attr-defined]
    height, width = images.shape[1:3]
    box = eval_boxes(height, width, crop_size=m.transform.crop_size,  # type: ignore[attr-defined]
                     short_side=m.transform.short_side)[0]  # type: ignore[attr-defined]
    crops = crop_resize(images, box, m.transform.crop_size)  # type: ignore[attr-defined]
    t = torch.from_numpy(np.ascontiguousarray(crops.transpose(0, 3, 1, 2)))  # [T, 3, S, S]
    x = t if m.kind == "frame" else t.permute(1, 0, 2, 3).unsqueeze(0)  # [1, 3, T, S, S]
    y, x0, h, w = box
    return x.to(torch.device(device)), (y / height, x0 / width, h / height, w / width)


def _cache_path(root: Path, kind: str, video: str) -> Path:
    return root / CACHE_DIR / kind / f"{Path(video).stem}.npz"


def _read_cached(path: Path, sha256: str, target: int) -> VideoMap | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            if (int(z["version"]) != CACHE_VERSION or str(z["checkpoint_sha256"]) != sha256
                    or int(z["target"]) != target):
                return None
            return VideoMap(str(z["video"]), str(z["model"]), z["cam"].astype(np.float32),
                            z["frames"], int(z["target"]),
                            tuple(float(v) for v in z["box"]), str(z["layer"]),  # type: ignore[arg-type]
                            tuple(int(v) for v in z["grid"]))  # type: ignore[arg-type]
    except (OSError, KeyError, ValueError):
        return None  # missing or damaged: computed again


def _write_cached(path: Path, vm: VideoMap, sha256: str) -> None:
    from helpers.utils.io import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, version=CACHE_VERSION, checkpoint_sha256=sha256, video=vm.video,
                            model=vm.model, cam=vm.cam.astype(np.float16), frames=vm.frames,
                            target=vm.target, box=np.asarray(vm.box), layer=vm.layer,
                            grid=np.asarray(vm.grid))


def compute_maps(run_root: str | os.PathLike, model_dirs: dict[str, Path],
                 stores: dict[str, Path], targets: dict[str, dict[str, int]],
                 videos: list[str], device: str | torch.device | None = None
                 ) -> dict[str, dict[str, VideoMap]]:
    """Maps of `videos` by both models ({model: {video: VideoMap}}), from the cache where a
    map of the same checkpoint and target class is there, else computed and cached.
    `targets[model][video]` is the class to explain (the model's prediction)."""
    root = Path(run_root)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    out: dict[str, dict[str, VideoMap]] = {k: {} for k in KINDS}
    models: dict[str, LoadedModel] = {}
    layers: dict[str, tuple[torch.nn.Module, Target]] = {}
    clip_shape: tuple[int, int] | None = None
    for kind in KINDS:
        from helpers.training.runs import MODEL
        from helpers.utils.io import sha256_file

        sha = sha256_file(model_dirs[kind] / MODEL)
        for video in videos:
            cached = _read_cached(_cache_path(root, kind, video), sha, targets[kind][video])
            if cached is not None:
                out[kind][video] = cached
    todo = [v for v in videos if any(v not in out[k] for k in KINDS)]
    if not todo:
        return out
    for kind in KINDS:
        models[kind] = load_model(model_dirs[kind], stores[kind], device)
    clip_shape = (models["clip"].clip_len, models["clip"].stride)
    for video in todo:
        clip_store = models["clip"].store
        n = clip_store.videos[clip_store.index(video)].num_frames  # type: ignore[attr-defined]
        frames = window(int(n), *clip_shape)
        for kind in KINDS:
            if video in out[kind]:
                continue
            m = models[kind]
            x, box = model_input(m, video, frames, device)
            if kind not in layers:
                layers[kind] = target_layer(m.net, x, kind)
            layer, tgt = layers[kind]
            cam = grad_cam(m.net, layer, x, targets[kind][video]).detach().float().cpu().numpy()
            cam = cam.astype(np.float16).astype(np.float32)  # as the cache keeps it
            vm = VideoMap(Path(video).stem, kind, cam, frames, targets[kind][video], box,
                          tgt.name, tgt.grid)
            _write_cached(_cache_path(root, kind, video), vm, m.sha256)
            out[kind][video] = vm
    return out


# ----------------------------------------------------------------------------- scores
def crop_mask(mask: np.ndarray, frames: np.ndarray, box: tuple[float, float, float, float],
              size: int) -> np.ndarray:
    """The region of `frames` inside the crop `box` (fractions), resampled to size x size: a
    pixel is inside when at least half of the area it covers is."""
    import cv2

    m = mask[np.clip(frames, 0, len(mask) - 1)].astype(np.float32)
    height, width = m.shape[1:]
    y, x, h, w = box
    y0, x0 = round(y * height), round(x * width)
    y1, x1 = y0 + max(1, round(h * height)), x0 + max(1, round(w * width))
    out = np.stack([cv2.resize(f[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)
                    for f in m])
    return out >= 0.5


def score_map(cam: np.ndarray, region: np.ndarray) -> MapScore:
    """Scores of a [T, S, S] map against its [T, S, S] region (see the module docstring)."""
    cam = np.maximum(np.asarray(cam, dtype=np.float64), 0.0)
    region = np.asarray(region, dtype=bool)
    if cam.shape != region.shape:
        raise UserError(f"A map of shape {cam.shape} cannot be scored against a region of "
                        f"shape {region.shape}.")
    pointing, mass, area = [], [], []
    for c, r in zip(cam, region, strict=True):
        if not r.any():
            continue  # the region left the crop in this frame: nothing to point at
        total = c.sum()
        if total <= 0:
            c, total = np.ones_like(c), float(c.size)  # no evidence anywhere: a flat map
        peak = c >= c.max() * (1 - 1e-6)
        pointing.append(float((peak & r).sum() / peak.sum()))
        mass.append(float(c[r].sum() / total))
        area.append(float(r.mean()))
    spread = temporal_spread(cam)
    if not area:
        return MapScore(np.nan, np.nan, np.nan, spread, 0)
    return MapScore(float(np.mean(pointing)), float(np.mean(mass)), float(np.mean(area)),
                    spread, len(area))


def temporal_profile(cam: np.ndarray) -> np.ndarray:
    """Each frame's share of the map's mass [T] (uniform when the map is zero)."""
    per_frame = np.maximum(np.asarray(cam, dtype=np.float64), 0).reshape(len(cam), -1).sum(1)
    total = per_frame.sum()
    return per_frame / total if total > 0 else np.full(len(cam), 1 / len(cam))


def temporal_spread(cam: np.ndarray) -> float:
    """Effective number of frames the map's mass covers, as a share of the window: 1 when
    spread evenly, 1/T when it sits in one frame."""
    p = temporal_profile(cam)
    nz = p[p > 0]
    return float(np.exp(-(nz * np.log(nz)).sum()) / len(p))
