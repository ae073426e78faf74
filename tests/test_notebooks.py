"""The four notebooks on a tiny configuration through papermill (the shared `fast_run`:
`helpers report --fast --protocol refit`), and the PDF's text. Plain `jupyter nbconvert
--execute` with the default parameters is tested on the full demo run in
test_demo_pattern.py. These tests are in the quick tier: they share the one end-to-end run."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers.evaluation import results
from helpers.workflow import pipeline
from helpers.workflow.notebooks import find_notebooks


@pytest.fixture
def report_run(fast_run):
    return {"root": fast_run.root, "env": fast_run.env, "pdf": fast_run.pdf,
            "run": fast_run.run, "data": fast_run.root / "data"}


def test_notebooks_executed_with_outputs(report_run):
    executed = sorted((report_run["run"] / "notebooks").glob("*.ipynb"))
    assert [p.stem for p in executed] == [p.stem for p in find_notebooks()]
    for p in executed:
        assert '"output_type": "error"' not in p.read_text()
    assert (report_run["root"] / "figures" / "confusion_combined.png").exists()


def test_pdf_holds_the_computed_results(report_run):
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed")
    text = subprocess.run(["pdftotext", "-layout", str(report_run["pdf"]), "-"],
                          capture_output=True, text=True, check=True).stdout
    run = pipeline.RunPaths(report_run["run"])
    res = results.analyze(run)  # reuses the fitted fusion: the same numbers as the report
    # Prose wraps across lines, and TeX may break a word after a hyphen of its own (class
    # names) or after one of the text ("log-loss"): join the lines both ways.
    joined = " ".join(text.split())
    flat = re.sub(r"(?<=\w)- (?=\w)", "-", joined)
    unhyphenated = re.sub(r"(?<=\w)- (?=\w)", "", joined)
    # TeX may also break a CamelCase class name without a hyphen ("FlagStripes Across")
    compact = re.sub(r"\s+", "", unhyphenated)
    assert "synthetic" in text
    for name, s in res.summaries.items():
        assert name in text
        # the top-k table's row (the model name may wrap onto two lines)
        assert re.search(rf"{s.top1:.1%}\s+{s.top5:.1%}\s+{s.top10:.1%}", text), name
        for ranked in (s.best_ranked, s.worst_ranked):
            # every class of the list is named: a row of its table, or the tie's sentence
            assert len(ranked.classes) >= min(ranked.n, ranked.eligible)
            for _, row in ranked.ranked.iterrows():
                assert re.search(rf"{row['class']}\s+{row['accuracy']:.1%}\s+{row['correct']}"
                                 rf"\s+{row['support']}\b", text), (name, row["class"])
            if len(ranked.tied):
                assert f"{len(ranked.tied)} classes tie at {ranked.tie_accuracy:.1%}" in flat
                for cls in ranked.tied["class"]:
                    assert cls in compact, (name, cls)
        mutual = s.mutual_confusions
        if mutual.empty:
            assert "No two classes are confused in both directions." in flat
        for r in mutual.itertuples():
            assert f"{r.a}→{r.b}({r.count_ab},back{r.count_ba})" in compact
        pairs = s.confused_pairs
        for _, row in pairs.iterrows():  # each pair is one table row of the PDF
            assert re.search(rf"{row['true']}\s+{row['predicted']}\s+{row['rate']:.1%}\s+"
                             rf"{row['count']}\b", text), (name, row["true"], row["predicted"])
        if pairs.empty:
            assert "No confusions" in text
    for header in ("10 best classes", "10 worst classes", "10 most confused pairs",
                   "Did combining help?", "Spatial or temporal?", "What is held out, and why."):
        assert header in text
    # beyond averaging: the temporal head's row with its interval and paired test against
    # the frame mean, and its probe line, beside (never among) the three models
    assert res.head is not None and list(res.summaries) == [results.FRAME, results.CLIP,
                                                           results.FUSED]
    h = res.head
    assert "Frames + temporal head" in text and "Beyond averaging" in text
    assert re.search(rf"{h.summary.top1:.1%}\s+{h.top1_ci[0]:.1%}\s+{h.top1_ci[1]:.1%}", text)
    assert f"p = {h.vs_frame.test.p_value:.3g}" in flat
    assert "Reversed features cost it" in flat and "shuffled features cost it" in flat
    # the fusion chosen on validation is reported beside the mean, on test
    chosen = res.fit.chosen
    if chosen != "mean":
        assert results.chosen_label(chosen) in flat
    assert f"lowest log-loss of the {len(res.fit.val_scores)} fusion methods" in flat
    assert f"resample the {res.num_clusters} (class, group) clusters" in flat
    assert "import " not in text and "display(" not in text  # code is hidden


def test_the_kernel_s_sockets_are_private_and_not_in_the_notebook_s_folder(tmp_path,
                                                                           monkeypatch,
                                                                           request):
    """jupyter_client's default puts `kernel-ipc-<port>` sockets in the kernel's working
    directory (the notebooks' folder): on a read-only checkout the kernel dies at start.
    Ours go in a private temporary folder, removed afterwards."""
    import json
    import tempfile

    import nbformat

    from helpers.workflow.notebooks import choose_kernel, execute_notebook

    nb = nbformat.v4.new_notebook()
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell("x = 0", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(
                    "import ipykernel, json\n"
                    "print(json.dumps(json.load(open(ipykernel.get_connection_file()))))")]
    src = tmp_path / "nb" / "probe.ipynb"
    src.parent.mkdir()
    nbformat.write(nb, src)
    tmp = Path(tempfile.mkdtemp(prefix="t"))  # short: a socket's path holds 107 bytes
    request.addfinalizer(lambda: shutil.rmtree(tmp, ignore_errors=True))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    execute_notebook(src, tmp_path / "out" / "probe.ipynb", parameters={"x": 1},
                     kernel_name=choose_kernel())
    done = nbformat.read(tmp_path / "out" / "probe.ipynb", as_version=4)
    info = json.loads(done.cells[-1].outputs[0]["text"])
    assert info["transport"] == "ipc"
    assert info["ip"].startswith(str(tmp / "ucf-kernel-")), info["ip"]  # not the cwd
    assert sorted(p.name for p in src.parent.iterdir()) == ["probe.ipynb"]
    assert list(tmp.iterdir()) == []  # the folder went with the kernel


def test_a_temporary_folder_too_long_for_a_unix_socket_falls_back_to_tcp():
    from jupyter_client.manager import AsyncKernelManager

    from helpers.workflow.notebooks import kernel_manager

    assert kernel_manager("/" + "x" * 100) is AsyncKernelManager  # tcp on localhost
    manager = kernel_manager("/tmp/ucf-kernel-abc")()
    assert (manager.transport, manager.ip) == ("ipc", "/tmp/ucf-kernel-abc/kernel")
