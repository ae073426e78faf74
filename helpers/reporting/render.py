"""The PDF: an executed notebook rendered by nbconvert and xelatex, code and prompts hidden.

Long words in table cells get break points (`breakable_tables`), headings are kept off the
foot of a page (`LATEX_PREAMBLE`), and stderr output (progress bars, warnings) is dropped.
xelatex's log is kept beside the PDF (`report.log` for `report.pdf`): its "Overfull hbox"
lines say where something runs into the margin.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from helpers.errors import UserError
from helpers.utils.io import write_bytes_atomic, write_text_atomic

DEFAULT_TITLE = "Human action recognition: single frames, 3D clips and their fusion"
TEX_PACKAGES = "texlive-xetex texlive-fonts-recommended texlive-plain-generic pandoc"
# Cells with these tags disappear from the PDF (the code of every cell is hidden anyway).
REMOVE_CELL_TAGS = {"remove_cell", "parameters", "injected-parameters"}
REMOVE_INPUT_TAGS = {"remove_input"}
REMOVE_OUTPUT_TAGS = {"remove_output"}


def check_tex() -> None:
    """Fail early (before minutes of notebook execution) when the PDF toolchain is missing."""
    missing = [tool for tool in ("xelatex", "pandoc") if shutil.which(tool) is None]
    if missing:
        raise UserError(f"{' and '.join(missing)} not found, so the PDF cannot be rendered; "
                        f"install them (Debian/Ubuntu: apt-get install {TEX_PACKAGES}).")


# The PDF's layout, added to nbconvert's LaTeX preamble: a heading that would sit within a
# few lines of the bottom of a page starts the next page instead, so it is never left alone
# there (LaTeX itself keeps a heading with a following paragraph, but not with a table or a
# figure). `\Needspace` decides at once; the lazy `\needspace` can let the page break land
# after a longtable has taken over the output routine, which then prints a stray table
# header above the heading. Level-3 headings (the report's table titles) are not numbered.
LATEX_PREAMBLE = r"""
\IfFileExists{needspace.sty}{\usepackage{needspace}}{\providecommand{\Needspace}[1]{}}
\makeatletter
\let\ucf@section\section
\renewcommand{\section}{\Needspace{10\baselineskip}\ucf@section}
\let\ucf@subsection\subsection
\renewcommand{\subsection}{\Needspace{8\baselineskip}\ucf@subsection}
\let\ucf@subsubsection\subsubsection
\renewcommand{\subsubsection}{\Needspace{6\baselineskip}\ucf@subsubsection}
\makeatother
\setcounter{secnumdepth}{2}
"""
_TEMPLATE_FILE = "ucf101_report.tex.j2"


def _template_loader() -> Any:
    """nbconvert's LaTeX template with LATEX_PREAMBLE appended to its packages."""
    import jinja2

    source = ("((*- extends 'index.tex.j2' -*))\n((* block packages *))\n((( super() )))\n"
              + LATEX_PREAMBLE + "((* endblock packages *))\n")
    return jinja2.DictLoader({_TEMPLATE_FILE: source})


# Table cells in the PDF wrap at spaces only; a long word (a weights path, a file name, a
# CamelCase class name such as BoxingPunchingBag, a shape such as 16×112×112) would run over
# its column. The PDF's copy of such a word gets a zero-width space (pandoc writes it as
# \hspace{0pt}, a break point) after each / _ . × and between a lower-case letter and the
# capital after it, outside links. A break is only taken where the column needs it.
ZWSP = "\u200b"
_LONG_WORD = re.compile(r"[^\s|`]{10,}")
_BREAK_AT = re.compile(r"(?<=[/_.×])(?=[^\s|`])|(?<=[a-z])(?=[A-Z])")


def _breakable_word(match: re.Match[str]) -> str:
    word = match.group(0)
    if "](" in word or "://" in word or ZWSP in word or "$" in word or "\\" in word:
        return word  # links, URLs, math and LaTeX stay as they are
    return _BREAK_AT.sub(ZWSP, word)


def breakable_tables(markdown: str) -> str:
    """`markdown` with break points in the long words of its table rows (see ZWSP)."""
    lines = markdown.split("\n")
    for i, line in enumerate(lines):
        if line.lstrip().startswith("|"):
            lines[i] = _LONG_WORD.sub(_breakable_word, line)
    return "\n".join(lines)


