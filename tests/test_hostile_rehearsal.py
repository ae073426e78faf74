"""The first job on a real cluster, rehearsed as hostile as one: `scripts/cluster/ucf101.slurm`
through fake scheduler commands, as a non-root user, with no xelatex or pandoc on PATH,
`scontrol requeue` refused and `flock` failing with ENOSYS (injected, UCF_FLOCK_ERRNO).

A warning signal mid-training of the smoke run (Hara's new-format file, on the rehearsal
tree of test_rehearsal.py) goes through the `afterany` fallback; the follow-on job resumes
the smoke run, which computes to the end (test_rehearsal.check_smoke_run), and starts the
`--fast` ucf101 run, which a second signal stops: the requeue count goes on across the
submission's jobs. Then on the "login node" (TeX, no GPU, no CPU=1) `make pdf` renders the
smoke run's PDF without training or evaluating anything. Skipped without `../shared`."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
import test_rehearsal
from support import warn_when_training_begins
from test_rehearsal import _tree, _weights, check_smoke_pdf, check_smoke_run

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SLURM = REPO / "scripts" / "cluster" / "ucf101.slurm"
USER = "ucfrehearsal"
HIDDEN = {"xelatex", "pandoc", "pdflatex", "lualatex", "latex", "tex"}


@dataclass(frozen=True)
class Runner:
    """Who runs the rehearsal's jobs, and with which interpreter."""

    ids: dict  # subprocess's user/group/extra_groups; empty: the current user
    python: str  # an interpreter that user can run, with this project's packages


def _can_run(python: str, uid: int, gid: int) -> str:
    """Why user uid cannot import helpers and torch with `python` ("" if it can)."""
    try:
        probe = subprocess.run([python, "-c", "import helpers, torch"], user=uid, group=gid,
                               extra_groups=[], capture_output=True, text=True,
                               env={**os.environ, "HOME": "/tmp"}, cwd="/tmp")
        return probe.stderr.strip()[-200:] if probe.returncode else ""
    except OSError as exc:  # e.g. a venv made from a Python under /root (mode 700)
        return str(exc)


def _system_python_venv(root: Path) -> str | None:
    """A venv of the system's Python of this version (/usr/bin/python3.X) whose .pth adds
    this venv's packages: what an unprivileged user runs when this interpreter lives under
    /root (pyenv), closed to other users. None when there is no such Python."""
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not system.is_file():
        return None
    venv = root / "venv"
    try:
        subprocess.run([str(system), "-m", "venv", "--without-pip", str(venv)], check=True,
                       capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    ours = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (Path(sysconfig.get_paths(vars={"base": str(venv)})["purelib"]) / "ucf.pth").write_text(
        "".join(f"import site; site.addsitedir({d!r})\n" for d in ours))
    (venv / "share").symlink_to(Path(sys.prefix) / "share")  # nbconvert's templates
    return str(venv / "bin" / "python")


def _non_root(root: Path) -> Runner:
    """An unprivileged user and an interpreter it can run (this one, else the system's
    Python with this venv's packages); the current user, with a warning that says why,
    when there is none."""
    if os.geteuid() != 0:
        return Runner({}, sys.executable)
    try:
        entry = pwd.getpwnam(USER)
    except KeyError:
        made = subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/bash", USER],
                              capture_output=True, text=True)
        if made.returncode != 0:
            warnings.warn(f"ran as root: useradd failed ({made.stderr.strip()})", stacklevel=2)
            return Runner({}, sys.executable)
        entry = pwd.getpwnam(USER)
    ids = dict(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
    why = _can_run(sys.executable, entry.pw_uid, entry.pw_gid)
    if not why:
        return Runner(ids, sys.executable)
    python = _system_python_venv(root)
    also = _can_run(python, entry.pw_uid, entry.pw_gid) if python else "no system Python"
    if not also:
        return Runner(ids, python)
    warnings.warn(f"ran as root: user {USER} cannot run {sys.executable} ({why}) nor the "
                  f"system's Python ({also})", stacklevel=2)
    return Runner({}, sys.executable)


def _sys_bin_without_tex(root: Path) -> Path:
    """A folder of links to every command of /usr/bin and /bin except TeX and pandoc."""
    out = root / "sysbin"
    out.mkdir()
    for folder in ("/usr/local/bin", "/usr/bin", "/bin"):
        for entry in sorted(Path(folder).iterdir()) if Path(folder).is_dir() else []:
            if entry.name not in HIDDEN and not (out / entry.name).exists():
                (out / entry.name).symlink_to(entry)
    return out


def _digest(run: Path) -> dict[str, tuple[int, str]]:
    """mtime and SHA-256 of every checkpoint, model and predictions file of a run."""
    files = [p for p in run.rglob("*") if p.suffix == ".pt" or
             (p.suffix == ".h5" and p.parent.name == "predictions")]
    return {str(p.relative_to(run)): (p.stat().st_mtime_ns,
                                      hashlib.sha256(p.read_bytes()).hexdigest())
            for p in files}


@pytest.fixture(scope="module")
def hostile(ucf_splits_dir, ucf_clip):
    # not under pytest's tmp folder: root's is closed to other users
    root = Path(tempfile.mkdtemp(prefix="ucf-hostile-"))
    root.chmod(0o755)
    try:
        h = _build(root, ucf_splits_dir, ucf_clip)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    yield h
    for job in h["jobs"]:  # a failed assertion leaves no job running: SIGTERM stops the report
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGTERM)
            try:
                job.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(job.pid, signal.SIGKILL)
    shutil.rmtree(root, ignore_errors=True)


