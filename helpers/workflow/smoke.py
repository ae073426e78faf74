"""A smoke run's split files: a few videos of a few classes of the real split, at the real
sizes, to check the whole path before the long run."""

from __future__ import annotations

import shutil
from pathlib import Path

from helpers.errors import UserError
from helpers.utils.io import atomic_path

SMOKE_CLASSES = 3
SMOKE_VIDEOS = {"train": 4, "val": 2, "test": 2}  # per class


def write_smoke_splits(source: Path, splits: Path, out: Path, split: int,
                       val_groups: tuple[int, ...]) -> list[str]:
    """Split files for a smoke run in `out`: the full classInd.txt, and for `split` a few
    training, held-out and test videos of the first SMOKE_CLASSES classes that have them on
    disk. Returns the chosen video names (kept as they are on a rerun)."""
    from helpers.data.sources import discover
    from helpers.data.splits import read_class_index, read_split

    sp = read_split(splits, split)
    on_disk = {v.name for v in discover(source, read_class_index(splits / "classInd.txt"))}
    picked: dict[str, list] = {"train": [], "val": [], "test": []}
    classes = 0
    for label in range(len(sp.class_names)):
        if classes == SMOKE_CLASSES:
            break
        pools = {
            "train": [e for e in sp.train if e.label == label and e.group not in val_groups],
            "val": [e for e in sp.train if e.label == label and e.group in val_groups],
            "test": [e for e in sp.test if e.label == label]}
        pools = {k: [e for e in v if e.name in on_disk][:SMOKE_VIDEOS[k]]
                 for k, v in pools.items()}
        if all(pools.values()):
            classes += 1
            for k, v in pools.items():
                picked[k] += v
    if classes < 2:
        raise UserError(f"A smoke run needs at least 2 classes with training, held-out "
                        f"(groups {list(val_groups)}) and test videos of split {split} under "
                        f"{source}; found {classes}. Check --data and --splits.")
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "classInd.txt") as tmp:
        shutil.copyfile(splits / "classInd.txt", tmp)
    train = [f"{e.rel_path} {e.label + 1}" for e in picked["train"] + picked["val"]]
    with atomic_path(out / f"trainlist0{split}.txt") as tmp:
        tmp.write_text("".join(f"{line}\r\n" for line in train))
    with atomic_path(out / f"testlist0{split}.txt") as tmp:
        tmp.write_text("".join(f"{e.rel_path}\r\n" for e in picked["test"]))
    return [e.name for k in picked for e in picked[k]]
