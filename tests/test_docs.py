"""The documentation a user's clone holds: every relative link resolves, and nothing points at
files that exist only beside the repository (`../shared`, a DESIGN.md outside docs/)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from helpers.paths import REPO_ROOT

DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
# Inline links and images: [text](target "title") / ![alt](target).
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
CODE_SPAN = re.compile(r"`[^`\n]*`")
# A mention of DESIGN.md that is not the repository's docs/DESIGN.md.
STRAY_DESIGN = re.compile(r"(?<!docs/)\bDESIGN\.md")
SCANNED = ("helpers", "notebooks", "docs")
SCANNED_SUFFIXES = {".py", ".ipynb", ".md", ".txt", ".json", ".j2", ".tex"}


def relative_links(text: str) -> list[str]:
    """Targets of the markdown links in `text` that point into the repository (code blocks
    and code spans are not links; URLs, mail addresses and #anchors are not files)."""
    text = CODE_SPAN.sub("", FENCE.sub("", text))
    targets = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            continue
        targets.append(target.split("#", 1)[0])
    return [t for t in targets if t]


def broken_links(doc: Path) -> list[str]:
    return [t for t in relative_links(doc.read_text(encoding="utf-8"))
            if not (doc.parent / t).exists()]


def stray_references(paths: list[Path], root: Path = REPO_ROOT) -> list[str]:
    """`file:line: text` of each line that names `../shared` or a DESIGN.md outside docs/."""
    found = []
    for path in paths:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "../shared" in line or STRAY_DESIGN.search(line):
                found.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    return found


def _scanned_files() -> list[Path]:
    files = [REPO_ROOT / "README.md"]
    for folder in SCANNED:
        files += [p for p in sorted((REPO_ROOT / folder).rglob("*"))
                  if p.is_file() and p.suffix in SCANNED_SUFFIXES
                  and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts]
    return files


def test_design_document_is_in_the_repository_and_linked():
    assert (REPO_ROOT / "docs" / "DESIGN.md").is_file()
    assert "docs/DESIGN.md" in relative_links((REPO_ROOT / "README.md").read_text())


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_relative_links_resolve(doc):
    assert broken_links(doc) == []


def test_nothing_points_outside_the_clone():
    assert stray_references(_scanned_files()) == []


def test_the_checks_can_fail(tmp_path):
    doc = tmp_path / "README.md"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "DESIGN.md").write_text("# Design\n")
    doc.write_text("See [the design](docs/DESIGN.md), [a section](docs/DESIGN.md#protocol),\n"
                   "[gone](docs/MISSING.md), ![figure](figures/none.png), [web](https://x.org/a)\n"
                   "and [anchor](#layout).\n\n```\n[not a link](nowhere.md)\n```\n"
                   "`[code](nowhere2.md)`\n")
    assert broken_links(doc) == ["docs/MISSING.md", "figures/none.png"]
    src = tmp_path / "mod.py"
    src.write_text('"""See DESIGN.md."""\n# docs/DESIGN.md is fine\nX = "../shared/ANCHORS.md"\n')
    found = [line.split(": ", 1)[0] for line in stray_references([src], tmp_path)]
    assert found == ["mod.py:1", "mod.py:3"]



# ------------------------------------------------------------------ module paths in the docs
TREE_ROOTS = ("helpers", "tests", "scripts", "notebooks", "docs", "data_manifest")
PATH_TOKEN = re.compile(rf"(?<![\w./-])((?:{'|'.join(TREE_ROOTS)})/[\w./{{}},-]*)")
DOTTED = re.compile(r"(?<![\w.])helpers(?:\.[A-Za-z_]\w*)+")
BARE_MODULE = re.compile(r"(?<![\w./-])([A-Za-z_]\w*\.py)\b")
LAYOUT_LINE = re.compile(rf"^\s*((?:{'|'.join(TREE_ROOTS)})/(?:[\w]+/)*)\s")


def _expand(token: str) -> list[str]:
    """`resnet{2d,3d}.py` -> resnet2d.py, resnet3d.py (one brace group)."""
    m = re.search(r"\{([^{}]*)\}", token)
    if not m:
        return [token]
    return [token[:m.start()] + part + token[m.end():] for part in m.group(1).split(",")]


