import base64
import io
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib import rcParams
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from helpers.data.sampling import spaced
from helpers.errors import UserError
from helpers.evaluation.metrics import (
    confusion_matrix,
    most_confused_pairs,
    per_class_accuracy,
    row_normalize,
)
from helpers.evaluation.predictions import Predictions
from helpers.evaluation.probes import APPEARANCE, NEEDS_ORDER, UNCLEAR
from helpers.reporting.plots import (
    CONFUSION_FONT,
    PRINT_WIDTH_IN,
    confusion_order,
    gain_rows,
    pair_rows,
    plot_2d_vs_3d,
    plot_best_worst,
    plot_confusion,
    plot_frame_strips,
    plot_probe_vs_gain,
    plot_sampling,
    plot_training_curves,
)

C = 101
NAMES = [f"SomeLongClassName{i:03d}" for i in range(C)]


def _written(out_dir, name):
    png, pdf = out_dir / f"{name}.png", out_dir / f"{name}.pdf"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 2000
    assert not [p for p in out_dir.iterdir() if p.suffix == ".tmp"]


def _random_cm(seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(C), 12)
    preds = np.where(rng.random(labels.size) < 0.7, labels, rng.integers(0, C, labels.size))
    return confusion_matrix(labels, preds, C)


def test_confusion_order_is_a_deterministic_permutation_that_clusters():
    rng = np.random.default_rng(0)
    blocks = np.repeat(np.arange(3), 4)  # three groups of four mutually confused classes
    m = np.where(blocks[:, None] == blocks[None, :], 0.1, 0.0) + np.eye(12) * 0.6
    perm = rng.permutation(12)
    shuffled = m[np.ix_(perm, perm)]
    order = confusion_order(shuffled)
    assert sorted(order.tolist()) == list(range(12))
    np.testing.assert_array_equal(order, confusion_order(shuffled))
    seen = blocks[perm][order]
    assert (np.diff(seen) != 0).sum() == 2  # each block is contiguous
    np.testing.assert_array_equal(confusion_order(np.eye(5)), np.arange(5))


def test_confusion_plot_101_classes(tmp_path):
    cm = row_normalize(_random_cm())
    fig = plot_confusion(cm, NAMES, "test", out_dir=tmp_path, name="cm")
    assert isinstance(fig, Figure)
    _written(tmp_path, "cm")
    ax = fig.axes[0]
    labels = [t.get_text() for a in (ax, *ax.child_axes) for t in a.get_yticklabels()]
    assert sorted(labels) == NAMES  # every class is named, on one side or the other
    with pytest.raises(UserError):
        plot_confusion(cm[:5, :5], NAMES, out_dir=tmp_path)


def test_per_class_plots_101_classes(tmp_path):
    pc2 = per_class_accuracy(_random_cm(1), NAMES)
    pc3 = per_class_accuracy(_random_cm(2), NAMES)
    plot_best_worst(pc2, n=10, out_dir=tmp_path, name="bw")
    _written(tmp_path, "bw")
    fig = plot_2d_vs_3d(pc2, pc3, n_label=8, out_dir=tmp_path, name="scatter")
    _written(tmp_path, "scatter")
    listed = fig.axes[1].texts[0].get_text()
    top = (pc3["accuracy"] - pc2["accuracy"]).idxmax()
    assert f"1. {NAMES[top]}" in listed and listed.count("\n") == 8 + 1


def test_training_curves_with_missing_validation(tmp_path):
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    a.write_text("epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n"
                 "1,2.0,0.3,,,0.001,10\n2,1.5,0.5,1.6,0.45,0.001,10\n3,1.2,0.6,1.4,0.5,0.0001,9\n")
    b.write_text("epoch,train_loss,train_acc,lr,seconds\n1,3.0,0.2,0.01,5\n2,2.0,0.4,0.01,5\n")
    fig = plot_training_curves({"2D": a, "3D": b}, out_dir=tmp_path, name="curves")
    _written(tmp_path, "curves")
    labels = [ln.get_label() for ln in fig.axes[1].lines]
    assert labels == ["2D train", "2D val", "3D train"]
    assert fig.axes[1].lines[1].get_xdata().tolist() == [2, 3]
    with pytest.raises(UserError, match="does not exist"):
        plot_training_curves({"x": tmp_path / "none.csv"}, out_dir=tmp_path)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(UserError, match="not a training metrics file"):
        plot_training_curves({"x": tmp_path / "bad.csv"}, out_dir=tmp_path)


