"""Device habits shared by training, evaluation and the benchmark."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from helpers.config import NORMS
from helpers.errors import UserError
from helpers.models import DropoutLinear, build_model
from helpers.models.classifier import NORMALIZATIONS
from helpers.utils import device as dev


def _shm(monkeypatch, free: int) -> None:
    monkeypatch.setattr(dev.os.path, "isdir", lambda path: True)
    monkeypatch.setattr(dev.shutil, "disk_usage", lambda path: SimpleNamespace(free=free))


def test_shared_memory_lowers_prefetch_or_says_how_to_raise_it(monkeypatch, capsys):
    mib = 2**20
    _shm(monkeypatch, 64 * mib)  # Docker's default /dev/shm
    # 8 workers x 4 batches of 2 MiB, each with a pinned copy, need 128 MiB: 2 batches fit
    assert dev.check_shared_memory(8, 4, 2 * mib) == 2
    assert "prefetch lowered from 4 to 2" in capsys.readouterr().err
    with pytest.raises(UserError, match=r"--shm-size=8g\) or pass --num-workers 0"):
        dev.check_shared_memory(8, 4, 16 * mib)
    _shm(monkeypatch, 64 * 2**30)
    assert dev.check_shared_memory(8, 4, 16 * mib) == 4
    assert dev.check_shared_memory(0, 4, 10**12) == 4  # no workers, no shared memory


def test_memory_format_only_on_cuda():
    cpu = torch.device("cpu")
    assert dev.memory_format("frame", cpu, True) is None
    cuda = torch.device("cuda", 0)
    assert dev.memory_format("frame", cuda, True) is torch.channels_last
    assert dev.memory_format("clip", cuda, True) is torch.channels_last_3d
    assert dev.memory_format("clip", cuda, False) is None
    x, y = dev.to_device({"x": torch.zeros(2, 3, 4, 4, dtype=torch.uint8),
                          "label": torch.tensor([1, 0])}, cpu, None)
    assert x.shape == (2, 3, 4, 4) and y.tolist() == [1, 0]


def test_norm_names_are_the_models_normalisations():
    assert set(NORMS) == set(NORMALIZATIONS)


def test_dropout_head_keeps_its_parameter_names_and_drops_only_in_training():
    torch.manual_seed(0)
    model = build_model("resnet18", 4, dropout=0.5)
    plain = build_model("resnet18", 4)
    assert isinstance(model.fc, DropoutLinear)
    assert model.state_dict().keys() == plain.state_dict().keys()
    plain.load_state_dict(model.state_dict())
    x = torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8)
    model.eval()
    plain.eval()
    assert torch.allclose(model(x), plain(x))  # eval: no dropout
    feats = torch.ones(1, model.fc.in_features)
    model.fc.train()
    assert not torch.equal(model.fc(feats), model.fc(feats))  # train: random masks
