"""Weights identified by content under any name, and `fetch`, which readies a clone for
compute nodes without internet (the downloads themselves are stood in by local copies)."""

from __future__ import annotations

import shutil

import pytest
import torch
import torchvision
from hara_conformance import rule_state_dict, save_hara_style

import helpers.data.download as dl
import helpers.models.identify as ident
import helpers.models.resnet2d as resnet2d
from helpers.cli import main
from helpers.errors import UserError
from helpers.models.identify import identify
from helpers.models.resnet3d import resnet3d
from helpers.training.weights_record import WeightsRecord
from helpers.utils.io import sha256_file
from helpers.workflow import offline, pipeline
from helpers.workflow.pipeline import Setup


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("weights")
    imagenet = root / "course_resnet50.pth"  # a course folder's own name
    torch.save(torchvision.models.resnet50().state_dict(), imagenet)
    old = root / "resnet-50-kinetics.pth"
    save_hara_style(rule_state_dict((k, v.shape) for k, v in resnet3d(50, 400).state_dict().items()),
                    old, old_format=True)
    new = root / "r3d50.pth"
    save_hara_style(rule_state_dict((k, v.shape) for k, v in resnet3d(50, 700).state_dict().items()),
                    new, old_format=False)
    return {"imagenet": imagenet, "old": old, "new": new}


@pytest.fixture()
def published(monkeypatch, files):
    """Pretend the stand-in ImageNet file is torchvision's published V2 (its hash prefix)."""
    prefix = sha256_file(files["imagenet"])[:8]
    monkeypatch.setitem(ident.TORCHVISION, prefix, ("resnet50", "IMAGENET1K_V2"))
    return prefix


def test_both_hara_formats_are_told_from_their_content(files):
    old, new = identify(files["old"]), identify(files["new"])
    assert old.name.startswith("Hara R3D-50, Kinetics-400 (old format")
    assert new.name.startswith("Hara R3D-50, Kinetics-700 (new format")
    assert not old.published and len(old.sha256) == 64


def test_a_torchvision_file_is_told_by_its_checksum_under_any_name(files, published):
    found = identify(files["imagenet"])
    assert found.published and found.name == "torchvision resnet50 IMAGENET1K_V2"


def test_an_unpublished_2d_file_is_named_as_such(files):
    assert "not a published torchvision file" in identify(files["imagenet"]).name


def test_the_imagenet_file_is_found_in_data_weights_under_any_name(files, published, tmp_path,
                                                                  monkeypatch):
    monkeypatch.setattr(resnet2d, "WEIGHTS_DIR", tmp_path / "weights")
    monkeypatch.setattr(resnet2d, "hub_checkpoint_dir", lambda: tmp_path / "hub")
    assert resnet2d.find_imagenet_file("resnet50") is None
    (tmp_path / "weights").mkdir()
    shutil.copyfile(files["imagenet"], tmp_path / "weights" / "resnet50.pth")
    assert resnet2d.find_imagenet_file("resnet50") == tmp_path / "weights" / "resnet50.pth"
    model = resnet2d.build_resnet2d("resnet50", 7, "imagenet")
    assert model.fc.out_features == 7


def test_fetch_readies_a_clone_for_offline_nodes(files, published, tmp_path, monkeypatch,
                                                 capsys):
    served = {"https://download.pytorch.org/models/resnet50-11ad3fa6.pth": files["imagenet"],
              "https://mirror.example/r3d50_K_200ep.pth": files["new"]}
    monkeypatch.setattr(dl, "download_file",
                        lambda url, dest, **kw: shutil.copyfile(served[url], dest))
    splits = []
    monkeypatch.setattr(dl, "download_ucf101", lambda out, **kw: splits.append((out, kw)))
    monkeypatch.setattr(offline, "WEIGHTS_DIR", tmp_path / "weights")
    (tmp_path / "weights").mkdir()
    assert main(["fetch", "--out", str(tmp_path / "ucf101"), "--kinetics",
                 "https://mirror.example/r3d50_K_200ep.pth"]) == 0
    out = capsys.readouterr().out
    assert splits == [(tmp_path / "ucf101", {"only": ["splits"], "base_url": None})]
    assert (tmp_path / "weights" / "resnet50-11ad3fa6.pth").is_file()
    assert (tmp_path / "weights" / "r3d50_K_200ep.pth").is_file()
    assert "torchvision resnet50 IMAGENET1K_V2" in out and "Kinetics-700" in out


def test_fetch_refuses_what_is_not_the_file_asked_for(files, tmp_path, monkeypatch):
    monkeypatch.setattr(dl, "download_file",
                        lambda url, dest, **kw: shutil.copyfile(files["imagenet"], dest))
    with pytest.raises(UserError, match="did not serve torchvision's resnet50-11ad3fa6.pth"):
        offline.fetch_imagenet("v2", folder=tmp_path)
    assert not list(tmp_path.iterdir())  # nothing unverified is left for the compute node
    with pytest.raises(UserError, match="not a Hara 3D ResNet"):
        offline.fetch_kinetics(str(files["imagenet"]), folder=tmp_path)


def test_the_run_records_what_each_weights_file_is(files, tmp_path, monkeypatch):
    setup = Setup(profile="ucf101", weights=str(files["old"]),
                  imagenet_weights=str(files["imagenet"]), run_dir=str(tmp_path / "run"))
    run = pipeline.run_paths(setup)
    saved = pipeline.record_weights(setup, run)
    assert saved.clip.name.startswith("Hara R3D-50, Kinetics-400")
    assert saved.frame.sha256 == sha256_file(files["imagenet"])
    assert WeightsRecord.read(run.root) == saved  # what weights.json holds
    monkeypatch.setattr(ident, "identify", lambda path: pytest.fail(f"{path} read again"))
    assert pipeline.record_weights(setup, run) == saved  # unchanged files: not read again
    from helpers.reporting import prose

    text = prose.provenance(None, None, saved)
    assert "clip model from Hara R3D-50, Kinetics-400" in text
    assert saved.clip.sha256[:12] in text


def test_the_demo_says_it_trained_from_scratch():
    from helpers.reporting import prose

    assert "from scratch" in prose.provenance(None, None, WeightsRecord())
