"""`choices.json`, typed: what validation decided for a run, and on which checkpoint.

Under `refit` the reported models carry choices fitted on the held-out models' final
checkpoints: each model's number of epochs (`EpochChoice`), the frame model's test crops
(`CropChoice`) and the temporal head's candidate (`HeadChoice`). Each names the checkpoint it
was fitted on (`FittedOn`), so the report can say what was carried over. The file's layout is
`{kind: {name: entry}}` (`{"clip": {"num_epochs": {...}}, "head": {"candidate": {...}}}`).
An epoch choice of an older run has no `fitted_on` (it was the epoch of the lowest validation
loss); it reads back with `fitted_on=None`, and the consumers refuse it where it matters.

>>> c = Choices(num_epochs={"clip": EpochChoice(7, "rule", FittedOn("clip-holdout/model.pt",
...                                                                  "ab"))})
>>> Choices.from_json(c.to_json(), "choices.json") == c
True
>>> Choices.from_json({"clip": {"num_epochs": {"rule": "r"}}}, "choices.json")
Traceback (most recent call last):
...
helpers.errors.UserError: choices.json holds a malformed choice (clip num_epochs lacks value); delete it to make the choices again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.errors import UserError
from helpers.utils.io import read_json_object, write_json_atomic

__all__ = ["CHOICES_JSON", "Choices", "CropChoice", "EpochChoice", "FittedOn", "HeadChoice"]

CHOICES_JSON = "choices.json"
KINDS = ("frame", "clip")
_FIX = "delete it to make the choices again"


@dataclass(frozen=True)
class FittedOn:
    """The checkpoint a choice was fitted on: its path relative to the run folder (absolute
    when outside it) and its sha256 (`helpers.evaluation.predictions.checkpoint_record`)."""

    checkpoint: str
    sha256: str

    @classmethod
    def from_json(cls, raw: Mapping[str, str]) -> FittedOn:
        return cls(str(raw["checkpoint"]), str(raw["sha256"]))

    def to_json(self) -> dict[str, str]:
        return {"checkpoint": self.checkpoint, "sha256": self.sha256}


@dataclass(frozen=True)
class EpochChoice:
    """A reported model's number of epochs: its held-out model's (`refit`)."""

    value: int
    rule: str
    fitted_on: FittedOn | None = None  # None: an older run's rule (lowest validation loss)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> EpochChoice:
        fitted = raw.get("fitted_on")
        return cls(int(raw["value"]), str(raw.get("rule", "")),
                   FittedOn.from_json(fitted) if fitted else None)

    def to_json(self) -> dict[str, Any]:
        fitted = {"fitted_on": self.fitted_on.to_json()} if self.fitted_on else {}
        return {"value": self.value, "rule": self.rule, **fitted}


@dataclass(frozen=True)
class CropChoice:
    """Whether the frame model scores three crops, chosen on validation top-1."""

    value: bool
    rule: str
    fitted_on: FittedOn
    val_top1: Mapping[str, float] = field(default_factory=dict)  # "1 crop", "3 crops"

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> CropChoice:
        return cls(bool(raw["value"]), str(raw["rule"]), FittedOn.from_json(raw["fitted_on"]),
                   {str(k): float(v) for k, v in (raw.get("val_top1") or {}).items()})

    def to_json(self) -> dict[str, Any]:
        scores = {"val_top1": dict(self.val_top1)} if self.val_top1 else {}
        return {"value": self.value, "rule": self.rule, **scores,
                "fitted_on": self.fitted_on.to_json()}


@dataclass(frozen=True)
class HeadChoice:
    """The temporal head's candidate, chosen on the held-out groups' per-video log-loss."""

    value: str  # the candidate's name
    guard: bool
    rule: str
    val_log_loss: Mapping[str, float]  # per candidate ("<name>[ guarded]")
    fitted_on: FittedOn

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> HeadChoice:
        return cls(str(raw["value"]), bool(raw["guard"]), str(raw["rule"]),
                   {str(k): float(v) for k, v in raw["val_log_loss"].items()},
                   FittedOn.from_json(raw["fitted_on"]))

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "guard": self.guard, "rule": self.rule,
                "val_log_loss": dict(self.val_log_loss), "fitted_on": self.fitted_on.to_json()}


@dataclass(frozen=True)
class Choices:
    """Every choice of a run (see the module); a choice not made yet is absent."""

    num_epochs: Mapping[str, EpochChoice] = field(default_factory=dict)  # by kind
    three_crop: CropChoice | None = None  # the frame model's
    head: HeadChoice | None = None

    def epochs(self, kind: str) -> EpochChoice | None:
        return self.num_epochs.get(kind)

    def with_epochs(self, kind: str, choice: EpochChoice) -> Choices:
        return dataclasses.replace(self, num_epochs={**self.num_epochs, kind: choice})

    def replace(self, **changes: Any) -> Choices:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for kind in KINDS:  # the order older files had: frame, clip, head
            if kind in self.num_epochs:
                out.setdefault(kind, {})["num_epochs"] = self.num_epochs[kind].to_json()
        if self.three_crop is not None:
            out.setdefault("frame", {})["three_crop"] = self.three_crop.to_json()
        if self.head is not None:
            out["head"] = {"candidate": self.head.to_json()}
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], where: str | Path) -> Choices:
        entry = ""
        try:
            epochs = {}
            for kind in KINDS:
                entry = f"{kind} num_epochs"
                if (raw.get(kind) or {}).get("num_epochs") is not None:
                    epochs[kind] = EpochChoice.from_json(raw[kind]["num_epochs"])
            entry = "frame three_crop"
            crop = (raw.get("frame") or {}).get("three_crop")
            crop = None if crop is None else CropChoice.from_json(crop)
            entry = "head candidate"
            head = (raw.get("head") or {}).get("candidate")
            return cls(epochs, crop, None if head is None else HeadChoice.from_json(head))
        except KeyError as exc:
            raise UserError(f"{where} holds a malformed choice ({entry} lacks {exc.args[0]}); "
                            f"{_FIX}.") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise UserError(f"{where} holds a malformed choice ({entry}: {exc}); "
                            f"{_FIX}.") from None

    @classmethod
    def read(cls, run_dir: str | Path) -> Choices:
        """The run's choices; none made yet when the file does not exist."""
        path = Path(run_dir) / CHOICES_JSON
        if not path.is_file():
            return cls()
        return cls.from_json(read_json_object(path, fix=_FIX), path)

    def write(self, run_dir: str | Path) -> None:
        write_json_atomic(Path(run_dir) / CHOICES_JSON, self.to_json())
