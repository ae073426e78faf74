"""The turn-in zip holds exactly the report and the code: no models, data, runs or outputs."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from helpers.cli import main
from helpers.errors import UserError
from helpers.workflow.provenance import read_stamp, write_stamp
from helpers.workflow.submission import build_submission

CODE = {
    "README.md": "# readme\n",
    "requirements.txt": "numpy\n",
    "pyproject.toml": "[project]\n",
    "Makefile": "all:\n",
    ".ci/run": "#!/bin/sh\n",
    "scripts/system-deps.sh": "#!/bin/sh\n",
    "scripts/cluster/job.sh": "set -u\n",
    "scripts/cluster/ucf101.slurm": "#!/bin/bash\n",  # they source job.sh: reproducing needs them
    "scripts/cluster/ucf101.pbs": "#!/bin/bash\n",
    "docs/DESIGN.md": "# Design\n",
    "helpers/__init__.py": "",
    "helpers/data/store.py": "X = 1\n",  # a code package named data/ is code, not a store
    "tests/test_x.py": "def test(): pass\n",
    "data_manifest/ucf101.json": "{}\n",
    "data_manifest/splits/counts.csv": "split,train\n",
}
JUNK = {
    "runs/x.pth": "w",
    "runs/demo/notebooks/01_a.ipynb": "{}",
    "data/x.h5": "h",
    "helpers/models/weights.pth": "w",
    "helpers/__pycache__/x.cpython-311.pyc": "c",
    "notebooks/.ipynb_checkpoints/01_a-checkpoint.ipynb": "{}",
    "notebooks/sub/deep.ipynb": "{}",
    "tests/fixture.txt": "t",
    "figures/a.png": "p",
    "report/report.pdf": "%PDF-old",
    "junk.txt": "j",
    "video.avi": "v",
}
EXPECTED = {"report.pdf", "report.json", "notebooks/01_a.ipynb", *CODE}


def _project(root: Path) -> Path:
    for rel, text in {**CODE, **JUNK}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / ".ci/run").chmod(0o755)
    code = new_code_cell("print(6 * 7)", execution_count=3,
                         outputs=[new_output("stream", name="stdout", text="42\n")])
    nb = new_notebook(cells=[new_markdown_cell("# A"), code])
    nb.metadata["papermill"] = {"duration": 1.0}
    nbformat.write(nb, root / "notebooks" / "01_a.ipynb")
    return root


def _pdf(path: Path, *, profile: str = "ucf101", smoke: bool = False, fast: bool = False,
         stamp: bool = True) -> Path:
    """A PDF and, as `report` writes it, the record of the run it describes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"%PDF-1.5\nfake body for zip tests\n%%EOF\n")
    if stamp:
        write_stamp(path, profile=profile, split=2, run=f"runs/{profile}-split2",
                    synthetic=profile == "demo", smoke=smoke, fast=fast)
    return path


@pytest.fixture
def no_parent_git(monkeypatch, tmp_path):
    # Keep git from finding a repository above tmp_path.
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))


def _check_zip(out: Path, root: Path) -> None:
    with zipfile.ZipFile(out) as zf:
        assert set(zf.namelist()) == EXPECTED
        assert zf.read("report.pdf").startswith(b"%PDF-1.5")
        nb = nbformat.reads(zf.read("notebooks/01_a.ipynb").decode(), as_version=4)
        code = nb.cells[1]
        assert code.source == "print(6 * 7)" and code.outputs == [] and code.execution_count is None
        assert "papermill" not in nb.metadata
        assert (zf.getinfo(".ci/run").external_attr >> 16) & stat.S_IXUSR
        assert zf.read("helpers/data/store.py") == b"X = 1\n"
    # the repository's notebook keeps its outputs
    assert nbformat.read(root / "notebooks" / "01_a.ipynb", as_version=4).cells[1].outputs


def test_walk_mode_takes_exactly_the_code(tmp_path, no_parent_git, capsys):
    root = _project(tmp_path / "proj")
    out = build_submission(tmp_path / "out" / "s.zip", report_pdf=_pdf(tmp_path / "r.pdf"),
                           root=root)
    _check_zip(out, root)
    printed = capsys.readouterr().out
    assert "helpers/data/store.py" in printed and f"{out.stat().st_size:,d} bytes" in printed
    assert not [p for p in out.parent.iterdir() if p.name != "s.zip"]  # no temp file left


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_mode_takes_tracked_files_and_names_untracked_ones(tmp_path, no_parent_git, capsys):
    root = _project(tmp_path / "proj")
    (root / ".gitignore").write_text("/data/\n/runs/\n__pycache__/\n")
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path)}
    subprocess.run(["git", "init", "-q"], cwd=root, check=True, env=env)
    subprocess.run(["git", "add", "."], cwd=root, check=True, env=env)
    # tracked by mistake: still refused
    subprocess.run(["git", "add", "-f", "runs/x.pth", "data/x.h5"], cwd=root, check=True, env=env)
    (root / "helpers" / "new.py").write_text("Y = 2\n")  # untracked: left out, but named
    (root / "README.md").unlink()  # tracked but deleted: skipped
    out = build_submission(tmp_path / "s.zip", report_pdf=_pdf(tmp_path / "r.pdf"), root=root)
    with zipfile.ZipFile(out) as zf:
        assert set(zf.namelist()) == EXPECTED - {"README.md"}
    err = capsys.readouterr().err
    assert "1 matching file(s) are not tracked by git" in err and "helpers/new.py" in err


