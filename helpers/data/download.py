"""`python -m helpers download --out DIR`: fetch, verify and unpack UCF-101 and its split files.

What is fetched is named in `data_manifest/ucf101.json`. Transfers stream into
`<file>.part` and resume with HTTP Range (guarded by If-Range, so a file that changed on
the server restarts from zero). A file gets its final name only after its size and sha256
check out. Archives are listed before extraction and refused whole if any member would
land outside DIR (absolute path, `..`, link, device); they unpack into a staging folder
that is renamed into place. `DIR/.verified.json` records what was verified and unpacked,
so a rerun skips finished work.

The transfer itself is `helpers.data.fetch` (resumable HTTP), the unpacking
`helpers.data.extract` (checked, staged archives); this module ties them to the manifest.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from helpers.data.extract import extract_rar, rar_tools, safe_extract_zip
from helpers.data.fetch import GaveUp, Unavailable, fetch_with_retries, meta_path_for
from helpers.errors import UserError
from helpers.paths import MANIFEST_DIR
from helpers.utils.files import read_json
from helpers.utils.io import ensure_writable_dir, sha256_file, write_json_atomic

MANIFEST_PATH = MANIFEST_DIR / "ucf101.json"
MARKER_NAME = ".verified.json"
UNPACKING = "unpacking"  # marker key: archive key -> the entries being renamed into place
ARCHIVE_KEYS = ("splits", "videos")  # download order: the small file first
SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")



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
    if not SHA256_HEX.match(value):
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

def verify_file(path: Path, expected_size: int | None, sha256: str | None, what: str) -> str:
    """Check size then sha256 of `path`; return its sha256. Raises UserError naming `what`."""
    size = path.stat().st_size
    if expected_size is not None and size != expected_size:
        raise UserError(f"{what} is {size} bytes but {expected_size} were expected")
    digest = sha256_file(path, desc=f"verify {path.name}")
    if sha256 is not None and digest != sha256:
        raise UserError(f"{what} has sha256 {digest} but {sha256} was expected")
    return digest



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
            fetch_with_retries(url, part, expected_size, retries=retries, timeout=timeout,
                                retry_wait=retry_wait)
            break
        except UserError as exc:  # this URL failed for good: fall back to the next mirror,
            # unless it delivered bytes that a rerun can resume from
            resumable = part.exists() and part.stat().st_size > 0
            if last or resumable or not isinstance(exc, (Unavailable, GaveUp)):
                raise
            print(f"{dest.name}: {exc}; trying the mirror {urls[index + 1]}", file=sys.stderr)
    try:
        digest = verify_file(part, expected_size, sha256, f"the download of {dest.name}")
    except UserError as exc:
        part.unlink()  # never keep bytes that failed verification; a rerun starts clean
        meta_path_for(part).unlink(missing_ok=True)
        raise UserError(f"{exc}; the download was deleted. Rerun to fetch it again, or check "
                        f"the checksum given (--sha256 or the manifest)") from None
    os.replace(part, dest)
    meta_path_for(part).unlink(missing_ok=True)
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



# ---------------------------------------------------------------------------- the command

def _read_marker(out: Path) -> dict:
    """The marker of earlier runs, with an UNPACKING entry (a dict); an unreadable marker
    counts as none: redoing the checks is cheap next to a wrong skip."""
    marker = read_json(out / MARKER_NAME, default={})
    marker = marker if isinstance(marker, dict) else {}
    if not isinstance(marker.get(UNPACKING), dict):
        marker.pop(UNPACKING, None)
    marker.setdefault(UNPACKING, {})
    return marker


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


@dataclass(frozen=True)
class _Session:
    """One `download` run: where to, the manifest's facts, the marker, and how to fetch."""
    out: Path
    facts: dict
    marker: dict  # updated in place and written to out/MARKER_NAME as work completes
    retries: int
    timeout: float
    retry_wait: float
    base_url: str | None
    delete_archives: bool

    def urls(self, archive: Archive) -> tuple[str, ...]:
        if self.base_url:
            return (f"{self.base_url.rstrip('/')}/{archive.filename}",)
        return archive.urls

    def save(self) -> None:
        write_json_atomic(self.out / MARKER_NAME, _without_empty_unpacking(self.marker))


