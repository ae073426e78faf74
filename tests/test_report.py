"""The report runner's mechanics on tiny throwaway notebooks (the real notebooks are the
lead's end-to-end test): parameters injected, failures named, code hidden in the PDF."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import helpers.reporting.render as render
import helpers.workflow.notebooks as notebooks
import helpers.workflow.report as report
from helpers.cli import main
from helpers.errors import UserError
from helpers.workflow.pipeline import Setup
from helpers.workflow.provenance import read_stamp

KERNEL = "python3"  # jupyter_client maps it to this interpreter

PARAMS = 'profile = "demo"\ndata_dir = ""\nrun_dir = ""\nsplit = 1\nfast = False\n'


def _notebook(path: Path, *code: str, markdown: str = "# Tiny heading",
              params: str = PARAMS) -> Path:
    cells = [new_markdown_cell(markdown), new_code_cell(params, metadata={"tags": ["parameters"]})]
    cells += [new_code_cell(src) for src in code]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def _text(nb_path: Path) -> str:
    nb = nbformat.read(nb_path, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))


def test_parameters_are_injected_and_outputs_kept(tmp_path, monkeypatch):
    import helpers.workflow.pipeline

    # these stand-in notebooks train nothing: the ucf101 profile's weight files are not needed
    monkeypatch.setattr(helpers.workflow.pipeline, "check_weights", lambda setup: None)
    nb1 = _notebook(tmp_path / "nbs" / "01_a.ipynb",
                    'print(f"P1-{profile}-{split * 7}-{fast}-{data_dir}-{run_dir}")')
    # The kernel runs in the notebook's folder (papermill would use the caller's cwd). A later
    # notebook declares only the run folder and reads the rest from the run's setup.json.
    nb2 = _notebook(tmp_path / "nbs" / "02_b.ipynb",
                    'import os\nprint("CWD=" + os.getcwd())\n'
                    'from helpers.workflow import pipeline\n'
                    's = pipeline.run_setup(run_dir)\nprint("P2-" + str(len(s.profile) * 3))',
                    params='run_dir = ""  # empty: the run set up last\n')
    run_dir = tmp_path / "run"
    setup = Setup(profile="ucf101", data_dir=str(tmp_path), run_dir=str(run_dir), split=2,
                  fast=True, cpu=True)
    out = report.run_report(setup, notebooks=[nb1, nb2], kernel_name=KERNEL, pdf_path=None)
    assert out == run_dir
    ex1, ex2 = run_dir / "notebooks" / "01_a.ipynb", run_dir / "notebooks" / "02_b.ipynb"
    assert f"P1-ucf101-14-True-{tmp_path}-{run_dir}" in _text(ex1)
    assert "P2-18" in _text(ex2)
    assert f"CWD={nb2.parent}" in _text(ex2)
    injected = [c for c in nbformat.read(ex1, as_version=4).cells
                if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and 'profile = "ucf101"' in injected[0].source
    injected = [c.source for c in nbformat.read(ex2, as_version=4).cells
                if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "run_dir = " in injected[0] and "profile" not in injected[0]
    assert not list((run_dir / "notebooks").glob("*.running.ipynb"))
    assert not list((run_dir / "notebooks").glob("*.failed.ipynb"))


def test_failure_names_the_cell_and_keeps_the_partial_copy(tmp_path):
    nb = _notebook(tmp_path / "01_bad.ipynb", 'print("before-failure")',
                   'raise ValueError("boom-" + str(6 * 7))', 'print("never")')
    run_dir = tmp_path / "run"
    with pytest.raises(UserError) as exc:
        report.run_report(Setup(run_dir=str(run_dir)), notebooks=[nb], kernel_name=KERNEL,
                          pdf_path=None)
    msg = str(exc.value)
    failed = run_dir / "notebooks" / "01_bad.failed.ipynb"
    assert "01_bad.ipynb" in msg and "ValueError: boom-42" in msg and "In [" in msg
    assert str(failed) in msg and len(msg.splitlines()) == 1
    assert failed.is_file() and "before-failure" in _text(failed)
    assert "never" not in _text(failed)
    assert not (run_dir / "notebooks" / "01_bad.ipynb").exists()


def test_cli_failure_exits_nonzero_with_one_sentence(tmp_path, monkeypatch, capsys):
    nbs = tmp_path / "notebooks"
    _notebook(nbs / "01_bad.ipynb", 'raise RuntimeError("cli-" + "marker")')
    monkeypatch.setattr(notebooks, "NOTEBOOKS_DIR", nbs)
    code = main(["report", "--only", "01", "--run", str(tmp_path / "run"), "--kernel", KERNEL])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1].startswith("error: Notebook 01_bad.ipynb stopped") and "cli-marker" in err[-1]
    assert "RuntimeError: cli-marker" in err[-1]
    assert (tmp_path / "run" / "notebooks" / "01_bad.failed.ipynb").is_file()


def test_cli_rejects_missing_data_and_bad_profile(tmp_path, capsys):
    assert main(["report", "--data", str(tmp_path / "nope")]) == 1
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["report", "--profile", "bogus"])
    assert exc.value.code == 2


def test_wrong_weights_stop_the_report_before_any_notebook(tmp_path, monkeypatch, capsys):
    """A Kinetics file of another depth, or a file that is not a weights file at all, is
    refused before notebook 01 trains for hours; nothing is written to the run folder."""
    import torch
    import torchvision
    from hara_conformance import rule_state_dict, save_hara_style

    from helpers.models.resnet3d import resnet3d

    nbs = tmp_path / "notebooks"
    _notebook(nbs / "01_never.ipynb", 'raise RuntimeError("a notebook ran")')
    monkeypatch.setattr(notebooks, "NOTEBOOKS_DIR", nbs)
    imagenet = tmp_path / "resnet50.pth"
    torch.save(torchvision.models.resnet50().state_dict(), imagenet)
    r3d18 = tmp_path / "r3d18_K_200ep.pth"
    save_hara_style(rule_state_dict((k, v.shape) for k, v in resnet3d(18, 700).state_dict().items()),
                    r3d18, old_format=False)
    text = tmp_path / "r3d50_K_200ep.pth"
    text.write_text("<html>404 Not Found</html>")  # what a failed download often leaves
    data = tmp_path / "ucf101"
    data.mkdir()
    for weights, message in ((r3d18, "looks like r3d18"),
                             (text, "is not a readable PyTorch weights file")):
        run = tmp_path / "run"
        code = main(["report", "--profile", "ucf101", "--data", str(data), "--run", str(run),
                     "--weights", str(weights), "--imagenet-weights", str(imagenet),
                     "--only", "01", "--kernel", KERNEL, "--cpu"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 1 and len(err) == 1 and message in err[0], err
        assert str(weights) in err[0] and not run.exists()


def test_stores_folder_that_cannot_be_written_is_one_sentence(tmp_path, capsys):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file where the stores' folder would go")
    run = tmp_path / "run"
    code = main(["report", "--stores", str(blocker / "stores"), "--run", str(run)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1, err
    assert err[0].startswith("error: --stores cannot be used") and str(blocker) in err[0]
    assert not run.exists()


def test_stage_selection(tmp_path, monkeypatch):
    for name in ("01_x", "02_y", "03_z", "04_report"):
        _notebook(tmp_path / f"{name}.ipynb", "pass")
    monkeypatch.setattr(notebooks, "NOTEBOOKS_DIR", tmp_path)
    assert [p.stem for p in notebooks.find_notebooks()] == ["01_x", "02_y", "03_z", "04_report"]
    assert [p.stem for p in notebooks.find_notebooks(["04", "02"])] == ["02_y", "04_report"]
    with pytest.raises(UserError, match="Unknown stage"):
        notebooks.find_notebooks(["05"])
    _notebook(tmp_path / "02_dup.ipynb", "pass")
    with pytest.raises(UserError, match="exactly one"):
        notebooks.find_notebooks(["02"])


def test_run_dir_names_and_kernel_choice(tmp_path):
    runs = report.RUNS_DIR.absolute()
    assert report.resolve_run_dir(Setup()) == runs / "demo"
    assert report.resolve_run_dir(Setup(run_dir="exp1")) == runs / "exp1"
    assert report.resolve_run_dir(Setup(run_dir=str(tmp_path / "r"))) == tmp_path / "r"
    assert report.resolve_run_dir(Setup(fast=True)) == runs / "demo-fast"
    assert report.resolve_run_dir(Setup(profile="ucf101", smoke=True)) == runs / "ucf101-smoke"
    # another split never reuses split 1's models
    assert report.resolve_run_dir(Setup(split=2)) == runs / "demo-split2"
    # a smoke or fast run's PDF never replaces the report that `make submission` hands in
    assert report.default_pdf(Setup(profile="ucf101")).name == "report.pdf"
    assert report.default_pdf(Setup(profile="ucf101", smoke=True)).name == "report-smoke.pdf"
    assert report.default_pdf(Setup(fast=True)).name == "report-fast.pdf"
    assert notebooks.kernel_runs_this_python(sys.executable)
    assert notebooks.kernel_runs_this_python("python")
    assert not notebooks.kernel_runs_this_python(str(tmp_path / "other-venv" / "bin" / "python"))
    assert notebooks.choose_kernel() in {"ucf101", "python3"}


def test_missing_tex_runs_the_notebooks_exits_0_and_make_pdf_renders_later(
        tmp_path, monkeypatch, capsys):
    """Compute nodes seldom have TeX: every notebook runs, the command succeeds, and one
    sentence gives the command that renders the PDF where TeX is (`pdf`, from the run folder
    alone)."""
    from helpers.cli import main

    nb = _notebook(tmp_path / "04_report.ipynb", 'print("ran-" + "anyway")')
    real_which = shutil.which
    with monkeypatch.context() as m:
        m.setattr(report.shutil, "which",
                  lambda name: None if name == "xelatex" else real_which(name))
        run = tmp_path / "run"
        out = report.run_report(Setup(run_dir=str(run)), notebooks=[nb], kernel_name=KERNEL,
                                pdf_path=tmp_path / "r.pdf")
    assert out == run and not (tmp_path / "r.pdf").exists()
    captured = capsys.readouterr()
    assert "note: xelatex not found" in captured.err
    assert captured.out.strip().splitlines()[-1] == (
        "The PDF is pending: xelatex is not on this machine, but every result is computed; "
        f"render it where TeX is installed (a login node) with: make pdf RUN={run}  "
        f"(or python -m helpers pdf --run {run})")
    assert "ran-anyway" in _text(run / "notebooks" / "04_report.ipynb")
    if real_which("xelatex") is None or real_which("pandoc") is None:
        return
    assert main(["pdf", "--run", str(run)]) == 0
    pdf = tmp_path / "r.pdf"
    assert pdf.read_bytes().startswith(b"%PDF") and (run / "r.pdf").is_file()
    stamp = read_stamp(pdf)
    assert stamp is not None and (stamp.profile, stamp.split, stamp.synthetic) == ("demo", 1, True)


def test_no_pdf_runs_the_notebooks_leaves_the_pdf_pending_and_checks_no_tex(
        tmp_path, monkeypatch, capsys):
    """`report --no-pdf`: every notebook runs, nothing is rendered even where TeX is (nor is
    TeX asked for), and one sentence gives the command that renders the PDF later."""
    nb = _notebook(tmp_path / "04_report.ipynb", 'print("ran-" + "anyway")')
    monkeypatch.setattr(report, "check_tex", lambda: pytest.fail("TeX was checked"))
    run = tmp_path / "run"
    out = report.run_report(Setup(run_dir=str(run)), notebooks=[nb], kernel_name=KERNEL,
                            pdf_path=tmp_path / "r.pdf", render=False)
    assert out == run and not (tmp_path / "r.pdf").exists()
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        "The PDF is pending (--no-pdf): every result is computed; render it with: "
        f"make pdf RUN={run}  (or python -m helpers pdf --run {run})")
    assert (run / "pdf.json").is_file()  # what `make pdf RUN=` renders from


def test_pdf_of_a_folder_that_is_no_run_is_one_sentence(tmp_path, capsys):
    from helpers.cli import main

    assert main(["pdf", "--run", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        f"error: {tmp_path} has no pdf.json: it is not a run folder whose report ran to "
        "notebook 04; pass the run folder that `report` printed (RUN=...).\n")


@pytest.mark.parametrize("text, says", [("{not json", "Cannot read"),
                                        ("[1, 2]", "is not a JSON object"),
                                        ('{"notebook": "x.ipynb"}', "does not hold the fields")])
def test_a_broken_pdf_record_is_one_sentence(tmp_path, capsys, text, says):
    from helpers.cli import main

    (tmp_path / "pdf.json").write_text(text)
    assert main(["pdf", "--run", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and len(err.splitlines()) == 1, err
    assert err.rstrip().endswith(f"rerun `report` for {tmp_path} up to notebook 04 to write it "
                                 "again.")


@pytest.mark.skipif(shutil.which("xelatex") is None or shutil.which("pdftotext") is None,
                    reason="needs xelatex and pdftotext")
def test_pdf_hides_code_and_keeps_computed_output(tmp_path, monkeypatch):
    figures = tmp_path / "figures"
    monkeypatch.setattr(report, "FIGURES_DIR", figures)
    stale = figures / "stale.png"
    figures.mkdir()
    stale.write_bytes(b"old")
    os.utime(stale, (1, 1))  # written long before this run: not copied
    nb = _notebook(
        tmp_path / "04_report.ipynb",
        'SECRET_SOURCE_TOKEN = "PDF" + "MARK" + str(6 * 7)\nprint(SECRET_SOURCE_TOKEN)',
        # a text progress bar: it must not leave junk in the PDF
        "from helpers.utils.progress import bar\nfor _ in bar(range(3), desc='BARDESC'):\n    pass",
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        f"from pathlib import Path\nfig = plt.figure(figsize=(2, 2)); plt.plot([0, 1])\n"
        f"fig.savefig(Path({str(figures)!r}) / 'curve.png')\n"
        "from IPython.display import Image, display\n"
        f"display(Image(filename=str(Path({str(figures)!r}) / 'curve.png')))",
        markdown="# Heading\n\nSome prose.",
    )
    pdf = tmp_path / "out" / "report.pdf"
    out = report.run_report(Setup(run_dir=str(tmp_path / "run")), notebooks=[nb],
                            kernel_name=KERNEL, pdf_path=pdf)
    assert out == pdf and pdf.read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "PDFMARK42" in text and "Some prose." in text
    assert "SECRET_SOURCE_TOKEN" not in text and "str(6" not in text
    assert "BARDESC" not in text and "In [" not in text and "profile =" not in text
    if shutil.which("pdfimages"):
        listing = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True,
                                 text=True, check=True).stdout.splitlines()[2:]  # 2 header lines
        assert sum(line.split()[2] == "image" for line in listing) == 1  # the figure
    assert (tmp_path / "run" / "report.pdf").is_file()
    stamp = read_stamp(pdf)  # what `make submission` reads to name and check the report
    assert stamp is not None and (stamp.profile, stamp.split, stamp.synthetic) == ("demo", 1, True)
    assert stamp.run.endswith("run") and stamp.practice is not None
    assert (tmp_path / "run" / "figures" / "curve.png").is_file()
    assert not (tmp_path / "run" / "figures" / "stale.png").exists()


@pytest.mark.skipif(shutil.which("xelatex") is None, reason="needs xelatex")
def test_latex_failure_keeps_the_log(tmp_path):
    nb = new_notebook(cells=[new_markdown_cell("# Bad\n\n$$\\begin{unclosedenv} x$$")])
    path = tmp_path / "bad.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(UserError, match="latex.log"):
        render.render_pdf(path, tmp_path / "bad.pdf")
    assert (tmp_path / "bad.latex.log").read_text()
    assert not (tmp_path / "bad.pdf").exists()


def test_long_words_in_table_rows_get_break_points():
    z = render.ZWSP
    text = ("A sentence with data/weights/r3d50_K_200ep.pth stays as it is.\n\n"
            "| model | weights |\n|:---|:---|\n"
            "| 3D | data/weights/r3d50_K_200ep.pth |\n| 2D | imagenet |\n"
            "| link | [data/weights/r3d50_K_200ep.pth](https://example.org/a_b.pth) |\n")
    out = render.breakable_tables(text)
    assert out.splitlines()[0] == text.splitlines()[0]  # prose is left to LaTeX
    assert f"| 3D | data/{z}weights/{z}r3d50_{z}K_{z}200ep.{z}pth |" in out
    assert "| 2D | imagenet |" in out and "|:---|:---|" in out
    assert "(https://example.org/a_b.pth)" in out  # links keep their targets
    assert render.breakable_tables(out) == out  # idempotent
    assert out.replace(z, "") == text


def test_long_words_in_computed_prose_get_break_points_outside_code_and_math():
    z = render.ZWSP
    text = ("Computed on UCF-101 (videos from `/scratch/me/course/UCF-101`).\n\n"
            "```\n/scratch/me/course/UCF-101\n```\n\n$a_{ij}+b_{kl}+c_{mn}$ is math.")
    out = render.breakable_text(text)
    assert f"`/{z}scratch/{z}me/{z}course/{z}UCF-101`" in out
    assert "```\n/scratch/me/course/UCF-101\n```" in out  # a code block is verbatim
    assert "$a_{ij}+b_{kl}+c_{mn}$" in out
    assert render.breakable_text(out) == out and out.replace(z, "") == text


def _layout_notebook(path: Path) -> Path:
    """Sections at every height of a page: filler of growing length, then a heading followed
    directly by a table (LaTeX keeps a heading with a paragraph, not with a table), and a
    table with a long path in a narrow column."""
    cells = [new_markdown_cell(
        "| model | network | weights | input | optimisation | averaging |\n"
        "|:---|:---|:---|:---|:---|:---|\n"
        "| 3D clips | r3d50 | data/weights/r3d50_K_200ep.pth | 16×112×112 clips | "
        "sgd lr 0.01, cosine, 20 epochs, batch 64 | windows covering the whole video |")]
    rows = "\n".join(f"| row{r} | {r} |" for r in range(12))
    for k in range(30):
        cells.append(new_markdown_cell(" ".join(["Filler text for the layout test."] * (3 + 4 * k))))
        cells.append(new_markdown_cell(f"## Heading{k:02d}\n\n| name | value |\n|:---|---:|\n{rows}"))
    nb = new_notebook(cells=cells)
    nbformat.write(nb, path)
    return path


@pytest.mark.skipif(shutil.which("xelatex") is None or shutil.which("pdftotext") is None,
                    reason="needs xelatex and pdftotext")
def test_pdf_keeps_headings_off_page_bottoms_and_wraps_long_cells(tmp_path):
    pdf = render.render_pdf(_layout_notebook(tmp_path / "layout.ipynb"), tmp_path / "l.pdf")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    pages = [p for p in text.split("\f") if p.strip()]
    assert len(pages) > 5
    for n, page in enumerate(pages, 1):
        lines = [ln.strip() for ln in page.splitlines() if ln.strip()]
        body = lines[:-1] if lines[-1].isdigit() else lines  # drop the page number
        assert "Heading" not in body[-1], f"page {n} ends with the heading {body[-1]!r}"
        # a table header at the top of a page belongs to a table continued there
        if body[0].split() == ["name", "value"]:
            assert body[1].startswith("row"), f"page {n} starts with a stray table header"
    # the weights path wraps inside its column instead of running over the next one
    first = [ln for ln in pages[0].splitlines() if "data/" in ln]
    assert first and "200ep.pth" not in first[0], first


def test_protocol_flag_and_make_variable(tmp_path):
    import argparse

    from helpers.commands import report as command

    parser = argparse.ArgumentParser()
    command.configure(parser)
    setup = command.setup_from_args(parser.parse_args(["--protocol", "refit"]))
    assert setup.protocol == "refit"
    assert report.resolve_run_dir(setup) == report.RUNS_DIR.absolute() / "demo-refit"
    assert command.setup_from_args(parser.parse_args([])).protocol == "holdout"  # the profile's
    assert command.setup_from_args(parser.parse_args(["--profile", "ucf101"])).protocol == "refit"
    with pytest.raises(SystemExit):
        parser.parse_args(["--protocol", "retrain"])
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    root = Path(report.__file__).resolve().parents[2]

    def dry_run(*variables: str) -> str:
        out = subprocess.run(["make", "-n", "-o", ".venv/.installed", "-o", "system-deps",
                              "report", "PY=python", *variables], cwd=root,
                             capture_output=True, text=True, check=True)
        return " ".join(out.stdout.split())

    assert "--protocol refit" in dry_run("PROTOCOL=refit")
    assert "--protocol" not in dry_run()
