"""The report's "Where the models look" subsection: which videos get Grad-CAM maps, the
overlays of both models on the same frames, the clip model's temporal profile, and the
scores against the synthetic benchmark's regions (`helpers.evaluation.attribution`).

A few dozen videos at most: those the frame strips above show (the notable confused pairs
and the classes with the largest 3D gain, at most 9), and a sample for the scores of up to
`PER_CLASS` test videos per class from distinct groups, `MAX_VIDEOS` in all. Only the sample
is scored: the videos shown are chosen for their errors, which would bias the scores. Without the
trained networks (a run folder of predictions only) or without ground truth (UCF-101, or a
benchmark generated before its masks existed) the section says so in one sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from helpers.errors import UserError
from helpers.evaluation import attribution as attr
from helpers.evaluation.predictions import video_groups
from helpers.evaluation.results import CLIP, FRAME, Results, notable_pairs
from helpers.evaluation.stats import bootstrap_means
from helpers.paths import DataPaths, RunPaths

MAX_VIDEOS = 48
PER_CLASS = 2
WRAP_CHARS = 100  # characters of an overlay row's heading per printed line
MODEL_NAMES = {"frame": "2D (frames)", "clip": "3D (clip)"}
NO_NETWORKS = ("No attention maps: this run folder holds the predictions but not the trained "
               "networks, and a map is computed from a network, not from its predictions.")
NO_TRUTH_UCF = ("UCF-101 has no ground truth for where a class's evidence lies, so these maps "
                "are shown, not scored.")
NO_TRUTH_OLD = ("This benchmark folder was generated before the masks of the class-defining "
                "regions existed (no masks.h5), so the maps are shown but there is no ground "
                "truth to score them against; running `python -m helpers synth` on the folder "
                "with its settings adds the masks.")


@dataclass
class AttentionMaps:
    """The maps the report shows and scores, or why there are none."""

    available: bool
    reason: str = ""  # why there are no maps, or no scores
    maps: dict[str, dict[str, attr.VideoMap]] = field(default_factory=dict)
    pair_rows: list[tuple[str, str]] = field(default_factory=list)  # (title, video)
    gain_rows: list[tuple[str, str]] = field(default_factory=list)
    scores: pd.DataFrame | None = None  # per sampled video and model, with the region's kind
    class_names: list[str] = field(default_factory=list)

    def get(self, video: str, model: str) -> attr.VideoMap:
        """The map the report shows for `video` by `model` ("frame" or "clip")."""
        return self.maps[model][Path(video).stem]

    def example(self) -> str:
        """The video the notebooks work through: the first one the report shows."""
        shown = self.pair_rows + self.gain_rows
        return shown[0][1] if shown else next(iter(self.maps["clip"]))


def _targets(res: Results, videos: list[str]) -> dict[str, dict[str, int]]:
    out = {}
    for kind, name in (("frame", FRAME), ("clip", CLIP)):
        pred = res.test[name]
        row = {v: i for i, v in enumerate(pred.video_ids)}
        out[kind] = {v: int(pred.preds[row[v]]) for v in videos}
    return out


def _sample(res: Results, in_stores: set[str]) -> list[str]:
    """Up to PER_CLASS test videos per class, from distinct groups; with more classes than
    MAX_VIDEOS allows, one video from each of MAX_VIDEOS classes spread over the list."""
    pred = res.test[FRAME]
    groups = video_groups(pred.video_ids)
    by_class: dict[int, list[str]] = {}
    seen: set[int] = set()
    for i in np.argsort(pred.video_ids, kind="stable"):
        vid, label, g = pred.video_ids[i], int(pred.labels[i]), int(groups[i])
        if vid in in_stores and g not in seen:
            by_class.setdefault(label, []).append(vid)
            seen.add(g)
    classes = sorted(by_class)
    per = max(1, min(PER_CLASS, MAX_VIDEOS // max(1, len(classes))))
    if len(classes) * per > MAX_VIDEOS:
        classes = [classes[int(i)] for i in np.linspace(0, len(classes) - 1, MAX_VIDEOS)]
    return [v for c in classes for v in by_class[c][:per]]


def report_maps(res: Results, data: DataPaths, run: RunPaths,
                device: str | None = None) -> AttentionMaps:
    """The maps of the videos the report shows and scores, computed once and cached in the
    run folder; `available` is False (with the reason) for a run without its networks."""
    from helpers.data.store import VideoStore
    from helpers.reporting import plots
    from helpers.training.runs import MODEL

    dirs = {k: run.model_dir(k) for k in attr.KINDS}
    stores = {"frame": data.frame_store, "clip": data.clip_store}
    if not all((d / MODEL).is_file() for d in dirs.values()) or not all(
            s.is_file() for s in stores.values()):
        return AttentionMaps(False, NO_NETWORKS)
    frame_store, clip_store = VideoStore(stores["frame"]), VideoStore(stores["clip"])
    in_stores = {v.name for v in frame_store.videos} & {v.name for v in clip_store.videos}

    def names(rows: list[tuple[str, int]]) -> list[tuple[str, str]]:
        return [(t, frame_store.videos[i].name) for t, i in rows
                if frame_store.videos[i].name in in_stores]

    pred_2d, pred_3d = res.test[FRAME], res.test[CLIP]
    pairs = notable_pairs(res)
    try:
        pair_rows = names(plots.pair_rows(frame_store, pred_2d, pairs)) if len(pairs) else []
    except UserError:  # none of the pairs' videos is in the store: the sample still shows
        pair_rows = []
    gainers = [int(i) for i in res.per_class.index[res.per_class["gain"] > 0][:3]]
    try:
        gain_rows = names(plots.gain_rows(frame_store, pred_2d, pred_3d, gainers)) \
            if gainers else []
    except UserError:
        gain_rows = []
    shown = [v for _, v in pair_rows + gain_rows]
    sample = _sample(res, in_stores)
    videos = list(dict.fromkeys(shown + sample))
    maps = attr.compute_maps(run.root, dirs, stores, _targets(res, videos), videos, device)
    maps = {k: {Path(v).stem: m for v, m in by.items()} for k, by in maps.items()}
    am = AttentionMaps(True, "", maps, pair_rows, gain_rows, class_names=list(res.class_names))
    am.scores, am.reason = _scores(res, data, maps, sample)
    return am


def _scores(res: Results, data: DataPaths, maps: dict[str, dict[str, attr.VideoMap]],
            videos: list[str]) -> tuple[pd.DataFrame | None, str]:
    if not data.synthetic:
        return None, NO_TRUTH_UCF
    from helpers.data.synthetic import read_mask

    kinds = res.kinds or {}
    rows = []
    for video in videos:
        mask = read_mask(data.source, video)
        if mask is None:
            return None, NO_TRUTH_OLD
        stem = Path(video).stem
        cls = stem.split("_")[1]
        for model in attr.KINDS:
            vm = maps[model][stem]
            region = attr.crop_mask(mask, vm.frames, vm.box, vm.cam.shape[-1])
            s = attr.score_map(vm.cam, region)
            rows.append({"video": stem, "class": cls, "kind": kinds.get(cls, "?"),
                         "model": model, "pointing": s.pointing, "mass": s.mass,
                         "area": s.area, "spread": s.spread, "frames": s.frames})
    return pd.DataFrame(rows), ""


# ----------------------------------------------------------------------------- the table
SCORE_COLUMNS = ("pointing", "mass", "area", "spread")


def score_table(scores: pd.DataFrame, *, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per kind of class and model: the mean scores over videos with cluster-bootstrap 95%
    intervals ((class, group) clusters, like every interval of the report), and the
    differences from the area baseline with theirs."""
    rows = []
    for (kind, model), df in scores.dropna(subset=["pointing"]).groupby(
            ["kind", "model"], sort=False):
        values = np.column_stack([df["pointing"], df["mass"], df["area"], df["spread"],
                                  df["pointing"] - df["area"], df["mass"] - df["area"]])
        lo, hi = bootstrap_means(values, n_boot=n_boot, seed=seed,
                                 groups=video_groups(list(df["video"])))
        mean = values.mean(0)
        row = {"kind": kind, "model": model, "videos": len(df),
               "clusters": len(set(video_groups(list(df["video"]))))}
        for j, name in enumerate(("pointing", "mass", "area", "spread",
                                  "pointing_gain", "mass_gain")):
            row[name], row[f"{name}_lo"], row[f"{name}_hi"] = mean[j], lo[j], hi[j]
        rows.append(row)
    return pd.DataFrame(rows)


