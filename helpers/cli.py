"""`python -m helpers <command>`: one entry point for every step of the pipeline.

Each command is a module of `helpers.commands`, apart from the library it calls, named in
COMMANDS: it defines `configure(parser)` and `run(args) -> int`. Only the chosen command's
module is imported, so `--help` and light commands do not pay for importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from helpers.errors import STOPPED_EXIT, Preempted, UserError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("helpers.commands.synth", "generate the synthetic spatial/temporal benchmark"),
    "download": ("helpers.commands.download", "download and extract UCF-101 and its split files"),
    "fetch": ("helpers.commands.fetch", "on a login node: fetch the split files and both "
              "weight files for offline compute nodes"),
    "prepare": ("helpers.commands.prepare", "decode videos into a compact JPEG-in-HDF5 store"),
    "info": ("helpers.commands.info", "print what a store holds"),
    "train": ("helpers.commands.train", "train the frame (2D) or clip (3D) model"),
    "evaluate": ("helpers.commands.evaluate", "whole-video predictions into a predictions file"),
    "fuse": ("helpers.commands.fuse", "fuse the two models' predictions"),
    "report": ("helpers.commands.report", "run notebooks 01-04 and render report/report.pdf"),
    "summary": ("helpers.commands.summary", "the splits side by side: report/summary.pdf from "
                "finished run folders (no GPU, no data)"),
    "pdf": ("helpers.commands.pdf", "render the PDF of a finished run folder (no GPU, data "
            "or training: a login node)"),
    "torch-build": ("helpers.commands.torch_build", "TORCH_CUDA: the torch build for this node's "
                    "driver, from PyTorch's index (make venv|fetch TORCH_CUDA=...)"),
    "bench": ("helpers.commands.bench", "data and training throughput benchmarks"),
    "gpu-check": ("helpers.commands.gpu_check", "GPU node check behind scripts/gpu-check.sh, step by step"),
    "submission": ("helpers.commands.submission", "write the turn-in zip (report + code)"),
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one sentence and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        msg = message[0].upper() + message[1:] if message else "Invalid arguments"
        sys.stderr.write(f"error: {msg.rstrip('.')}. Run `python -m {self.prog} --help` for usage.\n")
        raise SystemExit(2)


def os_error_sentence(exc: OSError) -> str:
    """An OSError as one sentence: what failed, on which path, and what to check."""
    what = exc.strerror or str(exc) or type(exc).__name__
    where = f": {exc.filename}" if exc.filename is not None else ""
    if exc.filename2 is not None:
        where += f" -> {exc.filename2}"
    return f"{what}{where}; check the path and its permissions."


# ---------------------------------------------------------------- the entry point

def _chosen(argv: Sequence[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = _Parser(prog="helpers", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="<command>", parser_class=_Parser)
    chosen = _chosen(argv)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.prog = f"helpers {name}"
        if name == chosen:
            importlib.import_module(module).configure(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    if not argv:
        parser.print_help(sys.stderr)
        sys.stderr.write("\nerror: No command given. Pick one of the commands above.\n")
        return 2
    args = parser.parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.run(args) or 0)
    except Preempted as exc:  # before a time limit: saved, the same command resumes
        sys.stderr.write(f"stopped: {exc}; rerun the same command to resume.\n")
        return STOPPED_EXIT
    except UserError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: completed work is kept; rerun the same command to resume.\n")
        return 130
    except OSError as exc:  # last resort: a path the command did not check up front
        sys.stderr.write(f"error: {os_error_sentence(exc)}\n")
        return 1
