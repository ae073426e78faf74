"""UCF-101 recognition splits: `classInd.txt`, `trainlist0k.txt`, `testlist0k.txt` (k = 1..3).

The files are parsed strictly: a malformed line, an unknown class, a label that disagrees
with its folder or a video listed twice raises `UserError` naming the file and the 1-based
line, because a silently dropped or mislabelled video skews every accuracy downstream.

Class names resolve exactly first and case-insensitively only when that fails, for the one
known quirk: the folder `HandstandPushups` holds files named `v_HandStandPushups_*`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from helpers.errors import UserError
from helpers.utils.io import sha256_json

NUM_SPLITS = 3
GROUPS_PER_TEST_SPLIT = 7
# The official zip unpacks to this folder; the synthetic benchmark writes the same layout.
SPLITS_SUBDIR = "ucfTrainTestlist"

# v_<Class>_gGG_cCC; the class token is greedy so the last _gNN_cNN wins.
_VIDEO_NAME = re.compile(r"^v_(?P<cls>.+)_g(?P<group>\d+)_c(?P<clip>\d+)$")


@dataclass(frozen=True)
class VideoEntry:
    name: str  # file stem, e.g. "v_ApplyEyeMakeup_g01_c01"
    rel_path: str  # as the list writes it, e.g. "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"
    class_name: str  # canonical name from classInd, e.g. "HandstandPushups"
    label: int  # 0-based class index
    group: int  # gGG: one actor/scene group; never split between train and test
    clip: int  # cCC


@dataclass(frozen=True)
class Split:
    split: int
    class_names: list[str]
    train: list[VideoEntry]
    test: list[VideoEntry]


def _lines(path: Path) -> Iterable[tuple[int, str]]:
    """(1-based line number, stripped text) of each non-blank line; CRLF or LF."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path} does not exist; point at the folder holding classInd.txt, "
                        f"trainlist0k.txt and testlist0k.txt") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not a UTF-8 text file ({exc.reason} at byte {exc.start}); "
                        f"use the official split files") from None
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.strip()
        if line:
            yield number, line


def read_class_index(path: str | os.PathLike) -> list[str]:
    """Parse `classInd.txt` (`<1-based label> <ClassName>` per line): index i holds label i+1."""
    path = Path(path)
    by_label: dict[int, str] = {}
    seen: dict[str, int] = {}
    for number, line in _lines(path):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise UserError(f"{path} line {number}: expected '<label> <ClassName>', got {line!r}")
        label, name = int(parts[0]), parts[1]
        if label in by_label:
            raise UserError(f"{path} line {number}: label {label} is listed twice")
        if name in seen:
            raise UserError(f"{path} line {number}: class {name!r} is listed twice "
                            f"(first with label {seen[name]})")
        by_label[label] = name
        seen[name] = label
    if not by_label:
        raise UserError(f"{path} lists no classes; use the official classInd.txt")
    expected = set(range(1, len(by_label) + 1))
    if set(by_label) != expected:
        missing = sorted(expected - set(by_label))
        raise UserError(f"{path}: labels must run 1..{len(by_label)} without gaps, "
                        f"but {missing[:5]} are missing")
    return [by_label[i] for i in range(1, len(by_label) + 1)]


def parse_video_name(name_or_path: str | os.PathLike) -> tuple[str, int, int]:
    """`[Folder/]v_<Class>_gGG_cCC[.ext]` -> (class token as written, group, clip).

    Raises ValueError on any other shape (callers add file and line to the message).
    """
    stem = PurePosixPath(str(name_or_path).replace("\\", "/")).name
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    match = _VIDEO_NAME.match(stem)
    if match is None:
        raise ValueError(f"{stem!r} is not a UCF-101 video name (v_<Class>_gGG_cCC)")
    return match["cls"], int(match["group"]), int(match["clip"])


class ClassResolver:
    """Exact match, else the unique case-insensitive match (the HandStandPushups quirk)."""

    def __init__(self, class_names: Sequence[str]):
        self._exact = {name: i for i, name in enumerate(class_names)}
        self._folded: dict[str, list[int]] = {}
        for i, name in enumerate(class_names):
            self._folded.setdefault(name.casefold(), []).append(i)

    def __call__(self, token: str) -> int:
        if token in self._exact:
            return self._exact[token]
        candidates = self._folded.get(token.casefold(), [])
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            raise LookupError(f"class {token!r} matches several classes when case is ignored")
        raise LookupError(f"class {token!r} is not in classInd.txt")


def _parse_entry(path: Path, number: int, rel_path: str, class_names: Sequence[str],
                 resolve: ClassResolver) -> VideoEntry:
    where = f"{path} line {number}"
    parts = PurePosixPath(rel_path.replace("\\", "/")).parts
    if not parts or len(parts) > 2 or ".." in parts or rel_path.startswith(("/", "\\")):
        raise UserError(f"{where}: expected 'ClassName/v_ClassName_gGG_cCC.avi', got {rel_path!r}")
    try:
        token, group, clip = parse_video_name(parts[-1])
        label = resolve(token)
        if len(parts) == 2 and resolve(parts[0]) != label:
            raise LookupError(f"folder {parts[0]!r} and file name class {token!r} disagree")
    except (ValueError, LookupError) as exc:
        raise UserError(f"{where}: {exc}") from None
    name = PurePosixPath(parts[-1]).stem
    return VideoEntry(name=name, rel_path=rel_path, class_name=class_names[label], label=label,
                      group=group, clip=clip)


