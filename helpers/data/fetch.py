"""Resumable HTTP download of one URL into a `.part` file, with retries.

What has arrived stays in `<file>.part`; `<file>.part.json` records the URL, the server's
validator (ETag or Last-Modified) and the total size. A rerun asks for the rest with
`Range: bytes=N-`, guarded by `If-Range: <validator>`, so a file that changed on the server
comes back whole (200) instead of being appended to. The answers it handles:

- 206 Partial Content: append, if it resumes at the offset asked for;
- 200 OK: the whole file (no Range asked, Range ignored, or the file changed): start over;
- 416 Range Not Satisfiable: nothing past the offset, so the part is complete when its
  length is the server's, and a wrong prefix otherwise (deleted, restarted);
- 5xx and broken connections: `Interrupted`, retried; other 4xx: `Unavailable` (a mirror
  may still work).

Before streaming, the total is checked against the expected size and the free disk space;
the written bytes are fsynced before the size checks.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from helpers.errors import UserError
from helpers.utils.files import read_json
from helpers.utils.io import write_json_atomic
from helpers.utils.progress import bar

CHUNK = 1 << 20
USER_AGENT = "ucf101-helpers (python urllib)"
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_UNSATISFIED_RANGE = re.compile(r"^bytes \*/(\d+)$")


class Interrupted(Exception):
    """A transfer stopped early; the .part file holds what arrived and can be resumed."""


class Unavailable(UserError):
    """The URL answered with an HTTP error before any byte: a mirror may still work."""


class GaveUp(UserError):
    """A URL kept failing mid-transfer; what arrived stays in the .part file."""


def meta_path_for(part: Path) -> Path:
    """Where the facts about `part` (URL, validator, total) are kept."""
    return part.with_name(part.name + ".json")


def _read_meta(part: Path) -> dict[str, Any]:
    meta = read_json(meta_path_for(part), default={})
    return meta if isinstance(meta, dict) else {}


def _write_meta(part: Path, url: str, validator: str | None, total: int | None) -> None:
    write_json_atomic(meta_path_for(part), {"url": url, "validator": validator, "total": total})


def _resume_offset(url: str, part: Path, expected_size: int | None, meta: dict) -> int:
    """How many bytes of `part` can be kept: 0 when it came from another URL or is longer
    than the file (then it cannot be a prefix, and is deleted)."""
    offset = part.stat().st_size if part.exists() else 0
    if offset and (meta.get("url") != url or (expected_size is not None and offset > expected_size)):
        part.unlink()
        offset = 0
    return offset


def _headers(offset: int, meta: dict) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if meta.get("validator"):  # the server sends the whole file if it changed since
            headers["If-Range"] = meta["validator"]
    return headers


def _on_http_error(exc: urllib.error.HTTPError, url: str, part: Path, offset: int) -> None:
    """Return when a 416 says `part` is already whole; raise otherwise."""
    if exc.code == 416 and offset:  # nothing left past `offset`: complete, or wrong prefix
        match = _UNSATISFIED_RANGE.match(exc.headers.get("Content-Range", "") or "")
        if match and int(match[1]) == offset:
            return
        part.unlink()
        raise Interrupted("the server refused to resume; restarting from zero") from None
    if 500 <= exc.code < 600:
        raise Interrupted(f"HTTP {exc.code} {exc.reason}") from None
    raise Unavailable(f"{url} answered HTTP {exc.code} {exc.reason}; check the URL, or "
                      f"use --base-url to point at a mirror") from None


def _open(url: str, part: Path, offset: int, headers: dict[str, str], timeout: float) -> Any:
    """The server's response, or None when it says `part` is already whole."""
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                      timeout=timeout)
    except urllib.error.HTTPError as exc:
        _on_http_error(exc, url, part, offset)
        return None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise Interrupted(str(getattr(exc, "reason", exc))) from None


