"""`python -m helpers download`: fetch, verify and unpack UCF-101 and its split files
(argparse wiring only; the work is `helpers.data.download.download_ucf101`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from helpers.data.download import ARCHIVE_KEYS, MANIFEST_PATH, SHA256_HEX, download_ucf101
from helpers.errors import UserError


def _sha256_arg(text: str) -> str:
    """argparse type of --sha256: [KEY=]HEX with a known KEY and 64 hex digits."""
    key, sep, hexdigest = text.rpartition("=")
    if sep and key not in ARCHIVE_KEYS:
        raise argparse.ArgumentTypeError(f"{key!r} is not one of {', '.join(ARCHIVE_KEYS)}; "
                                         f"write KEY=HEX, e.g. videos=<64 hex digits>")
    if not SHA256_HEX.match(hexdigest):
        raise argparse.ArgumentTypeError(f"{hexdigest!r} is not a sha256 (64 hex digits)")
    return text


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
    download_ucf101(args.out, manifest=args.manifest,
                    sha256=_parse_sha256_args(args.sha256, args.only),
                    only=[args.only] if args.only else None, base_url=args.base_url,
                    delete_archives=args.delete_archives)
    return 0
