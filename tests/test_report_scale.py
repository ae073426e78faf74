"""The report at UCF-101's real size: simulated runs of split 1 (101 classes, 3,783 test videos
in their real groups; `support.simulated_ucf101_run`) through notebooks 03 and 04 and xelatex,
as `python -m helpers report` runs them, in two scenarios (`support.SCENARIOS`: one where
fusion helps, one where it does not), each rendered once per session. The PDF must set every
table inside the margins, print every class label of each confusion matrix at a readable
size, stay short, and state the run's size; the report's claims about classes must not
contradict each other; and the text of the PDF itself, read back with pdftotext, must name
only classes and numbers the results hold (`scale_checks`, whose mutation test shows it
fails on broken prose)."""

from __future__ import annotations

import dataclasses
import io
import re
import shutil
import subprocess

import nbformat
import numpy as np
import pandas as pd
import pytest
from scale_checks import check_report_text, pdf_text
from support import SCENARIOS, TARGET_ERROR_CORRELATION, simulated_ucf101_run

from helpers.evaluation import results
from helpers.evaluation.choices import Choices
from helpers.evaluation.stats import NOISE
from helpers.paths import NOTEBOOKS_DIR
from helpers.reporting import plots
from helpers.reporting.render import latex_log_path, render_pdf
from helpers.workflow import pipeline
from helpers.workflow.notebooks import choose_kernel, execute_notebook, find_notebooks, kernel_env
from helpers.workflow.parameters import record
from helpers.workflow.report import notebook_parameters, report_title

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not all(shutil.which(t) for t in ("xelatex", "pandoc", "pdftotext", "pdfimages", "pdfinfo")),
    reason="needs xelatex, pandoc and poppler-utils (pdftotext, pdfimages, pdfinfo)")]

MAX_OVERFULL_PT = 5.0  # an overfull box this small is invisible
MIN_LABEL_PT = 5.0  # the smallest class label that reads on paper
MAX_PAGES = 30


@pytest.fixture(scope="session", params=list(SCENARIOS))
def report(request, tmp_path_factory, ucf_splits_dir):
    root = tmp_path_factory.mktemp(f"ucf101_{request.param}")
    setup = simulated_ucf101_run(root, ucf_splits_dir, **SCENARIOS[request.param])
    run = pipeline.run_paths(setup)
    record(dataclasses.asdict(setup), run.root)  # what notebooks 03 and 04 read, as the report does
    kernel = choose_kernel()
    with pytest.MonkeyPatch.context() as mp, kernel_env():
        mp.setenv("UCF_FIGURES_DIR", str(root / "figures"))  # the kernel's figures/ folder
        mp.setenv("UCF_NO_PROGRESS", "1")
        for src in find_notebooks(["03", "04"]):
            execute_notebook(src, run.root / "notebooks" / src.name,
                             parameters=notebook_parameters(src, setup), kernel_name=kernel)
    pdf = render_pdf(run.root / "notebooks" / "04_report.ipynb", root / "report.pdf",
                     source_dir=NOTEBOOKS_DIR, title=report_title(setup))
    return {"setup": setup, "run": run, "pdf": pdf, "root": root, "scenario": request.param,
            "res": results.analyze(run, pipeline.data_paths(setup))}


def _text(pdf) -> str:
    return pdf_text(pdf)