def _read_list(path: Path, class_names: Sequence[str], *,
               labelled: bool) -> list[tuple[int, VideoEntry]]:
    """(line number, entry) for each video in a train (labelled) or test list."""
    resolve = ClassResolver(class_names)
    entries: list[tuple[int, VideoEntry]] = []
    first_line: dict[str, int] = {}
    for number, line in _lines(path):
        parts = line.split()
        if labelled:
            if len(parts) != 2 or not parts[1].isdigit():
                raise UserError(f"{path} line {number}: expected 'Class/v_Class_gGG_cCC.avi <label>', "
                                f"got {line!r}")
        elif len(parts) != 1:
            raise UserError(f"{path} line {number}: expected one path 'Class/v_Class_gGG_cCC.avi', "
                            f"got {line!r}")
        entry = _parse_entry(path, number, parts[0], class_names, resolve)
        if labelled and int(parts[1]) != entry.label + 1:
            raise UserError(f"{path} line {number}: label {parts[1]} disagrees with class "
                            f"{entry.class_name!r}, which classInd.txt numbers {entry.label + 1}")
        if entry.name in first_line:
            raise UserError(f"{path} line {number}: {entry.name} is already listed on line "
                            f"{first_line[entry.name]}")
        first_line[entry.name] = number
        entries.append((number, entry))
    if not entries:
        raise UserError(f"{path} lists no videos; use the official split files")
    return entries


def find_splits_dir(root: str | os.PathLike) -> Path:
    """The folder holding classInd.txt: `root` itself or `root/ucfTrainTestlist` (zip layout)."""
    root = Path(root)
    for candidate in (root, root / SPLITS_SUBDIR):
        if (candidate / "classInd.txt").is_file():
            return candidate
    raise UserError(f"no classInd.txt in {root} or {root / SPLITS_SUBDIR}; run "
                    f"`python -m helpers download --out DIR --only splits` or point at the "
                    f"folder holding the split files")


def _check_split_number(split: int) -> None:
    if split not in range(1, NUM_SPLITS + 1):
        raise UserError(f"split must be 1, 2 or 3, got {split}")


def read_split(splits_dir: str | os.PathLike, split: int) -> Split:
    """Parse and cross-check classInd.txt, trainlist0{split}.txt and testlist0{split}.txt."""
    _check_split_number(split)
    folder = find_splits_dir(splits_dir)
    class_names = read_class_index(folder / "classInd.txt")
    train_path = folder / f"trainlist0{split}.txt"
    test_path = folder / f"testlist0{split}.txt"
    train = _read_list(train_path, class_names, labelled=True)
    test = _read_list(test_path, class_names, labelled=False)
    train_names = {entry.name for _, entry in train}
    for number, entry in test:
        if entry.name in train_names:
            raise UserError(f"{test_path} line {number}: {entry.name} is also in {train_path.name}; "
                            f"a video may not be in both train and test")
    return Split(split=split, class_names=class_names, train=[e for _, e in train],
                 test=[e for _, e in test])


def test_groups(split: int) -> range:
    """Groups tested in `split`: 1-7 for split 1, 8-14 for split 2, 15-21 for split 3."""
    _check_split_number(split)
    return range(GROUPS_PER_TEST_SPLIT * (split - 1) + 1, GROUPS_PER_TEST_SPLIT * split + 1)


# pytest would otherwise collect `test_groups` when a test module imports it.
test_groups.__test__ = False  # type: ignore[attr-defined]


def holdout(entries: Iterable[VideoEntry],
            groups: Iterable[int]) -> tuple[list[VideoEntry], list[VideoEntry]]:
    """Split whole groups off a train list (e.g. groups 22-25 for validation): (kept, held_out).

    Holding out groups, not random clips, keeps clips of one actor/scene on one side.
    """
    held = set(groups)
    kept: list[VideoEntry] = []
    held_out: list[VideoEntry] = []
    for entry in entries:
        (held_out if entry.group in held else kept).append(entry)
    return kept, held_out


@dataclass
class SplitData:
    """One split as the trainer sees it: train minus the held-out groups, those groups as
    validation, and test; `split_sha256` identifies the classes and both official lists."""

    class_names: list[str]
    train_ids: list[str]
    train_labels: list[int]
    val_ids: list[str]
    val_labels: list[int]
    test_ids: list[str]
    test_labels: list[int]
    split_sha256: str = ""

    def subset(self, name: str) -> tuple[list[str], list[int]]:
        if name not in ("train", "val", "test"):
            raise UserError(f"Unknown subset {name!r}; choose train, val or test.")
        return getattr(self, f"{name}_ids"), getattr(self, f"{name}_labels")


def load_split_data(splits: str | os.PathLike, split: int, val_groups: Sequence[int],
                    class_names: Sequence[str] | None = None,
                    store_path: str | os.PathLike | None = None) -> SplitData:
    """The split's train list minus the held-out `val_groups` (train), those groups (val), and
    test. With `class_names` (a store's), refuse split files of other classes. An empty
    `val_groups` trains on every training video and has no validation set."""
    sp = read_split(splits, split)
    if class_names is not None and list(class_names) != list(sp.class_names):
        raise UserError(f"The store {store_path or ''} was prepared with other classes than "
                        f"{splits}; prepare it again with these split files.")
    kept, held = holdout(sp.train, val_groups)
    if val_groups and not held:
        raise UserError(f"No training video is in the held-out groups {list(val_groups)}; "
                        "choose other --val-groups.")
    listed = {"classes": list(sp.class_names),
              "train": [[e.name, e.label] for e in sp.train],
              "test": [[e.name, e.label] for e in sp.test]}
    return SplitData(
        class_names=list(sp.class_names),
        train_ids=[e.name for e in kept], train_labels=[e.label for e in kept],
        val_ids=[e.name for e in held], val_labels=[e.label for e in held],
        test_ids=[e.name for e in sp.test], test_labels=[e.label for e in sp.test],
        split_sha256=sha256_json(listed))
