"""The documentation a user's clone holds: every relative link resolves, and nothing points at
files that exist only beside the repository (`../shared`, a DESIGN.md outside docs/)."""

from __future__ import annotations

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