def test_the_simulated_run_has_ucf101s_shape(report):
    res = report["res"]
    s = res.summaries
    assert len(res.class_names) == 101 and s[results.FRAME].num_videos == 3783
    assert res.num_clusters > 600  # the real (class, group) clusters of split 1's test list
    assert 0.84 < s[results.CLIP].top1 < 0.92
    wrong = [~res.test[m].correct for m in (results.FRAME, results.CLIP)]
    assert abs(np.corrcoef(*wrong)[0, 1] - TARGET_ERROR_CORRELATION) < 0.1  # shared errors
    gain = s[results.FUSED].top1 - s[results.CLIP].top1
    if report["scenario"] == "fusion_helps":  # a real late-fusion gain: small
        assert 0.75 < s[results.FRAME].top1 < 0.85 and 0.0 < gain < 0.03
        for summary in s.values():
            assert (summary.per_class["accuracy"] == 1).sum() >= 15  # ties at 100%
    else:  # one weak model: the mean falls below the strong one
        assert s[results.FRAME].top1 < 0.7 and gain < 0 and res.gain.outcome == "worse"
    choices = Choices.read(report["run"].root)  # today's format
    assert all(choices.epochs(k).fitted_on is not None for k in ("frame", "clip"))
    assert set(res.held_out.groups) == {22, 23, 24, 25} and res.held_out.videos > 1500
    assert res.probe_table is not None and (res.probe_table["drop_static"] > 0.2).any()
    assert (res.probe_table["drop_static"] == 0).sum() >= 20


def test_no_table_or_line_runs_into_the_margin(report):
    log = latex_log_path(report["pdf"]).read_text()
    assert "Output written on" in log  # the log of the run that wrote the PDF
    widths = [float(w) for w in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
    too_wide = [w for w in widths if w > MAX_OVERFULL_PT]
    assert not too_wide, f"{len(too_wide)} overfull boxes wider than {MAX_OVERFULL_PT} pt: " \
                         f"{sorted(too_wide, reverse=True)[:10]}"
    assert "Overfull \\vbox" not in log  # nothing taller than a page


def _placed_ppi(pdf) -> dict[tuple[int, int], float]:
    """(width, height) in pixels of each image in the PDF -> its resolution as printed."""
    out = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True,
                         check=True).stdout.splitlines()[2:]
    return {(int(f[3]), int(f[4])): float(f[12]) for f in (line.split() for line in out)}


def _inline_png_size(fig) -> tuple[int, int]:
    """The pixel size of the PNG the notebook shows (and nbconvert prints) for `fig`."""
    from IPython.core.pylabtools import print_figure
    from PIL import Image

    return Image.open(io.BytesIO(print_figure(fig, "png", bbox_inches="tight"))).size


def test_every_figure_prints_at_full_size(report):
    """The figures are drawn at their printed size (`plots.PRINT_WIDTH_IN`) at `plots.DPI`,
    with text of at least 6 points (test_plots.py checks each figure's fonts): LaTeX must
    place every image at its own size, plots.DPI pixels an inch, never shrink it (which
    would shrink its text) nor print one drawn at another resolution."""
    placed = _placed_ppi(report["pdf"])
    assert len(placed) >= 6  # training curves, per-class bars, confusion matrices, scatter
    resized = {size: ppi for size, ppi in placed.items() if abs(ppi - plots.DPI) > 1.5}
    assert not resized, f"images not printed at their drawn size (pixels: ppi): {resized}"


def test_every_confusion_label_is_readable_in_print(report, tmp_path):
    """Each confusion matrix of the report, rebuilt from the same numbers: its class labels
    as printed (the figure's points times the scale LaTeX placed its image at, measured in
    the PDF) are at least MIN_LABEL_PT and at least their size apart on each side."""
    res, placed = report["res"], _placed_ppi(report["pdf"])
    for name, s in res.summaries.items():
        fig = plots.plot_confusion(s.confusion_norm, res.class_names, out_dir=tmp_path)
        size = _inline_png_size(fig)
        assert size in placed, f"the {name} confusion matrix is not in the PDF at {size}"
        scale = fig.dpi / placed[size]  # printed inches per figure inch
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        canvas = FigureCanvasAgg(fig)
        canvas.draw()  # lays the figure out as it was saved
        renderer = canvas.get_renderer()
        axes = [a for ax in fig.axes if ax.get_label() != "<colorbar>"
                for a in (ax, *ax.child_axes)]
        labelled: list[str] = []
        for axis in [a for ax in axes for a in (ax.xaxis, ax.yaxis)]:
            ticks = [t for t in axis.get_ticklabels() if t.get_text() and t.get_visible()]
            if not ticks:
                continue
            labelled += [t.get_text() for t in ticks]
            printed = min(t.get_fontsize() for t in ticks) * scale
            assert printed >= MIN_LABEL_PT, (name, printed)
            boxes = [t.get_window_extent(renderer) for t in ticks]
            centres = np.sort([b.x0 + b.x1 if axis.axis_name == "x" else b.y0 + b.y1
                               for b in boxes]) / 2
            gap = np.diff(centres).min() * 72 / fig.dpi * scale  # printed points
            assert gap >= printed, (name, axis.axis_name, gap, printed)
        assert sorted(labelled) == sorted(res.class_names * 2), name  # rows and columns


