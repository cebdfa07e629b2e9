"""Batched image augmentations with per-sample random parameters, run on the training device.

Self-supervised contrastive learning makes its positive pairs by augmenting one image twice, so the
augmentations decide what the representation learns to ignore. SimCLR (Chen, Kornblith, Norouzi
and Hinton, "A Simple Framework for Contrastive Learning of Visual Representations", ICML 2020)
showed that their composition matters most and used: random resized crop with horizontal flip,
colour distortion (brightness, contrast, saturation and hue jitter with probability 0.8, random
grayscale 0.2) and Gaussian blur (σ in [0.1, 2.0], probability 0.5). LOOC (Xiao, Wang, Efros and
Darrell, "What Should Not Be Contrastive in Contrastive Learning", ICLR 2021) adds one key view
k_i per augmentation i that shares the query's parameters for i and draws the others afresh, so
that one embedding space per augmentation stays *variant* to it: see :func:`looc_parameters` and
:func:`looc_views`.

Everything works on a whole batch at once: parameters are drawn per sample as tensors (one
``torch.rand`` call per parameter, never a Python loop over samples) and applied with batched ops:
crop, rotation and flip as one ``grid_sample`` call, colour as one 3×3 matrix per sample, blur as
two batched matmuls with one banded kernel matrix per sample.

The augmentations, in their fixed order of application (:data:`AUGMENTATIONS`):

1. ``crop``: random resized crop. ``scale`` is the crop's area as a fraction of the image
   (uniform), ``ratio`` its aspect ratio width/height (log-uniform), as in torchvision's
   ``RandomResizedCrop``; the crop is resized back to the input size (bilinear). A side that
   would exceed the image is clamped to it (torchvision retries, then takes a centre crop). The
   crop's centre is uniform over the positions that keep it inside the image.
2. ``rotation``: rotation about the image centre by an angle uniform in ``degrees`` (positive =
   counter-clockwise, as ``torch.rot90``); corners from outside the image are filled with 0 (a
   one-pixel ramp at the edge). With ``crop`` it is composed into the same affine map (the crop
   is rotated, so its corners come from the image around the crop where there is one). Edge
   pixels are replicated within the image's outer half pixel, so crops are not darkened there.
3. ``flip``: horizontal flip with probability ``p``. Alone it is an exact pixel reversal; with
   crop or rotation it is folded into their affine map (exact for uint8, ~1e-4 for float).
4. ``brightness_contrast``: with probability ``p``, multiply by a brightness factor, then scale
   the deviations from the image's mean (over its channels and pixels) by a contrast factor;
   clamped to 0..255 after each, as torchvision does.
5. ``color_jitter`` (3-channel RGB only): with probability ``p``, scale the chroma by a
   saturation factor and rotate it by ``hue`` turns (fractions of 360°, torchvision's unit), both
   in YIQ space (NTSC luma Y = 0.299 R + 0.587 G + 0.114 B; chroma I, Q). Scaling (I, Q) equals
   torchvision's blend with the grayscale image; rotating (I, Q) about the grey axis keeps the
   luma exactly (before clamping) but is not HSV's hue.
6. ``blur``: with probability ``p``, Gaussian blur with σ uniform in ``sigma`` (pixels); one
   separable kernel per sample of radius ⌈3·σ_max⌉ (at most the image side − 1), reflect padding.

Images: uint8 N×C×H×W in → uint8 out (computed in float32, clamped to 0..255 and rounded), or
floating point on the 0..255 scale in → the same dtype out (clamped, not rounded). Identity
settings return a uint8 input exactly and a float input within ~1e-3 (resampling round-off).
The trailing ``protected_channels`` channels (the RandBits feature-suppression channels, which
both views must share) are copied through bit for bit; ``AugmentConfig.channels`` counts the
others.

Randomness comes only from the ``torch.Generator`` the caller passes, which must live on the
images' device. The caller seeds it (e.g. :func:`make_generator` from the plan's seed, the epoch
and the step), so a step's views can be rebuilt exactly; CPU and CUDA generators give different
streams.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

AUGMENTATIONS: tuple[str, ...] = (
    "crop",
    "rotation",
    "flip",
    "brightness_contrast",
    "color_jitter",
    "blur",
)
"""Every augmentation, in the order :func:`apply` applies them."""

PARAMETER_KEYS: dict[str, tuple[str, ...]] = {
    "crop": ("scale", "ratio", "offset"),
    "rotation": ("angle",),
    "flip": ("applied",),
    "brightness_contrast": ("brightness", "contrast", "applied"),
    "color_jitter": ("saturation", "hue", "applied"),
    "blur": ("sigma", "applied"),
}
"""The per-sample tensors :func:`sample_parameters` draws for each augmentation. ``offset`` (N×2)
places the crop's centre, −1..1 across the room left in x and y; ``angle`` is in degrees; ``hue``
in turns; ``applied`` is the bool mask of the probabilistic ones."""

Range = tuple[float, float]
Parameters = dict[str, dict[str, torch.Tensor]]


@dataclass(frozen=True)
class CropSettings:
    """Random resized crop: area fraction ``scale`` and aspect ratio (w/h) ``ratio`` ranges."""

    scale: Range = (0.6, 1.0)
    ratio: Range = (3 / 4, 4 / 3)


@dataclass(frozen=True)
class RotationSettings:
    """Rotation by an angle uniform in ``degrees`` (a number d in the parameters means [−d, d])."""

    degrees: Range = (-15.0, 15.0)


@dataclass(frozen=True)
class FlipSettings:
    """Horizontal flip with probability ``p``."""

    p: float = 0.5


@dataclass(frozen=True)
class BrightnessContrastSettings:
    """Brightness and contrast factor ranges, applied together with probability ``p``."""

    brightness: Range = (0.6, 1.4)
    contrast: Range = (0.6, 1.4)
    p: float = 0.8


@dataclass(frozen=True)
class ColorJitterSettings:
    """Saturation factor and hue shift (turns; a number h means [−h, h]) with probability ``p``."""

    saturation: Range = (0.2, 1.8)
    hue: Range = (-0.2, 0.2)
    p: float = 0.8


@dataclass(frozen=True)
class BlurSettings:
    """Gaussian blur with σ (pixels) uniform in ``sigma``, with probability ``p``."""

    sigma: Range = (0.1, 1.0)
    p: float = 0.5


SETTINGS: dict[str, type] = {
    "crop": CropSettings,
    "rotation": RotationSettings,
    "flip": FlipSettings,
    "brightness_contrast": BrightnessContrastSettings,
    "color_jitter": ColorJitterSettings,
    "blur": BlurSettings,
}


def default_params(channels: int) -> dict[str, dict[str, Any]]:
    """The policy used when no augmentations are configured, each with its default settings.

    SimCLR's list adapted to small images: crop (scale 0.6..1), brightness/contrast (0.6..1.4,
    p 0.8) and blur (σ 0.1..1 px, p 0.5) always; for 3-channel images also flip (p 0.5) and colour
    jitter (SimCLR's strength 1: saturation 0.2..1.8, hue ±0.2, p 0.8); otherwise (grayscale
    digits) rotation ±15° instead of flip, since a mirrored digit is not the same digit.
    """
    if channels == 3:
        names = ("crop", "flip", "brightness_contrast", "color_jitter", "blur")
    else:
        names = ("crop", "rotation", "brightness_contrast", "blur")
    return {name: {} for name in names}


def _real(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{where} must be a number, got {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{where} must be finite, got {value!r}")
    return result


def _probability(value: Any, where: str) -> float:
    p = _real(value, where)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{where} must be a probability in [0, 1], got {value!r}")
    return p


def _range(
    value: Any,
    where: str,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    open_low: bool = False,
    symmetric: bool = False,
) -> Range:
    """A validated (low, high) pair; with ``symmetric`` a number d ≥ 0 stands for (−d, d)."""
    if symmetric and isinstance(value, numbers.Real) and not isinstance(value, bool):
        d = _real(value, where)
        if d < 0:
            raise ValueError(f"{where} as a single number must be ≥ 0 (meaning [−d, d]), got {d}")
        value = (-d, d)
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        shorthand = " or a number d for [−d, d]" if symmetric else ""
        raise ValueError(f"{where} must be a pair [low, high]{shorthand}, got {value!r}")
    lo, hi = _real(value[0], where), _real(value[1], where)
    if lo > hi:
        raise ValueError(f"{where} must have low ≤ high, got {value!r}")
    if lo < low or (open_low and lo <= low) or hi > high:
        bracket = "(" if open_low else "["
        raise ValueError(f"{where} must lie in {bracket}{low}, {high}], got {value!r}")
    return (lo, hi)


_Rule = Callable[[Any, str], Any]
RULES: dict[str, dict[str, _Rule]] = {
    "crop": {
        "scale": partial(_range, low=0.0, high=1.0, open_low=True),
        "ratio": partial(_range, low=0.0, open_low=True),
    },
    "rotation": {"degrees": partial(_range, low=-360.0, high=360.0, symmetric=True)},
    "flip": {"p": _probability},
    "brightness_contrast": {
        "brightness": partial(_range, low=0.0),
        "contrast": partial(_range, low=0.0),
        "p": _probability,
    },
    "color_jitter": {
        "saturation": partial(_range, low=0.0),
        "hue": partial(_range, low=-0.5, high=0.5, symmetric=True),
        "p": _probability,
    },
    "blur": {"sigma": partial(_range, low=0.0, open_low=True), "p": _probability},
}


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations run (a settings object each; ``None`` = off) on ``channels`` channels.

    ``channels`` counts the augmentable channels, not the protected (RandBits) ones.
    """

    channels: int = 1
    crop: CropSettings | None = None
    rotation: RotationSettings | None = None
    flip: FlipSettings | None = None
    brightness_contrast: BrightnessContrastSettings | None = None
    color_jitter: ColorJitterSettings | None = None
    blur: BlurSettings | None = None

    def __post_init__(self) -> None:
        if isinstance(self.channels, bool) or not isinstance(self.channels, int):
            raise ValueError(f"augment channels must be an int, got {self.channels!r}")
        if self.channels < 1:
            raise ValueError(f"augment channels must be at least 1, got {self.channels}")
        for name in AUGMENTATIONS:
            settings = getattr(self, name)
            if settings is not None and not isinstance(settings, SETTINGS[name]):
                raise ValueError(
                    f"augmentation {name!r} needs a {SETTINGS[name].__name__}, got {settings!r}"
                )
        if self.color_jitter is not None and self.channels != 3:
            raise ValueError(
                f"augmentation 'color_jitter' needs 3-channel (RGB) images, but these have "
                f"{self.channels} channel(s); remove 'color_jitter' from the augmentations"
            )

    @property
    def enabled(self) -> tuple[str, ...]:
        """The augmentations that run, in application order."""
        return tuple(name for name in AUGMENTATIONS if getattr(self, name) is not None)

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None, channels: int) -> AugmentConfig:
        """Build from ``{augmentation: {parameter: value}}``; validated, naming what is wrong.

        An augmentation runs iff it is named; its unnamed parameters take the defaults (``{}`` or
        ``None`` as its value = all defaults). ``params=None`` means :func:`default_params`;
        ``params={}`` means no augmentation. ``channels``: image channels, protected ones excluded.
        """
        if params is None:
            params = default_params(channels)
        if not isinstance(params, Mapping):
            raise ValueError(
                "augment parameters must be a mapping {augmentation: {parameter: value}}, "
                f"got {params!r}"
            )
        for name in params:
            if name not in SETTINGS:
                raise ValueError(
                    f"unknown augmentation {name!r}; known: {', '.join(AUGMENTATIONS)}"
                )
        settings: dict[str, Any] = {}
        for name in AUGMENTATIONS:
            if name not in params:
                continue
            given = params[name] if params[name] is not None else {}
            if not isinstance(given, Mapping):
                raise ValueError(
                    f"augment.{name} must be a mapping of its parameters (or empty for the "
                    f"defaults), got {given!r}"
                )
            known = tuple(f.name for f in fields(SETTINGS[name]))
            for key in given:
                if key not in known:
                    raise ValueError(
                        f"unknown parameter {key!r} for augmentation {name!r}; "
                        f"known: {', '.join(known)}"
                    )
            values = {
                key: RULES[name][key](value, f"augment.{name}.{key}")
                for key, value in given.items()
            }
            settings[name] = SETTINGS[name](**values)
        return cls(channels=channels, **settings)

    def to_params(self) -> dict[str, dict[str, Any]]:
        """The plain-data form (lists for ranges) that :meth:`from_params` reads back."""
        out: dict[str, dict[str, Any]] = {}
        for name in self.enabled:
            settings = getattr(self, name)
            out[name] = {
                f.name: list(v) if isinstance(v := getattr(settings, f.name), tuple) else v
                for f in fields(settings)
            }
        return out


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

    Each tensor's first dimension is ``batch_size`` (keys in :data:`PARAMETER_KEYS`); float32,
    and bool for the ``applied`` masks. ``device`` defaults to the generator's and must match it.
    Draws happen in :data:`AUGMENTATIONS` order, so a seed fixes them all.
    """
    device = generator.device if device is None else torch.device(device)
    if not _same_device(generator.device, device):
        raise ValueError(
            f"the generator lives on {generator.device} but the parameters are wanted on {device}; "
            "create it with torch.Generator(device=...) on the images' device"
        )
    if batch_size < 0:
        raise ValueError(f"batch_size must be ≥ 0, got {batch_size}")

    def uniform(bounds: Range, shape: tuple[int, ...] = (batch_size,)) -> torch.Tensor:
        lo, hi = bounds
        return lo + (hi - lo) * torch.rand(shape, generator=generator, device=device)

    def coin(p: float) -> torch.Tensor:
        return torch.rand(batch_size, generator=generator, device=device) < p

    out: Parameters = {}
    if config.crop is not None:
        log_ratio = (math.log(config.crop.ratio[0]), math.log(config.crop.ratio[1]))
        out["crop"] = {
            "scale": uniform(config.crop.scale),
            "ratio": uniform(log_ratio).exp(),
            "offset": uniform((-1.0, 1.0), (batch_size, 2)),
        }
    if config.rotation is not None:
        out["rotation"] = {"angle": uniform(config.rotation.degrees)}
    if config.flip is not None:
        out["flip"] = {"applied": coin(config.flip.p)}
    if config.brightness_contrast is not None:
        settings = config.brightness_contrast
        out["brightness_contrast"] = {
            "brightness": uniform(settings.brightness),
            "contrast": uniform(settings.contrast),
            "applied": coin(settings.p),
        }
    if config.color_jitter is not None:
        settings = config.color_jitter
        out["color_jitter"] = {
            "saturation": uniform(settings.saturation),
            "hue": uniform(settings.hue),
            "applied": coin(settings.p),
        }
    if config.blur is not None:
        out["blur"] = {"sigma": uniform(config.blur.sigma), "applied": coin(config.blur.p)}
    return out


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
        for key in PARAMETER_KEYS[name]:
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


def _affine(
    x: torch.Tensor,
    crop: Mapping[str, torch.Tensor] | None,
    rotation: Mapping[str, torch.Tensor] | None,
    flip: torch.Tensor | None,
) -> torch.Tensor:
    """Crop, rotate and flip every image with its own affine map, in one ``grid_sample`` call.

    The maps take output coordinates (−1..1 at the image's outer edges, ``align_corners=False``)
    to input coordinates; they are built in float64, so a 90° rotation lands on pixel centres. The
    sampling grid is one matmul (``F.affine_grid`` is several times slower on the CPU).
    """
    batch, _, height, width = x.shape
    f64 = {"dtype": torch.float64, "device": x.device}
    theta = torch.eye(3, **f64).repeat(batch, 1, 1)
    if crop is not None:
        scale = crop["scale"].to(**f64)
        ratio = crop["ratio"].to(**f64)
        offset = crop["offset"].to(**f64)
        # Fractions of the image's width and height whose pixel area is scale·H·W, w/h = ratio.
        crop_w = (scale * ratio * height / width).sqrt().clamp(max=1.0)
        crop_h = (scale / ratio * width / height).sqrt().clamp(max=1.0)
        zero = torch.zeros_like(crop_w)
        theta[:, 0] = torch.stack([crop_w, zero, offset[:, 0] * (1 - crop_w)], dim=1)
        theta[:, 1] = torch.stack([zero, crop_h, offset[:, 1] * (1 - crop_h)], dim=1)
    if rotation is not None:
        radians = torch.deg2rad(rotation["angle"].to(**f64))
        cos, sin = radians.cos(), radians.sin()
        # A rotation in pixels, in normalized coordinates (a unit is W/2 pixels in x, H/2 in y).
        turn = torch.eye(3, **f64).repeat(batch, 1, 1)
        turn[:, 0, 0], turn[:, 0, 1] = cos, -sin * height / width
        turn[:, 1, 0], turn[:, 1, 1] = sin * width / height, cos
        theta = theta @ turn
    if flip is not None:
        # Mirroring the output's x coordinate = flipping after the crop and rotation.
        theta[:, :, 0] *= 1.0 - 2.0 * flip.to(**f64).view(-1, 1)
    xs = (2 * torch.arange(width, **f64) + 1) / width - 1
    ys = (2 * torch.arange(height, **f64) + 1) / height - 1
    base = torch.stack(
        [
            xs.expand(height, width),
            ys.view(-1, 1).expand(height, width),
            xs.new_ones(height, width),
        ],
        dim=-1,
    ).to(x.dtype)
    # One (H·W × 3) @ (3 × B·2) matmul for every image's grid (a broadcast bmm is much slower).
    maps = theta[:, :2].permute(2, 0, 1).reshape(3, batch * 2).to(x.dtype)
    grid = (base.view(-1, 3) @ maps).view(height, width, batch, 2).permute(2, 0, 1, 3)
    # "border" replicates the edge pixels within the image's outer half pixel, so crops touching
    # the edge are not darkened (zero padding would weigh in a black pixel there).
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if rotation is None:
        return out  # a crop never samples outside the image
    # Outside the image (rotated corners): fill with 0, with a one-pixel linear ramp at the edge.
    pixels = torch.tensor([width / 2, height / 2], dtype=x.dtype, device=x.device)
    inside = (1 - (grid.abs() - 1) * pixels).clamp(0, 1).prod(dim=-1)
    return out * inside.unsqueeze(1)


def _brightness_contrast(x: torch.Tensor, params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    brightness = params["brightness"].to(x.dtype).view(-1, 1, 1, 1)
    contrast = params["contrast"].to(x.dtype).view(-1, 1, 1, 1)
    y = (x * brightness).clamp(0, 255)
    mean = y.mean(dim=(1, 2, 3), keepdim=True)
    y = ((y - mean) * contrast + mean).clamp(0, 255)
    return torch.where(params["applied"].view(-1, 1, 1, 1), y, x)


_RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=torch.float64
)


def _color_jitter(x: torch.Tensor, params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    to_yiq = _RGB_TO_YIQ.to(x.device)
    from_yiq = torch.linalg.inv(to_yiq)
    turn = 2 * math.pi * params["hue"].to(torch.float64)
    saturation = params["saturation"].to(torch.float64)
    chroma = torch.zeros(len(turn), 3, 3, dtype=torch.float64, device=x.device)
    chroma[:, 0, 0] = 1.0
    chroma[:, 1, 1], chroma[:, 1, 2] = saturation * turn.cos(), -saturation * turn.sin()
    chroma[:, 2, 1], chroma[:, 2, 2] = saturation * turn.sin(), saturation * turn.cos()
    matrices = (from_yiq @ chroma @ to_yiq).to(x.dtype)
    y = torch.einsum("bij,bjhw->bihw", matrices, x).clamp(0, 255)
    return torch.where(params["applied"].view(-1, 1, 1, 1), y, x)


def _reflect_band(kernels: torch.Tensor, size: int) -> torch.Tensor:
    """Per-sample size×size matrices convolving a line with ``kernels`` (B×K), reflect-padded.

    Built as a matmul with a fixed one-hot (tap, row, source) table rather than ``scatter_add_``,
    whose atomic adds on CUDA would make the sums (and so the views) non-deterministic.
    """
    batch, taps = kernels.shape
    radius = taps // 2
    device = kernels.device
    source = torch.arange(size, device=device).view(1, -1) + torch.arange(
        -radius, radius + 1, device=device
    ).view(-1, 1)
    source = source.abs()
    source = torch.where(source > size - 1, 2 * (size - 1) - source, source)  # taps × size
    table = F.one_hot(source, size).to(kernels.dtype).view(taps, size * size)
    return (kernels @ table).view(batch, size, size)


def _blur(x: torch.Tensor, params: Mapping[str, torch.Tensor], sigma_max: float) -> torch.Tensor:
    """Separable Gaussian blur, one kernel per image, as two batched matmuls.

    Each image's 1-D kernel (with reflect padding folded in) becomes a banded H×H and W×W matrix,
    so the blur is ``rows @ image @ columns.T`` for the whole batch at once: exact for the
    untouched samples, full float32 precision, and faster than a grouped convolution over B·C
    channels on small images (its cost grows with H + W per pixel instead of the kernel width).
    """
    batch, _, height, width = x.shape
    radius = min(math.ceil(3 * sigma_max), height - 1, width - 1)
    if radius < 1 or batch == 0:
        return x
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    sigma = params["sigma"].to(x.dtype).view(-1, 1)
    kernels = torch.exp(-(taps**2) / (2 * sigma**2))
    kernels = kernels / kernels.sum(dim=1, keepdim=True)
    rows = _reflect_band(kernels, height).unsqueeze(1)
    columns = _reflect_band(kernels, width).unsqueeze(1)
    y = rows @ x @ columns.transpose(-1, -2)
    return torch.where(params["applied"].view(-1, 1, 1, 1), y, x)


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
    flip = params["flip"]["applied"] if "flip" in params else None
    if "crop" in params or "rotation" in params:
        x = _affine(x, params.get("crop"), params.get("rotation"), flip)
    elif flip is not None:
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    if "brightness_contrast" in params:
        x = _brightness_contrast(x, params["brightness_contrast"])
    if "color_jitter" in params:
        x = _color_jitter(x, params["color_jitter"])
    if "blur" in params:
        x = _blur(x, params["blur"], config.blur.sigma[1])
    x = x.clamp(0, 255)
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
