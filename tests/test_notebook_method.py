"""The notebooks' shape: a short parameters cell (notebook 01: `pipeline.Setup`'s fields;
02-04: the run folder and their overrides), a Setup built from it, no code cell copied between
notebooks, notebooks 01 and 02 showing the method in code (the training draw, one batch, the
per-video mean of softmaxes checked against the predictions file) and 03 the combined output
(the mean of the two models' probabilities). Executing them is tested in test_notebooks.py
(slow)."""

from __future__ import annotations

import ast
import dataclasses
import json
from collections import defaultdict
from pathlib import Path

import pytest

from helpers.paths import NOTEBOOKS_DIR
from helpers.workflow.notebooks import find_notebooks
from helpers.workflow.parameters import RUN_FIELDS
from helpers.workflow.pipeline import Setup

NOTEBOOKS = find_notebooks()
MAX_PARAMETER_LINE = 90  # characters: a name, its default and a short comment
# Notebooks 02-04 read the run's recorded setup: the run folder, then the fields they may
# override (those that change no result: memory knobs of the model notebook 02 trains).
SHORT_PARAMETERS = {"02": ("run_dir", "batch_size", "accum_steps"), "03": ("run_dir",),
                    "04": ("run_dir",)}


def code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def parameters(cell: dict) -> dict[str, object]:
    """The names a parameters cell assigns, in order, with their literal values."""
    tree = ast.parse(source(cell))
    return {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}


def shared_code_cells(paths: list[Path]) -> dict[str, list[str]]:
    """Code cells (but the parameters cell) whose text appears in more than one notebook."""
    where: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        for cell in code_cells(path):
            if "parameters" not in cell["metadata"].get("tags", []):
                where[source(cell).strip()].append(path.name)
    return {text: names for text, names in where.items() if len(set(names)) > 1}


def method_source(path: Path) -> str:
    return "\n".join(source(c) for c in code_cells(path))


def test_there_are_four_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04"]


def declared(path: Path) -> tuple[str, ...]:
    """The parameters a notebook must declare: all of Setup's in 01, the short set in 02-04."""
    return SHORT_PARAMETERS.get(path.name[:2], tuple(f.name for f in dataclasses.fields(Setup)))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_is_setup_fields_one_line_each(path):
    first = code_cells(path)[0]
    assert first["metadata"].get("tags") == ["parameters"]
    defaults = {f.name: f.default for f in dataclasses.fields(Setup)}
    assert parameters(first) == {name: defaults[name] for name in declared(path)}
    lines = source(first).splitlines()  # a header, then one short line per parameter
    assert lines[0].startswith("#") and len(lines) == 1 + len(declared(path))
    assert max(len(line) for line in lines) <= MAX_PARAMETER_LINE


def test_later_notebooks_override_nothing_a_run_computes_from():
    for names in SHORT_PARAMETERS.values():
        assert names[0] == "run_dir" and not set(names) & set(RUN_FIELDS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_setup_is_built_from_the_parameters(path):
    text = method_source(path)
    if path.name.startswith("01"):
        assert "setup = pipeline.notebook_setup(globals())" in text
    else:  # the run's recorded setup, with every override the cell declares
        overrides = "".join(f", {n}={n}" for n in declared(path)[1:])
        assert f"setup = pipeline.run_setup(run_dir{overrides})" in text
    assert "pipeline.Setup(" not in text


def test_no_code_cell_is_copied_between_notebooks():
    assert shared_code_cells(NOTEBOOKS) == {}


def test_the_copy_finder_finds_a_copy(tmp_path):
    def notebook(name: str, *cells: str) -> Path:
        nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]},
                         "source": ["x = 1"]}]
              + [{"cell_type": "code", "metadata": {}, "source": [c]} for c in cells]}
        path = tmp_path / name
        path.write_text(json.dumps(nb))
        return path

    a = notebook("a.ipynb", "print(1)", "shared()")
    b = notebook("b.ipynb", "shared()\n", "print(2)")
    assert shared_code_cells([a, b]) == {"shared()": ["a.ipynb", "b.ipynb"]}


def test_notebook_01_shows_the_frame_method_in_code():
    text = method_source(NOTEBOOKS_DIR / "01_single_frame.ipynb")
    for line in ("sampling.train_frame(", "F.cross_entropy(", ".softmax(1)",
                 "per_video = per_frame.mean(axis=0)", "assert np.allclose(per_video, test.probs"):
        assert line in text, line


def test_notebook_02_shows_the_clip_method_in_code():
    text = method_source(NOTEBOOKS_DIR / "02_3d_resnet.ipynb")
    for line in ("sampling.train_window(", "sampling.eval_windows(", "F.cross_entropy(",
                 ".softmax(1)", "per_video = per_window.mean(axis=0)",
                 "assert np.allclose(per_video, test.probs"):
        assert line in text, line


def test_notebook_03_shows_the_fusion_in_code():
    """The combined output is the visible mean of the two probability arrays, its top-1 the
    argmax, asserted equal to the pipeline's; executing it is tested in test_notebooks.py."""
    text = method_source(NOTEBOOKS_DIR / "03_fusion_analysis.ipynb")
    for line in ("combined = (frame_test.probs + clip_test.probs) / 2",
                 "combined.argmax(axis=1) == frame_test.labels",
                 "assert abs(top1 - res.summaries[results.FUSED].top1) < 1e-12"):
        assert line in text, line