def test_page_count_and_the_runs_size_are_stated(report):
    info = subprocess.run(["pdfinfo", str(report["pdf"])], capture_output=True, text=True,
                          check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    assert pages <= MAX_PAGES, pages
    text = " ".join(_text(report["pdf"]).split())
    assert "3783 test videos in 101 classes" in text
    assert not re.search(r"\bnan\b", text, re.I)


def test_the_reports_claims_about_classes_agree(report):
    from helpers.evaluation.claims import class_claims

    conflicts = class_claims(report["res"]).conflicts()
    assert not conflicts, conflicts


def test_executed_notebooks_have_no_errors(report):
    for name in ("03_fusion_analysis", "04_report"):
        nb = nbformat.read(report["run"].root / "notebooks" / f"{name}.ipynb", as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, (name, errors[:1])


def test_every_class_of_the_probes_is_kept_beside_the_report(report):
    # the report lists only the classes with a reading; the run folder keeps all 101
    table = pd.read_csv(report["run"].root / "probes.csv")
    assert len(table) == 101 and {"class", "reading", "dprob_shuffled"} <= set(table.columns)


def test_the_attention_section_says_it_has_no_maps_without_networks(report):
    """Predictions alone give no Grad-CAM maps: the section says so, in the PDF too."""
    from helpers.reporting.attention import NO_NETWORKS

    nb = nbformat.read(report["run"].root / "notebooks" / "04_report.ipynb", as_version=4)
    shown = [o.get("data", {}).get("text/markdown", "") for c in nb.cells
             if c.cell_type == "code" for o in c.get("outputs", [])]
    assert NO_NETWORKS in shown
    assert "No attention maps" in " ".join(_text(report["pdf"]).split())


def test_the_pdfs_paragraphs_name_only_what_the_results_hold(report):
    """Best/worst, probes and conclusion, as printed: every named class and number agrees
    with the results and probes.csv (see `scale_checks.check_report_text`)."""
    table = pd.read_csv(report["run"].root / "probes.csv")
    checked = check_report_text(_text(report["pdf"]), report["res"], table)
    assert checked["named"] > 0  # the checks read real sentences, not nothing


def test_the_text_check_fails_on_broken_prose(report, monkeypatch):
    """The mutation check: break one prose function on purpose and the check must fail."""
    from helpers.evaluation import claims as claims_module
    from helpers.reporting import prose
    from helpers.reporting.prose import answers

    res = report["res"]
    table = pd.read_csv(report["run"].root / "probes.csv")
    honest = "\n\n".join([prose.best_worst(res), prose.spatial_temporal(res),
                           prose.conclusion(res)])
    check_report_text(honest, res, table)  # the unbroken prose passes the same check

    noise = tuple(res.per_class.loc[res.per_class["decision"] == NOISE, "class"][:3])
    assert noise  # classes the test did not call

    def swapped(r):  # calls classes "higher with 3D" that the test did not call
        return dataclasses.replace(claims_module.class_claims(r), higher_in_3d=noise)

    monkeypatch.setattr(answers, "class_claims", swapped)
    broken = "\n\n".join([prose.best_worst(res), prose.conclusion(res)])
    with pytest.raises(AssertionError, match="higher beyond noise"):
        check_report_text(broken, res, table, probes_paragraph=False)