def breakable_text(markdown: str) -> str:
    """`markdown` with break points in every long word outside code blocks: a computed
    sentence can hold a long path (the data folder, a run folder) that would overrun the
    line."""
    lines = markdown.split("\n")
    fenced = False
    for i, line in enumerate(lines):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced:
            lines[i] = _LONG_WORD.sub(_breakable_word, line)
    return "\n".join(lines)


def _breakable_cells(nb: Any) -> None:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = breakable_text(cell.source)
        elif cell.cell_type == "code":
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                if "text/markdown" in data:
                    data["text/markdown"] = breakable_text(data["text/markdown"])


def _drop_stderr(nb: Any) -> None:
    """Progress bars and warnings go to stderr: useful in the executed notebook, noise in a PDF."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", [])
                            if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]


def _logging_exporter(config: Any) -> Any:
    """nbconvert's PDFExporter that keeps the log of its last xelatex run (`latex_log`)."""
    from nbconvert.exporters import PDFExporter
    from nbconvert.exporters.pdf import LatexFailed

    class LoggingPDFExporter(PDFExporter):
        latex_log = ""

        def run_latex(self, filename: str, raise_on_failure: type = LatexFailed) -> bool:
            try:
                return super().run_latex(filename, raise_on_failure)
            finally:  # nbconvert runs xelatex in a temporary folder, deleted afterwards
                log = Path(filename).with_suffix(".log")
                if log.is_file():
                    self.latex_log = log.read_text(errors="replace")

    return LoggingPDFExporter(config=config, template_file=_TEMPLATE_FILE,
                              extra_loaders=[_template_loader()])


def latex_log_path(pdf_path: str | os.PathLike) -> Path:
    """Where `render_pdf` keeps xelatex's log: beside the PDF, `.log` for `.pdf`."""
    return Path(pdf_path).with_suffix(".log")


def render_pdf(executed_notebook: str | os.PathLike, pdf_path: str | os.PathLike, *,
               source_dir: str | os.PathLike | None = None, title: str | None = None) -> Path:
    """Render an executed notebook to PDF with xelatex, code and prompts hidden.

    `source_dir` is where relative image paths in markdown resolve (default: the
    notebook's folder). xelatex's log is kept beside the PDF (`latex_log_path`); on a LaTeX
    failure, its output is kept as `<notebook>.latex.log`.
    """
    import nbformat
    from nbconvert.exporters.pdf import LatexFailed
    from traitlets.config import Config

    check_tex()
    executed_notebook, pdf_path = Path(executed_notebook), Path(pdf_path)
    if not executed_notebook.is_file():
        raise UserError(f"{executed_notebook} does not exist; execute the notebook first.")
    nb = nbformat.read(executed_notebook, as_version=4)
    _drop_stderr(nb)
    _breakable_cells(nb)
    if title or not nb.metadata.get("title"):
        nb.metadata["title"] = title or DEFAULT_TITLE

    c = Config()
    c.TemplateExporter.exclude_input = True
    c.TemplateExporter.exclude_input_prompt = True
    c.TemplateExporter.exclude_output_prompt = True
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_cell_tags = REMOVE_CELL_TAGS
    c.TagRemovePreprocessor.remove_input_tags = REMOVE_INPUT_TAGS
    c.TagRemovePreprocessor.remove_all_outputs_tags = REMOVE_OUTPUT_TAGS
    c.CoalesceStreamsPreprocessor.enabled = True  # also collapses "\r" rewrites
    exporter = _logging_exporter(c)
    resources = {"metadata": {"name": executed_notebook.stem,
                              "path": str(Path(source_dir or executed_notebook.parent))}}
    log_path = executed_notebook.with_suffix(".latex.log")
    try:
        pdf_data, _ = exporter.from_notebook_node(nb, resources=resources)
    except LatexFailed as exc:
        write_text_atomic(log_path, exc.output)
        raise UserError(f"xelatex failed to render {executed_notebook.name}; "
                        f"its log is {log_path}.") from None
    write_bytes_atomic(pdf_path, pdf_data)
    write_text_atomic(latex_log_path(pdf_path), exporter.latex_log)
    log_path.unlink(missing_ok=True)
    return pdf_path
