"""`config.json`, typed: what a training run was trained with and on.

`train` writes one `RunRecord` per model folder; evaluation, the pipeline, the GPU check and
the report read it back through `RunRecord.read`, never by string keys. A file written by an
older version of the code lacks the fields added since: they read as their defaults (no
environment, no batch bookkeeping). A file that is not a record at all is refused in one
sentence.

>>> from helpers.config import TrainConfig
>>> rec = RunRecord(config=TrainConfig(), store="/s.h5", splits="/splits", split=1,
...                 num_train=9537, num_val=0)
>>> RunRecord.from_json(rec.to_json(), "config.json") == rec
True
>>> RunRecord.from_json({"split": 1}, "config.json")
Traceback (most recent call last):
...
helpers.errors.UserError: config.json is not a run record written by `train` (it lacks config, store, splits, num_train); train that run again, or pass --store, --splits and --split.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.config import TrainConfig
from helpers.errors import UserError
from helpers.utils.environment import Environment
from helpers.utils.io import read_json_object, write_json_atomic

CONFIG_JSON = "config.json"
_REQUIRED = ("config", "store", "splits", "split", "num_train")
_FIX = "train that run again, or pass --store, --splits and --split"


@dataclass(frozen=True)
class RunRecord:
    config: TrainConfig
    store: str  # the frame store, resolved
    splits: str  # the folder of split files, resolved
    split: int
    num_train: int  # training videos (every one under the refit protocol's reported model)
    num_val: int = 0
    world_size: int = 1
    micro_batch: int | None = None  # items per process and accumulation step
    global_batch: int | None = None
    steps_per_epoch: int | None = None  # optimizer steps
    missing_train: tuple[str, ...] = ()  # listed videos the store could not decode
    missing_val: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)  # `runs.data_identity`: split, hashes
    environment: Environment | None = None  # device, GPUs, torch and CUDA versions

    def to_json(self) -> dict[str, Any]:
        raw = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        raw["config"] = self.config.to_dict()
        raw["missing_train"], raw["missing_val"] = list(self.missing_train), list(self.missing_val)
        raw["environment"] = self.environment.to_dict() if self.environment else None
        return raw

    @classmethod
    def from_json(cls, raw: dict[str, Any], where: str | Path, *, fix: str = _FIX) -> RunRecord:
        """The record in `raw` (read from `where`); a foreign or malformed one is refused in one
        sentence ending with `fix`, what the caller's user can do about it."""
        missing = [k for k in _REQUIRED if k not in raw]
        if missing:
            raise UserError(f"{where} is not a run record written by `train` (it lacks "
                            f"{', '.join(missing)}); {fix}.")
        try:
            known = {f.name for f in dataclasses.fields(cls)}
            values = {k: v for k, v in raw.items() if k in known}
            values["config"] = TrainConfig.from_dict(raw["config"])
            for key in ("missing_train", "missing_val"):
                values[key] = tuple(values.get(key) or ())
            env = raw.get("environment")
            values["environment"] = Environment.from_dict(env) if env else None
            return cls(**values)
        except (TypeError, ValueError, AttributeError) as exc:
            raise UserError(f"{where} holds a malformed run record ({exc}); {fix}.") from None

    @classmethod
    def read(cls, run_dir: str | Path, *, fix: str = _FIX) -> RunRecord:
        path = Path(run_dir) / CONFIG_JSON
        if not path.is_file():
            raise UserError(f"{path} does not exist, so the run's store and split are "
                            f"unknown; {fix}.")
        return cls.from_json(read_json_object(path, fix=fix), path, fix=fix)

    def write(self, run_dir: str | Path) -> None:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        write_json_atomic(Path(run_dir) / CONFIG_JSON, self.to_json())
