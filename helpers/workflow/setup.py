"""What a user chooses for a run: notebook 01's parameters cell and the `report` flags,
as one frozen dataclass, checked on creation."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from helpers.config import NORMS, PROTOCOLS, get_profile
from helpers.errors import UserError

EPOCHS_FROM_VALIDATION = (
    "Choosing the reported models' number of epochs on validation (epochs_from_validation) is "
    "not supported: each candidate length would need its own complete schedule, trained and "
    "validated on the per-video held-out figure; turn it off, and the reported models train "
    "the held-out models' schedule.")


@dataclass(frozen=True)
class Setup:
    """What a run uses; the fields are notebook 01's parameters, with the same defaults."""

    profile: str = "demo"  # "demo" (synthetic benchmark, CPU) or "ucf101" (GPU node)
    data_dir: str = ""  # empty: the synthetic benchmark; else the folder holding UCF-101/
    splits_dir: str = ""  # empty: the split files found in data_dir
    run_dir: str = ""  # empty: runs/<profile>[-<protocol>][-fast|-smoke][-split<k>]
    split: int = 1
    download_weights: bool = False  # let torchvision download missing ImageNet weights
    fast: bool = False  # tiny synthetic configuration for the tests
    smoke: bool = False  # a few steps on a few videos of the real data, real sizes
    weights: str = ""  # the clip model's Kinetics file (empty: the profile's)
    imagenet_weights: str = ""  # a torchvision-format file instead of the hub cache
    norm: str = ""  # the clip model's input normalisation, when the file breaks the rule
    stores_dir: str = ""  # where the frame stores go (empty: <data>/stores)
    protocol: str = ""  # "holdout" or "refit" (empty: the profile's; resolved on creation)
    cpu: bool = False  # run a GPU profile on the CPU on purpose (else it stops without a GPU)
    batch_size: str = ""  # global batch: "64" (both models) or "frame=128,clip=32" (empty: the profile's)
    accum_steps: int = 0  # micro-batches per optimizer step (0: the profile's); less memory
    amp: bool = True  # bf16 autocast on CUDA; False: fp32
    gpus: int = 1  # processes per node, one per GPU (gloo on a CPU); >1 runs them under torchrun

    def __post_init__(self) -> None:
        profile = get_profile(self.profile)  # a clear error for an unknown profile
        if self.protocol and self.protocol not in PROTOCOLS:
            raise UserError(f"Unknown protocol {self.protocol!r}; choose one of "
                            f"{', '.join(PROTOCOLS)}.")
        if not self.protocol:  # frozen: the profile's protocol, set once
            object.__setattr__(self, "protocol", profile.protocol)
        if self.protocol == "refit" and profile.epochs_from_validation:
            raise UserError(EPOCHS_FROM_VALIDATION)
        if self.split not in (1, 2, 3):
            raise UserError(f"Split must be 1, 2 or 3, not {self.split}.")
        if self.norm and self.norm not in NORMS:
            raise UserError(f"Unknown norm {self.norm!r}; choose one of {', '.join(NORMS)}.")
        batch_sizes(self.batch_size)  # one sentence for a malformed value
        if not isinstance(self.accum_steps, int) or self.accum_steps < 0:
            raise UserError(f"accum_steps must be a whole number >= 1 (or 0 for the "
                            f"profile's), not {self.accum_steps!r}.")
        if not isinstance(self.gpus, int) or isinstance(self.gpus, bool) or self.gpus < 1:
            raise UserError(f"gpus must be a whole number of processes per node, 1 or more, "
                            f"not {self.gpus!r}.")
        if self.fast and self.smoke:
            raise UserError("fast (tiny synthetic data) and smoke (a few steps on the real "
                            "data) exclude each other; choose one.")

    def replace(self, **changes: Any) -> Setup:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any]) -> Setup:
        """The Setup a notebook's parameters describe: its fields taken from `namespace` (the
        notebook's globals, after papermill's injected cell); other names are ignored.

        >>> Setup.from_namespace({"profile": "demo", "split": 2, "display": print}).split
        2
        """
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in namespace.items() if k in names})


def batch_sizes(text: str | int) -> dict[str, int]:
    """The models' global batch sizes a `batch_size` parameter sets.

    >>> batch_sizes("64")
    {'frame': 64, 'clip': 64}
    >>> batch_sizes("clip=32")
    {'clip': 32}
    """
    text = str(text).strip().replace(" ", "")
    if text in ("", "0"):
        return {}
    try:
        if "=" not in text:
            return dict.fromkeys(("frame", "clip"), _positive(text))
        pairs = dict(part.split("=", 1) for part in text.split(","))
        if not set(pairs) <= {"frame", "clip"}:
            raise ValueError
        return {k: _positive(v) for k, v in pairs.items()}
    except ValueError:
        raise UserError(f"batch_size {text!r} is neither a whole number (both models) nor "
                        "like 'frame=128,clip=32'.") from None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError
    return value
