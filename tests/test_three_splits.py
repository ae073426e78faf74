"""All three splits in one command (`report --split all`) and the summary over them
(`helpers summary`, notebook 05): where each split's outputs go, the summary's numbers and
PDF, the refusal of runs that differ in one field, and the sentence for an absent split.

The end-to-end part shares one tiny `--fast --protocol refit` three-split run
(`fast_three_splits`, session scope): split 1 is the shared `fast_run`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers.cli import main
from helpers.config import TrainConfig
from helpers.errors import UserError
from helpers.evaluation import replication
from helpers.evaluation.results import FUSED
from helpers.reporting import replicated as rep
from helpers.workflow import multisplit, report, split_runs
from helpers.workflow.pipeline import Setup, run_paths


# ----------------------------------------------------------------------------- fast
def test_split_lists_parse_and_bad_ones_are_one_sentence(capsys):
    assert multisplit.parse_splits("all") == (1, 2, 3)
    assert multisplit.parse_splits(" 3, 1,3 ") == (1, 3)
    for bad in ("4", "1,x", "", "0,2"):
        with pytest.raises(UserError, match="is not 1, 2, 3, a list such as 1,3, or all"):
            multisplit.parse_splits(bad)
    with pytest.raises(SystemExit) as exc:
        main(["report", "--split", "1,4"])
    assert exc.value.code == 2 and "1,4" in capsys.readouterr().err


def test_each_split_has_its_own_run_folder_pdf_and_figures(tmp_path):
    names = {k: run_paths(Setup(split=k)).root.name for k in (1, 2, 3)}
    assert names == {1: "demo", 2: "demo-split2", 3: "demo-split3"}
    assert run_paths(Setup(split=2, fast=True)).root.name == "demo-fast-split2"
    assert [report.default_pdf(Setup(split=k)).name for k in (1, 2, 3)] == [
        "report.pdf", "report-split2.pdf", "report-split3.pdf"]
    assert report.default_pdf(Setup(split=3, fast=True)).name == "report-fast-split3.pdf"
    assert multisplit.split_pdf(tmp_path / "r.pdf", 2) == tmp_path / "r-split2.pdf"
    assert multisplit.split_figures_dir(1, tmp_path) == tmp_path
    assert multisplit.split_figures_dir(3, tmp_path) == tmp_path / "split3"
    assert multisplit.split_run_name("exp", 2) == "exp-split2"
    assert multisplit.summary_pdf(tmp_path / "report-fast.pdf") == tmp_path / "summary-fast.pdf"


def test_report_with_a_split_list_runs_each_split_then_the_summary(tmp_path, monkeypatch,
                                                                    capsys):
    """The command's wiring of `--split 1,3 --run --pdf`: each split's run folder and PDF,
    then the summary over them beside the PDFs (the notebooks themselves are stubbed)."""
    from helpers.workflow import summary

    calls = []
    monkeypatch.setattr(report, "run_report", lambda setup, **kw: calls.append(
        (setup.split, setup.run_dir, setup.fast, kw["pdf_path"])))
    monkeypatch.setattr(summary, "make_summary", lambda runs, **kw: calls.append(
        ("summary", [Path(r).name for r in runs], kw["pdf_path"])) or kw["pdf_path"])
    run, pdf = tmp_path / "exp", tmp_path / "r.pdf"
    assert main(["report", "--split", "3,1", "--fast", "--run", str(run), "--pdf", str(pdf)]) == 0
    assert calls == [(1, str(run), True, pdf),
                     (3, f"{run}-split3", True, tmp_path / "r-split3.pdf"),
                     ("summary", ["exp", "exp-split3"], tmp_path / "summary.pdf")]
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote {tmp_path / 'summary.pdf'}"


def test_make_passes_split_all_and_has_summary_and_submission_split():
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    root = Path(report.__file__).resolve().parents[2]

    def dry_run(target: str, *variables: str) -> str:
        out = subprocess.run(["make", "-n", "-o", ".venv/.installed", "-o", "system-deps",
                              target, "PY=python", *variables], cwd=root,
                             capture_output=True, text=True, check=True)
        return " ".join(out.stdout.split())

    assert "--split all" in dry_run("report", "SPLIT=all")
    assert "helpers summary --profile demo" in dry_run("summary")
    assert "--runs a b" in dry_run("summary", "RUNS=a b")
    assert "submission --split 2" in dry_run("submission", "SPLIT=2")
    assert "submission --split 1" in dry_run("submission")


def test_the_summary_notebook_is_committed_clean_with_parameters_first():
    import nbformat

    from helpers.paths import NOTEBOOKS_DIR
    from helpers.workflow.notebooks import find_notebooks
    from helpers.workflow.summary import SUMMARY_NOTEBOOK

    nb = nbformat.read(NOTEBOOKS_DIR / SUMMARY_NOTEBOOK, as_version=4)
    assert nb.cells[0].metadata.get("tags") == ["parameters"]
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in nb.cells if c.cell_type == "code")
    assert NOTEBOOKS_DIR / SUMMARY_NOTEBOOK not in find_notebooks()  # not a stage of a split


def _split_run(split: int, root: Path, **changes) -> split_runs.SplitRun:
    from helpers.workflow.provenance import CodeVersion

    fields = dict(split=split, root=root, profile="demo", protocol="holdout", fast=True,
                  smoke=False, synthetic=True,
                  recipe={"frame": TrainConfig(arch="resnet18", lr=0.05),
                          "clip": TrainConfig(model="clip", arch="r3d10")},
                  weights={"frame": None, "clip": None}, code=CodeVersion("a" * 64),
                  report_json=None)
    return split_runs.SplitRun(**{**fields, **changes})


def test_consistency_names_the_one_field_that_differs(tmp_path):
    runs = [_split_run(k, tmp_path / f"r{k}") for k in (1, 2, 3)]
    shared = split_runs.check_consistent(runs)
    assert {f.field for f in shared} >= {"protocol", "recipe of the frame model",
                                         "code version"}
    for field, change in (
            ("protocol", {"protocol": "refit"}),
            ("recipe of the frame model", {"recipe": {
                "frame": TrainConfig(arch="resnet18", lr=0.1),
                "clip": TrainConfig(model="clip", arch="r3d10")}}),
            ("pretrained weights of the clip model (SHA-256)",
             {"weights": {"frame": None, "clip": "b" * 64}}),
            ("code version", {"code": runs[0].code.__class__("c" * 64)})):
        odd = [*runs[:2], _split_run(3, tmp_path / "r3", **change)]
        with pytest.raises(UserError, match=re.escape(f"differ in {field} (")) as err:
            split_runs.check_consistent(odd)
        assert "Split 3" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(UserError, match="no record of its code version"):
        split_runs.check_consistent([runs[0], _split_run(2, tmp_path / "r2", code=None)])
    # the recipe's differing option is named with both values; options that never change the
    # weights (workers, three crops chosen per split) may differ
    lr = _split_run(3, tmp_path / "r3", recipe={**runs[0].recipe,
                                                "frame": TrainConfig(arch="resnet18", lr=0.1)})
    with pytest.raises(UserError, match=re.escape("(lr: 0.1 vs 0.05)")):
        split_runs.check_consistent([*runs[:2], lr])
    free = TrainConfig(arch="resnet18", lr=0.05, num_workers=8, three_crop=True)
    assert split_runs.check_consistent(
        [*runs[:2], _split_run(3, tmp_path / "r3", recipe={**runs[0].recipe, "frame": free})])


def test_missing_and_unfinished_run_folders_are_one_sentence_each(tmp_path):
    unfinished = tmp_path / "runs" / "demo-split2"
    unfinished.mkdir(parents=True)
    (unfinished / "setup.json").write_text(json.dumps({"split": 2, "profile": "demo"}))
    defaults = {k: tmp_path / "runs" / f"d{k}" for k in (1, 3)}
    with pytest.raises(UserError) as err:
        split_runs.collect([unfinished], default_roots={1: defaults[1], 3: defaults[3]})
    message = str(err.value)
    assert message.startswith("No finished split to summarise: Split 1 is missing: its run "
                              f"folder {defaults[1]} does not exist; run `make report SPLIT=1`.")
    assert (f"Split 2 is unfinished: {unfinished} has no val predictions of the frame model "
            "yet; rerun `make report SPLIT=2` to finish it") in message
    with pytest.raises(UserError, match="does not exist; pass finished run folders"):
        split_runs.collect([tmp_path / "nope"], expected=())


def test_a_run_record_summary_cannot_read_is_one_sentence_saying_what_to_do(tmp_path):
    from helpers.paths import RunPaths

    root = tmp_path / "demo-split2"
    run = RunPaths(root, "holdout")
    (root / "notebooks").mkdir(parents=True)
    (root / "setup.json").write_text(json.dumps({"split": 2, "protocol": "holdout"}))
    (root / "notebooks" / "04_report.ipynb").write_text("{}")
    for kind in ("frame", "clip"):
        for subset in ("val", "test"):
            run.predictions(kind, subset).parent.mkdir(parents=True, exist_ok=True)
            run.predictions(kind, subset).write_bytes(b"")  # only their presence is read here
        run.model_dir(kind).mkdir(parents=True)
        (run.model_dir(kind) / "config.json").write_text(json.dumps({"config": {}}))
    with pytest.raises(UserError) as err:
        split_runs.load_run(root)
    message = str(err.value)
    assert message.endswith("; run split 2 again in a new run folder, or leave it out of the "
                            "summary.") and "--store" not in message  # not the trainer's advice


# ----------------------------------------------------------------------------- end to end
def _pdftext(pdf: Path) -> str:
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    return " ".join(text.split())


@pytest.mark.slow
def test_three_splits_give_three_reports_and_a_computed_summary(fast_three_splits):
    root, runs = fast_three_splits["root"], fast_three_splits["runs"]
    assert len({r.resolve() for r in runs}) == 3
    for k, run in enumerate(runs, 1):
        assert json.loads((run / "setup.json").read_text())["split"] == k
        assert (run / "code.json").is_file()
        # split 1's PDF was rendered; 2 and 3 ran with --no-pdf: pending, to their own paths
        pdf = root / ("report.pdf" if k == 1 else f"report-split{k}.pdf")
        assert pdf.is_file() == (k == 1)
        if k == 1:
            assert json.loads(pdf.with_suffix(".json").read_text())["split"] == k
            assert (run / pdf.with_suffix(".json").name).is_file()
        else:
            assert Path(json.loads((run / "pdf.json").read_text())["pdf"]) == pdf
        figures = root / "figures" / ("" if k == 1 else f"split{k}")
        assert (figures / "confusion_combined.png").is_file(), figures
    assert (root / "figures" / "summary" / "per_class_2d_vs_3d.png").is_file()
    # the fixture names each PDF; the default names: test_each_split_has_its_own_run_folder_
    # pdf_and_figures and test_report_with_a_split_list_runs_each_split_then_the_summary
    pdf = root / "summary.pdf"
    record = json.loads(pdf.with_suffix(".json").read_text())
    assert record["splits"] == [1, 2, 3] and record["absent"] == []
    assert [Path(r["run"]) for r in record["runs"]] == runs
    # the record of each PDF read; none yet for the splits whose PDF is pending
    assert Path(record["runs"][0]["report_json"]).is_file()
    assert [r["report_json"] for r in record["runs"][1:]] == [None, None]

    found = split_runs.collect(runs)
    s = replication.summarize(found)  # the notebook's numbers, recomputed here
    text = _pdftext(pdf)
    assert "mean and spread over splits 1, 2 and 3" in text
    acc = s.accuracy.set_index(["row", "metric"])
    for row in replication.ROWS:
        if (row, "top-1") in acc.index:
            r = acc.loc[(row, "top-1")]
            assert rep.mean_std(r["mean"], r["std"]) in text, row
            assert rep.min_max(r["min"], r["max"]) in text, row
    for g in s.gains.itertuples():
        assert f"{g.gain * 100:+.1f} {g.lo * 100:+.1f} to {g.hi * 100:+.1f}" in text
    if s.pooled.p_value is not None:
        assert f"p = {s.pooled.p_value:.3g}" in text
    best = s.per_class.sort_values([f"{FUSED} mean", "class"], ascending=[False, True]).iloc[0]
    assert re.search(rf"{best['class']}\s+{re.escape(rep.mean_std(best[f'{FUSED} mean'], best[f'{FUSED} std']))}",
                     text)
    assert "Replication rule." in text and "in every split (3 of 3)" in text
    compact = re.sub(r"[\s\u200b]", "", text)  # long paths wrap inside their table cells
    for run in runs:  # which folders were read
        assert f"runs/{run.name}" in compact, run


def _copy_run(src: Path, dst: Path) -> Path:
    """The run's records and predictions (what the summary reads), not its models."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.pt", "*.pth", "tensorboard"))
    return dst


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


