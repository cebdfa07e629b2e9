"""Encoders: torchvision's ResNet-18 with the guide's changes, rebuilt from a plain config dict.

The guide replaces ``conv1`` to take 1-channel images and turns ``fc`` into the embedding
projector (512 → embedding size). On tiny images (8×8 digits, 28×28 MNIST) its stride-2 7×7 stem
and max-pool shrink the picture to a pixel before ``layer2``; the ``small`` stem (3×3, stride 1,
no max-pool, as ResNets for CIFAR use) keeps the spatial detail.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchvision.models import resnet18

STEMS = ("guide", "small")
STAGES = ("stem", "layer1", "layer2", "layer3", "layer4")
DEFAULT_CONFIG: dict[str, Any] = {
    "arch": "resnet18",
    "stem": "small",
    "embedding_dim": 32,
    "in_channels": 1,
    "input_mean": [0.5],
    "input_std": [0.5],
}


class Encoder(nn.Module):
    """ResNet-18 backbone + linear projector; takes uint8 (or 0..255 float) images N×C×H×W."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = validate_config(config)
        channels = self.config["in_channels"]
        net = resnet18(weights=None)
        if self.config["stem"] == "guide":
            net.conv1 = nn.Conv2d(channels, 64, kernel_size=7, stride=2, padding=3)
        else:
            net.conv1 = nn.Conv2d(channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        net.fc = nn.Linear(net.fc.in_features, self.config["embedding_dim"])
        self.net = net
        mean = torch.tensor(self.config["input_mean"], dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(self.config["input_std"], dtype=torch.float32).view(1, -1, 1, 1)
        self.register_buffer("input_mean", mean, persistent=False)
        self.register_buffer("input_std", std, persistent=False)

    @property
    def embedding_dim(self) -> int:
        return self.config["embedding_dim"]

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 0..255 → standardized float, with the train split's channel statistics."""
        return (images.float() / 255.0 - self.input_mean) / self.input_std

    def stages(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Globally pooled features after the stem and each residual stage, and the embedding."""
        net = self.net
        x = net.maxpool(net.relu(net.bn1(net.conv1(self.normalize(images)))))
        pooled = {"stem": x.mean(dim=(2, 3))}
        for name in STAGES[1:]:
            x = getattr(net, name)(x)
            pooled[name] = x.mean(dim=(2, 3))
        pooled["embedding"] = net.fc(pooled["layer4"])
        return pooled

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(images))


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults and reject unknown keys or values, naming the parameter at fault."""
    unknown = set(config) - set(DEFAULT_CONFIG)
    if unknown:
        raise ValueError(
            f"unknown model parameter(s) {sorted(unknown)}; known: {sorted(DEFAULT_CONFIG)}"
        )
    merged = {**DEFAULT_CONFIG, **config}
    if merged["arch"] != "resnet18":
        raise ValueError(f"model.arch must be 'resnet18', got {merged['arch']!r}")
    if merged["stem"] not in STEMS:
        raise ValueError(f"model.stem must be one of {STEMS}, got {merged['stem']!r}")
    if int(merged["embedding_dim"]) < 1:
        raise ValueError(f"model.embedding_dim must be positive, got {merged['embedding_dim']}")
    channels = int(merged["in_channels"])
    for key in ("input_mean", "input_std"):
        merged[key] = [float(v) for v in merged[key]]
        if len(merged[key]) != channels:
            raise ValueError(
                f"model.{key} needs {channels} values (one per channel), got {merged[key]}"
            )
    merged["embedding_dim"], merged["in_channels"] = int(merged["embedding_dim"]), channels
    return merged


def channel_statistics(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of uint8 images, on the 0..1 scale."""
    scaled = images.float() / 255.0
    mean = scaled.mean(dim=(0, 2, 3))
    std = scaled.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return mean.tolist(), std.tolist()


def build_encoder(config: dict[str, Any], seed: int | None = None) -> Encoder:
    """A freshly initialized encoder; with ``seed``, the same weights every time."""
    if seed is None:
        return Encoder(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Encoder(config)
