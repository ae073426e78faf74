"""`python -m helpers download --out DIR`: fetch, verify and unpack UCF-101 and its split files.

What is fetched is named in `data_manifest/ucf101.json`. Transfers stream into
`<file>.part` and resume with HTTP Range (guarded by If-Range, so a file that changed on
the server restarts from zero). A file gets its final name only after its size and sha256
check out. Archives are listed before extraction and refused whole if any member would
land outside DIR (absolute path, `..`, link, device); they unpack into a staging folder
that is renamed into place. `DIR/.verified.json` records what was verified and unpacked,
so a rerun skips finished work.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from helpers.errors import UserError
from helpers.utils.io import ensure_writable_dir, sha256_file, write_json_atomic
from helpers.paths import MANIFEST_DIR
from helpers.utils.progress import bar

MANIFEST_PATH = MANIFEST_DIR / "ucf101.json"
MARKER_NAME = ".verified.json"
UNPACKING = "unpacking"  # marker key: archive key -> the entries being renamed into place
ARCHIVE_KEYS = ("splits", "videos")  # download order: the small file first
CHUNK = 1 << 20
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_INSTALL_HINT = ("install one: `sudo apt-get install unar` (Debian/Ubuntu; or libarchive-tools "
                 "for bsdtar), `brew install unar` on macOS")


@dataclass(frozen=True)
class Archive:
    """One file of the manifest."""

    key: str  # "splits" or "videos"
    urls: tuple[str, ...]  # the official URL first, then mirrors
    filename: str
    format: str  # "zip" or "rar"
    size: int | None
    sha256: str | None
    extracts_to: str  # the top-level folder the archive unpacks to
    num_videos: int | None = None  # .avi files expected under extracts_to


# ---------------------------------------------------------------------------- manifest

def _check_sha256(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    if not _SHA256.match(value):
        raise UserError(f"{what} is not a sha256 (64 hex digits): {value!r}")
    return value.lower()


def load_manifest(path: str | os.PathLike = MANIFEST_PATH) -> tuple[dict, dict[str, Archive]]:
    """(the manifest as read, its archives by key), validated."""
    path = Path(path)
    try:
        manifest = json.loads(path.read_text())
        archives = {}
        for key, entry in manifest["archives"].items():
            size = entry.get("size")
            if size is not None and (not isinstance(size, int) or size <= 0):
                raise ValueError(f"archives.{key}.size must be a positive integer or null")
            if entry["format"] not in ("zip", "rar"):
                raise ValueError(f"archives.{key}.format must be 'zip' or 'rar'")
            name = entry["filename"]
            if not name or PurePosixPath(name).name != name:
                raise ValueError(f"archives.{key}.filename must be a bare file name")
            archives[key] = Archive(
                key=key, urls=(entry["url"], *entry.get("mirrors", [])), filename=name,
                format=entry["format"], size=size,
                sha256=_check_sha256(entry.get("sha256"), f"{path} archives.{key}.sha256"),
                extracts_to=entry["extracts_to"], num_videos=entry.get("num_videos"))
    except FileNotFoundError:
        raise UserError(f"manifest {path} does not exist; pass --manifest with a valid file") from None
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise UserError(f"manifest {path} is malformed ({type(exc).__name__}: {exc}); "
                        f"compare it with data_manifest/ucf101.json") from None
    return manifest, archives


# ---------------------------------------------------------------------------- transfer

class _Interrupted(Exception):
    """A transfer stopped early; the .part file holds what arrived and can be resumed."""


class _Unavailable(UserError):
    """The URL answered with an HTTP error before any byte: a mirror may still work."""


def verify_file(path: Path, expected_size: int | None, sha256: str | None, what: str) -> str:
    """Check size then sha256 of `path`; return its sha256. Raises UserError naming `what`."""
    size = path.stat().st_size
    if expected_size is not None and size != expected_size:
        raise UserError(f"{what} is {size} bytes but {expected_size} were expected")
    digest = sha256_file(path, desc=f"verify {path.name}")
    if sha256 is not None and digest != sha256:
        raise UserError(f"{what} has sha256 {digest} but {sha256} was expected")
    return digest


def _read_meta(meta: Path) -> dict:
    try:
        return json.loads(meta.read_text())
    except (OSError, ValueError):
        return {}


def _fetch(url: str, part: Path, expected_size: int | None, timeout: float) -> None:
    """Append the rest of `url` to `part`; return once `part` holds the whole file."""
    meta_path = part.with_name(part.name + ".json")
    meta = _read_meta(meta_path)
    offset = part.stat().st_size if part.exists() else 0
    if offset and (meta.get("url") != url or (expected_size is not None and offset > expected_size)):
        part.unlink()  # from another URL, or longer than the file: cannot be a prefix
        offset = 0
    if offset and offset == meta.get("total"):
        return
    headers = {"User-Agent": "ucf101-helpers (python urllib)"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if meta.get("validator"):  # the server sends the whole file if it changed since
            headers["If-Range"] = meta["validator"]
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # nothing left past `offset`: complete, or wrong prefix
            match = re.match(r"^bytes \*/(\d+)$", exc.headers.get("Content-Range", "") or "")
            if match and int(match[1]) == offset:
                return
            part.unlink()
            raise _Interrupted("the server refused to resume; restarting from zero") from None
        if 500 <= exc.code < 600:
            raise _Interrupted(f"HTTP {exc.code} {exc.reason}") from None
        raise _Unavailable(f"{url} answered HTTP {exc.code} {exc.reason}; check the URL, or "
                           f"use --base-url to point at a mirror") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise _Interrupted(str(getattr(exc, "reason", exc))) from None

    with resp:
        if resp.status == 206:
            match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if not match or int(match[1]) != offset:
                part.unlink(missing_ok=True)
                raise _Interrupted("the server resumed at the wrong offset; restarting from zero")
            total = None if match[3] == "*" else int(match[3])
            mode = "ab"
        elif resp.status == 200:  # no Range asked, or the server ignored it / the file changed
            offset, mode = 0, "wb"
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        else:
            raise UserError(f"{url} answered HTTP {resp.status}; expected 200 or 206")
        if expected_size is not None and total is not None and total != expected_size:
            raise UserError(f"{url} is {total} bytes but the manifest expects {expected_size}; "
                            f"the file changed on the server or the URL is wrong")
        if total is not None:
            free = shutil.disk_usage(part.parent).free
            if total - offset > free:
                raise UserError(f"{part.parent} has {free / 2**30:.1f} GiB free but "
                                f"{(total - offset) / 2**30:.1f} GiB more are needed; free "
                                f"space or choose another --out")
        validator = resp.headers.get("ETag") or resp.headers.get("Last-Modified")
        if mode == "wb" or validator != meta.get("validator"):
            write_json_atomic(meta_path, {"url": url, "validator": validator, "total": total})
        with open(part, mode) as f, bar(desc=part.name.removesuffix(".part"), total=total,
                                        initial=offset, unit="B", unit_scale=True,
                                        unit_divisor=1024) as pbar:
            while True:
                try:
                    chunk = resp.read(CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    raise _Interrupted(str(exc)) from None
                if not chunk:
                    break
                f.write(chunk)
                pbar.update(len(chunk))
            f.flush()
            os.fsync(f.fileno())
    have = part.stat().st_size
    if total is not None and have < total:
        raise _Interrupted(f"the connection closed after {have} of {total} bytes")
    if total is not None and have > total:
        part.unlink()
        raise _Interrupted(f"received {have} bytes for a {total}-byte file; restarting from zero")
    if total is None:  # length unknown up front: what arrived is the file
        write_json_atomic(meta_path, {"url": url, "validator": validator, "total": have})


class _GaveUp(UserError):
    """A URL kept failing mid-transfer; what arrived stays in the .part file."""


def _fetch_with_retries(url: str, part: Path, expected_size: int | None, *, retries: int,
                        timeout: float, retry_wait: float) -> None:
    failures = 0
    while True:
        try:
            _fetch(url, part, expected_size, timeout)
            return
        except _Interrupted as exc:
            failures += 1
            if failures > retries:
                have = part.stat().st_size if part.exists() else 0
                kept = f"; {have} bytes are kept in {part}" if have else ""
                raise _GaveUp(f"downloading {url} failed after {failures} tries ({exc}){kept}; "
                              f"check the network, then rerun the same command to resume") from None
            print(f"{part.name.removesuffix('.part')}: {exc}; retrying ({failures}/{retries})",
                  file=sys.stderr)
            time.sleep(retry_wait * 2 ** (failures - 1))


def _download(urls: Sequence[str], dest: Path, expected_size: int | None, sha256: str | None,
              *, retries: int, timeout: float, retry_wait: float) -> str:
    """download_file for a list of URLs (official first); returns the verified sha256."""
    sha256 = _check_sha256(sha256, "the expected sha256")
    if dest.exists():  # only a verified download is renamed to dest; check it all the same
        try:
            return verify_file(dest, expected_size, sha256, str(dest))
        except UserError as exc:
            raise UserError(f"{exc}; delete it and rerun to download it again") from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for index, url in enumerate(urls):
        last = index + 1 == len(urls)
        try:
            _fetch_with_retries(url, part, expected_size, retries=retries, timeout=timeout,
                                retry_wait=retry_wait)
            break
        except UserError as exc:  # this URL failed for good: fall back to the next mirror,
            # unless it delivered bytes that a rerun can resume from
            resumable = part.exists() and part.stat().st_size > 0
            if last or resumable or not isinstance(exc, (_Unavailable, _GaveUp)):
                raise
            print(f"{dest.name}: {exc}; trying the mirror {urls[index + 1]}", file=sys.stderr)
    try:
        digest = verify_file(part, expected_size, sha256, f"the download of {dest.name}")
    except UserError as exc:
        part.unlink()  # never keep bytes that failed verification; a rerun starts clean
        part.with_name(part.name + ".json").unlink(missing_ok=True)
        raise UserError(f"{exc}; the download was deleted. Rerun to fetch it again, or check "
                        f"the checksum given (--sha256 or the manifest)") from None
    os.replace(part, dest)
    part.with_name(part.name + ".json").unlink(missing_ok=True)
    return digest


def download_file(url: str, dest: str | os.PathLike, *, expected_size: int | None = None,
                  sha256: str | None = None, retries: int = 3, timeout: float = 60.0,
                  retry_wait: float = 2.0) -> Path:
    """Stream `url` to `dest`, resuming `dest.part`; verify size/sha256, then rename.

    An interrupted transfer is retried `retries` times (resuming each time), then left
    in `dest.part` for a rerun. On a size or checksum mismatch the part file is deleted
    and UserError raised: `dest` only ever holds a verified file. An existing `dest` is
    verified instead of downloaded again.
    """
    dest = Path(dest)
    _download([url], dest, expected_size, sha256, retries=retries, timeout=timeout,
              retry_wait=retry_wait)
    return dest


# ---------------------------------------------------------------------------- extraction

@dataclass(frozen=True)
class _Member:
    name: str
    kind: str  # "file", "dir" or what makes it unsafe ("symlink", "hardlink", "device", ...)


def check_members(members: Iterable[_Member], out_dir: Path, archive: Path) -> list[str]:
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
            tops = check_members((_Member(i.filename, _zip_kind(i)) for i in infos),
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


def members_from_lsar(listing: str) -> list[_Member]:
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
        members.append(_Member(entry["XADFileName"], kind))
    return members


def members_from_bsdtar(names: str, verbose: str) -> list[_Member]:
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
        members.append(_Member(name, kind))
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


# ---------------------------------------------------------------------------- the command

def _read_marker(out: Path) -> dict:
    path = out / MARKER_NAME
    if not path.exists():
        return {}
    try:
        marker = json.loads(path.read_text())
    except ValueError:
        return {}  # unreadable: redo the checks, they are cheap next to a wrong skip
    return marker if isinstance(marker, dict) else {}


def _count_videos(folder: Path) -> int:
    return sum(1 for _ in folder.rglob("*.avi"))


def check_extracted(archive: Archive, out: Path, manifest: dict) -> None:
    """Cross-check what was unpacked against the manifest's facts."""
    if not (out / archive.extracts_to).is_dir():
        raise UserError(f"{archive.filename} did not unpack to {out / archive.extracts_to}; "
                        f"the manifest and the archive disagree")
    if archive.num_videos is not None:
        found = _count_videos(out / archive.extracts_to)
        if found != archive.num_videos:
            raise UserError(f"{out / archive.extracts_to} holds {found} .avi files, not "
                            f"{archive.num_videos}; delete it and {archive.filename}, then rerun")
    if archive.key == "splits" and manifest.get("splits"):
        from helpers.data.splits import read_split

        for split, counts in manifest["splits"].items():
            parsed = read_split(out / archive.extracts_to, int(split))
            got = {"train": len(parsed.train), "test": len(parsed.test)}
            if got != {"train": counts["train"], "test": counts["test"]}:
                raise UserError(f"split {split} in {out / archive.extracts_to} has {got}, but the "
                                f"manifest expects {counts['train']}/{counts['test']}")


