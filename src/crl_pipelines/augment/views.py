"""Random views of a batch: draw every enabled augmentation's per-sample parameters, apply them."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import groupby

import numpy as np
import torch

from crl_pipelines.augment.base import AUGMENTATIONS, Parameters
from crl_pipelines.augment.config import AugmentConfig
from crl_pipelines.augment.geometry import Geometric, transform


def make_generator(device: torch.device | str, *seed_parts: int) -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded from non-negative ints, e.g. (seed, epoch, step).

    The parts are mixed with numpy's ``SeedSequence``, so nearby tuples give unrelated streams.
    """
    parts = [int(part) for part in seed_parts]
    if any(part < 0 for part in parts):
        raise ValueError(f"seed parts must be non-negative integers, got {seed_parts}")
    state = np.random.SeedSequence(parts).generate_state(1, dtype=np.uint64)[0]
    generator = torch.Generator(device=device)
    generator.manual_seed(int(state) & ((1 << 63) - 1))
    return generator


def _same_device(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return False
    return a.index is None or b.index is None or a.index == b.index


def sample_parameters(
    config: AugmentConfig,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device | str | None = None,
) -> Parameters:
    """Per-sample parameters of every enabled augmentation: ``{name: {key: tensor}}``.

    Each tensor's first dimension is ``batch_size`` (keys: the augmentation's ``keys``); float32,
    and bool for the ``applied`` masks. ``device`` defaults to the generator's and must match it.
    Draws happen in registry (:data:`AUGMENTATIONS`) order, so a seed fixes them all.
    """
    device = generator.device if device is None else torch.device(device)
    if not _same_device(generator.device, device):
        raise ValueError(
            f"the generator lives on {generator.device} but the parameters are wanted on {device}; "
            "create it with torch.Generator(device=...) on the images' device"
        )
    if batch_size < 0:
        raise ValueError(f"batch_size must be ≥ 0, got {batch_size}")
    return {
        name: AUGMENTATIONS[name].draw(settings, batch_size, generator, device)
        for name, settings in config.settings.items()
    }


def _check_images(images: torch.Tensor, config: AugmentConfig, protected_channels: int) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"augment needs an N×C×H×W image tensor, got {shape}")
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise ValueError(f"augment needs uint8 or floating-point images, got {images.dtype}")
    if isinstance(protected_channels, bool) or not isinstance(protected_channels, int):
        raise ValueError(f"protected_channels must be an int, got {protected_channels!r}")
    if protected_channels < 0:
        raise ValueError(f"protected_channels must be ≥ 0, got {protected_channels}")
    if images.shape[1] != config.channels + protected_channels:
        raise ValueError(
            f"images have {images.shape[1]} channels but the augment config expects "
            f"{config.channels} + {protected_channels} protected"
        )


def _check_parameters(
    parameters: Mapping[str, Mapping[str, torch.Tensor]],
    config: AugmentConfig,
    batch: int,
    device: torch.device,
) -> Parameters:
    enabled = config.enabled
    extra = [name for name in parameters if name not in enabled]
    missing = [name for name in enabled if name not in parameters]
    if extra or missing:
        raise ValueError(
            f"the parameters cover {sorted(parameters)} but the config enables {list(enabled)} "
            "(draw them with sample_parameters from the same config)"
        )
    checked: Parameters = {}
    for name in enabled:
        checked[name] = {}
        for key in AUGMENTATIONS[name].keys:
            if key not in parameters[name]:
                raise ValueError(f"parameters of augmentation {name!r} lack {key!r}")
            tensor = parameters[name][key]
            if not isinstance(tensor, torch.Tensor) or tensor.ndim < 1 or len(tensor) != batch:
                shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else tensor
                raise ValueError(
                    f"parameter {name}.{key} must be a tensor with first dimension {batch} "
                    f"(one value per image), got {shape}"
                )
            checked[name][key] = tensor.to(device)
    return checked


