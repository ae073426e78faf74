"""Split files: the real official lists in ../shared, and strict errors on broken ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.data import splits as sp
from helpers.errors import UserError
from helpers.paths import MANIFEST_DIR

EXPECTED = {1: (9537, 3783), 2: (9586, 3734), 3: (9624, 3696)}


@pytest.fixture(scope="module")
def real_splits(ucf_splits_dir: Path) -> dict[int, sp.Split]:
    return {k: sp.read_split(ucf_splits_dir, k) for k in (1, 2, 3)}


# ---------------------------------------------------------------------------- real files

@pytest.mark.parametrize("split", [1, 2, 3])
def test_real_split_counts_labels_and_test_groups(real_splits, ucf_splits_dir, split):
    s = real_splits[split]
    assert (len(s.train), len(s.test)) == EXPECTED[split]
    assert len(s.class_names) == 101
    assert s.class_names[0] == "ApplyEyeMakeup" and s.class_names[-1] == "YoYo"
    for entry in s.train + s.test:
        # Resolved: the canonical class owns the label, and the folder names that class.
        assert s.class_names[entry.label] == entry.class_name
        assert entry.rel_path.split("/")[0] == entry.class_name
        assert entry.name == Path(entry.rel_path).stem
    # The label the train list writes agrees with the resolved class (re-read independently).
    raw = (ucf_splits_dir / f"trainlist0{split}.txt").read_text().split()
    written = dict(zip(raw[0::2], raw[1::2], strict=True))
    assert all(int(written[e.rel_path]) == e.label + 1 for e in s.train)
    groups = sp.test_groups(split)
    assert {e.group for e in s.test} == set(groups)
    assert not {e.group for e in s.train} & set(groups)
    assert {e.group for e in s.train} >= {22, 23, 24, 25}
    assert not {e.name for e in s.train} & {e.name for e in s.test}


def test_every_video_is_in_each_split_once(real_splits):
    videos = [{e.name for e in s.train + s.test} for s in real_splits.values()]
    assert len(videos[0]) == 13320
    assert videos[0] == videos[1] == videos[2]
    assert len({e.class_name for e in real_splits[1].train}) == 101  # no class dropped


def test_handstand_pushups_case_quirk_resolves(real_splits):
    s = real_splits[1]
    hand = [e for e in s.train + s.test if e.rel_path.startswith("HandstandPushups/")]
    assert len(hand) > 100
    assert all(e.name.startswith("v_HandStandPushups_") for e in hand)  # the quirk is real
    assert {e.class_name for e in hand} == {"HandstandPushups"}
    assert {e.label for e in hand} == {s.class_names.index("HandstandPushups")}
    # HandstandWalking is spelled consistently and stays its own class.
    walk = {e.class_name for e in s.train if "HandstandWalking" in e.rel_path}
    assert walk == {"HandstandWalking"}


def test_manifest_facts_agree_with_the_real_files(real_splits):
    facts = json.loads((MANIFEST_DIR / "ucf101.json").read_text())
    assert facts["num_classes"] == len(real_splits[1].class_names)
    assert facts["num_videos"] == len(real_splits[1].train) + len(real_splits[1].test)
    for k, s in real_splits.items():
        counts = facts["splits"][str(k)]
        assert (counts["train"], counts["test"]) == (len(s.train), len(s.test))
        lo, hi = counts["test_groups"]
        assert range(lo, hi + 1) == sp.test_groups(k)


def test_find_splits_dir_accepts_the_folder_or_its_parent(ucf_splits_dir, tmp_path):
    assert sp.find_splits_dir(ucf_splits_dir) == ucf_splits_dir
    official = tmp_path / sp.SPLITS_SUBDIR
    official.mkdir()
    (official / "classInd.txt").write_text("1 A\n")
    assert sp.find_splits_dir(tmp_path) == official
    with pytest.raises(UserError, match="no classInd.txt"):
        sp.find_splits_dir(tmp_path / "nowhere")


# ---------------------------------------------------------------------------- small files

def _write(folder: Path, classes: str, train: str, test: str, split: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "classInd.txt").write_bytes(classes.encode())
    (folder / f"trainlist0{split}.txt").write_bytes(train.encode())
    (folder / f"testlist0{split}.txt").write_bytes(test.encode())
    return folder


CLASSES = "1 Archery\n2 HandstandPushups\n3 YoYo\n"
TRAIN = ("Archery/v_Archery_g08_c01.avi 1\n"
         "HandstandPushups/v_HandStandPushups_g09_c02.avi 2\n"
         "YoYo/v_YoYo_g25_c07.avi 3\n")
TEST = "Archery/v_Archery_g01_c01.avi\nYoYo/v_YoYo_g07_c03.avi\n"


def test_lf_and_crlf_parse_the_same(tmp_path):
    lf = sp.read_split(_write(tmp_path / "lf", CLASSES, TRAIN, TEST), 1)
    crlf = sp.read_split(_write(tmp_path / "crlf", *(t.replace("\n", "\r\n")
                                                     for t in (CLASSES, TRAIN, TEST))), 1)
    assert lf == crlf
    assert lf.class_names == ["Archery", "HandstandPushups", "YoYo"]
    assert lf.train[1] == sp.VideoEntry(
        name="v_HandStandPushups_g09_c02", rel_path="HandstandPushups/v_HandStandPushups_g09_c02.avi",
        class_name="HandstandPushups", label=1, group=9, clip=2)
    assert [(e.label, e.group, e.clip) for e in lf.test] == [(0, 1, 1), (2, 7, 3)]


@pytest.mark.parametrize(("which", "bad_line", "line_no", "message"), [
    ("classInd.txt", "4YoYo", 3, "expected '<label> <ClassName>'"),
    ("trainlist01.txt", "Archery/v_Archery_g08_c01.avi", 2, "expected 'Class/v_Class_gGG_cCC.avi <label>'"),
    ("trainlist01.txt", "Archery/v_Archery_g08_c01.avi one", 2, "expected 'Class/v_Class_gGG_cCC.avi <label>'"),
    ("trainlist01.txt", "Archery/Archery_g08_c09.avi 1", 2, "not a UCF-101 video name"),
    ("trainlist01.txt", "Bowling/v_Bowling_g08_c01.avi 1", 2, "'Bowling' is not in classInd.txt"),
    ("trainlist01.txt", "Archery/v_YoYo_g08_c09.avi 1", 2, "folder 'Archery' and file name class 'YoYo' disagree"),
    ("trainlist01.txt", "Archery/v_Archery_g08_c09.avi 3", 2, "label 3 disagrees with class 'Archery'"),
    ("trainlist01.txt", "Archery/v_Archery_g08_c01.avi 1", 2, "already listed on line 1"),
    ("trainlist01.txt", "../Archery/v_Archery_g08_c09.avi 1", 2, "expected 'ClassName/"),
    ("testlist01.txt", "Archery/v_Archery_g02_c01.avi 1", 2, "expected one path"),
    ("testlist01.txt", "Archery/v_Archery_g08_c01.avi", 2, "also in trainlist01.txt"),
])
def test_bad_line_names_file_and_line(tmp_path, which, bad_line, line_no, message):
    texts = {"classInd.txt": CLASSES, "trainlist01.txt": TRAIN, "testlist01.txt": TEST}
    lines = texts[which].splitlines()
    lines.insert(line_no - 1, bad_line)
    texts[which] = "\r\n".join(lines) + "\r\n"
    folder = _write(tmp_path, texts["classInd.txt"], texts["trainlist01.txt"], texts["testlist01.txt"])
    with pytest.raises(UserError) as exc:
        sp.read_split(folder, 1)
    text = str(exc.value)
    assert f"{folder / which} line {line_no}:" in text
    assert message in text


def test_class_index_must_be_complete_and_unique(tmp_path):
    path = tmp_path / "classInd.txt"
    path.write_text("1 A\n3 C\n")
    with pytest.raises(UserError, match=r"1\.\.2 without gaps"):
        sp.read_class_index(path)
    path.write_text("1 A\n2 A\n")
    with pytest.raises(UserError, match="line 2: class 'A' is listed twice"):
        sp.read_class_index(path)
    path.write_text("1 A\n1 B\n")
    with pytest.raises(UserError, match="line 2: label 1 is listed twice"):
        sp.read_class_index(path)
    path.write_text("\r\n")
    with pytest.raises(UserError, match="lists no classes"):
        sp.read_class_index(path)


def test_case_insensitive_match_must_be_unique(tmp_path):
    folder = _write(tmp_path, "1 HandstandPushups\n2 HandStandPushups\n3 Archery\n",
                    "HandstandPushups/v_HANDSTANDPUSHUPS_g08_c01.avi 1\n",
                    "Archery/v_Archery_g01_c01.avi\n")
    with pytest.raises(UserError, match="line 1: class 'HANDSTANDPUSHUPS' matches several"):
        sp.read_split(folder, 1)
    # With both spellings as classes, each exact name resolves to its own class.
    (folder / "trainlist01.txt").write_text("HandStandPushups/v_HandStandPushups_g08_c01.avi 2\n")
    assert sp.read_split(folder, 1).train[0].class_name == "HandStandPushups"


def test_missing_list_and_bad_split_number(tmp_path):
    folder = _write(tmp_path, CLASSES, TRAIN, TEST)
    with pytest.raises(UserError, match="trainlist02.txt does not exist"):
        sp.read_split(folder, 2)
    with pytest.raises(UserError, match="split must be 1, 2 or 3"):
        sp.read_split(folder, 4)
    with pytest.raises(UserError, match="split must be 1, 2 or 3"):
        sp.test_groups(0)


def test_parse_video_name():
    assert sp.parse_video_name("v_ApplyEyeMakeup_g01_c01") == ("ApplyEyeMakeup", 1, 1)
    assert sp.parse_video_name("HandstandPushups/v_HandStandPushups_g25_c04.avi") == (
        "HandStandPushups", 25, 4)
    assert sp.parse_video_name(Path("x") / "v_YoYo_g12_c07.hdf5") == ("YoYo", 12, 7)
    with pytest.raises(ValueError, match="not a UCF-101 video name"):
        sp.parse_video_name("ApplyEyeMakeup_g01_c01.avi")


def test_test_groups_and_holdout():
    assert list(sp.test_groups(1)) == [1, 2, 3, 4, 5, 6, 7]
    assert (sp.test_groups(2).start, sp.test_groups(3).stop) == (8, 22)
    entries = [sp.VideoEntry(f"v_A_g{g:02d}_c01", f"A/v_A_g{g:02d}_c01.avi", "A", 0, g, 1)
               for g in (8, 21, 22, 25, 23)]
    kept, held = sp.holdout(entries, range(22, 26))
    assert [e.group for e in kept] == [8, 21]
    assert [e.group for e in held] == [22, 25, 23]  # order kept