def _ci(r: pd.Series, name: str) -> str:
    return f"{r[name]:.0%} [{r[f'{name}_lo']:.0%}, {r[f'{name}_hi']:.0%}]"


def score_md(table: pd.DataFrame) -> str:
    """The score table in Markdown: one row per kind and model."""
    lines = ["| kind | model | videos | pointing game | mass inside | area (uniform map) | "
             "3D: frames covered |",
             "|---|---|--:|--:|--:|--:|--:|"]
    for _, r in table.iterrows():
        spread = _ci(r, "spread") if r["model"] == "clip" else "–"
        lines.append(f"| {r['kind']} | {MODEL_NAMES[r['model']]} | {r['videos']} | "
                     f"{_ci(r, 'pointing')} | {_ci(r, 'mass')} | {r['area']:.0%} | {spread} |")
    return "\n".join(lines)


def verdicts(table: pd.DataFrame) -> str:
    """One sentence per kind and model: is the pointing game above the area baseline?"""
    out = []
    for _, r in table.iterrows():
        lo, hi = r["pointing_gain_lo"], r["pointing_gain_hi"]
        where = ("above the area baseline" if lo > 0 else "below the area baseline" if hi < 0
                 else "not distinguishable from the area baseline")
        out.append(f"- {MODEL_NAMES[r['model']]}, {r['kind']} classes: the peak falls inside the "
                   f"region in {r['pointing']:.0%} of frames against {r['area']:.0%} for a "
                   f"uniform map ({(r['pointing'] - r['area']) * 100:+.0f} points, 95% interval "
                   f"{lo * 100:+.0f} to {hi * 100:+.0f}): {where}.")
    return "\n".join(out)


