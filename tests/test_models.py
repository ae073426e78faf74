"""Models: Hara 3D ResNets and their checkpoints, torchvision 2D weights, the normalising
wrapper and the fine-tuning helpers. Weight files are generated here with the
conformance weight rule, in the layouts Hara and torchvision publish."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
import torch
from hara_conformance import rule_state_dict, save_hara_style
from torch import nn

from helpers.errors import UserError
from helpers.models import build_model, infer_config, load_hara_checkpoint
from helpers.models.classifier import NORMALIZATIONS
from helpers.models.finetune import freeze_until, param_groups
from helpers.models.resnet2d import ARCHS as ARCHS_2D
from helpers.models.resnet2d import imagenet_weights_file
from helpers.models.resnet3d import ZeroPadShortcut, resnet3d

NARROW = 0.25  # keys are those of the full net; shapes a quarter wide keep tests fast


def rule_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return rule_state_dict((k, v.shape) for k, v in model.state_dict().items())


def hara_file(tmp_path: Path, depth: int, num_classes: int, *, old_format: bool,
              widen_factor: float = NARROW, shortcut_type: str = "B",
              ) -> tuple[Path, dict[str, torch.Tensor]]:
    sd = rule_weights(resnet3d(depth, num_classes, widen_factor=widen_factor,
                               shortcut_type=shortcut_type))
    path = tmp_path / f"r3d{depth}_{'old' if old_format else 'new'}.pth"
    save_hara_style(sd, path, old_format=old_format)
    return path, sd


def assert_backbone_equals(model: nn.Module, file_sd: dict[str, torch.Tensor]) -> None:
    own = model.backbone.state_dict()
    for k, v in own.items():
        if k.startswith("fc."):
            continue
        if k.endswith("num_batches_tracked") and k not in file_sd:
            assert int(v) == 0
            continue
        assert torch.equal(v, file_sd[k]), k


def uint8_clip(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)


# --- architecture ---------------------------------------------------------------------------

@pytest.mark.parametrize(("depth", "blocks", "bottleneck"),
                         [(18, [2, 2, 2, 2], False), (34, [3, 4, 6, 3], False),
                          (50, [3, 4, 6, 3], True), (101, [3, 4, 23, 3], True)])
def test_depth_table_and_hara_key_names(depth: int, blocks: list[int], bottleneck: bool) -> None:
    sd = resnet3d(depth, 10, widen_factor=NARROW).state_dict()
    cfg = infer_config(sd)
    assert cfg is not None and cfg.depth == depth and list(cfg.layers) == blocks
    assert (cfg.block == "bottleneck") == bottleneck and cfg.shortcut_type == "B"
    assert list(sd)[:2] == ["conv1.weight", "bn1.weight"] and list(sd)[-2:] == ["fc.weight", "fc.bias"]
    assert "layer2.0.downsample.0.weight" in sd and "layer2.0.downsample.1.running_var" in sd
    assert sd["conv1.weight"].shape == (16, 3, 7, 7, 7)
    feature_dim = 128 * (4 if bottleneck else 1)
    assert sd["fc.weight"].shape == (10, feature_dim)


def test_shortcut_a_is_parameter_free_and_zero_pads() -> None:
    model = resnet3d(18, 4, widen_factor=NARROW, shortcut_type="A")
    assert not any("downsample" in k for k in model.state_dict())
    assert infer_config(model.state_dict()).shortcut_type == "A"
    x = torch.randn(2, 3, 5, 7, 9)
    out = ZeroPadShortcut(planes=8, stride=2)(x)
    assert out.shape == (2, 8, 3, 4, 5)
    assert torch.equal(out[:, :3], x[:, :, ::2, ::2, ::2]) and not out[:, 3:].any()
    assert model.eval()(torch.randn(1, 3, 8, 32, 32)).shape == (1, 4)


def test_forward_and_backward_from_scratch() -> None:
    model = build_model("r3d18", 5, widen_factor=NARROW)
    x = uint8_clip(2, 3, 8, 32, 32)
    loss = nn.functional.cross_entropy(model(x), torch.tensor([1, 3]))
    loss.backward()
    assert model.backbone.conv1.weight.grad is not None
    assert model.backbone.conv1.weight.grad.abs().sum() > 0


# --- Hara checkpoints -------------------------------------------------------------------------

def test_old_format_checkpoint_loads_with_fresh_head(tmp_path: Path) -> None:
    path, file_sd = hara_file(tmp_path, 18, 400, old_format=True)
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"epoch", "arch", "state_dict", "optimizer"}
    assert all(k.startswith("module.") for k in raw["state_dict"])
    assert not any(k.endswith("num_batches_tracked") for k in raw["state_dict"])

    sd, info = load_hara_checkpoint(path)
    assert info.old_format and info.num_classes == 400 and info.norm == "kinetics-old"
    assert info.arch == "resnet-18" and info.config.depth == 18

    model = build_model("r3d18", 101, path, widen_factor=NARROW)
    assert_backbone_equals(model, file_sd)
    assert model.fc.weight.shape == (101, 128) and model.num_classes == 101
    assert model.norm_name == "kinetics-old"
    assert model.normalization.mean == pytest.approx((114.7748, 107.7354, 99.4750))
    assert model.normalization.std == (1.0, 1.0, 1.0) and model.normalization.scale == 1.0


def test_new_format_checkpoint_loads_with_fresh_head(tmp_path: Path) -> None:
    path, file_sd = hara_file(tmp_path, 18, 700, old_format=False)
    model = build_model("r3d18", 7, path, widen_factor=NARROW)
    assert_backbone_equals(model, file_sd)
    assert model.fc.weight.shape == (7, 128)
    assert model.norm_name == "kinetics-new"
    assert model.normalization.scale == pytest.approx(1 / 255)
    # the head is fresh: a new init, not a slice of the file's 700-class head
    assert not torch.equal(model.fc.weight, file_sd["fc.weight"][:7])
    # K+M files: 1039 classes, same rule
    (tmp_path / "km").mkdir()
    path_km, _ = hara_file(tmp_path / "km", 18, 1039, old_format=False)
    _, info = load_hara_checkpoint(path_km)
    assert info.num_classes == 1039 and not info.old_format and info.norm == "kinetics-new"


def test_relative_weights_path_resolves_from_the_repo_root(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Profiles name `data/weights/...`; notebooks run from notebooks/ or the caller's folder.
    import helpers.models.checkpoints as ckpt

    repo = tmp_path / "repo"
    (repo / "data" / "weights").mkdir(parents=True)
    path, file_sd = hara_file(repo / "data" / "weights", 18, 400, old_format=False)
    monkeypatch.setattr(ckpt, "REPO_ROOT", repo)
    monkeypatch.chdir(tmp_path)  # not the repo root
    rel = Path("data/weights") / path.name
    model = build_model("r3d18", 3, str(rel), widen_factor=NARROW)
    assert_backbone_equals(model, file_sd)
    with pytest.raises(UserError, match=r"r3d50_K_200ep\.pth does not exist; download .*"
                                        r"3D-ResNets-PyTorch"):
        build_model("r3d50", 3, "data/weights/r3d50_K_200ep.pth")


def test_norm_override(tmp_path: Path) -> None:
    path, _ = hara_file(tmp_path, 18, 700, old_format=False)
    model = build_model("r3d18", 3, path, widen_factor=NARROW, norm="kinetics-old")
    assert model.norm_name == "kinetics-old"
    with pytest.raises(UserError, match="Unknown normalisation"):
        build_model("r3d18", 3, path, widen_factor=NARROW, norm="bogus")


def test_wrong_depth_names_keys_and_shapes(tmp_path: Path) -> None:
    path, _ = hara_file(tmp_path, 18, 700, old_format=False)
    with pytest.raises(UserError) as exc:
        build_model("r3d50", 101, path, widen_factor=NARROW)
    msg = str(exc.value)
    assert str(path) in msg and "r3d50" in msg
    assert "layer1.0.conv3.weight missing (expected [64, 16, 1, 1, 1])" in msg
    assert "layer1.0.conv1.weight is [16, 16, 3, 3, 3], expected [16, 16, 1, 1, 1]" in msg
    assert "looks like r3d18" in msg and "not r3d50: pass an r3d50 file" in msg
    assert "--arch r3d18" in msg
    assert "\n" not in msg


def test_wrong_shortcut_type_is_named(tmp_path: Path) -> None:
    path, _ = hara_file(tmp_path, 34, 400, old_format=True, shortcut_type="A")
    with pytest.raises(UserError, match=re.escape("layer2.0.downsample.0.weight missing")) as exc:
        build_model("r3d34", 101, path, widen_factor=NARROW)
    assert "shortcut_type 'A'" in str(exc.value)
    model = build_model("r3d34", 101, path, widen_factor=NARROW, shortcut_type="A")
    assert model.norm_name == "kinetics-old"


def test_wrong_width_and_2d_file_into_3d(tmp_path: Path) -> None:
    path, _ = hara_file(tmp_path, 18, 700, old_format=False)
    with pytest.raises(UserError, match="widen_factor 0.25"):
        build_model("r3d18", 101, path)
    path2d = tmp_path / "r18.pth"
    torch.save(ARCHS_2D["resnet18"](num_classes=10).state_dict(), path2d)
    with pytest.raises(UserError, match="does not hold 3D ResNet weights"):
        build_model("r3d18", 101, path2d)


def test_unsafe_unreadable_and_missing_files(tmp_path: Path) -> None:
    pickled = tmp_path / "pickled.pth"
    torch.save({"state_dict": {"fc.weight": torch.zeros(2, 2)},
                "opt": argparse.Namespace(lr=0.1)}, pickled)
    with pytest.raises(UserError, match=r"pickles argparse\.Namespace.*weights_only=True"):
        build_model("r3d18", 5, pickled)
    truncated = tmp_path / "truncated.pth"
    path, _ = hara_file(tmp_path, 18, 700, old_format=False)
    truncated.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(UserError, match="not a readable PyTorch weights file"):
        build_model("r3d18", 5, truncated, widen_factor=NARROW)
    text = tmp_path / "notes.pth"  # not a zip: torch.load's legacy pickle path fails oddly
    text.write_text("hello")
    with pytest.raises(UserError, match="not a readable PyTorch weights file"):
        build_model("r3d18", 5, text, widen_factor=NARROW)
    with pytest.raises(UserError, match="does not exist"):
        build_model("r3d18", 5, tmp_path / "absent.pth")
    no_fc = tmp_path / "no_fc.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, no_fc)
    with pytest.raises(UserError, match="no 2-D fc.weight"):
        build_model("r3d18", 5, no_fc)
    with pytest.raises(UserError, match="2D models only"):
        build_model("r3d50", 5, "imagenet")


# --- 2D weights -------------------------------------------------------------------------------

def test_missing_imagenet_weights_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(UserError) as exc:
        build_model("resnet50", 101, "imagenet")
    msg = str(exc.value)
    assert "resnet50-11ad3fa6.pth" in msg
    assert str(tmp_path / "hub" / "checkpoints") in msg
    assert "https://download.pytorch.org/models/resnet50-11ad3fa6.pth" in msg
    assert "\n" not in msg
    assert not any(tmp_path.rglob("*.pth"))  # nothing fetched, nothing half-written


def torchvision_file(arch: str, path: Path, *, drop_nbt: bool = False) -> dict[str, torch.Tensor]:
    """A torchvision-layout ImageNet state_dict (1000 classes) filled by the weight rule."""
    sd = rule_weights(ARCHS_2D[arch](num_classes=1000))
    if drop_nbt:  # the published files predate num_batches_tracked
        sd = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(sd, path)
    return sd


def test_imagenet_weights_from_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path, _ = imagenet_weights_file("resnet18")
    assert path == tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    file_sd = torchvision_file("resnet18", path, drop_nbt=True)
    model = build_model("resnet18", 101, "imagenet")
    assert_backbone_equals(model, file_sd)
    assert model.fc.weight.shape == (101, 512) and model.kind == "2d"
    assert model.norm_name == "imagenet"


def test_user_named_2d_weights(tmp_path: Path) -> None:
    path = tmp_path / "mine.pth"
    file_sd = rule_weights(ARCHS_2D["resnet18"](num_classes=37))
    torch.save({"state_dict": {f"module.{k}": v for k, v in file_sd.items()}, "epoch": 3}, path)
    model = build_model("resnet18", 5, path)
    assert_backbone_equals(model, file_sd)
    assert model.fc.weight.shape == (5, 512)
    with pytest.raises(UserError, match="basic-block ResNet"):
        build_model("resnet50", 5, path)


def test_imagenet_download_only_when_allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    calls = []

    def offline(url: str, **kwargs: object) -> None:
        calls.append(url)
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(UserError, match="--download-weights"):
        build_model("resnet18", 3, "imagenet")
    assert calls == []
    with pytest.raises(UserError, match="Downloading .* failed .*network unreachable"):
        build_model("resnet18", 3, "imagenet", allow_download=True)
    assert len(calls) == 1

    def fetch(url: str, model_dir: str, **kwargs: object) -> None:  # what torch.hub leaves behind
        torchvision_file("resnet18", Path(model_dir) / url.rsplit("/", 1)[-1])

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fetch)
    assert build_model("resnet18", 3, "imagenet", allow_download=True).fc.out_features == 3


def test_bad_names() -> None:
    with pytest.raises(UserError, match="Unknown model 'r3d19'"):
        build_model("r3d19", 5)
    with pytest.raises(UserError, match="3D models only"):
        build_model("resnet18", 5, widen_factor=0.5)
    with pytest.raises(UserError, match="positive integer"):
        build_model("resnet18", 0)
    with pytest.raises(UserError, match="imagenet1k_v2"):
        build_model("resnet50", 5, "imagenet1k_v9")


# --- the normalising wrapper ------------------------------------------------------------------

def backbone_input(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    seen = []
    handle = model.backbone.conv1.register_forward_pre_hook(lambda m, a: seen.append(a[0]))
    with torch.no_grad():
        model(x)
    handle.remove()
    return seen[0]


@pytest.mark.parametrize(("arch", "norm", "pixel", "expected"), [
    ("r3d18", "kinetics-old", (128, 0, 255), (128 - 114.7748, 0 - 107.7354, 255 - 99.4750)),
    ("r3d18", "kinetics-new", (128, 0, 255),
     ((128 / 255 - 0.4345) / 0.2768, (0 - 0.4051) / 0.2713, (1 - 0.3775) / 0.2737)),
    ("resnet18", "imagenet", (128, 0, 255),
     ((128 / 255 - 0.485) / 0.229, (0 - 0.456) / 0.224, (1 - 0.406) / 0.225)),
])
def test_normalisation_is_applied_inside_the_model(arch: str, norm: str, pixel: tuple[int, ...],
                                                   expected: tuple[float, ...]) -> None:
    model = build_model(arch, 4, norm=norm,
                        **({"widen_factor": NARROW} if arch[:3] == "r3d" else {})).eval()
    shape = (1, 3, 4, 16, 16) if arch.startswith("r3d") else (1, 3, 16, 16)
    x = torch.empty(shape, dtype=torch.uint8)
    for c, v in enumerate(pixel):
        x[:, c] = v
    seen = backbone_input(model, x)
    assert seen.dtype == torch.float32
    for c, v in enumerate(expected):
        assert torch.allclose(seen[:, c], torch.tensor(v), atol=1e-5), (norm, c)


def test_wrapper_rejects_wrong_dtype_and_rank() -> None:
    model = build_model("r3d18", 4, widen_factor=NARROW)
    with pytest.raises(TypeError, match="uint8"):
        model(torch.zeros(1, 3, 4, 16, 16))
    with pytest.raises(ValueError, match=re.escape("[B, 3, T, H, W]")):
        model(torch.zeros(1, 3, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError, match="RGB"):
        build_model("resnet18", 4)(torch.zeros(1, 1, 16, 16, dtype=torch.uint8))


@pytest.mark.parametrize(("arch", "fmt", "shape"), [
    ("resnet18", torch.channels_last, (2, 3, 32, 32)),
    ("r3d18", torch.channels_last_3d, (2, 3, 4, 32, 32)),
])
def test_channels_last(arch: str, fmt: torch.memory_format, shape: tuple[int, ...]) -> None:
    kwargs = {"widen_factor": NARROW} if arch.startswith("r3d") else {}
    model = build_model(arch, 4, **kwargs).eval()
    x = uint8_clip(*shape)
    with torch.no_grad():
        ref = model(x)
    model = model.to(memory_format=fmt)
    assert backbone_input(model, x).is_contiguous(memory_format=fmt)
    with torch.no_grad():
        assert torch.allclose(model(x), ref, atol=1e-4, rtol=1e-4)
    assert model.forward_features(x).shape == (2, model.feature_dim)


def test_state_dict_carries_normalisation(tmp_path: Path) -> None:
    path, _ = hara_file(tmp_path, 18, 400, old_format=True)
    trained = build_model("r3d18", 6, path, widen_factor=NARROW)
    saved = tmp_path / "trained.pt"
    torch.save(trained.state_dict(), saved)
    fresh = build_model("r3d18", 6, widen_factor=NARROW)
    assert fresh.norm_name == "kinetics-new"
    fresh.load_state_dict(torch.load(saved, weights_only=True))
    assert fresh.norm_name == "kinetics-old"
    assert fresh.normalization == trained.normalization == NORMALIZATIONS["kinetics-old"]
    other = build_model("r3d34", 6, widen_factor=NARROW)
    with pytest.raises(UserError, match="belong to a r3d18 model"):
        other.load_state_dict(torch.load(saved, weights_only=True), strict=False)


# --- fine-tuning helpers ----------------------------------------------------------------------

def test_freeze_until_layer4_keeps_frozen_bn_in_eval() -> None:
    model = build_model("r3d18", 5, widen_factor=NARROW)
    frozen = freeze_until(model, "layer4")
    trainable = {n for n, p in model.backbone.named_parameters() if p.requires_grad}
    assert trainable and all(n.split(".")[0] in ("layer4", "fc") for n in trainable)
    assert "conv1.weight" in frozen and "layer3.1.bn2.weight" in frozen
    model.train()
    assert not model.backbone.bn1.training and not model.backbone.layer3[1].bn2.training
    assert model.backbone.layer4[0].bn1.training
    stats = model.backbone.layer2[0].bn1.running_mean.clone()
    live = model.backbone.layer4[0].bn1.running_mean.clone()
    model(uint8_clip(2, 3, 4, 32, 32)).sum().backward()
    assert torch.equal(model.backbone.layer2[0].bn1.running_mean, stats)
    assert not torch.equal(model.backbone.layer4[0].bn1.running_mean, live)
    assert model.backbone.layer3[0].conv1.weight.grad is None

    groups = param_groups(model, backbone_lr_mult=0.1, lr=0.01)
    by_name = {g["name"]: g for g in groups}
    assert by_name["head"]["lr"] == pytest.approx(0.01)
    assert by_name["backbone"]["lr"] == pytest.approx(0.001)
    assert len(by_name["head"]["params"]) == 2
    assert sum(len(g["params"]) for g in groups) == len(trainable)
    torch.optim.SGD(groups, lr=0.5)  # groups are valid optimizer input

    assert freeze_until(model, "none") == []
    model.train()
    assert model.backbone.bn1.training
    assert sum(len(g["params"]) for g in param_groups(model)) == \
        len(list(model.backbone.parameters()))
    with pytest.raises(UserError, match="layer4"):
        freeze_until(model, "layer5")


def test_linear_probe_2d() -> None:
    model = build_model("resnet18", 5)
    freeze_until(model, "fc")
    groups = param_groups(model, backbone_lr_mult=0.1)
    assert [g["name"] for g in groups] == ["head"] and "lr" not in groups[0]
    freeze_until(model, "fc")
    model.fc.requires_grad_(False)
    with pytest.raises(UserError, match="no trainable parameters"):
        param_groups(model)
