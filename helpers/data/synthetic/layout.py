"""Where the benchmark's videos go and how the split files list them, as UCF-101 lays
them out: 25 groups, `UCF-101/<Class>/v_<Class>_gGG_cCC.avi`, and CRLF split files.

>>> video_path("SlideLeft", 3, 1)
'SlideLeft/v_SlideLeft_g03_c01.avi'
>>> list(test_groups(2))
[8, 9, 10, 11, 12, 13, 14]
"""

from __future__ import annotations

from helpers.data.synthetic.catalogue import CLASSES, class_names

NUM_GROUPS = 25
TEST_GROUPS_PER_SPLIT = 7  # split k tests on groups 7(k-1)+1 ... 7k; g22-g25 are always train
SPLITS = (1, 2, 3)
VIDEO_DIR = "UCF-101"
SPLIT_DIR = "ucfTrainTestlist"


def video_name(name: str, group: int, clip: int) -> str:
    return f"v_{name}_g{group:02d}_c{clip:02d}.avi"


def video_path(name: str, group: int, clip: int) -> str:
    """Path relative to the video root, as the split files write it."""
    return f"{name}/{video_name(name, group, clip)}"


def test_groups(split: int) -> range:
    return range(TEST_GROUPS_PER_SPLIT * (split - 1) + 1, TEST_GROUPS_PER_SPLIT * split + 1)


def split_files(videos_per_group: int) -> dict[str, str]:
    """The official split files' names and contents (CRLF, 1-based labels)."""
    names = class_names()
    crlf = "\r\n"
    files = {"classInd.txt": "".join(f"{i} {n}{crlf}" for i, n in enumerate(names, 1))}
    for split in SPLITS:
        train, test = [], []
        for label, name in enumerate(names, 1):
            for group in range(1, NUM_GROUPS + 1):
                for clip in range(1, videos_per_group + 1):
                    path = video_path(name, group, clip)
                    if group in test_groups(split):
                        test.append(f"{path}{crlf}")
                    else:
                        train.append(f"{path} {label}{crlf}")
        files[f"trainlist{split:02d}.txt"] = "".join(train)
        files[f"testlist{split:02d}.txt"] = "".join(test)
    return files


def split_counts(videos_per_group: int) -> dict[int, dict[str, int]]:
    per_split = NUM_GROUPS * videos_per_group * len(CLASSES)
    test = len(test_groups(1)) * videos_per_group * len(CLASSES)
    return {s: {"train": per_split - test, "test": test} for s in SPLITS}
