"""Unpacking an archive safely: every member is listed and checked before anything is
written, and the whole archive is refused if one could land outside the output folder
(absolute path, `..`, link, device). Members unpack into a staging folder inside the output
folder whose top-level entries are then renamed into place, so an interrupted extraction
never leaves a half-filled folder under its final name.

Zip is read with Python's zipfile; RAR (UCF-101's videos) with Debian's `unar`/`lsar` or
libarchive's `bsdtar`, whichever is installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from helpers.errors import UserError
from helpers.utils.progress import bar

CHUNK = 1 << 20
_INSTALL_HINT = ("install one: `sudo apt-get install unar` (Debian/Ubuntu; or libarchive-tools "
                 "for bsdtar), `brew install unar` on macOS")


@dataclass(frozen=True)
class Member:
    name: str
    kind: str  # "file", "dir" or what makes it unsafe ("symlink", "hardlink", "device", ...)


def check_members(members: Iterable[Member], out_dir: Path, archive: Path) -> list[str]:
    """Refuse the whole archive if any member could land outside `out_dir`; top-level names."""
    root = out_dir.resolve()
    tops: list[str] = []
    for member in members:
        name = member.name.replace("\\", "/")
        parts = [p for p in name.split("/") if p not in ("", ".")]
        why = None
        if member.kind not in ("file", "dir"):
            why = f"it is a {member.kind}"
        elif not parts or "\0" in name:
            why = "its name is empty or invalid"
        elif name.startswith("/") or re.match(r"^[A-Za-z]:", name):
            why = "its path is absolute"
        elif ".." in parts:
            why = "its path contains '..'"
        elif not (root / Path(*parts)).resolve().is_relative_to(root):
            why = "it resolves outside the output folder"
        if why:
            raise UserError(f"refusing to extract {archive}: member {member.name!r} is unsafe "
                            f"({why}); the archive may be corrupt or hostile — delete it and "
                            f"download it again")
        if parts[0] not in tops:
            tops.append(parts[0])
    return tops


def _zip_kind(info: zipfile.ZipInfo) -> str:
    mode = info.external_attr >> 16
    if info.is_dir():
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    if mode and not stat.S_ISREG(mode) and stat.S_IFMT(mode):
        return "special file"
    return "file"


def _check_free_space(out_dir: Path, needed: int, what: str) -> None:
    free = shutil.disk_usage(out_dir).free
    if needed > free:
        raise UserError(f"{out_dir} has {free / 2**30:.1f} GiB free but unpacking {what} needs "
                        f"about {needed / 2**30:.1f} GiB; free space or choose another --out")


def _stage_and_commit(out_dir: Path, archive: Path, tops: list[str],
                      extract: Callable[[Path], None],
                      before_commit: Callable[[list[str]], None] | None = None) -> list[str]:
    """Extract into a staging folder inside out_dir, check it, then rename each top-level entry
    into place: an interrupted extraction never leaves a half-filled folder under its final name.

    `before_commit(tops)` runs once the staged tree is checked, just before the renames: the
    download command records there which entries it is about to put in place, so a rerun
    after a kill between the renames and its own marker knows those entries as its own."""
    for top in tops:
        if (out_dir / top).exists() or (out_dir / top).is_symlink():
            raise UserError(f"{out_dir / top} already exists and was not unpacked by this command; "
                            f"move it away or choose another --out")
    for stale in out_dir.glob(f".extract-{archive.name}-*"):  # left by an interrupted run
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".extract-{archive.name}-", dir=out_dir))
    try:
        extract(staging)
        for dirpath, dirnames, filenames in os.walk(staging):
            for name in dirnames + filenames:
                path = Path(dirpath, name)
                if path.is_symlink() or not (path.is_dir() or path.is_file()):
                    raise UserError(f"refusing {archive}: extraction produced {path.relative_to(staging)}, "
                                    f"which is not a regular file or folder")
        found = sorted(p.name for p in staging.iterdir())
        if sorted(tops) != found:
            raise UserError(f"unpacking {archive} produced {found}, not the listed {sorted(tops)}; "
                            f"the archive may be corrupt — delete it and download it again")
        if before_commit is not None:
            before_commit(tops)
        for top in tops:
            os.replace(staging / top, out_dir / top)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return tops


def safe_extract_zip(zip_path: str | os.PathLike, out_dir: str | os.PathLike, *,
                     before_commit: Callable[[list[str]], None] | None = None) -> list[str]:
    """Unpack a zip into out_dir after checking every member; returns the top-level names.

    Any absolute path, `..` component, symlink or special file refuses the whole archive
    before anything is written. `before_commit`: see `_stage_and_commit`.
    """
    zip_path, out_dir = Path(zip_path), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(zip_path) as zf:
            infos = zf.infolist()
            tops = check_members((Member(i.filename, _zip_kind(i)) for i in infos),
                                  out_dir, zip_path)
            _check_free_space(out_dir, sum(i.file_size for i in infos), zip_path.name)

            def extract(staging: Path) -> None:
                for info in bar(infos, desc=f"unpack {zip_path.name}", unit="file"):
                    target = staging.joinpath(*[p for p in info.filename.replace("\\", "/").split("/")
                                                if p not in ("", ".")])
                    if info.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst, CHUNK)

            return _stage_and_commit(out_dir, zip_path, tops, extract, before_commit)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, RuntimeError, EOFError) as exc:
        raise UserError(f"{zip_path} is not a readable zip ({exc}); delete it and download "
                        f"it again") from None


def members_from_lsar(listing: str) -> list[Member]:
    """Members from `lsar -j` (JSON with lsarContents[] of XAD* properties)."""
    members = []
    for entry in json.loads(listing)["lsarContents"]:
        kind = "file"
        if entry.get("XADIsSymbolicLink") or entry.get("XADIsLink") or "XADLinkDestination" in entry:
            kind = "symlink"
        elif entry.get("XADIsHardLink"):
            kind = "hardlink"
        elif any(entry.get(k) for k in ("XADIsSpecialFile", "XADIsDevice", "XADIsFIFO",
                                        "XADIsCharacterDevice", "XADIsBlockDevice", "XADIsSocket")):
            kind = "special file"
        elif entry.get("XADIsDirectory"):
            kind = "dir"
        members.append(Member(entry["XADFileName"], kind))
    return members


def members_from_bsdtar(names: str, verbose: str) -> list[Member]:
    """Members from `bsdtar -tf` (names) paired with `bsdtar -tvf` (ls-style, for types)."""
    name_lines = names.splitlines()
    verbose_lines = verbose.splitlines()
    if len(name_lines) != len(verbose_lines):
        raise ValueError("the short and long listings disagree (a member name holds a newline?)")
    members = []
    for name, line in zip(name_lines, verbose_lines, strict=True):
        kinds = {"-": "file", "d": "dir", "l": "symlink", "h": "hardlink"}
        kind = kinds.get(line[:1], "special file")
        if kind == "file" and " link to " in line:
            kind = "hardlink"
        members.append(Member(name, kind))
    return members


def _run_listing(cmd: list[str], archive: Path) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, errors="surrogateescape")
    if result.returncode != 0:
        raise UserError(f"`{' '.join(cmd[:2])}` could not list {archive} "
                        f"({result.stderr.strip()[:200] or 'exit ' + str(result.returncode)}); "
                        f"the archive may be incomplete — delete it and download it again")
    return result.stdout


def _run_with_progress(cmd: list[str], archive: Path, total: int) -> None:
    """Run an extractor that prints a line per member; drive a progress bar from those lines."""
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace") as proc, \
            bar(desc=f"unpack {archive.name}", total=total, unit="file") as pbar:
        tail: list[str] = []
        failed = False
        assert proc.stdout is not None
        for line in proc.stdout:
            pbar.update(1)
            tail = (tail + [line.rstrip()])[-5:]
            failed = failed or "Failed!" in line  # unar's per-member error marker
    if proc.returncode != 0 or failed:
        raise UserError(f"`{cmd[0]}` failed on {archive} (exit {proc.returncode}: "
                        f"{' | '.join(tail)[-300:]}); the archive may be corrupt — delete it "
                        f"and download it again")


def rar_tools(what: str) -> list[str]:
    """[unar, lsar] or [bsdtar]: the tool that unpacks RAR on this machine; UserError naming
    the packages to install when there is none. `what` names the archive in the message."""
    unar, lsar, bsdtar = shutil.which("unar"), shutil.which("lsar"), shutil.which("bsdtar")
    if unar and lsar:
        return [unar, lsar]
    if bsdtar:
        return [bsdtar]
    raise UserError(f"unpacking {what} needs `unar` or `bsdtar`, and neither is on PATH; "
                    f"{_INSTALL_HINT}")


def extract_rar(rar_path: str | os.PathLike, out_dir: str | os.PathLike, *,
                before_commit: Callable[[list[str]], None] | None = None) -> list[str]:
    """Unpack a RAR (v4) with Debian's `unar` or libarchive's `bsdtar`; returns top-level names.

    Members are listed and checked first (as in safe_extract_zip); either tool also reads
    zip and tar, which the tests use where a tool is installed. `before_commit`: see
    `_stage_and_commit`.
    """
    rar_path, out_dir = Path(rar_path), Path(out_dir)
    tools = rar_tools(rar_path.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        if len(tools) == 2:
            unar, lsar = tools
            members = members_from_lsar(_run_listing([lsar, "-j", str(rar_path)], rar_path))
            cmd = [unar, "-o", "{staging}", "-D", "-f", "-no-recursion", str(rar_path)]
        else:
            bsdtar = tools[0]
            members = members_from_bsdtar(
                _run_listing([bsdtar, "-tf", str(rar_path)], rar_path),
                _run_listing([bsdtar, "-tvf", str(rar_path)], rar_path))
            cmd = [bsdtar, "-xvf", str(rar_path), "-C", "{staging}", "--no-same-owner"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"could not read the member list of {rar_path} ({exc}); refusing to "
                        f"extract it") from None
    tops = check_members(members, out_dir, rar_path)
    # AVIs are already compressed: the unpacked tree is about the archive's size.
    _check_free_space(out_dir, rar_path.stat().st_size, rar_path.name)

    def extract(staging: Path) -> None:
        _run_with_progress([str(staging) if a == "{staging}" else a for a in cmd], rar_path,
                           total=len(members))

    return _stage_and_commit(out_dir, rar_path, tops, extract, before_commit)