def method_md(am: AttentionMaps) -> str:
    """How the maps were made, with the layers and grids read from the cached maps."""
    if not am.available:
        return am.reason
    parts = []
    for model in attr.KINDS:
        vm = next(iter(am.maps[model].values()))
        t, h, w = vm.grid
        grid = f"{t}×{h}×{w}" if model == "clip" else f"{h}×{w}"
        parts.append(f"the {MODEL_NAMES[model]} model's `{vm.layer}` ({grid} cells)")
    n = len(next(iter(am.maps.values())))
    scored = "" if am.scores is None else f", {am.scores['video'].nunique()} of them sampled"
    return (f"Grad-CAM (captum's `LayerGradCam`) of {parts[0]} and {parts[1]}: the deepest "
            f"stage that keeps at least {attr.MIN_CELLS} cells along each axis, upsampled to "
            "the input. Each map is for the class the model predicts for the whole video, over "
            "the clip model's middle test window: the frame model sees each frame alone, the "
            f"clip model the window as a whole. {n} test videos{scored}; each model's map is scaled "
            "to its own maximum over the window, so a dim frame carries little evidence.")


# ----------------------------------------------------------------------------- figures
def _overlay(ax, image: np.ndarray, cam: np.ndarray, peak: float) -> None:
    import cv2

    h, w = image.shape[:2]
    heat = cv2.resize(cam.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    ax.imshow(image)
    ax.imshow(heat / peak if peak > 0 else heat, cmap="jet", alpha=0.45, vmin=0, vmax=1)
    ax.axis("off")


def _crop(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    height, width = image.shape[:2]
    y, x, h, w = box
    y0, x0 = round(y * height), round(x * width)
    return image[y0:y0 + max(1, round(h * height)), x0:x0 + max(1, round(w * width))]


def plot_overlays(am: AttentionMaps, rows: list[tuple[str, str]], store, *, per_model: int = 4,
                  title: str = "", name: str = "attention"):
    """Per video, `per_model` evenly spaced frames of the window with the frame model's map,
    then the same frames with the clip model's; frames from `store` (the frame store)."""
    from helpers.data.sampling import spaced
    from helpers.reporting import plots

    fig = Figure(figsize=(plots.PRINT_WIDTH_IN, 0.3 + 1.15 * len(rows)),
                 layout="constrained", dpi=plots.DPI)
    subs = np.atleast_1d(fig.subfigures(len(rows), 1))
    for sub, (heading, video) in zip(subs, rows, strict=True):
        stem = Path(video).stem
        axes = sub.subplots(1, 2 * per_model)
        vms = {m: am.maps[m][stem] for m in attr.KINDS}
        pick = spaced(len(vms["clip"].frames), per_model)
        images = store.read_frames(store.index(stem), vms["clip"].frames[pick].tolist())
        for j, model in enumerate(attr.KINDS):
            vm = vms[model]
            peak = float(vm.cam.max())
            for k, (t, image) in enumerate(zip(pick, images, strict=True)):
                ax = axes[j * per_model + k]
                _overlay(ax, _crop(image, vm.box), vm.cam[t], peak)
                ax.set_title(f"{'2D' if model == 'frame' else '3D'} · frame {vm.frames[t]}",
                             fontsize=plots.SMALL_FONT, pad=1)
        preds = ", ".join(f"{'2D' if m == 'frame' else '3D'} says {am.class_names[vms[m].target]}"
                          for m in attr.KINDS)
        text = f"{heading}  [{stem}; {preds}]"
        if len(text) > WRAP_CHARS:  # one line holds about this many at this size
            text = f"{heading}\n[{stem}; {preds}]"
        sub.suptitle(text, fontsize=plots.SMALL_FONT, x=0.01, ha="left")
    if title:
        fig.suptitle(title, fontsize=plots.SUPTITLE_FONT)
    return plots.save_figure(fig, name)


def profile_classes(am: AttentionMaps, kinds: dict[str, str] | None, n: int = 6) -> list[str]:
    """A few classes for the profile plot: on the benchmark two per kind, else those shown."""
    scored = am.scores
    if scored is not None and kinds:
        by_kind: dict[str, list[str]] = {}
        for cls, kind in zip(scored["class"], scored["kind"], strict=True):
            if cls not in by_kind.setdefault(kind, []):
                by_kind[kind].append(cls)
        return [c for k in by_kind for c in by_kind[k][:2]][:n]
    shown = [Path(v).stem.split("_")[1] for _, v in am.pair_rows + am.gain_rows]
    return list(dict.fromkeys(shown))[:n]


def plot_profiles(am: AttentionMaps, classes: list[str], kinds: dict[str, str] | None = None,
                  *, name: str = "attention_profile"):
    """The clip model's temporal profile (each frame's share of its map), mean over the
    class's videos with maps, against an even spread."""
    from helpers.reporting import plots

    fig = Figure(figsize=(plots.PRINT_WIDTH_IN, 2.8), layout="constrained", dpi=plots.DPI)
    ax = fig.subplots()
    length = 0
    for cls in classes:
        profiles = [attr.temporal_profile(vm.cam) for stem, vm in am.maps["clip"].items()
                    if stem.split("_")[1] == cls]
        if not profiles:
            continue
        mean = np.mean(profiles, axis=0)
        length = len(mean)
        label = f"{cls} ({kinds[cls]})" if kinds and cls in kinds else cls
        ax.plot(np.arange(1, length + 1), mean, marker="o", markersize=2, label=label)
    if length:
        ax.axhline(1 / length, color="grey", linestyle="--", label="evenly spread")
    ax.set_xlabel("frame of the window", fontsize=plots.LABEL_FONT)
    ax.set_ylabel("share of the 3D map", fontsize=plots.LABEL_FONT)
    ax.tick_params(labelsize=plots.TICK_FONT)
    ax.set_ylim(0, None)  # against zero: an even profile looks flat, not noisy
    fig.legend(fontsize=plots.SMALL_FONT, ncol=4, loc="outside lower center")  # off the lines
    ax.set_title("Where in the window the 3D model's evidence lies", fontsize=plots.TITLE_FONT)
    return plots.save_figure(fig, name)


def centre_share(am: AttentionMaps) -> pd.DataFrame:
    """A proxy of scene bias where there is no ground truth: each model's share of the map's
    mass in the centre of the crop (half its side, a quarter of its area), mean over videos,
    beside a uniform map's share; a map on the border more than that leans on the scene."""
    rows = []
    for model in attr.KINDS:
        shares, uniform = [], 0.25
        for vm in am.maps[model].values():
            s = vm.cam.shape[-1]
            lo, hi = s // 4, s - s // 4
            uniform = ((hi - lo) / s) ** 2
            total = vm.cam.sum()
            shares.append(vm.cam[:, lo:hi, lo:hi].sum() / total if total > 0 else uniform)
        rows.append({"model": MODEL_NAMES[model], "videos": len(shares),
                     "centre share (proxy)": float(np.mean(shares)),
                     "uniform map": uniform})
    return pd.DataFrame(rows)


def truth_md(am: AttentionMaps) -> str:
    """The scores against the benchmark's regions with their verdicts, or why there are none
    (with the scene-bias proxy on real data)."""
    if not am.available:
        return am.reason
    if am.scores is None:
        proxy = centre_share(am)
        lines = ["| model | videos | centre share (proxy) | uniform map |", "|---|--:|--:|--:|"]
        lines += [f"| {r['model']} | {r['videos']} | {r['centre share (proxy)']:.0%} | "
                  f"{r['uniform map']:.0%} |" for _, r in proxy.iterrows()]
        return (am.reason + "\n\nA proxy of scene bias, not a score: the share of each map "
                "in the centre of the crop (a quarter of its area), where an actor usually "
                "is; a map that leans on the border more than a uniform one does may read the "
                "scene rather than the action.\n\n" + "\n".join(lines))
    table = score_table(am.scores)
    clip = table[table["model"] == "clip"]
    spread = "; ".join(f"{r['kind']} {_ci(r, 'spread')}" for _, r in clip.iterrows())
    return ("Scored against the benchmark's ground truth: the class-defining region of every "
            "frame (the object for spatial classes, the moving object for temporal ones, the "
            "textured rectangle for detail ones). The *pointing game* is the share of frames "
            "whose map peaks inside the region; *mass inside* is the share of the map that lies "
            "in it; a uniform map scores the region's *area* share on both. Means over videos "
            "with 95% intervals over (class, group) clusters.\n\n" + score_md(table) + "\n\n"
            + verdicts(table) + "\n\nThe 3D map's spread over its window (the effective number "
            "of frames its mass covers, as a share of the window; 100% is even, "
            f"1/{len(next(iter(am.maps['clip'].values())).frames)} is one frame): {spread}.")