class _Store:
    """The VideoStore surface the strips use: `.videos` and `.read_frames(index, frames)`."""

    def __init__(self, names, labels, num_frames=40):
        self.videos = [SimpleNamespace(name=n, label=y, num_frames=num_frames)
                       for n, y in zip(names, labels, strict=True)]
        self.calls = []

    def read_frames(self, index, frames):
        self.calls.append((index, list(frames)))
        out = np.zeros((len(frames), 24, 32, 3), np.uint8)
        out[..., 0] = np.asarray(frames, np.uint8)[:, None, None] * 6
        return out


def test_strip_frames_are_the_sampling_modules_spaced_frames():
    assert spaced(40, 6).tolist() == [3, 10, 16, 23, 30, 36]
    assert spaced(3, 6).tolist() == [0, 1, 2]
    assert spaced(0, 6).tolist() == []


def test_frame_strips_rows_for_pairs_and_gains(tmp_path):
    names = ["A", "B", "C"]
    ids = [f"v_{names[y]}_g01_c{i:02d}" for i, y in enumerate([0, 0, 1, 1, 2, 2])]
    labels = np.array([0, 0, 1, 1, 2, 2])
    # 2D: video 1 (A) is taken for B, video 5 (C) is wrong; 3D gets 5 right
    p2 = np.eye(3)[[0, 1, 1, 1, 2, 0]] * 0.7 + 0.1
    p3 = np.eye(3)[[0, 0, 1, 1, 2, 2]] * 0.7 + 0.1
    pred2 = Predictions(ids, labels, p2, names)
    pred3 = Predictions(ids, labels, p3, names)
    store = _Store(list(reversed(ids)), list(reversed(labels.tolist())))
    pairs = most_confused_pairs(confusion_matrix(labels, pred2.preds, 3), names)
    rows = pair_rows(store, pred2, pairs, n_pairs=1)
    # the A video shown is the one taken for B (v_A_g01_c01), then the first B video
    assert [store.videos[i].name for _, i in rows] == ["v_A_g01_c01", "v_B_g01_c02"]
    assert rows[0][0].startswith("A (true), taken for B")
    g = gain_rows(store, pred2, pred3, [2])
    assert [store.videos[i].name for _, i in g] == ["v_C_g01_c05"]
    assert "right in 3D, wrong in 2D" in g[0][0]

    fig = plot_frame_strips(store, rows + g, frames_per_row=4, title="why", out_dir=tmp_path,
                            name="strips")
    _written(tmp_path, "strips")
    assert [c[1] for c in store.calls] == [[5, 15, 25, 35]] * 3  # segment centres (sampling.spaced)
    assert len(fig.subfigs) == 3
    with pytest.raises(UserError):
        plot_frame_strips(store, [], out_dir=tmp_path)
    with pytest.raises(UserError, match="store"):
        pair_rows(_Store(["v_other_g01_c01"], [0]), pred2, pairs)


def test_plots_default_to_the_figures_dir(tmp_path, monkeypatch):
    import helpers.reporting.plots as plots

    monkeypatch.setattr(plots, "FIGURES_DIR", tmp_path / "figures")
    pc = pd.DataFrame({"class": ["a", "b"], "accuracy": [0.5, 1.0], "support": [2, 1],
                       "correct": [1, 1]})
    plot_best_worst(pc, n=2, name="small")
    _written(tmp_path / "figures", "small")


def test_the_saved_png_has_the_layout_any_later_drawing_shows(tmp_path):
    """Constrained layout settles over passes (101 long labels, a colorbar): the PNG the
    notebook shows and the figures folder holds is the settled one, the layout a later
    drawing of the same figure (as the print-size checks make) has."""
    from IPython.core.pylabtools import print_figure
    from PIL import Image

    fig = plot_confusion(row_normalize(_random_cm()), NAMES, out_dir=tmp_path, name="cm")
    saved = Image.open(tmp_path / "cm.png").size
    assert saved == Image.open(io.BytesIO(print_figure(fig, "png", bbox_inches="tight"))).size


