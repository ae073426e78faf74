"""The benchmark's ground truth for attention maps: per video and frame, where its
class-defining region is (`scene.render_scene`), kept in one HDF5 file beside the videos.

One dataset per video, named by its file stem (`v_SlideLeft_g03_c01`): the [T, H, W] masks at
the videos' size, bit-packed along W (attribute `width`) and gzip-compressed in one chunk per
video (about a kilobyte each at 80x60x32: the regions are compact blobs). A benchmark generated before the masks existed has no file;
`generate` adds the missing masks when it is run again on the folder, and readers get None.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from helpers.errors import UserError
from helpers.utils.io import atomic_path, open_h5

MASKS_FILE = "masks.h5"
MASKS_VERSION = 1
REGION = {"spatial": "the object", "temporal": "the moving object",
          "detail": "the textured rectangle"}


def masks_path(root: str | os.PathLike) -> Path:
    return Path(root) / MASKS_FILE


def stored_names(root: str | os.PathLike) -> set[str]:
    """The videos (file stems) whose masks the benchmark holds; empty without a masks file."""
    path = masks_path(root)
    if not path.is_file():
        return set()
    try:
        with open_h5(path) as f:
            return set(f.keys())
    except OSError as exc:
        raise UserError(f"{path} is not a readable HDF5 file ({exc}); delete it and run "
                        "`python -m helpers synth` again on the folder.") from None


def write_masks(root: str | os.PathLike, masks: dict[str, np.ndarray]) -> Path:
    """Add `masks` ({file stem: [T, H, W] bool}) to the masks file, atomically: the old
    entries are copied into a new file that replaces the old one when complete."""
    import h5py

    path = masks_path(root)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as out:
            out.attrs["format_version"] = MASKS_VERSION
            if path.is_file():
                with open_h5(path) as old:
                    for name in old:
                        if name not in masks:
                            old.copy(old[name], out, name=name)
            for name, mask in sorted(masks.items()):
                m = np.packbits(np.asarray(mask, dtype=bool), axis=-1)
                ds = out.create_dataset(name, data=m, chunks=m.shape, compression="gzip",
                                        compression_opts=9)
                ds.attrs["width"] = mask.shape[-1]
    return path


def read_mask(root: str | os.PathLike, video: str) -> np.ndarray | None:
    """The [T, H, W] bool mask of `video` (a file stem or name with .avi), or None when the
    benchmark has no mask for it (a folder generated before masks existed)."""
    path = masks_path(root)
    name = Path(video).stem
    if not path.is_file():
        return None
    with open_h5(path) as f:
        if name not in f:
            return None
        ds = f[name]
        return np.unpackbits(ds[...], axis=-1, count=int(ds.attrs["width"])).astype(bool)
