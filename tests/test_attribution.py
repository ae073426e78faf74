"""Attention maps and their ground truth: the benchmark's masks cover the rendered objects and
are written for new and old folders; Grad-CAM (captum) of a network that is constant over
space is flat and scores exactly the area baseline, so the scores can fail; the report's
section says why it has no maps on a run without its networks. The maps of the trained demo
models are checked in test_demo_pattern.py."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from helpers.data.synthetic import CLASSES, generate, read_mask, render_scene
from helpers.data.synthetic import masks as masks_file
from helpers.evaluation import attribution as attr
from helpers.models.classifier import VideoClassifier
from helpers.paths import RunPaths
from helpers.reporting import attention


def _saturation(frames: np.ndarray) -> np.ndarray:
    rgb = frames.astype(np.float64) / 255
    hi, lo = rgb.max(-1), rgb.min(-1)
    return np.where(hi > 0, (hi - lo) / np.maximum(hi, 1e-9), 0.0)


@pytest.mark.parametrize("spec", CLASSES, ids=lambda s: s.name)
def test_the_mask_covers_the_rendered_object(spec):
    """Inside the region the pixels are the object's saturated colour, unlike the pale
    background; in every frame the region is there and small."""
    frames, mask = render_scene(spec, 3, 1, seed=0, size=(80, 60), num_frames=32)
    assert mask.shape == frames.shape[:3] and mask.dtype == bool
    assert mask.any(axis=(1, 2)).all()
    assert 0.01 < mask.mean() < 0.25
    sat = _saturation(frames)
    assert sat[mask].mean() > 0.45
    assert sat[mask].mean() - sat[~mask].mean() > 0.25
    if spec.kind != "detail":  # the region is the whole object: little of it lies outside
        assert (sat[~mask] > 0.6).mean() < 0.02


def test_synth_writes_the_masks_and_an_old_folder_gets_them(tiny_bench, tmp_path):
    bench = tiny_bench["source"]
    names = {p.stem for p in (bench / "UCF-101").rglob("*.avi")}
    assert masks_file.stored_names(bench) == names
    spec = next(c for c in CLASSES if c.name == "SlideLeft")
    expected = render_scene(spec, 2, 1, seed=0, size=(64, 48), num_frames=16)[1]
    assert np.array_equal(read_mask(bench, "v_SlideLeft_g02_c01.avi"), expected)

    # A folder made before the masks existed: hard links of its files, without masks.h5.
    old = tmp_path / "old"
    shutil.copytree(bench, old, copy_function=os.link)
    (old / masks_file.MASKS_FILE).unlink()
    assert read_mask(old, "v_SlideLeft_g02_c01") is None
    summary = generate(old, size=(64, 48), num_frames=16, videos_per_group=1, num_workers=1)
    assert summary.num_written == 0  # no video made again, only their masks
    assert np.array_equal(read_mask(old, "v_SlideLeft_g02_c01"), expected)


class _Flat(nn.Module):
    """Replaces each position's features by their mean over space: nothing depends on where."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x)


class _ConstantOverSpace(nn.Module):
    def __init__(self, num_classes: int = 5) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.layer2, self.layer3, self.layer4 = _Flat(), nn.ReLU(), nn.Identity()
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.conv1(x))))
        return self.fc(x.mean(dim=(2, 3)))


def test_a_network_constant_over_space_gives_a_flat_map_at_the_area_baseline():
    torch.manual_seed(0)
    model = VideoClassifier(_ConstantOverSpace(), kind="2d", arch="flat", norm="imagenet",
                            num_classes=5).eval()
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    layer, target = attr.target_layer(model, x, "frame")
    assert target.name == "layer4" and target.grid == (1, 16, 16)
    target_class = int(model(x).mean(0).argmax())
    cam = attr.grad_cam(model, layer, x, target_class).detach().numpy()
    assert cam.shape == (4, 32, 32)
    assert np.ptp(cam) <= 1e-6 * max(1.0, float(cam.max()))  # flat
    region = np.zeros(cam.shape, bool)
    region[:, 4:12, 8:24] = True  # 1/8 of the frame
    s = attr.score_map(cam, region)
    assert s.area == pytest.approx(0.125)
    assert s.pointing == pytest.approx(0.125) and s.mass == pytest.approx(0.125)
    # The same region against a map that peaks inside it, and one that peaks outside.
    inside, outside = np.zeros(cam.shape), np.zeros(cam.shape)
    inside[:, 6, 10] = 1.0
    outside[:, 30, 2] = 1.0
    assert attr.score_map(inside, region).pointing == 1.0
    assert attr.score_map(outside, region).pointing == 0.0
    assert attr.score_map(outside, region).mass == 0.0