def test_saving_keeps_a_pyplot_figures_own_stale_callback(tmp_path):
    import matplotlib.pyplot as plt

    from helpers.reporting.plots import save_figure

    fig = plt.figure()
    try:
        own = fig.stale_callback
        assert own is not None
        save_figure(fig, "pyplot", tmp_path)
        assert fig.stale_callback is own and (tmp_path / "pyplot.png").is_file()
    finally:
        plt.close(fig)


def test_returned_figure_displays_once_in_an_executed_notebook(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from helpers.paths import REPO_ROOT

    code = ("import sys\n"
            f"sys.path.insert(0, {str(REPO_ROOT)!r})\n"
            "import pandas as pd\n"
            "from helpers.reporting.plots import plot_best_worst\n"
            "pc = pd.DataFrame({'class': ['a', 'b'], 'accuracy': [0.5, 1.0],\n"
            "                   'support': [2, 1], 'correct': [1, 1]})\n"
            f"fig = plot_best_worst(pc, n=2, out_dir={str(tmp_path)!r})\n"
            "fig")
    changed = "fig.axes[0].set_title('changed after saving')\nfig"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code),
                                         nbformat.v4.new_code_cell(changed)])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    shown = []
    for cell in nb.cells:
        images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert len(images) == 1, cell.outputs
        shown.append(base64.b64decode(images[0]["data"]["image/png"]))
    # the notebook shows the very PNG the figures folder holds (not drawn a third time) ...
    assert shown[0] == (tmp_path / "best_worst.png").read_bytes()
    # ... until the figure changes: then it is drawn again, as it now is
    assert shown[1][:8] == b"\x89PNG\r\n\x1a\n" and shown[1] != shown[0]


# ----------------------------------------------------------------------------- print size

LATEX_MAX_WIDTH_IN = 0.9 * 6.5  # nbconvert's template scales a wider image down to this
MIN_PRINTED_PT = 6.0  # the smallest text that reads on paper
MATH_SHRINK = 0.7  # mathtext sets a super- or subscript (10^{-3}) at this fraction of the font