def _prepare_out(out: Path) -> None:
    """Check the output folder up front and create it, with one clear sentence on failure."""
    ensure_writable_dir(out, what=f"--out {out}")


def _is_finished(done: dict | None, archive: Archive, want_sha: str | None, out: Path,
                 unpacking: dict) -> bool:
    return bool(done and done.get("extracted") and archive.key not in unpacking
                and done.get("filename") == archive.filename
                and want_sha in (None, done.get("sha256"))
                and archive.size in (None, done.get("size"))
                and all((out / top).exists() for top in done["extracted"]))


def _remove_own(out: Path, top: str) -> None:
    """Remove an entry that an interrupted run of this command put in place."""
    if not top or top in (".", "..") or "/" in top or "\\" in top:
        raise UserError(f"{out / MARKER_NAME} names {top!r} as unpacked, which is not a plain "
                        f"name; delete {out / MARKER_NAME} and rerun")
    path = out / top
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _resume_unpacking(archive: Archive, out: Path, facts: dict, pending: dict,
                      digest: str) -> list[str] | None:
    """A run was stopped between putting `pending["entries"]` in place and recording them as
    done (killed, or the check after unpacking failed). Keep them if they are whole and pass
    the checks (returns them); otherwise remove them (returns None: unpack again)."""
    entries = [str(e) for e in pending.get("entries", [])]
    if (pending.get("sha256") == digest and entries
            and all((out / top).exists() for top in entries)):
        try:
            check_extracted(archive, out, facts)
            print(f"{archive.key}: finishing the unpacking of {archive.filename} that an "
                  f"interrupted run put in place", file=sys.stderr)
            return entries
        except UserError:
            pass
    for top in entries:
        _remove_own(out, top)
    print(f"{archive.key}: removed what an interrupted run had unpacked; unpacking "
          f"{archive.filename} again", file=sys.stderr)
    return None