def _range(resp: Any, url: str, part: Path, offset: int) -> tuple[int, str, int | None]:
    """(offset to write at, file mode, total size or None) from the response's status."""
    if resp.status == 206:
        match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
        if not match or int(match[1]) != offset:
            part.unlink(missing_ok=True)
            raise Interrupted("the server resumed at the wrong offset; restarting from zero")
        return offset, "ab", None if match[3] == "*" else int(match[3])
    if resp.status == 200:  # no Range asked, or the server ignored it / the file changed
        length = resp.headers.get("Content-Length")
        return 0, "wb", int(length) if length and length.isdigit() else None
    raise UserError(f"{url} answered HTTP {resp.status}; expected 200 or 206")


def _check_total(url: str, part: Path, total: int | None, offset: int,
                 expected_size: int | None) -> None:
    """The file is the size the manifest expects, and the rest of it fits on the disk."""
    if total is None:
        return
    if expected_size is not None and total != expected_size:
        raise UserError(f"{url} is {total} bytes but the manifest expects {expected_size}; "
                        f"the file changed on the server or the URL is wrong")
    free = shutil.disk_usage(part.parent).free
    if total - offset > free:
        raise UserError(f"{part.parent} has {free / 2**30:.1f} GiB free but "
                        f"{(total - offset) / 2**30:.1f} GiB more are needed; free "
                        f"space or choose another --out")


def _stream(resp: Any, part: Path, mode: str, offset: int, total: int | None) -> None:
    """Write the response body to `part` (appending or from zero), then fsync it."""
    with open(part, mode) as f, bar(desc=part.name.removesuffix(".part"), total=total,
                                    initial=offset, unit="B", unit_scale=True,
                                    unit_divisor=1024) as pbar:
        while True:
            try:
                chunk = resp.read(CHUNK)
            except (OSError, http.client.HTTPException) as exc:
                raise Interrupted(str(exc)) from None
            if not chunk:
                break
            f.write(chunk)
            pbar.update(len(chunk))
        f.flush()
        os.fsync(f.fileno())


def _check_received(part: Path, total: int | None) -> int:
    """The bytes in `part`; Interrupted when they are fewer or more than the total."""
    have = part.stat().st_size
    if total is not None and have < total:
        raise Interrupted(f"the connection closed after {have} of {total} bytes")
    if total is not None and have > total:
        part.unlink()
        raise Interrupted(f"received {have} bytes for a {total}-byte file; restarting from zero")
    return have


def fetch(url: str, part: Path, expected_size: int | None, timeout: float) -> None:
    """Append the rest of `url` to `part`; return once `part` holds the whole file."""
    meta = _read_meta(part)
    offset = _resume_offset(url, part, expected_size, meta)
    if offset and offset == meta.get("total"):
        return
    resp = _open(url, part, offset, _headers(offset, meta), timeout)
    if resp is None:
        return
    with resp:
        offset, mode, total = _range(resp, url, part, offset)
        _check_total(url, part, total, offset, expected_size)
        validator = resp.headers.get("ETag") or resp.headers.get("Last-Modified")
        if mode == "wb" or validator != meta.get("validator"):
            _write_meta(part, url, validator, total)
        _stream(resp, part, mode, offset, total)
    have = _check_received(part, total)
    if total is None:  # length unknown up front: what arrived is the file
        _write_meta(part, url, validator, have)


def fetch_with_retries(url: str, part: Path, expected_size: int | None, *, retries: int,
                       timeout: float, retry_wait: float) -> None:
    """`fetch`, resumed after each interruption up to `retries` times with exponential
    back-off; GaveUp (what arrived is kept) after that."""
    failures = 0
    while True:
        try:
            fetch(url, part, expected_size, timeout)
            return
        except Interrupted as exc:
            failures += 1
            if failures > retries:
                have = part.stat().st_size if part.exists() else 0
                kept = f"; {have} bytes are kept in {part}" if have else ""
                raise GaveUp(f"downloading {url} failed after {failures} tries ({exc}){kept}; "
                             f"check the network, then rerun the same command to resume") from None
            print(f"{part.name.removesuffix('.part')}: {exc}; retrying ({failures}/{retries})",
                  file=sys.stderr)
            time.sleep(retry_wait * 2 ** (failures - 1))
