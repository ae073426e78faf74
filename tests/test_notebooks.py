"""The four notebooks on a tiny configuration: papermill through `helpers report`, the PDF's
text, and plain `jupyter nbconvert --execute` with the notebooks' default parameters."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import analysis, pipeline
from helpers.paths import NOTEBOOKS_DIR

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    env = {**os.environ, "UCF_DATA_DIR": str(root / "data"), "UCF_RUNS_DIR": str(root / "runs"),
           "UCF_FIGURES_DIR": str(root / "figures"), "UCF_NO_PROGRESS": "1"}
    pdf = root / "report.pdf"
    out = subprocess.run([sys.executable, "-m", "helpers", "report", "--fast", "--pdf", str(pdf)],
                         env=env, capture_output=True, text=True, timeout=1500)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return {"root": root, "env": env, "pdf": pdf, "run": root / "runs" / "demo-fast",
            "data": root / "data"}


def test_notebooks_executed_with_outputs(report_run):
    executed = sorted((report_run["run"] / "notebooks").glob("*.ipynb"))
    assert [p.stem for p in executed] == [p.stem for p in sorted(NOTEBOOKS_DIR.glob("0*.ipynb"))]
    for p in executed:
        assert '"output_type": "error"' not in p.read_text()
    assert (report_run["root"] / "figures" / "confusion_combined.png").exists()


def test_pdf_holds_the_computed_results(report_run):
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed")
    text = subprocess.run(["pdftotext", "-layout", str(report_run["pdf"]), "-"],
                          capture_output=True, text=True, check=True).stdout
    run = pipeline.RunPaths(report_run["run"])
    res = analysis.analyze(run)  # reuses the fitted fusion: the same numbers as the report
    assert "synthetic" in text
    for name, s in res.summaries.items():
        assert name in text
        for k in ("top1", "top5", "top10"):
            assert f"{s[k]:.1%}" in text, (name, k)
        for df in (s["best"], s["worst"]):
            assert all(c in text for c in df["class"])
        pairs = s["confused_pairs"]
        assert all(f"{r:.1%}" in text for r in pairs["rate"])
    for header in ("10 best classes", "10 worst classes", "10 most confused pairs",
                   "Did combining help?", "Spatial or temporal?"):
        assert header in text
    assert "import " not in text and "display(" not in text  # code is hidden


def test_plain_nbconvert_runs_with_default_parameters(report_run, tmp_path):
    # Default parameters mean profile "demo" in runs/demo and data/synthetic: point those
    # folders at the tiny run so the analysis notebooks execute unchanged.
    runs, data = tmp_path / "runs", tmp_path / "data"
    runs.mkdir()
    (data / "stores").mkdir(parents=True)
    (runs / "demo").symlink_to(report_run["run"])
    (data / "synthetic").symlink_to(report_run["data"] / "synthetic-fast")
    (data / "stores" / "synthetic").symlink_to(report_run["data"] / "stores" / "synthetic-fast")
    env = {**report_run["env"], "UCF_RUNS_DIR": str(runs), "UCF_DATA_DIR": str(data)}
    jupyter = Path(sys.executable).parent / "jupyter"
    for nb in ("03_fusion_analysis.ipynb", "04_report.ipynb"):
        out = subprocess.run([str(jupyter), "nbconvert", "--to", "notebook", "--execute",
                              str(NOTEBOOKS_DIR / nb), "--output-dir", str(tmp_path / "out")],
                             env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        assert (tmp_path / "out" / nb).exists()