def test_the_temporal_spread_is_one_when_even_and_one_over_t_in_one_frame():
    even = np.ones((16, 8, 8))
    one = np.zeros((16, 8, 8))
    one[5] = 1.0
    assert attr.temporal_spread(even) == pytest.approx(1.0)
    assert attr.temporal_spread(one) == pytest.approx(1 / 16)
    assert attr.temporal_profile(one).argmax() == 5


def test_a_run_without_its_networks_says_so(tmp_path):
    """Predictions alone (the simulated 101-class run) cannot give maps: one sentence."""
    from helpers.paths import DataPaths

    run = RunPaths(tmp_path / "run")
    data = DataPaths(tmp_path, tmp_path, tmp_path / "f.h5", tmp_path / "c.h5", synthetic=False)
    maps = attention.report_maps(None, data, run)  # type: ignore[arg-type]  # never read
    assert not maps.available
    assert attention.method_md(maps) == attention.truth_md(maps) == attention.NO_NETWORKS


def test_the_score_table_gives_intervals_over_clusters():
    rng = np.random.default_rng(0)
    rows = []
    for cls in ("A", "B", "C"):
        for g in range(1, 6):
            area = 0.1
            rows.append({"video": f"v_{cls}_g{g:02d}_c01", "class": cls, "kind": "spatial",
                         "model": "frame", "pointing": float(rng.uniform(0.6, 1.0)),
                         "mass": 0.5, "area": area, "spread": 1.0, "frames": 16})
    import pandas as pd

    table = attention.score_table(pd.DataFrame(rows), n_boot=200)
    r = table.iloc[0]
    assert r["videos"] == 15 and r["clusters"] == 15
    assert r["pointing_lo"] <= r["pointing"] <= r["pointing_hi"]
    assert r["pointing_gain_lo"] > 0
    assert "above the area baseline" in attention.verdicts(table)


def test_maps_are_computed_once_cached_and_are_captums(tiny_bench, tmp_path):
    """`compute_maps` on both (untrained) networks of a run folder: one map per frame of the
    clip model's middle window for the frame model, one over the window for the clip model,
    equal to a direct captum call for the asked class, then read back from the cache."""
    from captum.attr import LayerAttribution, LayerGradCam

    from helpers.config import get_profile
    from helpers.data.store import VideoStore
    from helpers.models import build_model
    from helpers.training.runs import MODEL, save_model

    store = VideoStore(tiny_bench["store"])
    names = store.class_names
    dirs = {}
    for kind in attr.KINDS:
        cfg = get_profile("demo").config(kind)  # type: ignore[arg-type]
        torch.manual_seed(0)
        net = build_model(cfg.arch, len(names), weights=None, widen_factor=cfg.widen_factor)
        dirs[kind] = tmp_path / "run" / kind
        dirs[kind].mkdir(parents=True)
        save_model(dirs[kind] / MODEL, cfg, net, names, {}, [])
    videos = [store.videos[0].name, store.videos[-1].name]
    targets = {k: {v: 3 for v in videos} for k in attr.KINDS}
    stores = {k: tiny_bench["store"] for k in attr.KINDS}
    maps = attr.compute_maps(tmp_path / "run", dirs, stores, targets, videos, "cpu")
    frame, clip = maps["frame"][videos[0]], maps["clip"][videos[0]]
    assert frame.cam.shape == (16, 56, 56) and clip.cam.shape == (16, 28, 28)
    assert np.array_equal(frame.frames, clip.frames) and frame.layer == "layer3"
    assert clip.layer == "layer2" and clip.grid == (4, 4, 4)

    m = attr.load_model(dirs["clip"], tiny_bench["store"])
    x, _ = attr.model_input(m, videos[0], clip.frames)
    raw = LayerGradCam(m.net.backbone, m.net.backbone.layer2).attribute(
        m.net.normalize(x), target=3, relu_attributions=True)
    direct = LayerAttribution.interpolate(raw, (16, 28, 28), interpolate_mode="trilinear")
    direct = direct[0, 0].detach().numpy()
    assert np.allclose(direct, clip.cam, rtol=1e-2, atol=1e-3 * float(direct.max()))

    cached = sorted((tmp_path / "run" / attr.CACHE_DIR).rglob("*.npz"))
    assert len(cached) == 4
    mtimes = [p.stat().st_mtime_ns for p in cached]
    again = attr.compute_maps(tmp_path / "run", dirs, stores, targets, videos, "cpu")
    assert [p.stat().st_mtime_ns for p in cached] == mtimes  # read back, not recomputed
    assert np.array_equal(again["clip"][videos[0]].cam, clip.cam)
