"""What the GPU check runs, and at which sizes: the GPU plan, the dry run's tiny plan, the
table's blocks, and the chips' bf16 peaks that the TFLOP/s are compared with."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.errors import UserError
from helpers.utils.files import read_json

TABLE_STEPS = ("train", "compile", "torchrun", "loaders", "epoch")  # the steps that add rows
# A row's place in the table: (block, ...); train and compile interleave per model.
BLOCK = {"train": 1, "compile": 1, "torchrun": 2, "loaders": 3, "epoch": 4}
DEFAULT_WORK = Path("runs/gpu-check")
UCF101_TRAIN_VIDEOS = 9537  # trainlist01.txt of UCF-101's split 1
TRAIN_GROUPS = range(8, 22)  # split 1 trains on groups 8-25; the trainer holds out 22-25


# Dense (no sparsity) bf16 tensor-core peak per GPU in TFLOP/s, from NVIDIA's datasheets:
# "NVIDIA H100 Tensor Core GPU", "NVIDIA H200 Tensor Core GPU" and "NVIDIA A100 Tensor Core
# GPU". The H100/H200 sheets print bf16 *with sparsity* (SXM 1,979, NVL 1,671, PCIe 1,513);
# the dense peak is half of that. The first name found in the device name wins, so the
# specific variants come before the plain "H100".
BF16_DENSE_PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H200 NVL", 835.0),
    ("H100", 989.0),  # SXM5, e.g. "NVIDIA H100 80GB HBM3"
    ("H200", 989.0),  # SXM
    ("A100", 312.0),  # SXM4 and PCIe alike
)

ARCH_NAMES = {"resnet18": "ResNet-18", "resnet50": "ResNet-50", "r3d18": "R3D-18",
              "r3d50": "R3D-50"}


def bf16_peak_tflops(device_name: str) -> float | None:
    """The chip's dense bf16 peak by its name (`torch.cuda.get_device_name`); None if unknown."""
    name = device_name.lower()
    return next((peak for key, peak in BF16_DENSE_PEAK_TFLOPS if key.lower() in name), None)


@dataclass(frozen=True)
class Plan:
    dry: bool
    video_size: tuple[int, int]  # (width, height) of the epoch/loader videos
    num_frames: int  # frames per synthetic video
    num_classes: int
    distinct_per_class: int  # videos rendered per class; each is listed under many names
    names_per_group: int  # clips per class and training group (groups 8-21)
    clip_short_side: int | None  # the clip store's short side (the ucf101 profile's 128)
    train_cases: tuple[tuple[str, str, tuple[int, ...], int], ...]  # model, arch, shape, batch
    train_steps: int
    train_warmup: int
    compile_backend: str
    loader_workers: int
    loader_seconds: float
    epoch_epochs: int  # the last epoch is the one measured: the first holds the start-up
    epoch_flags: tuple[tuple[str, tuple[str, ...]], ...]  # model -> extra `train` options
    tiny_size: str = "64x48"  # the torchrun run's synthetic benchmark
    tiny_frames: int = 16
    torchrun_flags: tuple[str, ...] = ("--batch-size", "16", "--crop-size", "32",
                                       "--frames-per-video", "1", "--num-workers", "2")

    def flags(self, model: str) -> tuple[str, ...]:
        return dict(self.epoch_flags)[model]


def gpu_plan() -> Plan:
    from helpers.tools.bench.step_bench import TRAIN_CASES_GPU

    return Plan(dry=False, video_size=(320, 240), num_frames=16, num_classes=4,
                distinct_per_class=6, names_per_group=16, clip_short_side=128,
                train_cases=TRAIN_CASES_GPU, train_steps=20, train_warmup=5,
                compile_backend="inductor", loader_workers=12, loader_seconds=8.0,
                epoch_epochs=2, epoch_flags=(("frame", ()), ("clip", ())))


