"""The training loop: one encoder, one loss, the shared sampling plan.

The train images and the plan are moved to the training device once; a step gathers its batch by
index, runs one forward pass over both views, and updates. Nothing in the loop iterates over
samples, and the per-step losses stay on the device until the epoch ends.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from crl_pipelines.losses import build_loss
from crl_pipelines.models import Encoder, build_encoder, channel_statistics

log = logging.getLogger(__name__)

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "adamw": torch.optim.AdamW}


class TrainingError(RuntimeError):
    """Training that cannot go on; the message names the experiment, epoch and step."""


@dataclass
class TrainingConfig:
    """How to train: optimizer settings, seed and device (``auto`` picks CUDA when present)."""

    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "auto"

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TrainingConfig:
        known = {"optimizer", "learning_rate", "weight_decay", "seed", "device"}
        unknown = set(params) - known
        if unknown:
            raise ValueError(
                f"unknown training parameter(s) {sorted(unknown)}; known: {sorted(known)}"
            )
        config = cls(**params)
        if config.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"training.optimizer must be one of {sorted(OPTIMIZERS)}, got {config.optimizer!r}"
            )
        if config.learning_rate <= 0:
            raise ValueError(f"training.learning_rate must be positive, got {config.learning_rate}")
        return config


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else the CPU; anything else is passed to torch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"training.device {name!r} is not a torch device: {error}") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"training.device is {name!r} but CUDA is not available here; use 'auto'")
    return device


def encoder_config_for(images: np.ndarray, model_params: dict[str, Any]) -> dict[str, Any]:
    """The encoder config for these train images: channels and input statistics from the data."""
    mean, std = channel_statistics(torch.from_numpy(images))
    return {
        **model_params,
        "in_channels": int(images.shape[1]),
        "input_mean": mean,
        "input_std": std,
    }


def train_encoder(
    images: np.ndarray,
    labels: np.ndarray,
    plan: dict[str, np.ndarray],
    model_params: dict[str, Any],
    loss_name: str,
    loss_params: dict[str, Any] | None,
    config: TrainingConfig,
    name: str = "experiment",
) -> tuple[Encoder, list[dict[str, float]]]:
    """Train one encoder on the plan's pairs.

    Args:
        images: uint8 train images N×C×H×W; the plan's indices point into them.
        labels: int train labels (N,), passed to the loss for label-aware losses.
        plan: a sampling plan with ``anchors`` and ``positives`` of shape (epochs, steps, batch).
        model_params: encoder settings (see :mod:`crl_pipelines.models`).
        loss_name, loss_params: which loss, with which parameters.
        config: optimizer, seed and device.
        name: the experiment's name, for progress and error messages.

    Returns:
        The trained encoder (on the CPU, in eval mode) and one history row per epoch.
    """
    device = resolve_device(config.device)
    num_classes = int(labels.max()) + 1
    encoder = build_encoder(encoder_config_for(images, model_params), seed=config.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed + 1)
        loss_fn = build_loss(
            loss_name, loss_params, embedding_dim=encoder.embedding_dim, num_classes=num_classes
        )
    encoder.to(device).train()
    loss_fn.to(device).train()
    parameters = list(encoder.parameters()) + list(loss_fn.parameters())
    optimizer = OPTIMIZERS[config.optimizer](
        parameters, lr=config.learning_rate, weight_decay=config.weight_decay
    )
    gpu_images = torch.from_numpy(images).to(device)
    gpu_labels = torch.from_numpy(labels.astype(np.int64)).to(device)
    anchors = torch.from_numpy(plan["anchors"]).to(device)
    positives = torch.from_numpy(plan["positives"]).to(device)
    epochs, steps, batch = anchors.shape
    log.info(
        "%s: training %s loss on %s: %d epochs × %d steps, %d pairs a batch",
        name,
        loss_name,
        device,
        epochs,
        steps,
        batch,
    )
    history = []
    for epoch in range(epochs):
        started = time.perf_counter()
        step_losses = torch.empty(steps, device=device)
        for step in range(steps):
            rows = torch.cat([anchors[epoch, step], positives[epoch, step]])
            embeddings = encoder(gpu_images[rows])
            loss = loss_fn(embeddings[:batch], embeddings[batch:], gpu_labels[anchors[epoch, step]])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step_losses[step] = loss.detach()
        step_losses = step_losses.cpu()
        bad = torch.nonzero(~torch.isfinite(step_losses)).flatten()
        if len(bad):
            raise TrainingError(
                f"experiment {name!r}: the {loss_name} loss became {step_losses[bad[0]].item()} "
                f"at epoch {epoch + 1}, step {bad[0].item() + 1}; "
                "lower the learning rate or check the data"
            )
        seconds = time.perf_counter() - started
        row = {"epoch": epoch + 1, "loss": float(step_losses.mean()), "seconds": seconds}
        history.append(row)
        log.info(
            "%s: epoch %d/%d  loss %.4f  (%.1f s)", name, epoch + 1, epochs, row["loss"], seconds
        )
    return encoder.cpu().eval(), history
