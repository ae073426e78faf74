"""`weights.json`, typed: which pretrained file each model of a run starts from, identified by
its content (`helpers.models.identify`); `helpers.workflow.weights.record_weights` writes it
and the report names the files.

>>> rec = WeightsRecord(clip=RecordedWeights("/w/r3d50.pth", "ab" * 32, "Hara R3D-50", False,
...                                          (1024, 5)))
>>> WeightsRecord.from_json(rec.to_json(), "weights.json") == rec
True
>>> WeightsRecord.from_json({"clip": {"sha256": "ab"}}, "weights.json")
Traceback (most recent call last):
...
helpers.errors.UserError: weights.json holds a malformed entry for the clip model (it lacks path); delete it, and the next step of the run identifies the weights again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helpers.errors import UserError
from helpers.utils.io import read_json_object, write_json_atomic

if TYPE_CHECKING:
    from helpers.models.identify import WeightsIdentity

__all__ = ["WEIGHTS_JSON", "RecordedWeights", "WeightsRecord"]

WEIGHTS_JSON = "weights.json"  # in the run folder: what each model's pretrained file is
KINDS = ("frame", "clip")
_FIX = "delete it, and the next step of the run identifies the weights again"


@dataclass(frozen=True)
class RecordedWeights:
    """One model's pretrained file: `helpers.models.identify.WeightsIdentity` (kept apart
    here so that reading the record does not import torchvision) and the file's stamp when
    it was identified."""

    path: str
    sha256: str
    name: str  # e.g. "torchvision resnet50 IMAGENET1K_V2" or "Hara R3D-50, Kinetics-700"
    published: bool  # the sha256 matches a published checksum
    stamp: tuple[int, int] | None = None  # `file_stamp` (size, mtime in ns); None: read it again

    @classmethod
    def of(cls, identity: WeightsIdentity, stamp: list[int]) -> RecordedWeights:
        return cls(identity.path, identity.sha256, identity.name, identity.published,
                   (int(stamp[0]), int(stamp[1])))

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> RecordedWeights:
        stamp = raw.get("stamp")
        return cls(str(raw["path"]), str(raw["sha256"]), str(raw["name"]),
                   bool(raw.get("published", False)),
                   (int(stamp[0]), int(stamp[1])) if stamp else None)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "name": self.name,
                "published": self.published, "stamp": list(self.stamp) if self.stamp else None}


@dataclass(frozen=True)
class WeightsRecord:
    """Each model's pretrained file; None for a model trained from scratch."""

    frame: RecordedWeights | None = None
    clip: RecordedWeights | None = None

    def get(self, kind: str) -> RecordedWeights | None:
        if kind not in KINDS:
            raise UserError(f"Unknown model kind {kind!r}; choose one of {', '.join(KINDS)}.")
        return getattr(self, kind)

    def to_json(self) -> dict[str, dict[str, Any] | None]:
        return {kind: (w.to_json() if (w := self.get(kind)) else None) for kind in KINDS}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], where: str | Path) -> WeightsRecord:
        entries = {}
        for kind in KINDS:
            try:
                entry = raw.get(kind)
                entries[kind] = RecordedWeights.from_json(entry) if entry else None
            except KeyError as exc:
                raise UserError(f"{where} holds a malformed entry for the {kind} model (it "
                                f"lacks {exc.args[0]}); {_FIX}.") from None
            except (TypeError, ValueError, AttributeError, IndexError) as exc:
                raise UserError(f"{where} holds a malformed entry for the {kind} model "
                                f"({exc}); {_FIX}.") from None
        return cls(**entries)

    @classmethod
    def read(cls, run_dir: str | Path) -> WeightsRecord:
        """The run's record; an empty one (both from scratch) when none was written."""
        path = Path(run_dir) / WEIGHTS_JSON
        if not path.is_file():
            return cls()
        return cls.from_json(read_json_object(path, fix=_FIX), path)

    def write(self, run_dir: str | Path) -> None:
        write_json_atomic(Path(run_dir) / WEIGHTS_JSON, self.to_json())
