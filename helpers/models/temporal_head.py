"""Temporal heads over the frame model's pooled features: a video is a sequence [T, D] of
per-frame features and a head maps it to class logits (Ng et al., "Beyond Short Snippets",
CVPR 2015, pool or run an LSTM over such features).

The candidates (`build_head`):

- `mean`: the mean of the features, then a linear layer: order-blind, the learned analogue
  of averaging the frame model's softmaxes (the baseline);
- `conv`: two temporal convolutions (kernel 3), then mean and max pooling over time;
- `gru`: a bidirectional GRU, its last states in both directions (Ng et al.'s LSTM);
- `transformer`: a two-layer encoder with learned positional embeddings and a class token.

Each standardises its input with the training features' per-dimension mean and standard
deviation (buffers, so a saved head carries them), then projects to `hidden` values.
"""

from __future__ import annotations

import torch
from torch import nn

from helpers.config import HEAD_CANDIDATES
from helpers.errors import UserError


class TemporalHead(nn.Module):
    """Standardise [B, T, D] features, project them to `hidden`, then `body` -> logits."""

    def __init__(self, name: str, feature_dim: int, num_classes: int, frames: int,
                 hidden: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.name = name
        self.register_buffer("mean", torch.zeros(feature_dim))
        self.register_buffer("std", torch.ones(feature_dim))
        self.proj = nn.Sequential(nn.Linear(feature_dim, hidden), nn.GELU(), nn.Dropout(dropout))
        self.body = _body(name, hidden, frames, dropout)
        self.fc = nn.Linear(self.body.out_dim, num_classes)

    def set_standardisation(self, features: torch.Tensor) -> None:
        """Per-dimension mean and standard deviation of training features [N, T, D]."""
        flat = features.reshape(-1, features.shape[-1]).float()
        self.mean.copy_(flat.mean(0))
        self.std.copy_(flat.std(0).clamp_min(1e-3))  # a dead unit must not divide by zero

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() - self.mean) / self.std

    def forward(self, x: torch.Tensor, *, standardised: bool = False) -> torch.Tensor:
        """Logits [B, C] of features [B, T, D] (already standardised when `standardised`:
        the trainer perturbs standardised features, see helpers.training.head_fit)."""
        z = x if standardised else self.standardise(x)
        return self.fc(self.body(self.proj(z)))


class _MeanPool(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.out_dim = hidden

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h.mean(1)


class _TemporalConv(nn.Module):
    def __init__(self, hidden: int, dropout: float) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv1d(hidden, hidden, 3, padding=1), nn.GELU(), nn.Dropout(dropout),
            nn.Conv1d(hidden, hidden, 3, padding=1), nn.GELU())
        self.out_dim = 2 * hidden

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        y = self.convs(h.transpose(1, 2))  # [B, H, T]
        return torch.cat([y.mean(2), y.amax(2)], 1)


class _Recurrent(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.rnn = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.out_dim = 2 * hidden

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        _, last = self.rnn(h)  # [2, B, H]: the forward pass's last state, the backward's first
        return torch.cat([last[0], last[1]], 1)


class _Encoder(nn.Module):
    def __init__(self, hidden: int, frames: int, dropout: float) -> None:
        super().__init__()
        self.cls = nn.Parameter(torch.zeros(1, 1, hidden))
        self.pos = nn.Parameter(torch.randn(1, frames + 1, hidden) * 0.02)
        layer = nn.TransformerEncoderLayer(hidden, nhead=4, dim_feedforward=2 * hidden,
                                           dropout=dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden)
        self.out_dim = hidden

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if h.shape[1] + 1 > self.pos.shape[1]:
            raise UserError(f"This head was built for {self.pos.shape[1] - 1} frames, got "
                            f"{h.shape[1]}.")
        z = torch.cat([self.cls.expand(len(h), -1, -1), h], 1) + self.pos[:, :h.shape[1] + 1]
        return self.norm(self.encoder(z)[:, 0])


def _body(name: str, hidden: int, frames: int, dropout: float) -> nn.Module:
    if name == "mean":
        return _MeanPool(hidden)
    if name == "conv":
        return _TemporalConv(hidden, dropout)
    if name == "gru":
        return _Recurrent(hidden)
    if name == "transformer":
        return _Encoder(hidden, frames, dropout)
    raise UserError(f"Unknown temporal head {name!r}; choose one of {', '.join(HEAD_CANDIDATES)}.")


def build_head(name: str, feature_dim: int, num_classes: int, *, frames: int,
               hidden: int) -> TemporalHead:
    """One candidate head (see the module docstring) for `frames` features of `feature_dim`."""
    return TemporalHead(name, feature_dim, num_classes, frames, hidden)