def test_missing_or_bogus_report_is_refused(tmp_path, no_parent_git):
    root = _project(tmp_path / "proj")
    with pytest.raises(UserError, match="make report"):
        build_submission(tmp_path / "s.zip", report_pdf=tmp_path / "absent.pdf", root=root)
    bogus = tmp_path / "bogus.pdf"
    bogus.write_text("not a pdf")
    with pytest.raises(UserError, match="not a PDF"):
        build_submission(tmp_path / "s.zip", report_pdf=bogus, root=root)
    assert not (tmp_path / "s.zip").exists()


def test_cli_on_this_checkout(tmp_path, capsys):
    out = tmp_path / "s.zip"
    assert main(["submission", "--out", str(out), "--report", str(_pdf(tmp_path / "r.pdf"))]) == 0
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
    assert {"report.pdf", "helpers/cli.py", "Makefile"} <= names
    bad = (".pt", ".pth", ".ckpt", ".h5", ".hdf5", ".avi", ".mp4", ".npz", ".pyc")
    assert not [n for n in names if n.endswith(bad) or n.startswith(("runs/", "data/"))]
    assert "wrote" in capsys.readouterr().out
    assert main(["submission", "--out", str(out), "--report", str(tmp_path / "no.pdf")]) == 1
    demo = str(_pdf(tmp_path / "demo" / "report.pdf", profile="demo"))
    assert main(["submission", "--out", str(out), "--report", demo]) == 1
    assert main(["submission", "--out", str(out), "--report", demo, "--practice"]) == 0


@pytest.mark.parametrize(("kwargs", "what"), [
    ({"profile": "demo"}, "a demo report"),
    ({"smoke": True}, "a smoke run's report"),
    ({"fast": True}, "a --fast run's report"),
    ({"stamp": False}, "has no record of the run"),
])
def test_practice_reports_are_refused_unless_on_purpose(tmp_path, no_parent_git, capsys,
                                                        kwargs, what):
    root = _project(tmp_path / "proj")
    pdf = _pdf(tmp_path / "report" / "report.pdf", **kwargs)
    with pytest.raises(UserError, match=what) as err:
        build_submission(tmp_path / "s.zip", report_pdf=pdf, root=root)
    assert "--practice" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "s.zip").exists()
    out = build_submission(tmp_path / "s.zip", report_pdf=pdf, root=root, practice=True)
    assert zipfile.ZipFile(out).read("report.pdf").startswith(b"%PDF-")
    assert what in capsys.readouterr().err


def test_the_zip_names_the_report_it_hands_in(tmp_path, no_parent_git, capsys):
    root = _project(tmp_path / "proj")
    pdf = _pdf(tmp_path / "report" / "report.pdf")
    out = build_submission(tmp_path / "s.zip", report_pdf=pdf, root=root)
    assert "profile ucf101, split 2, run runs/ucf101-split2" in capsys.readouterr().out
    with zipfile.ZipFile(out) as zf:
        assert zf.read("report.json") == (tmp_path / "report" / "report.json").read_bytes()


def test_a_pdf_changed_since_its_record_is_unidentified(tmp_path, no_parent_git):
    pdf = _pdf(tmp_path / "report.pdf")
    assert read_stamp(pdf) is not None
    pdf.write_bytes(pdf.read_bytes() + b"% another render\n")
    assert read_stamp(pdf) is None
    with pytest.raises(UserError, match="describes another PDF"):
        build_submission(tmp_path / "s.zip", report_pdf=pdf, root=_project(tmp_path / "proj"))


def test_split_k_is_handed_in_with_the_summary_beside_it(tmp_path, no_parent_git, capsys):
    """`make submission SPLIT=2` takes report/report-split2.pdf, says so, and adds the summary
    over the splits with its record; split 1's report.pdf is not touched."""
    import json

    root = _project(tmp_path / "proj")
    reports = tmp_path / "report"
    pdf = _pdf(reports / "report-split2.pdf")  # its record says split 2
    (reports / "summary.pdf").write_bytes(b"%PDF-1.5\nsummary\n%%EOF\n")
    (reports / "summary.json").write_text(json.dumps({"splits": [1, 2, 3]}))
    out = build_submission(tmp_path / "s.zip", split=2, report_dir=reports, root=root)
    printed = capsys.readouterr().out
    assert f"handing in split 2: {pdf}" in printed and "(splits 1, 2, 3)" in printed
    with zipfile.ZipFile(out) as zf:
        assert set(zf.namelist()) == EXPECTED | {"summary.pdf", "summary.json"}
        assert zf.read("report.pdf") == pdf.read_bytes()
        assert zf.read("summary.pdf").startswith(b"%PDF-1.5\nsummary")
    # split 1 asked for, but report.pdf holds split 2: refused in one sentence
    shutil.copyfile(pdf, reports / "report.pdf")
    shutil.copyfile(reports / "report-split2.json", reports / "report.json")
    with pytest.raises(UserError, match="is the report of split 2, not split 1") as err:
        build_submission(tmp_path / "s1.zip", split=1, report_dir=reports, root=root)
    assert "\n" not in str(err.value) and not (tmp_path / "s1.zip").exists()
    with pytest.raises(UserError, match="make report SPLIT=3"):
        build_submission(tmp_path / "s3.zip", split=3, report_dir=reports, root=root)