def _as_printed(fig):
    """(width in inches of the image the notebook shows and the PDF prints, [(text, points as
    printed)] for every piece of text the figure draws). The notebook crops a figure to its
    content plus savefig.pad_inches a side (bbox_inches="tight"); LaTeX scales an image wider
    than LATEX_MAX_WIDTH_IN down to that width, and its text with it."""
    canvas = FigureCanvasAgg(fig)
    renderer = canvas.get_renderer()
    drawn = []
    draw_text = renderer.draw_text

    def record(gc, x, y, s, prop, angle, ismath=False, mtext=None):
        size = prop.get_size_in_points()
        if ismath and ("^" in s or "_" in s):
            size *= MATH_SHRINK
        drawn.append((s, size))
        return draw_text(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

    renderer.draw_text = record
    fig.draw(renderer)  # lays the figure out and draws only what is visible
    shown_in = fig.get_tightbbox(renderer).width + 2 * rcParams["savefig.pad_inches"]
    scale = min(1.0, LATEX_MAX_WIDTH_IN / shown_in)
    return shown_in, [(s, size * scale) for s, size in drawn if s.strip()]


def _frame_strips(tmp_path):
    names = ["HandstandPushups", "HandstandWalking", "RockClimbingIndoor"]
    ids = [f"v_{n}_g25_c07" for n in names]
    store = _Store(ids, [0, 1, 2], num_frames=164)
    store.read_frames = lambda index, frames: np.zeros((len(frames), 240, 320, 3), np.uint8)
    rows = [(f"{names[0]} (true), taken for {names[1]} in 100% of its videos", 0),
            (names[1], 1), (f"{names[2]}: right in 3D, wrong in 2D", 2)]
    return plot_frame_strips(store, rows, title="Notable confused pairs (single-frame model)",
                             out_dir=tmp_path)


def _training_curves(tmp_path):
    paths = {}
    for run, epochs in (("frame model", 30), ("clip model", 45)):
        e = np.arange(1, epochs + 1)
        df = pd.DataFrame({"epoch": e, "train_loss": 4 / e, "train_acc": 1 - 1 / (e + 1),
                           "val_loss": 4.2 / e, "val_acc": 0.9 - 1 / (e + 1),
                           "lr": 0.01 * 0.1 ** (e // 15), "seconds": 60})
        paths[run] = tmp_path / f"{run}.csv"
        df.to_csv(paths[run], index=False)
    return plot_training_curves(paths, out_dir=tmp_path)


def _probe_vs_gain(tmp_path):
    rng = np.random.default_rng(0)
    d = rng.normal(0.05, 0.1, C)
    table = pd.DataFrame({"class": NAMES, "support": rng.integers(25, 50, C),
                          "reading": rng.choice([NEEDS_ORDER, APPEARANCE, UNCLEAR], C),
                          "dprob_shuffled": d, "lo_shuffled": d - 0.05, "hi_shuffled": d + 0.05})
    gain = pd.DataFrame({"class": NAMES, "gain": rng.normal(0.05, 0.1, C)})
    return plot_probe_vs_gain(table, gain, out_dir=tmp_path)


def test_probe_points_are_coloured_by_reading_and_sized_by_test_videos(tmp_path):
    fig = _probe_vs_gain(tmp_path)
    points = [c for c in fig.axes[0].collections if len(getattr(c, "get_sizes", list)()) == C]
    assert len(points) == 1  # one seaborn scatter for every reading
    sizes = points[0].get_sizes()
    assert sizes.min() >= 6 and sizes.max() == pytest.approx(46)  # the largest class: 6 + 40
    assert len({tuple(np.round(c, 3)) for c in points[0].get_facecolors()[:, :3]}) == 3


FIGURES = {
    "confusion": lambda tmp: plot_confusion(row_normalize(_random_cm()), NAMES,
                                            "Confusion matrix: clip model", out_dir=tmp),
    "best_worst": lambda tmp: plot_best_worst(per_class_accuracy(_random_cm(1), NAMES),
                                              title="Per-class accuracy: clip model",
                                              out_dir=tmp),
    "2d_vs_3d": lambda tmp: plot_2d_vs_3d(per_class_accuracy(_random_cm(1), NAMES),
                                          per_class_accuracy(_random_cm(2), NAMES), out_dir=tmp),
    "training_curves": _training_curves,
    "frame_strips": _frame_strips,
    "sampling_clip": lambda tmp: plot_sampling("v_RockClimbingIndoor_g25_c07", 301,
                                               [range(s, s + 16) for s in range(0, 286, 28)],
                                               what="window", out_dir=tmp),
    "sampling_frame": lambda tmp: plot_sampling("v_RockClimbingIndoor_g25_c07", 301,
                                                [spaced(301, 25).tolist()],
                                                what="scored frames", out_dir=tmp),
    "probe_vs_gain": _probe_vs_gain,
}


@pytest.mark.parametrize("build", FIGURES.values(), ids=FIGURES.keys())
def test_every_figure_prints_its_text_at_a_readable_size(build, tmp_path):
    """Each figure of the report is drawn at most as wide as it prints, so the PDF prints it at
    full size, and all its text is at least MIN_PRINTED_PT on paper (the confusion matrix's
    101 class labels: CONFUSION_FONT)."""
    fig = build(tmp_path)
    assert fig.get_figwidth() <= PRINT_WIDTH_IN + 1e-6
    shown_in, texts = _as_printed(fig)
    assert shown_in <= LATEX_MAX_WIDTH_IN, f"{shown_in:.2f} in wide: printed smaller"
    assert texts
    floor = {name: CONFUSION_FONT for name in NAMES}  # only the confusion matrix has them alone
    small = sorted({(round(float(pt), 2), s) for s, pt in texts
                    if pt < floor.get(s, MIN_PRINTED_PT)})
    assert not small, f"text printed under {MIN_PRINTED_PT} pt: {small[:8]}"
