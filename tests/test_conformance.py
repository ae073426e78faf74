"""Our R3D-50 computes what Hara's does (shared/conformance/README.md): same keys in the
same order, same parameter count, same logits for the rule-filled weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hara_conformance import rule_state_dict, run_conformance, save_hara_style

from helpers.models import build_model


@pytest.fixture(scope="module")
def conformance_dir(shared_dir: Path) -> Path:
    path = shared_dir / "conformance"
    if not (path / "r3d50_reference_io.npz").is_file():
        pytest.skip(f"{path} has no reference files")
    return path


def test_r3d50_matches_hara_float32(conformance_dir: Path) -> None:
    spec = json.loads((conformance_dir / "r3d50_state_dict.json").read_text())
    result = run_conformance(conformance_dir, torch.float32)
    assert result.keys_match and len(spec["state_dict"]) == 320
    assert result.num_parameters == spec["num_parameters"] == 47_018_576
    assert result.rel_error <= 1e-4


def test_r3d50_matches_hara_float64(conformance_dir: Path) -> None:
    assert run_conformance(conformance_dir, torch.float64).rel_error <= 1e-9


def test_old_format_file_gives_hara_network(conformance_dir: Path, tmp_path: Path) -> None:
    """The rule weights written as Hara's old Kinetics-400 file (legacy serialization,
    `module.` prefixes, no num_batches_tracked) load into r3d50 with a new head, and the
    loaded backbone followed by the file's own head reproduces the reference logits."""
    spec = json.loads((conformance_dir / "r3d50_state_dict.json").read_text())
    file_sd = rule_state_dict(spec["state_dict"])
    path = tmp_path / "resnet-50-kinetics.pth"
    save_hara_style(file_sd, path, old_format=True)

    model = build_model("r3d50", 101, path).eval()
    assert model.norm_name == "kinetics-old" and model.fc.out_features == 101
    own = model.backbone.state_dict()
    for k, v in own.items():
        if not k.startswith("fc."):
            assert torch.equal(v, file_sd[k]), k

    ref = np.load(conformance_dir / "r3d50_reference_io.npz")
    with torch.inference_mode():
        features = model.backbone.forward_features(torch.from_numpy(ref["input"]))
        logits = (features @ file_sd["fc.weight"].T + file_sd["fc.bias"]).double().numpy()
    rel = np.linalg.norm(logits - ref["logits"]) / np.linalg.norm(ref["logits"])
    assert rel <= 1e-4