def download_ucf101(out: str | os.PathLike, *, manifest: str | os.PathLike = MANIFEST_PATH,
                    sha256: dict[str, str] | None = None, only: Sequence[str] | None = None,
                    base_url: str | None = None, delete_archives: bool = False,
                    retries: int = 3, timeout: float = 60.0, retry_wait: float = 2.0) -> dict:
    """Download, verify and unpack the manifest's archives into `out`; returns the marker.

    `sha256` maps an archive key to a checksum that overrides the manifest's. A rerun skips
    every archive the marker records as verified and unpacked.

    Unpacking commits in two phases: the marker records the entries about to be renamed into
    `out` (under UNPACKING) before the renames, and records them as done only after the
    checks. A rerun after a kill in between knows those entries as its own, and keeps them
    (when whole and checked) or removes them and unpacks again.
    """
    out = Path(out)
    _prepare_out(out)
    facts, archives = load_manifest(manifest)
    keys = list(only) if only else [k for k in ARCHIVE_KEYS if k in archives]
    keys += [k for k in archives if not only and k not in keys]
    overrides = {k: _check_sha256(v, f"--sha256 for {k}") for k, v in (sha256 or {}).items()}
    for key in [*keys, *overrides]:
        if key not in archives:
            raise UserError(f"{manifest} has no archive {key!r}; it has {sorted(archives)}")
    marker = _read_marker(out)
    if not isinstance(marker.get(UNPACKING), dict):
        marker.pop(UNPACKING, None)
    unpacking: dict = marker.setdefault(UNPACKING, {})
    todo = []
    for key in keys:
        archive = archives[key]
        if _is_finished(marker.get(key), archive, overrides.get(key) or archive.sha256, out,
                        unpacking):
            print(f"{key}: already verified and unpacked in {out}; skipping", file=sys.stderr)
        else:
            todo.append(key)
    # Before any byte is fetched: finding out after a 6.5 GB download is too late.
    for key in todo:
        if archives[key].format == "rar":
            rar_tools(archives[key].filename)
            break
    for key in todo:
        archive = archives[key]
        want_sha = overrides.get(key) or archive.sha256
        done = marker.get(key)
        urls = archive.urls
        if base_url:
            urls = (f"{base_url.rstrip('/')}/{archive.filename}",)
        dest = out / archive.filename
        digest = _download(urls, dest, archive.size, want_sha, retries=retries, timeout=timeout,
                           retry_wait=retry_wait)
        extracted = None
        if isinstance(unpacking.get(key), dict):
            extracted = _resume_unpacking(archive, out, facts, unpacking[key], digest)
        elif (done and done.get("sha256") == digest and done.get("extracted")
                and all((out / top).exists() for top in done["extracted"])):
            extracted = done["extracted"]  # unpacked from these very bytes before
        if extracted is None:
            def record(tops: list[str], key: str = key, digest: str = digest) -> None:
                unpacking[key] = {"filename": archives[key].filename, "sha256": digest,
                                  "entries": tops}
                write_json_atomic(out / MARKER_NAME, marker)

            extract = safe_extract_zip if archive.format == "zip" else extract_rar
            extracted = extract(dest, out, before_commit=record)
        check_extracted(archive, out, facts)
        marker[key] = {"filename": archive.filename, "size": dest.stat().st_size,
                       "sha256": digest, "extracted": extracted,
                       "sha256_checked": want_sha is not None}
        unpacking.pop(key, None)
        write_json_atomic(out / MARKER_NAME, _without_empty_unpacking(marker))
        if delete_archives:
            dest.unlink()
        print(f"{key}: {archive.filename} verified (sha256 {digest}); unpacked {extracted} "
              f"in {out}", file=sys.stderr)
    return _without_empty_unpacking(marker)