def _build(root: Path, ucf_splits_dir: Path, ucf_clip: Path) -> dict:
    """The rehearsal's tree, split files, weights, fake scheduler, PATH without TeX, and its
    unprivileged user, under `root`."""
    runner = _non_root(root)
    with pytest.MonkeyPatch.context() as m:  # fewer videos (fusion fits on 2 per class), one
        # 16-frame window each
        m.setattr(test_rehearsal, "PER_CLASS", {"train": 2, "val": 2, "test": 1})
        m.setattr(test_rehearsal, "FRAMES", 16)
        tree = _tree(root / "data" / "ucf101", ucf_splits_dir, ucf_clip)
    # split files listing only the tree's videos (SPLITS=): a --fast run trains on the whole
    # list, and refuses a store that lacks most of it
    splits = root / "splits"
    splits.mkdir()
    shutil.copy(ucf_splits_dir / "classInd.txt", splits)
    for name in ("trainlist01.txt", "testlist01.txt"):
        lines = (ucf_splits_dir / name).read_bytes().splitlines(keepends=True)
        (splits / name).write_bytes(b"".join(
            line for line in lines if line.strip() and
            (tree / "UCF-101" / line.split()[0].decode()).is_file()))
    weights = _weights(root / "weights")
    bin_dir = root / "bin"
    bin_dir.mkdir()
    shims = {"scontrol": 'echo "scontrol: error: Requeue of job is not allowed" >&2; exit 1',
             "sbatch": 'echo "Submitted batch job 5002"'}
    for name, body in shims.items():
        (bin_dir / name).write_text(f'#!/bin/bash\necho "{name} $*" >> "{root}/calls.log"\n'
                                    f"{body}\n")
        (bin_dir / name).chmod(0o755)
    sysbin = _sys_bin_without_tex(root)
    (root / "home").mkdir()
    if runner.ids:
        owner = runner.ids["user"], runner.ids["group"]
        os.lchown(root, *owner)
        for top in root.iterdir():  # not sysbin's links: /usr/bin/X11 links to itself
            for path in [top] if top == sysbin else [top, *top.rglob("*")]:
                os.lchown(path, *owner)
    return {"root": root, "tree": tree, "splits": splits, "weights": weights, "runner": runner,
            "jobs": [], "path": os.pathsep.join([str(bin_dir), str(Path(runner.python).parent),
                                                 str(sysbin)])}


def _env(h: dict, **more: str) -> dict[str, str]:
    root = h["root"]
    keep = {k: v for k, v in os.environ.items()
            if k in ("PYTHONPATH", "LANG", "LC_ALL", "TMPDIR")}
    return {**keep, "PATH": h["path"], "HOME": str(root / "home"), "USER": USER,
            "UCF_DATA_DIR": str(root / "data"), "UCF_FIGURES_DIR": str(root / "figures"),
            "UCF_NO_PROGRESS": "1", "OMP_NUM_THREADS": "2", "PYTHON": h["runner"].python,
            "TORCH_HOME": str(h["weights"]["torch_home"]), "MPLCONFIGDIR": str(root / "mpl"),
            "SLURM_SUBMIT_DIR": str(REPO), "SCRATCH_DIR": str(root / "scratch"),
            "UCF_FLOCK_ERRNO": "ENOSYS", "PROFILE": "ucf101", "DATA": str(h["tree"]),
            "SPLITS": str(h["splits"]),
            "WEIGHTS": str(h["weights"]["r3d50_K_200ep.pth"]), "IMAGENET_WEIGHTS": "",
            "SMOKE": "1", "STOP_GRACE": "600",
            # tiny batches: a --fast run keeps the profile's (128 frames), more than the tree
            "REPORT_ARGS": f"--fast --cpu --protocol holdout --batch-size frame=4,clip=2 "
                           f"--pdf {root}/report-fast.pdf",
            **more}


