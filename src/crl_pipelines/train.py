"""The training loop: one encoder, one loss, the shared sampling plan.

The train images and the plan are moved to the training device once; a step gathers its batch by
index, runs one forward pass over both views, and updates. Nothing in the loop iterates over
samples, and the per-step losses stay on the device until the epoch ends.

After every epoch the loop writes a checkpoint (weights, optimizer, schedule, random state,
history); a run that was interrupted resumes from the last one and, on the CPU, ends with the
same weights as an uninterrupted run. A loss that turns NaN or infinite stops the run with a
message naming the experiment, epoch and step, and leaves the last good checkpoint in place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crl_pipelines import metrics
from crl_pipelines.augment import AugmentConfig, augment, looc_views, make_generator
from crl_pipelines.config import reject_unknown
from crl_pipelines.losses import LOSSES, USES_LABELS, build_loss
from crl_pipelines.models import Encoder, build_encoder, channel_statistics
from crl_pipelines.sampling import plan_kind

log = logging.getLogger(__name__)

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "adamw": torch.optim.AdamW}
SCHEDULERS = ("constant", "cosine")
PRECISIONS = ("auto", "fp32", "bf16")
MONITOR_BATCH = 256  # held-out images whose alignment and uniformity are tracked per epoch


class TrainingError(RuntimeError):
    """Training that cannot go on; the message names the experiment, epoch and step."""


@dataclass
class TrainingConfig:
    """How to train (``training`` in the parameters).

    ``scheduler``: ``constant`` or ``cosine`` (decay to 0 over the run), after a linear warm-up
    of ``warmup_epochs``. ``precision``: ``auto`` is bf16 autocast on CUDA and fp32 on the CPU.
    ``device``: ``auto`` picks CUDA when present. The number of epochs and the batch size are
    the sampling plan's (``pairs.epochs``, ``pairs.pairs_per_class``): every run shares them.
    """

    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    scheduler: str = "constant"
    warmup_epochs: float = 0.0
    precision: str = "auto"
    seed: int = 0
    device: str = "auto"

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TrainingConfig:
        reject_unknown(params, cls.__dataclass_fields__, "training")
        config = cls(**params)
        for name, value, allowed in (
            ("optimizer", config.optimizer, OPTIMIZERS),
            ("scheduler", config.scheduler, SCHEDULERS),
            ("precision", config.precision, PRECISIONS),
        ):
            if value not in allowed:
                raise ValueError(f"training.{name} must be one of {sorted(allowed)}, got {value!r}")
        if config.learning_rate <= 0:
            raise ValueError(f"training.learning_rate must be positive, got {config.learning_rate}")
        if config.warmup_epochs < 0:
            raise ValueError(f"training.warmup_epochs must be >= 0, got {config.warmup_epochs}")
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


def learning_rate_factor(step: int, total_steps: int, warmup_steps: int, scheduler: str) -> float:
    """Multiplier of the base learning rate at ``step``: linear warm-up, then constant or cosine."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if scheduler == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def _fingerprint(*parts: Any) -> str:
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:20]


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".checkpoint.", suffix=".tmp")
    os.close(handle)
    try:
        torch.save(state, temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@torch.no_grad()
def _monitor(encoder: Encoder, images: torch.Tensor, labels: np.ndarray | None) -> dict[str, float]:
    """Alignment (same-class pairs), uniformity and spread of a fixed held-out batch."""
    was_training = encoder.training
    encoder.eval()
    embeddings = encoder(images).float().cpu().numpy()
    encoder.train(was_training)
    return {
        "alignment": metrics.alignment(embeddings, labels) if labels is not None else math.nan,
        "uniformity": metrics.uniformity(embeddings),
        "collapse_statistic": metrics.collapse_statistic(embeddings),
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
    held_out: tuple[np.ndarray, np.ndarray | None] | None = None,
    checkpoint: str | Path | None = None,
    protected_channels: int = 0,
) -> tuple[Encoder, list[dict[str, float]]]:
    """Train one encoder on the plan's pairs.

    Args:
        images: uint8 train images N×C×H×W; the plan's indices point into them.
        labels: int train labels (N,), passed to the loss for label-aware losses.
        plan: a sampling plan (:mod:`crl_pipelines.sampling`): class pairs (``anchors`` and
            ``positives``, epochs × steps × batch), or images whose augmented (or LOOC) views
            are drawn here on the device, seeded by (plan seed, epoch, step).
        model_params: encoder settings (see :mod:`crl_pipelines.models`).
        loss_name, loss_params: which loss, with which parameters.
        config: optimizer, schedule, precision, seed and device.
        name: the experiment's name, for progress and error messages.
        held_out: images (and labels, or None) never trained on; up to ``MONITOR_BATCH`` of
            them are embedded after every epoch to track alignment, uniformity and collapse.
        checkpoint: where to keep the per-epoch checkpoint; an existing one made by the same
            settings and plan is resumed from.
        protected_channels: trailing channels that augmentations leave alone (RandBits).

    Returns:
        The trained encoder (on the CPU, in eval mode) and one history row per epoch.
    """
    device = resolve_device(config.device)
    kind = plan_kind(plan)
    if loss_name in USES_LABELS and not (labels >= 0).all():
        raise ValueError(
            f"experiment {name!r}: the {loss_name} loss needs class labels and the data has none"
        )
    looc = getattr(LOSSES.get(loss_name), "views", None) == "looc"
    if looc != (kind == "looc_views"):
        raise ValueError(
            f"experiment {name!r}: the looc loss and `sampling: looc_views` go together "
            f"(got loss {loss_name!r} with sampling {kind!r})"
        )
    views = None
    if kind != "class_pairs":
        channels = images.shape[1] - protected_channels
        views = AugmentConfig.from_params(json.loads(str(plan["augment"])), channels=channels)
    if looc:
        model_params = {**model_params, "extra_heads": len(views.enabled)}
    num_classes = max(int(labels.max()) + 1, 1)
    encoder_config = encoder_config_for(images, model_params)
    encoder = build_encoder(encoder_config, seed=config.seed)
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
    epochs, steps, batch = plan["anchors"].shape
    warmup_steps = round(config.warmup_epochs * steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: learning_rate_factor(step, epochs * steps, warmup_steps, config.scheduler),
    )
    use_bf16 = config.precision == "bf16" or (config.precision == "auto" and device.type == "cuda")
    settings = {**asdict(config), "device": None}  # the device may change on resume
    fingerprint = _fingerprint(
        encoder_config, loss_name, loss_params, settings, kind, str(plan.get("augment", "")),
        plan["anchors"], plan.get("positives", np.zeros(0)), images, labels,
    )  # fmt: skip
    gpu_images = torch.from_numpy(images).to(device)
    gpu_labels = torch.from_numpy(labels.astype(np.int64)).to(device)
    anchors = torch.from_numpy(plan["anchors"]).to(device)
    positives = torch.from_numpy(plan["positives"]).to(device) if kind == "class_pairs" else None
    plan_seed = int(plan["seed"])

    def batch_loss(epoch: int, step: int) -> torch.Tensor:
        """The loss of one step: gather the batch, make its views, one forward pass."""
        rows = anchors[epoch, step]
        batch_labels = gpu_labels[rows]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            if kind == "class_pairs":
                embeddings = encoder(gpu_images[torch.cat([rows, positives[epoch, step]])])
            else:
                generator = make_generator(device, plan_seed, epoch, step)
                originals = gpu_images[rows]
                if looc:
                    stacked = looc_views(originals, views, generator, protected_channels)
                    outputs = encoder.heads(stacked.flatten(0, 1)).float()
                    return loss_fn(outputs.unflatten(1, stacked.shape[:2]), batch_labels)
                pair = [augment(originals, views, generator, protected_channels) for _ in range(2)]
                embeddings = encoder(torch.cat(pair))
        embeddings = embeddings.float()
        return loss_fn(embeddings[:batch], embeddings[batch:], batch_labels)

    # The run's own random stream (losses such as SWD draw from it); the caller's is restored.
    cuda_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(config.seed + 2)
        history: list[dict[str, float]] = []
        start_epoch = 0
        checkpoint = Path(checkpoint) if checkpoint else None
        if checkpoint is not None and checkpoint.is_file():
            state = torch.load(checkpoint, map_location=device, weights_only=True)
            if state.get("fingerprint") == fingerprint:
                encoder.load_state_dict(state["encoder"])
                loss_fn.load_state_dict(state["loss"])
                optimizer.load_state_dict(state["optimizer"])
                schedule.load_state_dict(state["schedule"])
                torch.set_rng_state(state["rng"].cpu())
                history, start_epoch = state["history"], int(state["epoch"])
                log.info("%s: resuming after epoch %d from %s", name, start_epoch, checkpoint)
            else:
                log.info("%s: ignoring %s, made with other settings", name, checkpoint)

        monitor_images, monitor_labels = None, None
        if held_out is not None:
            monitor_images = torch.from_numpy(held_out[0][:MONITOR_BATCH]).to(device)
            monitor_labels = None if held_out[1] is None else held_out[1][:MONITOR_BATCH]
            if monitor_labels is not None and (monitor_labels < 0).any():
                monitor_labels = None  # unlabelled: no same-class pairs to align
        log.info(
            "%s: training %s loss on %s%s: %d epochs × %d steps of %d (%s)",
            name, loss_name, device, " (bf16)" if use_bf16 else "", epochs, steps, batch, kind,
        )  # fmt: skip
        for epoch in range(start_epoch, epochs):
            started = time.perf_counter()
            step_losses = torch.empty(steps, device=device)
            learning_rate = optimizer.param_groups[0]["lr"]
            for step in range(steps):
                loss = batch_loss(epoch, step)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                step_losses[step] = loss.detach()
            step_losses = step_losses.cpu()
            bad = torch.nonzero(~torch.isfinite(step_losses)).flatten()
            if len(bad):
                kept = f"; the checkpoint of epoch {epoch} is kept" if epoch and checkpoint else ""
                raise TrainingError(
                    f"experiment {name!r}: the {loss_name} loss became "
                    f"{step_losses[bad[0]].item()} at epoch {epoch + 1}, step {bad[0].item() + 1}"
                    f"{kept}; lower training.learning_rate or check the data"
                )
            row = {
                "epoch": epoch + 1,
                "loss": float(step_losses.mean()),
                "learning_rate": learning_rate,
            }
            if monitor_images is not None:
                row.update(_monitor(encoder, monitor_images, monitor_labels))
            row["seconds"] = time.perf_counter() - started
            history.append(row)
            log.info(
                "%s: epoch %d/%d  loss %.4f  lr %.2g  uniformity %.3f  (%.1f s)",
                name, epoch + 1, epochs, row["loss"], learning_rate,
                row.get("uniformity", math.nan), row["seconds"],
            )  # fmt: skip
            if checkpoint is not None:
                _save_checkpoint(
                    checkpoint,
                    {
                        "fingerprint": fingerprint,
                        "epoch": epoch + 1,
                        "encoder": encoder.state_dict(),
                        "loss": loss_fn.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "schedule": schedule.state_dict(),
                        "rng": torch.get_rng_state(),
                        "history": history,
                    },
                )
        if history and history[-1].get("collapse_statistic", 1.0) < 0.1:
            log.warning(
                "%s: the representation looks collapsed (spread %.3f of a held-out batch)",
                name, history[-1]["collapse_statistic"],
            )  # fmt: skip
    return encoder.cpu().eval(), history