# The dry run: the same steps at sizes two CPU cores finish in about a minute. Inductor needs
# minutes to compile even a tiny net on a CPU, so the dry run compiles with dynamo's "eager"
# backend (graph capture, no code generation).
DRY_PLAN = Plan(
    dry=True, video_size=(64, 48), num_frames=16, num_classes=4, distinct_per_class=1,
    names_per_group=1, clip_short_side=None,
    train_cases=(("frame", "resnet18", (3, 32, 32), 2), ("clip", "r3d18", (3, 4, 32, 32), 2)),
    train_steps=1, train_warmup=1, compile_backend="eager", loader_workers=2,
    loader_seconds=0.5, epoch_epochs=1,
    epoch_flags=(("frame", ("--arch", "resnet18", "--crop-size", "32", "--batch-size", "16",
                            "--frames-per-video", "1", "--num-workers", "0")),
                 ("clip", ("--arch", "r3d18", "--widen-factor", "0.25", "--crop-size", "32",
                           "--clip-len", "8", "--batch-size", "16", "--num-workers", "0"))))



@dataclass(frozen=True)
class DeviceFacts:
    """What setup found out about the machine (WORK/device.json); a field a file lacks keeps
    its default, which the report prints as unknown."""
    dry: bool = True  # no CUDA device used: tiny CPU sizes
    cuda_available: bool = False
    device: str = "unknown"
    torch: str = "?"
    cuda: str | None = None
    cudnn: int | None = None
    peak_tflops: float | None = None  # the chip's bf16 dense peak, None when unknown
    cpus: int | str = "?"
    when: str = ""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def read_facts(work: Path) -> DeviceFacts | None:
    """WORK/device.json as setup wrote it, or None when it is missing or unreadable."""
    data = read_json(work / "device.json")
    if not isinstance(data, dict):
        return None
    known = {f.name for f in dataclasses.fields(DeviceFacts)}
    return DeviceFacts(**{k: v for k, v in data.items() if k in known})


def read_plan(work: Path) -> Plan:
    """The plan setup chose (dry or GPU), from WORK/device.json."""
    facts = read_facts(work)
    if facts is None:
        raise UserError(f"{work / 'device.json'} is missing; run `python -m helpers gpu-check "
                        f"setup --work-dir {work}` first (scripts/gpu-check.sh does).")
    return DRY_PLAN if facts.dry else gpu_plan()


@dataclass(frozen=True)
class EpochTree:
    """The UCF-style tree setup renders for the loaders and the epoch (split 1 only)."""
    splits: str  # the folder holding its classInd.txt and split-1 lists
    num_train: int
    num_test: int
    num_distinct: int  # videos rendered; the rest of the names are links to them
    classes: list[str]


@dataclass(frozen=True)
class SetupData:
    """What setup made for the later steps (WORK/data.json): the epoch tree and the stores."""
    tree: EpochTree
    tiny_store: str  # the torchrun run's store, from a tiny synthetic benchmark
    tiny_splits: str
    frames_store: str  # the epoch tree at its own size
    clips_store: str  # the epoch tree at the clip store's short side

    def to_json(self) -> dict[str, Any]:
        tree = dataclasses.asdict(self.tree)
        return {**tree, **{k: v for k, v in dataclasses.asdict(self).items() if k != "tree"}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SetupData:
        tree = {f.name: data[f.name] for f in dataclasses.fields(EpochTree)}
        return cls(EpochTree(**tree), **{f.name: data[f.name] for f in dataclasses.fields(cls)
                                         if f.name != "tree"})


def read_data(work: Path) -> SetupData:
    """What setup made (stores, splits, video counts), from WORK/data.json."""
    data = read_json(work / "data.json")
    if data is None:
        raise UserError(f"{work / 'data.json'} is missing: the setup step did not finish.")
    try:
        return SetupData.from_json(data)
    except (KeyError, TypeError) as exc:
        raise UserError(f"{work / 'data.json'} lacks {exc}; run the setup step again.") from None
