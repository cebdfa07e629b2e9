"""Encoders: a backbone, then a projection head, rebuilt from a plain config dict (its settings:
:mod:`crl_pipelines.encoder_settings`).

Backbones:
- ``resnet18``: torchvision's ResNet-18 with the guide's changes: ``conv1`` takes the data's
  channels, and ``fc`` becomes the projector (512 → embedding size). On tiny images (8×8 digits,
  28×28 MNIST) its stride-2 7×7 stem and max-pool shrink the picture to a pixel before
  ``layer2``; the ``small`` stem (3×3, stride 1, no max-pool, as ResNets for CIFAR use) keeps
  the spatial detail.
- ``small_cnn``: three 3×3 conv blocks (32, 64, 128 channels): trains in seconds on a CPU, for
  quick studies and tests.

Head (``head_layers``): 1 is the guide's linear projector; 2–4 is an MLP (Linear-BN-ReLU blocks
of the backbone's width, then Linear), as in the Intriguing Properties slides' table 2.
``extra_heads`` adds more heads of the same shape beside it (LOOC's one head per augmentation).
``representation`` says what is scored: the ``projector`` output, the ``backbone`` features
(pooled output of the last stage), or ``all_heads`` (the projector and every extra head
concatenated: LOOC++); training always uses the heads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from crl_pipelines.encoder_settings import STAGES, EncoderConfig
from crl_pipelines.parameters import parse


def _conv_block(channels_in: int, channels_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(channels_out),
        nn.ReLU(inplace=True),
    )


def _backbone(config: dict[str, Any]) -> tuple[nn.ModuleDict, int]:
    """Named stages, in order, and the width of the last one."""
    channels = config["in_channels"]
    if config["arch"] == "small_cnn":
        stages = {
            "stem": _conv_block(channels, 32, 1),
            "layer1": _conv_block(32, 64, 2),
            "layer2": _conv_block(64, 128, 2),
        }
        return nn.ModuleDict(stages), 128
    # torchvision is imported here, not with this module: importing it costs ~2 s (it loads
    # torch._dynamo), which every process that only builds the small CNN would pay
    from torchvision.models import resnet18

    net = resnet18(weights=None)
    if config["stem"] == "guide":
        stem = nn.Sequential(
            nn.Conv2d(channels, 64, kernel_size=7, stride=2, padding=3),
            net.bn1,
            net.relu,
            net.maxpool,
        )
    else:
        conv = nn.Conv2d(channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        stem = nn.Sequential(conv, net.bn1, net.relu)
    stages = {"stem": stem, **{name: getattr(net, name) for name in STAGES[1:]}}
    return nn.ModuleDict(stages), net.fc.in_features


def _head(width: int, layers: int, embedding_dim: int) -> nn.Sequential:
    blocks: list[nn.Module] = []
    for _ in range(layers - 1):
        blocks += [nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True)]
    return nn.Sequential(*blocks, nn.Linear(width, embedding_dim))


class Encoder(nn.Module):
    """Backbone + projection head; takes uint8 (or 0..255 float) images N×C×H×W."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = validate_config(config)
        self.backbone, width = _backbone(self.config)
        layers, size = self.config["head_layers"], self.config["embedding_dim"]
        self.projector = _head(width, layers, size)
        self.extra_heads = nn.ModuleList(
            _head(width, layers, size) for _ in range(self.config["extra_heads"])
        )
        mean = torch.tensor(self.config["input_mean"], dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(self.config["input_std"], dtype=torch.float32).view(1, -1, 1, 1)
        self.register_buffer("input_mean", mean, persistent=False)
        self.register_buffer("input_std", std, persistent=False)

    @property
    def lineage(self) -> dict[str, str]:
        """What the encoder was made from (:mod:`crl_pipelines.lineage`), saved with it."""
        return self.config["lineage"]

    @lineage.setter
    def lineage(self, record: dict[str, str]) -> None:
        self.config["lineage"] = dict(record)

    @property
    def training_record(self) -> dict[str, str | int]:
        """Which epoch of its training these weights are (``training.keep``), saved with them."""
        return self.config["training"]

    @training_record.setter
    def training_record(self, record: dict[str, str | int]) -> None:
        self.config["training"] = dict(record)

    @property
    def embedding_dim(self) -> int:
        return self.config["embedding_dim"]

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 0..255 → standardized float, with the train split's channel statistics."""
        return (images.float() / 255.0 - self.input_mean) / self.input_std

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The backbone's globally pooled output."""
        x = self.normalize(images)
        for stage in self.backbone.values():
            x = stage(x)
        return x.mean(dim=(2, 3))

    def stages(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Globally pooled features after every backbone stage, the projector's output, and
        ``embedding``: the representation the config says to score."""
        x = self.normalize(images)
        pooled = {}
        for name, stage in self.backbone.items():
            x = stage(x)
            pooled[name] = x.mean(dim=(2, 3))
        pooled["projector"] = self.projector(pooled[name])
        representation = self.config["representation"]
        if representation == "backbone":
            pooled["embedding"] = pooled[name]
        elif representation == "all_heads":
            extra = [head(pooled[name]) for head in self.extra_heads]
            pooled["embedding"] = torch.cat([pooled["projector"], *extra], dim=1)
        else:
            pooled["embedding"] = pooled["projector"]
        return pooled

    def heads(self, images: torch.Tensor) -> torch.Tensor:
        """Every head's output (the projector first): (1 + extra_heads) × N × embedding_dim."""
        features = self.features(images)
        return torch.stack([self.projector(features), *(h(features) for h in self.extra_heads)])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.projector(self.features(images))


def load_encoder(path: str | Path, device: str = "cpu") -> Encoder:
    """A trained encoder this project saved (``data/06_models/<experiment>/seed<k>/model.pt``),
    in eval mode: the architecture rebuilt from the config in the file, the weights read with
    ``torch.load(weights_only=True)``, so no pickled code runs. ``encoder.stages(images)
    ["embedding"]`` is the representation the report scores, of uint8 N×C×H×W images."""
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    encoder = build_encoder(checkpoint["config"])
    encoder.load_state_dict(checkpoint["state_dict"])
    return encoder.to(device).eval()


def validate_config(config: dict[str, Any] | EncoderConfig) -> dict[str, Any]:
    """The encoder config as a plain dict, validated and with defaults filled in."""
    return parse(EncoderConfig, config, "model").model_dump()


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