def _start(h: dict, env: dict[str, str], log: Path) -> subprocess.Popen:
    ids = h["runner"].ids
    with open(log, "ab") as out:
        job = subprocess.Popen(["bash", str(SLURM)], env=env, stdout=out,
                               stderr=subprocess.STDOUT, cwd=h["root"],
                               start_new_session=True, **ids)
    h["jobs"].append(job)
    return job


def test_first_cluster_job_survives_no_tex_refused_requeue_and_no_flock(hostile):
    h = hostile
    root, log = h["root"], h["root"] / "job.log"
    runs = root / "scratch" / "runs"
    smoke, run = runs / "ucf101-holdout-smoke", runs / "ucf101-holdout-fast"
    proc = _start(h, _env(h, SLURM_JOB_ID="5001"), log)
    # the warning signal mid-training of the smoke run (the job's first step)
    warn_when_training_begins(proc, smoke / "frame" / "config.json", log, timeout=3000)
    assert proc.wait(1200) == 0, log.read_text()[-4000:]
    text = log.read_text()
    assert "has no working flock (Function not implemented)" in text
    assert "smoke run passed" not in text, text[-4000:]
    calls = (root / "calls.log").read_text().splitlines()
    follow = f"--export=ALL,SPLIT=1,UCF_SUBMISSION=5001 {SLURM}"
    assert calls == ["scontrol requeue 5001", f"sbatch --dependency=afterany:5001 {follow}"], \
        text[-3000:]
    assert "the site refused the requeue; submitting a job that continues" in text

    # the follow-on job (a new id, the same submission) resumes the smoke run and finishes
    # it without TeX, then starts the full run; a warning signal stops that one too
    cont = _start(h, _env(h, SLURM_JOB_ID="5002", SPLIT="1", UCF_SUBMISSION="5001"), log)
    warn_when_training_begins(cont, run / "frame" / "config.json", log, timeout=3000)
    assert cont.wait(1200) == 0, log.read_text()[-4000:]
    text = log.read_text()
    assert "resuming frame training at epoch" in text, text[-4000:]
    assert "smoke run passed" in text, text[-4000:]
    smoke_log = text[:text.index("smoke run passed")]
    assert smoke_log.count("The PDF is pending: xelatex and pandoc are not") == 1
    assert ("The PDF is pending: xelatex and pandoc are not on this machine, but every "
            "result is computed; render it where TeX is installed (a login node) with: "
            f"make pdf RUN={smoke}  (or python -m helpers pdf --run {smoke})") in smoke_log
    check_smoke_run(smoke, h["weights"]["r3d50_K_200ep.pth"], smoke_log)
    # no TeX on the node, nor in the job it forecasts: the PDF is left out of the total
    assert "the analysis (the PDF aside: it is rendered later, where TeX is): " in smoke_log
    # the second stop counts on in the same submission (a requeue limit holds across jobs)
    assert "requeueing (requeue 2 of at most 20)" in text, text[-3000:]
    assert (root / "calls.log").read_text().splitlines()[2:] == [
        "scontrol requeue 5002", f"sbatch --dependency=afterany:5002 {follow}"]
    assert (runs / ".requeues-5001").read_text().strip() == "2"
    assert not (root / "report-fast.pdf").exists()

    # the login node: TeX, no GPU, no CPU=1, no scheduler; only the run folder is read
    before = _digest(smoke)
    assert before
    login = {**_env(h), "PATH": os.environ["PATH"], "CUDA_VISIBLE_DEVICES": ""}
    for key in ("UCF_FLOCK_ERRNO", "DATA", "SPLITS", "WEIGHTS", "SCRATCH_DIR",
                "SLURM_SUBMIT_DIR"):
        login.pop(key)
    if shutil.which("xelatex") is None or shutil.which("pandoc") is None:
        pytest.skip("the login-node step needs xelatex and pandoc")
    ids, python = h["runner"].ids, h["runner"].python
    # -o: the .venv is installed; make must not reinstall it. The PDF goes where the job
    # asked (REPORT_ARGS --pdf), recorded in the run folder
    done = subprocess.run(["make", "-o", ".venv/.installed", "pdf", f"RUN={smoke}",
                           f"PY={python}"], cwd=REPO,
                          env=login, capture_output=True, text=True, timeout=900, **ids)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    pdf = root / "report-fast.pdf"
    check_smoke_pdf(pdf)
    assert pdf.with_suffix(".json").is_file()
    assert _digest(smoke) == before  # nothing trained or evaluated again