FIELD_CHANGES = {
    "recipe of the frame model": ("frame/config.json", lambda d: d["config"].update(lr=0.123)),
    "protocol": ("setup.json", lambda d: d.update(protocol="holdout")),
    "pretrained weights of the clip model (SHA-256)": (
        "weights.json", lambda d: d.update(clip={"path": "/w.pth", "sha256": "f" * 64,
                                                 "name": "Hara R3D-50", "published": False})),
    "code version": ("code.json", lambda d: d.update(source_sha256="0" * 64)),
}


@pytest.mark.slow
@pytest.mark.parametrize("field", list(FIELD_CHANGES))
def test_runs_that_differ_in_one_field_are_refused_naming_it(fast_three_splits, tmp_path,
                                                             capsys, field):
    runs = fast_three_splits["runs"]
    changed = _copy_run(runs[2], tmp_path / "split3")
    rel, change = FIELD_CHANGES[field]
    _edit_json(changed / rel, change)
    pdf = tmp_path / "summary.pdf"
    code = main(["summary", "--runs", str(runs[0]), str(runs[1]), str(changed), "--pdf", str(pdf)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1, err
    assert f"differ in {field}" in err[0] and "Split 3" in err[0] and str(changed) in err[0]
    assert not pdf.exists()
    # the same three runs, unchanged, pass the check
    assert len(split_runs.check_consistent(split_runs.collect(runs).runs)) >= 5


@pytest.mark.slow
def test_an_absent_split_is_one_sentence_and_the_means_say_so(fast_three_splits, tmp_path,
                                                              capsys):
    runs = fast_three_splits["runs"]
    found = split_runs.collect([runs[0], runs[2]])
    assert found.splits == [1, 3] and not found.complete
    assert [a.sentence() for a in found.absent] == [
        "Split 2 is missing: no run folder given holds it; add it to `--runs` or run "
        "`make report SPLIT=2`."]
    s = replication.summarize(found, n_boot=200)
    assert "splits 1 and 3 only (2 of 3; split 2 absent)" in rep.title(found, True)
    assert "mean ± std (2 of 3 splits only)" in rep.accuracy_md(s).splitlines()[0]
    assert "Split 2 is missing" in rep.absent_md(s)
    # unfinished: a split whose clip model has no test predictions yet
    unfinished = _copy_run(runs[1], tmp_path / "split2")
    (unfinished / "predictions" / "clip_test.h5").unlink()
    found = split_runs.collect([runs[0], unfinished, runs[2]])
    assert found.splits == [1, 3]
    (absent,) = found.absent
    assert absent.sentence().startswith(f"Split 2 is unfinished: {unfinished} has no test "
                                        "predictions of the clip model yet")
    with pytest.raises(UserError, match="Two run folders hold split 1"):
        split_runs.collect([runs[0], _copy_run(runs[0], tmp_path / "again")])