def _run(x: torch.Tensor, params: Parameters, config: AugmentConfig) -> torch.Tensor:
    """Every enabled augmentation in order; consecutive geometric ones as one warp."""

    def geometric(name: str) -> bool:
        return isinstance(AUGMENTATIONS[name], Geometric)

    for is_geometric, names in groupby(config.enabled, key=geometric):
        steps = [(AUGMENTATIONS[name], params[name], config.settings[name]) for name in names]
        if is_geometric:
            x = transform(x, steps)
            continue
        for augmentation, step_params, settings in steps:
            x = augmentation.apply(x, step_params, settings)
    return x


def apply(
    images: torch.Tensor,
    parameters: Mapping[str, Mapping[str, torch.Tensor]],
    config: AugmentConfig,
    protected_channels: int = 0,
) -> torch.Tensor:
    """Augment ``images`` (N×C×H×W) with the given per-sample ``parameters``, in order.

    uint8 in → uint8 out; float (0..255) in → the same float dtype out. The last
    ``protected_channels`` channels are returned unchanged, bit for bit.
    """
    _check_images(images, config, protected_channels)
    params = _check_parameters(parameters, config, images.shape[0], images.device)
    if not config.enabled:
        return images.clone()
    content = config.channels
    x = images[:, :content]
    x = x.to(torch.float32) if images.dtype == torch.uint8 else x.clone()
    x = _run(x, params, config).clamp(0, 255)
    x = x.round().to(torch.uint8) if images.dtype == torch.uint8 else x.to(images.dtype)
    if protected_channels:
        x = torch.cat([x, images[:, content:]], dim=1)
    return x


def augment(
    images: torch.Tensor,
    config: AugmentConfig,
    generator: torch.Generator,
    protected_channels: int = 0,
) -> torch.Tensor:
    """One random view of every image: :func:`sample_parameters` then :func:`apply`.

    ``generator`` must be on the images' device; the caller seeds it (see :func:`make_generator`).
    """
    _check_images(images, config, protected_channels)
    parameters = sample_parameters(config, images.shape[0], generator, images.device)
    return apply(images, parameters, config, protected_channels)


def looc_parameters(
    query: Mapping[str, Mapping[str, torch.Tensor]],
    fresh: Mapping[str, Mapping[str, torch.Tensor]],
    shared: str,
) -> Parameters:
    """LOOC key k_i: the query's parameter tensors for ``shared``, ``fresh`` ones for the rest.

    The tensors are the same objects (not copies); the inner dicts are new.
    """
    if set(query) != set(fresh):
        raise ValueError(
            f"LOOC: query parameters cover {sorted(query)} but fresh ones cover {sorted(fresh)}"
        )
    if shared not in query:
        raise ValueError(
            f"LOOC: augmentation {shared!r} is not enabled; enabled: {', '.join(query)}"
        )
    return {name: dict(query[name] if name == shared else fresh[name]) for name in fresh}


def looc_views(
    images: torch.Tensor,
    config: AugmentConfig,
    generator: torch.Generator,
    protected_channels: int = 0,
) -> torch.Tensor:
    """LOOC's views of every image, stacked: (2 + n)×N×C×H×W for n enabled augmentations.

    Row 0 is the query q, row 1 the key k0 (drawn independently), row 2 + i the key k_i that
    shares q's parameters for ``config.enabled[i]`` and draws the others afresh. All views are made
    in one :func:`apply` call over the repeated batch.
    """
    _check_images(images, config, protected_channels)
    batch = images.shape[0]
    query = sample_parameters(config, batch, generator, images.device)
    views = [query, sample_parameters(config, batch, generator, images.device)]
    for name in config.enabled:
        fresh = sample_parameters(config, batch, generator, images.device)
        views.append(looc_parameters(query, fresh, name))
    stacked = {
        name: {key: torch.cat([view[name][key] for view in views]) for key in query[name]}
        for name in query
    }
    repeated = images.repeat(len(views), 1, 1, 1)
    out = apply(repeated, stacked, config, protected_channels)
    return out.view(len(views), *images.shape)
