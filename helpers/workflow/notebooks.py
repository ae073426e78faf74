"""Executing the notebooks: which notebook is which stage, which Jupyter kernel runs them, and
papermill execution into an executed copy that is written atomically.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from helpers.errors import Preempted, UserError
from helpers.paths import NOTEBOOKS_DIR, REPO_ROOT

# The four stages, in order; each is the single notebook `notebooks/<prefix>_*.ipynb`.
STAGES = ("01", "02", "03", "04")
REPORT_STAGE = "04"


def find_notebooks(only: Sequence[str] | None = None) -> list[Path]:
    """The stage notebooks in order (01..04), or only the stages named in `only`."""
    stages = list(STAGES)
    if only:
        unknown = sorted(set(only) - set(STAGES))
        if unknown:
            raise UserError(f"Unknown stage(s) {', '.join(unknown)} in --only; "
                            f"pick from {','.join(STAGES)}.")
        stages = [s for s in STAGES if s in set(only)]
    found = []
    for stage in stages:
        matches = sorted(NOTEBOOKS_DIR.glob(f"{stage}_*.ipynb"))
        if len(matches) != 1:
            what = "no notebook" if not matches else f"{len(matches)} notebooks"
            raise UserError(f"Found {what} named {stage}_*.ipynb in {NOTEBOOKS_DIR}; "
                            "there must be exactly one per stage.")
        found.append(matches[0])
    return found


def kernel_runs_this_python(argv0: str) -> bool:
    """Whether a kernelspec's interpreter is the one running us (so it sees our packages).

    jupyter_client swaps a bare `python`/`python3` for sys.executable. Paths are compared
    without resolving symlinks: a venv's python is a symlink to the system one.
    """
    if argv0 in {"python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}"}:
        return True
    ours = Path(os.path.abspath(sys.executable))
    theirs = Path(os.path.abspath(argv0))
    return theirs.parent == ours.parent and theirs.exists()


def choose_kernel() -> str:
    """`ucf101` (registered by the Makefile) when it runs this interpreter, else `python3`.

    A per-user kernelspec can point at another clone's .venv; running that would silently
    import the other clone's helpers, so we only take a kernel that runs this Python.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    for name in ("ucf101", "python3"):
        try:
            spec = manager.get_kernel_spec(name)
        except NoSuchKernel:
            continue
        if spec.argv and kernel_runs_this_python(spec.argv[0]):
            return name
    print(f"warning: no Jupyter kernel runs {sys.executable}; using 'python3'. "
          "Run `make venv` to register the project's kernel.", file=sys.stderr)
    return "python3"


@contextlib.contextmanager
def kernel_env(extra: Mapping[str, str] | None = None) -> Iterator[None]:
    """Let the kernel import `helpers` from this checkout even without `pip install -e .`,
    with the `extra` environment variables set for its lifetime."""
    changes = {"PYTHONPATH": os.pathsep.join(
        [str(REPO_ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])),
        **(extra or {})}
    old = {k: os.environ.get(k) for k in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _first_line(text: Any) -> str:
    lines = str(text).strip().splitlines()
    return lines[0] if lines else ""


# A Unix socket's path holds at most 107 bytes; the kernel's sockets add "-<port>" to the prefix.
MAX_SOCKET_PREFIX = 90


def kernel_manager(socket_dir: str) -> type:
    """A kernel manager that talks to the kernel over Unix sockets in `socket_dir`:
    local-only, without ipykernel's warning about unencrypted TCP, and never in the
    notebook's folder (jupyter_client's default, `kernel-ipc-<port>` in the kernel's working
    directory, fails where the checkout is read-only, as a course's shared copy is). TCP on
    localhost where Unix sockets are missing or `socket_dir` is too long for one."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import CaselessStrEnum

    prefix = os.path.join(socket_dir, "kernel")
    if os.name != "posix" or len(prefix) > MAX_SOCKET_PREFIX:
        return AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

        def _ip_default(self) -> str:
            return prefix

    return IPCKernelManager


def execute_notebook(src: Path, dst: Path, *, parameters: dict[str, Any],
                     kernel_name: str) -> None:
    """Run `src` with papermill into `dst`, atomically.

    Execution writes `<name>.running.ipynb` (saved after every cell, so a killed run can
    be inspected); success renames it to `dst`, failure to `<name>.failed.ipynb`. A cell
    that raised `Preempted` (a stop request) raises it here, the copy left as it is.
    """
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    dst.parent.mkdir(parents=True, exist_ok=True)
    running = dst.with_name(f"{dst.stem}.running.ipynb")
    failed = dst.with_name(f"{dst.stem}.failed.ipynb")
    sockets = tempfile.mkdtemp(prefix="ucf-kernel-")  # local, private (mode 700)
    try:
        papermill.execute_notebook(
            str(src), str(running), parameters=parameters, kernel_name=kernel_name,
            cwd=str(src.parent), progress_bar=False, log_output=False,
            stdout_file=sys.stdout, stderr_file=sys.stderr,
            kernel_manager_class=kernel_manager(sockets),
        )
    except BaseException as exc:
        if isinstance(exc, PapermillExecutionError) and exc.ename == Preempted.__name__:
            raise Preempted(f"{_first_line(exc.evalue).rstrip('.')} (notebook {src.name})") \
                from None
        if running.exists():
            os.replace(running, failed)
        where = f"the partial executed copy is {failed}" if failed.exists() else "no executed copy was saved"
        if isinstance(exc, PapermillExecutionError):
            source = _first_line(exc.source)
            message = _first_line(exc.evalue).rstrip(".")
            # A UserError already says what to do; any other exception is named by its type.
            cause = message if exc.ename == "UserError" else f"{exc.ename}: {message}"
            raise UserError(
                f"Notebook {src.name} stopped in cell In [{exc.exec_count}] "
                f"(`{source}`): {cause}; {where}."
            ) from None
        if isinstance(exc, DeadKernelError):
            raise UserError(f"The kernel died while running {src.name} (out of memory? try a "
                            f"smaller batch_size or num_workers); {where}.") from None
        if isinstance(exc, CellTimeoutError):
            raise UserError(f"A cell of {src.name} timed out; {where}.") from None
        raise
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
    os.replace(running, dst)
    failed.unlink(missing_ok=True)