def _dotted_exists(name: str, root: Path) -> bool:
    """`helpers.a.b` is a module or package, or a top-level name of module `helpers.a`."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        base = root.joinpath(*parts[:cut])
        path = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
        if path.is_file():
            rest = parts[cut:]
            if not rest:
                return True
            tree = ast.parse(path.read_text(encoding="utf-8"))
            top = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
            top |= {t.id for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign))
                    for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
                    if isinstance(t, ast.Name)}
            return rest[0] in top
    return False


def missing_modules(text: str, root: Path = REPO_ROOT) -> list[str]:
    """Paths (`helpers/data/store.py`, `tests/`), dotted names (`helpers.workflow.pipeline.Setup`)
    and bare module names (`store.py`) that `text` mentions but the repository lacks. In a
    layout line that starts with a folder, a bare name is looked up in that folder."""
    files = {p.name for folder in TREE_ROOTS if (root / folder).is_dir()
             for p in (root / folder).rglob("*.py")}
    missing = []
    for line in text.splitlines():
        layout = LAYOUT_LINE.match(line)
        for token in PATH_TOKEN.findall(line):
            for path in _expand(token.rstrip(".,;:")):
                if not (root / path).exists():
                    missing.append(path)
        missing += [d for d in DOTTED.findall(line) if not _dotted_exists(d, root)]
        line_wo_paths = PATH_TOKEN.sub("", line)
        for bare in BARE_MODULE.findall(line_wo_paths):
            where = root / layout.group(1) / bare if layout else None
            if (where is not None and where.is_file()) or (where is None and bare in files):
                continue
            missing.append(f"{layout.group(1)}{bare}" if layout else bare)
    return missing


def test_the_module_path_check_can_fail(tmp_path):
    (tmp_path / "helpers" / "data").mkdir(parents=True)
    (tmp_path / "helpers" / "__init__.py").write_text("")
    (tmp_path / "helpers" / "data" / "__init__.py").write_text("")
    (tmp_path / "helpers" / "data" / "store.py").write_text("class VideoStore: ...\nX = 1\n")
    (tmp_path / "helpers" / "data" / "resnet2d.py").write_text("")
    text = ("See helpers/data/store.py and helpers/data/gone.py, helpers/data/resnet{2d,3d}.py.\n"
            "`helpers.data.store.VideoStore`, helpers.data.store.X, helpers.data.store.Nope,\n"
            "helpers.data.missing\n"
            "helpers/data/   store.py  prepare.py\n"
            "and a bare store.py, a bare old.py\n")
    assert missing_modules(text, tmp_path) == [
        "helpers/data/gone.py", "helpers/data/resnet3d.py", "helpers.data.store.Nope",
        "helpers.data.missing", "helpers/data/prepare.py", "old.py"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_module_the_docs_name_exists(doc):
    assert missing_modules(doc.read_text(encoding="utf-8")) == []


# Words that tell how the project was built rather than how to use it.
HISTORY = ("session", "was lent", "CI run", "have not been tried", "this project's machine",
           "this project's 2-core", "were built", "built this")


def history_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if any(w in line for w in HISTORY)]


def test_the_readme_is_a_users_guide():
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert history_lines(text) == []
    for heading in ("## Run it on a GPU cluster", "## Quick start", "## The notebooks"):
        assert heading in text
    assert history_lines("No GPU was lent to the session that built this.") != []


# ------------------------------------------------------------------ the README's commands
MAKE_CALL = re.compile(r"(?<![\w-])make ((?:[a-z][\w-]*)?)((?:[ \t]+[A-Z_]+=\S*)*)")
HELPERS_CALL = re.compile(r"python -m helpers ([a-z][\w-]*)((?:[ \t]+(?:--?[\w-]+|[^\s`|]+))*)")
README_MAX_LINES = 300


def _makefile_names(makefile: Path) -> tuple[set[str], set[str]]:
    """The Makefile's targets and the variables it reads."""
    text = makefile.read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][\w-]*):", text, re.M))
    variables = set(re.findall(r"^([A-Z_]+)\s*[?:]?=", text, re.M))
    variables |= set(re.findall(r"\$\(([A-Z_]+)\)", text))
    return targets, variables


def readme_command_errors(text: str, makefile: Path = REPO_ROOT / "Makefile") -> list[str]:
    """`make TARGET VAR=…` calls whose target or variable the Makefile lacks, and
    `python -m helpers CMD --flag` calls whose command or flag the CLI lacks."""
    from helpers.cli import COMMANDS, build_parser

    targets, variables = _makefile_names(makefile)
    # only what is written as code: fenced blocks and `code spans`
    code = [m.group(0) for m in FENCE.finditer(text)]
    code += [m.group(0).strip("`") for m in CODE_SPAN.finditer(FENCE.sub("", text))]
    text = "\n".join(code)
    errors = []
    for target, assigns in MAKE_CALL.findall(text):
        if target and target not in targets:
            errors.append(f"make {target}: no such target")
        for var in re.findall(r"([A-Z_]+)=", assigns):
            if var not in variables:
                errors.append(f"make {target} {var}=: the Makefile never reads {var}")
    for command, rest in HELPERS_CALL.findall(text):
        if command not in COMMANDS:
            errors.append(f"python -m helpers {command}: no such command")
            continue
        sub = build_parser([command])._subparsers._group_actions[0].choices[command]
        known = {s for a in sub._actions for s in a.option_strings}
        for flag in re.findall(r"(?<!\S)(--?[a-z][\w-]*)", rest):
            if flag not in known:
                errors.append(f"python -m helpers {command} {flag}: no such flag")
    return errors


def test_the_readmes_commands_and_flags_exist():
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_command_errors(text) == []
    assert len(text.splitlines()) <= README_MAX_LINES


def test_the_command_check_can_fail(tmp_path):
    makefile = tmp_path / "Makefile"
    makefile.write_text("GPUS ?=\nreport:\n\techo $(GPUS) $(PROFILE)\n")
    text = ("`make report GPUS=2 PROFILE=ucf101`, `make lab`, and prose: what we make and\n"
            "```\nmake report NOPE=1\npython -m helpers report --profile demo --gpus 2\n"
            "python -m helpers report --no-such-flag\npython -m helpers nothing --x\n```\n")
    assert sorted(readme_command_errors(text, makefile)) == [
        "make lab: no such target", "make report NOPE=: the Makefile never reads NOPE",
        "python -m helpers nothing: no such command",
        "python -m helpers report --no-such-flag: no such flag"]