def _without_empty_unpacking(marker: dict) -> dict:
    return {k: v for k, v in marker.items() if k != UNPACKING or v}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path,
                        help="folder to download into (gets UCF-101/ and ucfTrainTestlist/)")
    parser.add_argument("--only", choices=ARCHIVE_KEYS,
                        help="fetch only the split files (~114 KB) or only the videos (~6.5 GB)")
    parser.add_argument("--sha256", action="append", default=[], metavar="[KEY=]HEX",
                        type=_sha256_arg,
                        help="expected sha256, overriding the manifest; KEY is splits or videos "
                             "and may be left out with --only (repeatable)")
    parser.add_argument("--manifest", type=Path, default=MANIFEST_PATH,
                        help="manifest naming the files (default: data_manifest/ucf101.json)")
    parser.add_argument("--base-url", metavar="URL",
                        help="fetch <URL>/<file name> from a mirror instead of the manifest's URLs")
    parser.add_argument("--delete-archives", action="store_true",
                        help="delete each archive once it is verified and unpacked")


def _sha256_arg(text: str) -> str:
    """argparse type of --sha256: [KEY=]HEX with a known KEY and 64 hex digits."""
    key, sep, hexdigest = text.rpartition("=")
    if sep and key not in ARCHIVE_KEYS:
        raise argparse.ArgumentTypeError(f"{key!r} is not one of {', '.join(ARCHIVE_KEYS)}; "
                                         f"write KEY=HEX, e.g. videos=<64 hex digits>")
    if not _SHA256.match(hexdigest):
        raise argparse.ArgumentTypeError(f"{hexdigest!r} is not a sha256 (64 hex digits)")
    return text


def _parse_sha256_args(values: Sequence[str], only: str | None) -> dict[str, str]:
    result: dict[str, str] = {}
    for value in values:
        key, sep, hexdigest = value.rpartition("=")
        if not sep:
            if only is None:
                raise UserError("a bare --sha256 needs --only splits|videos to say which file it "
                                "checks; or write --sha256 videos=HEX")
            key = only
        result[key] = hexdigest
    return result


def run(args: argparse.Namespace) -> int:
    only = [args.only] if args.only else None
    download_ucf101(args.out, manifest=args.manifest, sha256=_parse_sha256_args(args.sha256, args.only),
                    only=only, base_url=args.base_url, delete_archives=args.delete_archives)
    return 0
