"""The report's method section, computed from the run: what data and split it ran on, what the
models trained on and started from, how they sample frames, and what was carried from the
held-out models to the reported ones."""

from __future__ import annotations

from typing import TYPE_CHECKING

from helpers.config import TrainConfig
from helpers.errors import UserError
from helpers.evaluation.choices import Choices
from helpers.evaluation.fusion import FusionParams
from helpers.evaluation.results import CLIP, FRAME, Results, eval_config
from helpers.paths import DataPaths, RunPaths
from helpers.reporting.prose.english import held_groups, name_list, scored
from helpers.training.weights_record import WeightsRecord

if TYPE_CHECKING:  # its module imports torch (the environment record), which prose need not
    from helpers.training.records import RunRecord


# ----------------------------------------------------------------------------- method
def _held_out(res: Results) -> str:
    groups = res.held_out.groups
    return (f"the held-out training groups {held_groups(groups)}" if groups
            else "the held-out training groups")


def intro(data: DataPaths, run: RunPaths, frame: RunRecord, clip: RunRecord,
          res: Results) -> str:
    """What this run was computed on: the data, the split and its sizes, the run folder."""
    what = ("the **synthetic spatial/temporal benchmark** that ships with this repository, "
            "not UCF-101: some of its classes can be told from any single frame, others "
            "only by how things move" if data.synthetic
            else f"**UCF-101** (videos from `{data.source}`)")
    return (f"This report was computed on {what}, official-format split "
            f"{frame.split}: {frame.num_train} training videos for the reported "
            f"models, {res.held_out.videos} videos of {_held_out(res)} for validation, and "
            f"{res.summaries[FRAME].num_videos} test videos in {len(res.class_names)} "
            f"classes. The run's folder is `{run.root.name}/`.")


def provenance(frame: RunRecord | None, clip: RunRecord | None,
               weights: WeightsRecord | None) -> str:
    """What the models trained on (device, GPU model and count, torch, CUDA) and which
    pretrained files they started from, as recorded in the run (None: no record)."""
    envs = {kind: rec.environment.describe()
            for kind, rec in (("frame", frame), ("clip", clip)) if rec and rec.environment}
    if not envs:
        where = ""
    elif len(set(envs.values())) == 1:
        where = f"Both models trained on {next(iter(envs.values()))}."
    else:
        where = "; ".join(f"the {k} model trained on {v}" for k, v in envs.items())
        where = where[0].upper() + where[1:] + "."
    weights = weights or WeightsRecord()
    started = [f"the {kind} model from {w.name} (sha256 `{w.sha256[:12]}`"
               f"{', the published file' if w.published else ''})"
               for kind, w in (("frame", weights.frame), ("clip", weights.clip)) if w]
    if started:
        start = f"Pretrained weights: {'; '.join(started)}."
    else:
        start = "Both models were trained from scratch (no pretrained weights)."
    return f"{where} {start}".strip()


def method_facts(frame: RunRecord, clip: RunRecord, res: Results | None = None,
                 choices: Choices | None = None) -> str:
    """The sampling and held-out groups of this run, from the reported models' saved configs
    and (for what fusion was fitted on) the validation predictions; under `refit`, how the
    reported models' length was set and what was carried over from the held-out models
    (from `choices`, the run's choices.json, and the fusion fit)."""
    f, c = frame.config, clip.config
    k = f.frames_per_video
    text = (f"**In this run** the frame model trains on {k} frame{'s' if k != 1 else ''} per "
            f"video per epoch and scores {scored(eval_config(res, FRAME, f))} of each test "
            f"video; the clip model trains on one random {c.clip_len}-frame window per "
            f"video per epoch and scores {scored(eval_config(res, CLIP, c))}.")
    if c.val_groups:
        held = held_groups(c.val_groups)
        return text + (f" The reported models were trained without the held-out groups {held} "
                       f"({clip.num_val} training videos), whose predictions fitted "
                       "the fusion: this run keeps the held-out models as the reported ones "
                       "(the `holdout` protocol, the CPU demo's default, which fits its time "
                       "budget); the `refit` protocol trains them again on every training "
                       "video.")
    fitted = (f" ({res.held_out.videos} videos of {_held_out(res)})"
              if res is not None else "")
    text += (f" The reported models were trained on all {clip.num_train} "
             "training videos, after the fusion had been fitted on the validation "
             f"predictions{fitted} of models trained without those groups.")
    choices = choices or Choices()
    return " ".join([text, _length(f, c, choices), _carried(res, choices)]).strip()


def _length(f: TrainConfig, c: TrainConfig, choices: Choices) -> str:
    """How the reported models' number of epochs was set (`refit`)."""
    records = [choices.epochs(kind) for kind in ("frame", "clip")]
    if any(r and r.fitted_on is None for r in records):  # a run begun under the older rule
        raise UserError("This run's choices.json sets the reported models' epochs by an older "
                        "rule (the held-out model's lowest validation loss), a schedule the "
                        "fusion was not fitted on; train its reported models again with "
                        "`refit` in a new run folder.")
    return (f"They trained for as many epochs as the held-out models ({f.num_epochs} for "
            f"the frame model, {c.num_epochs} for the clip model) with the same "
            "learning-rate schedule as a function of training progress, each epoch taking "
            "more steps on the larger training set.")


def _carried(res: Results | None, choices: Choices) -> str:
    """What was fitted on the held-out models' final checkpoints and applied unchanged to
    the reported models (`refit`): the fusion and its parameters, the test crops."""
    items = []
    if res is not None:
        chosen = res.fit.chosen
        items.append(f"the fusion method chosen on their validation predictions, {chosen} "
                     f"({_fusion_parameters(chosen, res.fit.params)})")
    crops = choices.three_crop
    if crops is not None:
        items.append("the frame model's test crops, chosen on validation top-1 ("
                     + ("three crops" if crops.value else "the centre crop") + ")")
    if not items:
        return ""
    return ("Carried over unchanged from the held-out models' final checkpoints to the "
            f"reported models: {name_list(items)}.")


def _fusion_parameters(method: str, params: FusionParams) -> str:
    """The fitted parameters of a fusion method, in words."""
    if method == "weighted":
        return f"the frame model's weight w = {params.weighted.w:.2f}"
    if method == "stacking":
        s = params.stacking
        return (f"one weight per model, {s.w_a:.2f} (frame) and {s.w_b:.2f} (clip), and "
                f"{len(s.bias)} per-class biases")
    return "no fitted parameters"

