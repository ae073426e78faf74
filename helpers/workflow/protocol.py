"""The `refit` protocol's rules: the reported model of a run trains again on every training
video with its held-out model's recipe, number of epochs and learning-rate schedule, so that
what was fitted on the held-out model's final checkpoint (fusion, the three-crop and head
choices) carries over to the model that reproduces it. One run folder never mixes protocols.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.config import TrainConfig
from helpers.errors import UserError
from helpers.evaluation.choices import Choices, EpochChoice, FittedOn
from helpers.evaluation.predictions import checkpoint_record
from helpers.paths import RunPaths
from helpers.utils.io import sha256_file

__all__ = ["NUM_EPOCHS_RULE", "check_protocol", "reported_config", "reported_epochs"]

NUM_EPOCHS_RULE = ("the held-out model's number of epochs and learning-rate schedule (as a "
                   "function of training progress; steps per epoch follow the data)")
# Options the reported model may set apart from its held-out model: the data it trains on
# and its length (only an older run's recorded choice); besides, those that do not change
# the weights (helpers.training.runs.FREE_OPTIONS).
_NOT_SCHEDULE = ("val_groups", "val_max_items", "num_epochs")


def check_protocol(run: RunPaths) -> None:
    """Refuse a run folder that holds models of the other protocol: one run never mixes them."""
    from helpers.training.records import CONFIG_JSON, RunRecord

    for kind in ("frame", "clip"):
        held_apart = run.root / f"{kind}-holdout"
        summary = run.model_dir(kind) / CONFIG_JSON
        if run.protocol == "holdout" and held_apart.is_dir():
            other = "refit"
        elif (run.protocol == "refit" and summary.is_file()  # only the recipe is needed here
              and RunRecord.read(summary.parent).config.val_groups):
            other = "holdout"
        else:
            continue
        raise UserError(f"{run.root} holds models of the {other} protocol; run it with "
                        f"--protocol {other} (PROTOCOL={other}), or choose another run folder.")


def reported_config(kind: str, run: RunPaths, cfg: TrainConfig) -> TrainConfig:
    """The reported model's config under `refit`: `cfg` (the profile's recipe without held-out
    groups) with the held-out model's number of epochs, after checking that everything else
    that shapes the weights, the learning-rate schedule included, is the held-out model's."""
    from helpers.training.runs import FREE_OPTIONS, MODEL

    held = run.model_dir(kind, "holdout") / MODEL
    saved = _saved_config(held)
    diff = sorted(k for k, v in cfg.to_dict().items()
                  if k not in _NOT_SCHEDULE + FREE_OPTIONS and saved.get(k, v) != v)
    if diff:
        detail = ", ".join(f"{k}: {saved[k]!r} -> {cfg.to_dict()[k]!r}" for k in diff[:4])
        raise UserError(f"The reported {kind} model would not reproduce its held-out model "
                        f"{held} ({detail}); train both with the same options.")
    return cfg.replace(num_epochs=reported_epochs(kind, run, int(saved["num_epochs"])))


def reported_epochs(kind: str, run: RunPaths, held_out: int) -> int:
    """Epochs of the reported model: the held-out model's (`held_out`), recorded in
    choices.json with the checkpoint it reproduces. A reported model begun under an older
    run's rule (the epoch of the lowest validation loss) is refused: the fusion was not fitted
    on that schedule."""
    choices = Choices.read(run.root)
    old = choices.epochs(kind)
    if old and old.value != held_out and _began_with(run.model_dir(kind), old.value):
        raise UserError(f"The reported {kind} model of {run.root} began training for "
                        f"{old.value} epochs under an older rule, not the held-out model's "
                        f"{held_out} the fusion was fitted on; start a new run folder.")
    from helpers.training.runs import MODEL

    held = run.model_dir(kind, "holdout") / MODEL
    fitted_on = FittedOn.from_json(checkpoint_record(held, sha256_file(held), run.root))
    choices.with_epochs(kind, EpochChoice(held_out, NUM_EPOCHS_RULE, fitted_on)).write(run.root)
    return held_out


def _began_with(model_dir: Path, num_epochs: Any) -> bool:
    """Whether a model has checkpointed at least one epoch of a `num_epochs` run."""
    from helpers.training.records import RunRecord
    from helpers.training.runs import CHECKPOINT, MODEL

    if not ((model_dir / CHECKPOINT).is_file() or (model_dir / MODEL).is_file()):
        return False
    try:
        return RunRecord.read(model_dir).config.num_epochs == num_epochs
    except UserError:  # no record, or a foreign one: not begun under that rule
        return False


def _saved_config(path: Path) -> dict[str, Any]:
    from helpers.training.runs import load

    if not path.is_file():
        raise UserError(f"{path} does not exist; train the held-out model first.")
    return dict(load(path)["config"])