def _archive_keys(archives: dict[str, Archive], only: Sequence[str] | None,
                  overrides: dict[str, str | None], manifest: str | os.PathLike) -> list[str]:
    """The archives to handle, in download order; UserError for a key the manifest lacks."""
    keys = list(only) if only else [k for k in ARCHIVE_KEYS if k in archives]
    keys += [k for k in archives if not only and k not in keys]
    for key in [*keys, *overrides]:
        if key not in archives:
            raise UserError(f"{manifest} has no archive {key!r}; it has {sorted(archives)}")
    return keys


def _record_unpacking(session: _Session, archive: Archive, digest: str, tops: list[str]) -> None:
    """Before the renames: the marker names the entries about to be put in place."""
    session.marker[UNPACKING][archive.key] = {"filename": archive.filename, "sha256": digest,
                                              "entries": tops}
    write_json_atomic(session.out / MARKER_NAME, session.marker)


def _unpack(session: _Session, archive: Archive, dest: Path, digest: str) -> list[str]:
    """The entries `dest` unpacked to: kept from an earlier run when they came from these
    very bytes, else unpacked now."""
    out, pending = session.out, session.marker[UNPACKING].get(archive.key)
    done = session.marker.get(archive.key)
    extracted = None
    if isinstance(pending, dict):
        extracted = _resume_unpacking(archive, out, session.facts, pending, digest)
    elif (done and done.get("sha256") == digest and done.get("extracted")
            and all((out / top).exists() for top in done["extracted"])):
        extracted = done["extracted"]  # unpacked from these very bytes before
    if extracted is None:
        record = functools.partial(_record_unpacking, session, archive, digest)
        extract = safe_extract_zip if archive.format == "zip" else extract_rar
        extracted = extract(dest, out, before_commit=record)
    return extracted


def _install(session: _Session, archive: Archive, want_sha: str | None) -> None:
    """Fetch, verify and unpack one archive, then record it as done in the marker."""
    dest = session.out / archive.filename
    digest = _download(session.urls(archive), dest, archive.size, want_sha,
                       retries=session.retries, timeout=session.timeout,
                       retry_wait=session.retry_wait)
    extracted = _unpack(session, archive, dest, digest)
    check_extracted(archive, session.out, session.facts)
    session.marker[archive.key] = {"filename": archive.filename, "size": dest.stat().st_size,
                                   "sha256": digest, "extracted": extracted,
                                   "sha256_checked": want_sha is not None}
    session.marker[UNPACKING].pop(archive.key, None)
    session.save()
    if session.delete_archives:
        dest.unlink()
    print(f"{archive.key}: {archive.filename} verified (sha256 {digest}); unpacked {extracted} "
          f"in {session.out}", file=sys.stderr)


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
    overrides = {k: _check_sha256(v, f"--sha256 for {k}") for k, v in (sha256 or {}).items()}
    keys = _archive_keys(archives, only, overrides, manifest)
    session = _Session(out, facts, _read_marker(out), retries, timeout, retry_wait, base_url,
                       delete_archives)
    want = {k: overrides.get(k) or archives[k].sha256 for k in keys}
    todo = []
    for key in keys:
        if _is_finished(session.marker.get(key), archives[key], want[key], out,
                        session.marker[UNPACKING]):
            print(f"{key}: already verified and unpacked in {out}; skipping", file=sys.stderr)
        else:
            todo.append(key)
    # Before any byte is fetched: finding out after a 6.5 GB download is too late.
    rars = [archives[k] for k in todo if archives[k].format == "rar"]
    if rars:
        rar_tools(rars[0].filename)
    for key in todo:
        _install(session, archives[key], want[key])
    return _without_empty_unpacking(session.marker)


def _without_empty_unpacking(marker: dict) -> dict:
    return {k: v for k, v in marker.items() if k != UNPACKING or v}
