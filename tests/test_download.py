"""download: resumable, verified transfers from a local Range-capable HTTP server, and
archives refused when a member would land outside the output folder."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import re
import shutil
import stat
import threading
import zipfile
from pathlib import Path

import pytest

from helpers.cli import main
from helpers.data import download as dl
from helpers.data import extract
from helpers.errors import UserError


class _Server:
    """Serves `files` (URL path -> bytes) with HTTP Range; records every request."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[dict] = []
        self.cut_after: list[int] = []  # per response, in order: close after this many body bytes
        self.ignore_range = False
        self.etag = '"v1"'
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                server.requests.append({"path": self.path, "range": self.headers.get("Range"),
                                        "if_range": self.headers.get("If-Range")})
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                match = re.match(r"^bytes=(\d+)-$", self.headers.get("Range") or "")
                if_range = self.headers.get("If-Range")
                if match and not server.ignore_range and if_range in (None, server.etag):
                    start = int(match[1])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("ETag", server.etag)
                self.end_headers()
                body = data[start:]
                if server.cut_after:
                    body = body[:server.cut_after.pop(0)]
                    self.close_connection = True
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server():
    srv = _Server()
    yield srv
    srv.close()


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("UCF_NO_PROGRESS", "1")


def _payload(n: int, seed: int = 0) -> bytes:
    return bytes((i * 7 + seed * 13 + i // 251) % 256 for i in range(n))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------- transfers

def test_interrupted_transfer_resumes_with_range_and_yields_identical_bytes(server, tmp_path):
    data = _payload(300_000)
    server.files["/big.bin"] = data
    server.cut_after = [100_000]
    dest = dl.download_file(server.url("/big.bin"), tmp_path / "big.bin", expected_size=len(data),
                            sha256=_sha(data), retry_wait=0)
    assert dest.read_bytes() == data
    assert [r["range"] for r in server.requests] == [None, "bytes=100000-"]
    assert server.requests[1]["if_range"] == '"v1"'
    assert not (tmp_path / "big.bin.part").exists()
    assert not (tmp_path / "big.bin.part.json").exists()


def test_a_rerun_resumes_the_part_file_left_by_an_interrupted_run(server, tmp_path):
    data = _payload(200_000, seed=1)
    server.files["/f.bin"] = data
    server.cut_after = [50_000]
    with pytest.raises(UserError, match="rerun the same command to resume"):
        dl.download_file(server.url("/f.bin"), tmp_path / "f.bin", retries=0)
    assert (tmp_path / "f.bin.part").stat().st_size == 50_000
    assert not (tmp_path / "f.bin").exists()

    dl.download_file(server.url("/f.bin"), tmp_path / "f.bin", sha256=_sha(data), retries=0)
    assert (tmp_path / "f.bin").read_bytes() == data
    assert server.requests[-1]["range"] == "bytes=50000-"


def test_complete_part_left_by_a_crash_before_verification_is_not_fetched_again(
        server, tmp_path, monkeypatch):
    data = _payload(60_000, seed=6)
    server.files["/f.bin"] = data
    real_verify = dl.verify_file

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dl, "verify_file", crash)
    with pytest.raises(KeyboardInterrupt):
        dl.download_file(server.url("/f.bin"), tmp_path / "f.bin")
    assert (tmp_path / "f.bin.part").stat().st_size == len(data)
    monkeypatch.setattr(dl, "verify_file", real_verify)
    dl.download_file(server.url("/f.bin"), tmp_path / "f.bin", sha256=_sha(data))
    assert (tmp_path / "f.bin").read_bytes() == data
    assert len(server.requests) == 1


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    data = _payload(120_000, seed=2)
    server.files["/f.bin"] = data
    server.cut_after = [40_000]
    server.ignore_range = True
    dest = dl.download_file(server.url("/f.bin"), tmp_path / "f.bin", sha256=_sha(data),
                            retry_wait=0)
    assert dest.read_bytes() == data  # not 40,000 bytes spliced twice
    assert server.requests[1]["range"] == "bytes=40000-"


def test_file_changed_on_server_restarts_instead_of_splicing(server, tmp_path):
    old, new = _payload(90_000, seed=3), _payload(90_000, seed=4)
    server.files["/f.bin"] = old
    server.cut_after = [30_000]
    with pytest.raises(UserError):
        dl.download_file(server.url("/f.bin"), tmp_path / "f.bin", retries=0)
    server.files["/f.bin"], server.etag = new, '"v2"'  # If-Range no longer matches: 200
    dest = dl.download_file(server.url("/f.bin"), tmp_path / "f.bin", retries=0)
    assert dest.read_bytes() == new


def test_checksum_mismatch_is_a_clear_error_and_leaves_no_file(server, tmp_path):
    data = _payload(50_000, seed=5)
    server.files["/f.bin"] = data
    wrong = _sha(data + b"x")
    with pytest.raises(UserError, match="sha256") as exc:
        dl.download_file(server.url("/f.bin"), tmp_path / "f.bin", sha256=wrong)
    assert wrong in str(exc.value) and "deleted" in str(exc.value)
    assert sorted(os.listdir(tmp_path)) == []


def test_size_mismatch_is_refused_before_writing(server, tmp_path):
    server.files["/f.bin"] = _payload(1000)
    with pytest.raises(UserError, match="1000 bytes but the manifest expects 999"):
        dl.download_file(server.url("/f.bin"), tmp_path / "f.bin", expected_size=999)
    assert not (tmp_path / "f.bin").exists() and not (tmp_path / "f.bin.part").exists()


def test_http_error_names_the_url_and_bad_checksum_argument_is_refused(server, tmp_path):
    with pytest.raises(UserError, match="HTTP 404"):
        dl.download_file(server.url("/missing.bin"), tmp_path / "x.bin")
    with pytest.raises(UserError, match="64 hex digits"):
        dl.download_file(server.url("/missing.bin"), tmp_path / "x.bin", sha256="abc")


def test_existing_verified_file_is_not_fetched_again(server, tmp_path):
    data = _payload(10_000)
    server.files["/f.bin"] = data
    dl.download_file(server.url("/f.bin"), tmp_path / "f.bin", sha256=_sha(data))
    dl.download_file(server.url("/f.bin"), tmp_path / "f.bin", sha256=_sha(data))
    assert len(server.requests) == 1
    with pytest.raises(UserError, match="delete it and rerun"):
        dl.download_file(server.url("/f.bin"), tmp_path / "f.bin", sha256=_sha(b"other"))


# ---------------------------------------------------------------------------- zip safety

def _zip(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for info, data in entries:
            zf.writestr(info, data)
    return buf.getvalue()


def _symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # unix, so the mode bits below are meaningful
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_safe_extract_zip_unpacks_nested_members(tmp_path):
    archive = tmp_path / "ok.zip"
    archive.write_bytes(_zip([("top/a.txt", b"a"), ("top/sub/b.txt", b"bb"),
                              (zipfile.ZipInfo("top/empty/"), b"")]))
    out = tmp_path / "out"
    assert extract.safe_extract_zip(archive, out) == ["top"]
    assert (out / "top/sub/b.txt").read_bytes() == b"bb"
    assert _tree(out) == ["top", "top/a.txt", "top/empty", "top/sub", "top/sub/b.txt"]


@pytest.mark.parametrize(("hostile", "reason"), [
    (("../evil.txt", b"x"), "contains '..'"),
    (("top/../../evil.txt", b"x"), "contains '..'"),
    (("/tmp/abs-evil.txt", b"x"), "absolute"),
    (("C:/evil.txt", b"x"), "absolute"),
    ((_symlink_info("top/link"), b"../../../etc/passwd"), "it is a symlink"),
], ids=["dotdot", "nested-dotdot", "absolute", "drive", "symlink"])
def test_hostile_zip_is_refused_whole_and_writes_nothing(tmp_path, hostile, reason):
    archive = tmp_path / "in" / "bad.zip"
    archive.parent.mkdir()
    archive.write_bytes(_zip([("top/fine.txt", b"fine"), hostile]))
    out = tmp_path / "a" / "out"
    before = _tree(tmp_path)
    with pytest.raises(UserError, match="unsafe") as exc:
        extract.safe_extract_zip(archive, out)
    assert reason in str(exc.value)
    assert _tree(tmp_path) == sorted([*before, "a", "a/out"])  # nothing inside or outside
    assert not Path("/tmp/abs-evil.txt").exists()


def test_corrupt_zip_is_a_user_error(tmp_path):
    archive = tmp_path / "bad.zip"
    archive.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(UserError, match="not a readable zip"):
        extract.safe_extract_zip(archive, tmp_path / "out")


def test_extraction_never_overwrites_an_existing_folder(tmp_path):
    archive = tmp_path / "ok.zip"
    archive.write_bytes(_zip([("top/a.txt", b"new")]))
    (tmp_path / "out" / "top").mkdir(parents=True)
    (tmp_path / "out" / "top" / "a.txt").write_bytes(b"mine")
    with pytest.raises(UserError, match="already exists"):
        extract.safe_extract_zip(archive, tmp_path / "out")
    assert (tmp_path / "out" / "top" / "a.txt").read_bytes() == b"mine"
    assert _tree(tmp_path / "out") == ["top", "top/a.txt"]  # staging folder cleaned up


# ---------------------------------------------------------------------------- rar tooling

def test_rar_without_unar_or_bsdtar_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    archive = tmp_path / "UCF101.rar"
    archive.write_bytes(b"Rar!\x1a\x07\x00")
    with pytest.raises(UserError, match="apt-get install unar"):
        extract.extract_rar(archive, tmp_path / "out")


def test_member_listings_flag_links_and_special_files():
    # Key names are those of `lsar -j` (XADFileName, XADIs*) and columns of `bsdtar -tv`.
    lsar = json.dumps({"lsarContents": [
        {"XADFileName": "UCF-101", "XADIsDirectory": 1},
        {"XADFileName": "UCF-101/a.avi"},
        {"XADFileName": "UCF-101/l", "XADIsSymbolicLink": 1, "XADLinkDestination": "/etc"},
        {"XADFileName": "UCF-101/h", "XADIsHardLink": 1},
    ]})
    assert [m.kind for m in extract.members_from_lsar(lsar)] == ["dir", "file", "symlink", "hardlink"]
    names = "UCF-101/\nUCF-101/a.avi\nUCF-101/l\n"
    verbose = ("drwxr-xr-x  0 0 0  0 Jan  1  2012 UCF-101/\n"
               "-rw-r--r--  0 0 0 10 Jan  1  2012 UCF-101/a.avi\n"
               "lrwxrwxrwx  0 0 0  0 Jan  1  2012 UCF-101/l -> /etc\n")
    assert [m.kind for m in extract.members_from_bsdtar(names, verbose)] == ["dir", "file", "symlink"]
    with pytest.raises(UserError, match="symlink"):
        extract.check_members(extract.members_from_lsar(lsar), Path("/nonexistent/out"), Path("x.rar"))


@pytest.mark.skipif(not (shutil.which("bsdtar") or (shutil.which("unar") and shutil.which("lsar"))),
                    reason="neither unar nor bsdtar is installed")
def test_extract_rar_tool_path_on_a_zip(tmp_path):
    # Both tools read zip too, so the subprocess path is exercised without a RAR writer.
    good, bad = tmp_path / "good.zip", tmp_path / "bad.zip"
    good.write_bytes(_zip([("UCF-101/A/v_A_g01_c01.avi", b"video")]))
    bad.write_bytes(_zip([("UCF-101/ok.avi", b"x"), ("../evil.avi", b"x")]))
    assert extract.extract_rar(good, tmp_path / "out") == ["UCF-101"]
    assert (tmp_path / "out/UCF-101/A/v_A_g01_c01.avi").read_bytes() == b"video"
    with pytest.raises(UserError, match="unsafe"):
        extract.extract_rar(bad, tmp_path / "out2")
    assert not (tmp_path / "evil.avi").exists()


# ---------------------------------------------------------------------------- the command

def _splits_zip() -> bytes:
    """A tiny split archive in the official layout (CRLF, ucfTrainTestlist/)."""
    crlf = "\r\n".join
    files = {"classInd.txt": crlf(["1 Alpha", "2 Beta"]) + "\r\n"}
    for k in (1, 2, 3):
        test_group = 7 * (k - 1) + 1
        train = [f"{c}/v_{c}_g22_c01.avi {i}" for i, c in ((1, "Alpha"), (2, "Beta"))]
        test = [f"{c}/v_{c}_g{test_group:02d}_c01.avi" for c in ("Alpha", "Beta")]
        files[f"trainlist0{k}.txt"] = crlf(train) + "\r\n"
        files[f"testlist0{k}.txt"] = crlf(test) + "\r\n"
    return _zip([(f"ucfTrainTestlist/{n}", t.encode()) for n, t in files.items()])


def _manifest(tmp_path: Path, server: _Server, data: bytes, **extra) -> Path:
    entry = {"url": server.url("/splits.zip"), "filename": "splits.zip", "format": "zip",
             "size": len(data), "sha256": _sha(data), "extracts_to": "ucfTrainTestlist"}
    manifest = {"archives": {"splits": entry},
                "splits": {str(k): {"train": 2, "test": 2} for k in (1, 2, 3)}, **extra}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    return path


def test_download_command_fetches_verifies_unpacks_and_a_rerun_skips(server, tmp_path, capsys):
    data = _splits_zip()
    server.files["/splits.zip"] = data
    manifest = _manifest(tmp_path, server, data)
    out = tmp_path / "data"
    assert main(["download", "--out", str(out), "--manifest", str(manifest)]) == 0
    assert (out / "ucfTrainTestlist" / "trainlist03.txt").is_file()
    marker = json.loads((out / dl.MARKER_NAME).read_text())
    assert marker["splits"]["sha256"] == _sha(data) and marker["splits"]["size"] == len(data)

    assert main(["download", "--out", str(out), "--manifest", str(manifest)]) == 0
    assert len(server.requests) == 1  # the rerun made no request
    assert "skipping" in capsys.readouterr().err

    # Extracted folder gone but archive kept: re-unpack from the verified archive, no request.
    shutil.rmtree(out / "ucfTrainTestlist")
    dl.download_ucf101(out, manifest=manifest)
    assert (out / "ucfTrainTestlist" / "classInd.txt").is_file()
    assert len(server.requests) == 1


def test_download_command_checks_split_counts_and_sha256_argument(server, tmp_path, capsys):
    data = _splits_zip()
    server.files["/splits.zip"] = data
    manifest = _manifest(tmp_path, server, data)
    facts = json.loads(manifest.read_text())
    facts["splits"]["2"]["train"] = 3
    manifest.write_text(json.dumps(facts))
    assert main(["download", "--out", str(tmp_path / "d1"), "--manifest", str(manifest)]) == 1
    assert "split 2" in capsys.readouterr().err

    facts["splits"]["2"]["train"] = 2
    facts["archives"]["splits"]["sha256"] = None
    manifest.write_text(json.dumps(facts))
    wrong = _sha(b"nope")
    argv = ["download", "--out", str(tmp_path / "d2"), "--manifest", str(manifest),
            "--only", "splits", "--sha256", wrong]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and wrong in err
    assert not (tmp_path / "d2" / "splits.zip").exists()
    assert main(["download", "--out", str(tmp_path / "d2"), "--manifest", str(manifest),
                 "--sha256", f"splits={_sha(data)}"]) == 0


def test_base_url_points_at_a_mirror(server, tmp_path):
    data = _splits_zip()
    server.files["/mirror/splits.zip"] = data
    manifest = _manifest(tmp_path, server, data)  # its own URL would 404
    dl.download_ucf101(tmp_path / "d", manifest=manifest, base_url=server.url("/mirror/"))
    assert [r["path"] for r in server.requests] == ["/mirror/splits.zip"]


def test_mirror_is_tried_when_the_official_url_fails(server, tmp_path):
    data = _splits_zip()
    server.files["/mirror/splits.zip"] = data
    manifest = _manifest(tmp_path, server, data)
    facts = json.loads(manifest.read_text())
    facts["archives"]["splits"]["mirrors"] = [server.url("/mirror/splits.zip")]
    manifest.write_text(json.dumps(facts))
    dl.download_ucf101(tmp_path / "d", manifest=manifest)
    assert [r["path"] for r in server.requests] == ["/splits.zip", "/mirror/splits.zip"]


def test_unreachable_official_host_falls_back_to_the_mirror(server, tmp_path):
    data = _splits_zip()
    server.files["/mirror/splits.zip"] = data
    manifest = _manifest(tmp_path, server, data)
    facts = json.loads(manifest.read_text())
    facts["archives"]["splits"]["url"] = "http://127.0.0.1:9/splits.zip"  # discard port: refused
    facts["archives"]["splits"]["mirrors"] = [server.url("/mirror/splits.zip")]
    manifest.write_text(json.dumps(facts))
    dl.download_ucf101(tmp_path / "d", manifest=manifest, retries=1, retry_wait=0)
    assert [r["path"] for r in server.requests] == ["/mirror/splits.zip"]


def test_project_manifest_is_well_formed():
    facts, archives = dl.load_manifest()
    assert set(archives) == {"splits", "videos"}
    assert archives["videos"].format == "rar" and archives["splits"].format == "zip"
    assert archives["videos"].urls[0] == "https://www.crcv.ucf.edu/data/UCF101/UCF101.rar"
    assert facts["num_videos"] == 13320 and facts["num_classes"] == 101


# ---------------------------------------------------------------------------- interrupted unpacking

def test_kill_between_unpacking_and_the_marker_is_finished_by_a_rerun(server, tmp_path,
                                                                    monkeypatch):
    data = _splits_zip()
    server.files["/splits.zip"] = data
    manifest = _manifest(tmp_path, server, data)
    out = tmp_path / "data"
    real_check = dl.check_extracted

    def killed(*args, **kwargs):  # the folder is renamed into place; the marker is not written
        raise KeyboardInterrupt

    monkeypatch.setattr(dl, "check_extracted", killed)
    with pytest.raises(KeyboardInterrupt):
        dl.download_ucf101(out, manifest=manifest)
    assert (out / "ucfTrainTestlist" / "classInd.txt").is_file()
    marker = json.loads((out / dl.MARKER_NAME).read_text())
    assert "splits" not in marker and marker[dl.UNPACKING]["splits"]["entries"] == ["ucfTrainTestlist"]
    (out / "ucfTrainTestlist" / "sentinel").write_text("kept")  # shows the folder is kept

    monkeypatch.setattr(dl, "check_extracted", real_check)
    marker = dl.download_ucf101(out, manifest=manifest)  # before the fix: "already exists"
    assert marker["splits"]["extracted"] == ["ucfTrainTestlist"] and dl.UNPACKING not in marker
    assert json.loads((out / dl.MARKER_NAME).read_text()) == marker
    assert (out / "ucfTrainTestlist" / "sentinel").read_text() == "kept"
    assert len(server.requests) == 1  # the verified archive was reused
    assert sorted(p.name for p in out.iterdir()) == [dl.MARKER_NAME, "splits.zip",
                                                      "ucfTrainTestlist"]


def test_a_failed_check_after_unpacking_is_redone_by_a_rerun(server, tmp_path, capsys):
    data = _splits_zip()
    server.files["/splits.zip"] = data
    manifest = _manifest(tmp_path, server, data)
    facts = json.loads(manifest.read_text())
    facts["splits"]["2"]["train"] = 3  # the check after unpacking fails
    manifest.write_text(json.dumps(facts))
    out = tmp_path / "data"
    argv = ["download", "--out", str(out), "--manifest", str(manifest)]
    assert main(argv) == 1
    assert "split 2" in capsys.readouterr().err
    assert (out / "ucfTrainTestlist").is_dir()

    # The folder is damaged and the archive deleted, then the manifest fixed: the rerun
    # fetches the archive again, removes its own half-checked folder and unpacks it again.
    (out / "ucfTrainTestlist" / "trainlist03.txt").unlink()
    (out / "splits.zip").unlink()
    facts["splits"]["2"]["train"] = 2
    manifest.write_text(json.dumps(facts))
    assert main(argv) == 0
    assert (out / "ucfTrainTestlist" / "trainlist03.txt").is_file()
    assert "unpacking splits.zip again" in capsys.readouterr().err
    assert dl.UNPACKING not in json.loads((out / dl.MARKER_NAME).read_text())


def test_a_folder_this_command_did_not_unpack_is_still_refused(server, tmp_path):
    data = _splits_zip()
    server.files["/splits.zip"] = data
    manifest = _manifest(tmp_path, server, data)
    (tmp_path / "data" / "ucfTrainTestlist").mkdir(parents=True)
    (tmp_path / "data" / "ucfTrainTestlist" / "mine.txt").write_text("mine")
    with pytest.raises(UserError, match="already exists and was not unpacked by this command"):
        dl.download_ucf101(tmp_path / "data", manifest=manifest)
    assert (tmp_path / "data" / "ucfTrainTestlist" / "mine.txt").read_text() == "mine"


# ---------------------------------------------------------------------------- checks up front

def test_missing_rar_tool_is_reported_before_any_download(server, tmp_path, monkeypatch, capsys):
    splits = _splits_zip()
    server.files["/splits.zip"] = splits
    server.files["/UCF101.rar"] = b"Rar!\x1a\x07\x00" + _payload(1000)
    manifest = _manifest(tmp_path, server, splits)
    facts = json.loads(manifest.read_text())
    rar = server.files["/UCF101.rar"]
    facts["archives"]["videos"] = {"url": server.url("/UCF101.rar"), "filename": "UCF101.rar",
                                   "format": "rar", "size": len(rar), "sha256": _sha(rar),
                                   "extracts_to": "UCF-101"}
    manifest.write_text(json.dumps(facts))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    out = tmp_path / "data"
    assert main(["download", "--out", str(out), "--manifest", str(manifest)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unpacking UCF101.rar needs `unar` or `bsdtar`")
    assert "apt-get install unar" in err and "libarchive-tools" in err
    assert len(err.strip().splitlines()) == 1
    assert server.requests == []  # neither the splits nor the 6.5 GB archive were fetched
    assert sorted(os.listdir(out)) == []


def test_out_that_is_a_file_is_one_sentence(tmp_path, capsys):
    file = tmp_path / "file"
    file.write_text("x")
    for out in (file, file / "below"):
        assert main(["download", "--out", str(out)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error:") and "is a file, not a folder" in err
        assert len(err.strip().splitlines()) == 1


def test_out_that_cannot_be_created_prints_no_traceback(tmp_path):
    import subprocess
    import sys

    from helpers.paths import REPO_ROOT

    proc = subprocess.run([sys.executable, "-m", "helpers", "download", "--out",
                           "/proc/no-such-dir/data"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error:") and "cannot create the folder /proc/no-such-dir/data" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("value, message", [
    ("abc", "'abc' is not a sha256"),
    ("movies=" + "0" * 64, "'movies' is not one of splits, videos"),
])
def test_a_malformed_sha256_argument_exits_2(tmp_path, capsys, value, message):
    with pytest.raises(SystemExit) as exc:
        main(["download", "--out", str(tmp_path / "d"), "--sha256", value])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "d").exists()
