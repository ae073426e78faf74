"""`python -m helpers fetch` (`make fetch`): on a login node, everything that needs the
internet, so that a compute node without it needs nothing more.

It fetches the official split files, the ImageNet ResNet-50 (torchvision's file, checked
against the hash in its name) and the Kinetics R3D-50 (from a URL or a file at hand), puts
both weight files in data/weights/, and identifies each by its content. `make fetch` first
builds the Python environment (.venv) in the clone, which compute nodes share.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from helpers.errors import UserError
from helpers.models.identify import WeightsIdentity, identify
from helpers.models.resnet2d import IMAGENET_WEIGHTS, WEIGHTS_DIR
from helpers.utils.io import atomic_path

KINETICS_FILE = "r3d50_K_200ep.pth"  # the ucf101 profile's default name in data/weights/
KINETICS_SOURCE = ("the pretrained-models link in the README of kenshohara/3D-ResNets-PyTorch "
                   "(a Google Drive folder: download r3d50_K_200ep.pth in a browser)")


@dataclass(frozen=True)
class Fetched:
    what: str
    path: Path
    identity: WeightsIdentity | None = None  # weight files only


def fetch_splits(out: Path, *, videos: bool = False, base_url: str | None = None) -> Fetched:
    from helpers.data.download import download_ucf101

    download_ucf101(out, only=None if videos else ["splits"], base_url=base_url)
    return Fetched("UCF-101 videos and split files" if videos else "split files",
                   out / "ucfTrainTestlist")


def fetch_imagenet(version: str = "v2", *, url: str | None = None,
                   folder: Path | None = None) -> Fetched:
    """torchvision's ResNet-50 ImageNet file into `folder`, under its own name; a mirror's
    `url` may serve it under another."""
    from helpers.data.download import download_file

    weights = IMAGENET_WEIGHTS["resnet50"][f"imagenet1k_{version}"]
    name = weights.url.rsplit("/", 1)[-1]
    folder = folder or WEIGHTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / name
    download_file(url or weights.url, dest)
    ident = identify(dest)
    if not ident.published:
        dest.unlink()
        raise UserError(f"{url or weights.url} did not serve torchvision's {name} (its sha256 "
                        f"{ident.sha256[:12]}… does not start with the hash in the name); "
                        "check the URL or mirror.")
    return Fetched(f"ImageNet ResNet-50 ({version.upper()})", dest, ident)


def fetch_kinetics(source: str, *, folder: Path | None = None) -> Fetched:
    """A Hara Kinetics file from a URL or a path into `folder` as r3d50_K_200ep.pth (the
    profile's default name), after checking that it is a 3D ResNet checkpoint."""
    from helpers.data.download import download_file

    folder = folder or WEIGHTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / KINETICS_FILE
    if source.startswith(("http://", "https://")):
        download_file(source, dest)
    else:
        src = Path(source).expanduser()
        if not src.is_file():
            raise UserError(f"The Kinetics weights file {src} does not exist; check the path.")
        if src.resolve() != dest.resolve():
            with atomic_path(dest) as tmp:
                shutil.copyfile(src, tmp)
    ident = identify(dest)
    if not ident.name.startswith("Hara"):
        raise UserError(f"{source} is {ident.name}, not a Hara 3D ResNet Kinetics checkpoint; "
                        f"fetch {KINETICS_FILE} from {KINETICS_SOURCE}.")
    return Fetched("Kinetics R3D-50", dest, ident)


def fetch_all(out: Path, *, videos: bool = False, base_url: str | None = None,
              imagenet: str = "v2", imagenet_url: str | None = None,
              kinetics: str | None = None) -> list[Fetched]:
    """Everything a compute node without internet needs: the split files (and the videos),
    the ImageNet file, and the Kinetics file when `kinetics` names one or it is already here."""
    done = [fetch_splits(out, videos=videos, base_url=base_url),
            fetch_imagenet(imagenet, url=imagenet_url)]
    if kinetics:
        done.append(fetch_kinetics(kinetics))
    elif (WEIGHTS_DIR / KINETICS_FILE).is_file():  # placed by hand earlier
        done.append(Fetched("Kinetics R3D-50", WEIGHTS_DIR / KINETICS_FILE,
                            identify(WEIGHTS_DIR / KINETICS_FILE)))
    return done


def format_fetched(done: list[Fetched]) -> str:
    """What `fetch_all` put in place, and how to get the Kinetics file when it is missing."""
    lines = ["ready for a compute node without internet:"]
    for f in done:
        lines.append(f"  {f.what}: {f.path}" + (f"\n    {f.identity.describe()}" if f.identity
                                                else ""))
    if not any(f.what.startswith("Kinetics") for f in done):
        lines.append(f"  Kinetics R3D-50: not yet here; get {KINETICS_FILE} from "
                     f"{KINETICS_SOURCE}, then `python -m helpers fetch --kinetics PATH` checks "
                     f"it and puts it in {WEIGHTS_DIR}")
    return "\n".join(lines)
