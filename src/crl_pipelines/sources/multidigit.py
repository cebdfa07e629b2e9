"""MultiDigit (Chen, Luo & Li, *Intriguing Properties of Contrastive Losses*): k digits on one
canvas, with a label per digit.

- ``placement: random``: each digit's top-left corner is drawn uniformly so that the digit lies
  inside the canvas; digits may overlap (the more digits, the more overlap).
- ``placement: grid``: the canvas is cut into g×g cells, g = ⌈√k⌉, each cell canvas_size // g
  pixels; the k digits go to k distinct cells drawn at random, centred in them, so they never
  overlap (every digit must fit its cell).
- ``digit_size`` is one size for every digit, or a list of k sizes, one per digit position: the
  two-digit variant of the paper's table 4 is ``num_digits: 2, digit_size: [20, 40]`` (the first
  digit's size fixed, the second's varied from run to run).

Digits are drawn with replacement from a labelled source and resized with Pillow bilinear; where
digits overlap the brighter pixel wins (pixelwise maximum, as strokes are bright on black). The
dataset's ``labels`` is the first digit's class (used for the stratified split and the label
scores); ``extra`` holds, per image, ``digit_labels`` (N×k), ``digit_positions`` (N×k×2, the
top-left row and column of each digit) and ``digit_sources`` (N×k, the digit's row in the source
dataset). The same seed gives the same images.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from crl_pipelines.images import DataError, ImageDataset
from crl_pipelines.parameters import NonNegativeInt, PositiveInt, Settings, Text
from crl_pipelines.sources.base import SOURCES, IngestSettingsBase
from crl_pipelines.sources.transforms import resize_images


class MultiDigitSettings(Settings):
    """``ingest.multidigit`` (see the module docstring). ``source`` is any other registered
    source that may yield labels; its own block says where its files are."""

    source: Text = "digits"
    num_images: PositiveInt = 2000
    num_digits: PositiveInt = 4
    placement: Literal["random", "grid"] = "random"
    canvas_size: PositiveInt = 32
    digit_size: int | tuple[int, ...] = 12  # one size, or one per digit position
    seed: NonNegativeInt = 0

    @field_validator("source")
    @classmethod
    def _another_labelled_source(cls, name: str) -> str:
        others = [other for other in SOURCES if other != "multidigit"]
        if name not in others:
            message = "should name another source ({known}), got {value}"
            raise PydanticCustomError(
                "digit_source", message, {"known": ", ".join(others), "value": repr(name)}
            )
        if SOURCES[name].labelled is False:
            message = "should be a labelled source (each digit needs a class), got {value}"
            raise PydanticCustomError("digit_source", message, {"value": repr(name)})
        return name

    @field_validator("digit_size", mode="before")
    @classmethod
    def _one_size_per_digit(cls, value: Any, info: ValidationInfo) -> int | tuple[int, ...]:
        count = info.data.get("num_digits")  # None when num_digits itself is wrong
        if _positive_int(value):
            return value
        sizes = value if isinstance(value, list | tuple) else []
        if sizes and all(_positive_int(size) for size in sizes) and count in (len(sizes), None):
            return tuple(sizes)
        message = "should be a positive integer or a list of num_digits{count} positive integers"
        context = {"count": f" ({count})" if count else "", "value": repr(value)}
        raise PydanticCustomError("digit_size", message + ", got {value}", context)

    @field_validator("digit_size")
    @classmethod
    def _fits(
        cls, digit_size: int | tuple[int, ...], info: ValidationInfo
    ) -> int | tuple[int, ...]:
        known = {key: info.data.get(key) for key in ("num_digits", "canvas_size", "placement")}
        if None in known.values():
            return digit_size  # reported where it is wrong
        grid = math.ceil(math.sqrt(known["num_digits"]))
        cell = known["canvas_size"] // grid
        sizes = digit_sizes(digit_size, known["num_digits"])
        if known["placement"] == "grid" and max(sizes) > cell:
            where = f"a grid cell ({cell} = {known['canvas_size']} // {grid})"
        elif max(sizes) > known["canvas_size"]:
            where = f"the canvas ({known['canvas_size']})"
        else:
            return digit_size
        message = "does not fit {where}; enlarge canvas_size or shrink the digits"
        raise PydanticCustomError("digit_size", message, {"where": where})


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def digit_sizes(digit_size: int | tuple[int, ...], num_digits: int) -> list[int]:
    """One size per digit position, from one size or a validated tuple of ``num_digits``."""
    return [digit_size] * num_digits if isinstance(digit_size, int) else list(digit_size)


def make_multidigit(digits: ImageDataset, settings: MultiDigitSettings) -> ImageDataset:
    """``settings.num_images`` canvases of ``settings.num_digits`` digits from ``digits`` (see
    the module docstring)."""
    if not digits.labelled:
        raise DataError(
            "ingest.multidigit.source must be a labelled source (each digit needs a class); "
            f"{digits.provenance.get('source', '?')} is unlabelled"
        )
    sizes = digit_sizes(settings.digit_size, settings.num_digits)
    rng = np.random.default_rng(settings.seed)
    sources = rng.integers(0, len(digits.labels), size=(settings.num_images, settings.num_digits))
    positions = _positions(rng, settings, sizes)
    digit_labels = digits.labels[sources]
    return ImageDataset(
        images=_compose(digits.images, sources, positions, sizes, settings.canvas_size),
        labels=digit_labels[:, 0].copy(),
        class_names=digits.class_names,
        provenance={
            "source": "multidigit",
            "num_digits": settings.num_digits,
            "placement": settings.placement,
            "canvas_size": settings.canvas_size,
            "digit_sizes": sizes,
            "seed": settings.seed,
            "labels": "class of the first digit; extra digit_labels holds every digit's",
            "digit_source": digits.provenance,
        },
        extra={
            "digit_labels": digit_labels,
            "digit_positions": positions,
            "digit_sources": sources.astype(np.int64),
        },
    )


def _positions(
    rng: np.random.Generator, settings: MultiDigitSettings, sizes: list[int]
) -> np.ndarray:
    """The top-left row and column of every digit, N×k×2, by ``settings.placement``."""
    count, num_digits, canvas_size = settings.num_images, settings.num_digits, settings.canvas_size
    positions = np.empty((count, num_digits, 2), dtype=np.int64)
    if settings.placement == "random":
        for j, size in enumerate(sizes):
            positions[:, j] = rng.integers(0, canvas_size - size + 1, size=(count, 2))
        return positions
    grid = math.ceil(math.sqrt(num_digits))
    cell = canvas_size // grid
    cells = np.argsort(rng.random((count, grid * grid)), axis=1)[:, :num_digits]
    offsets = np.array([(cell - size) // 2 for size in sizes])
    positions[..., 0] = (cells // grid) * cell + offsets
    positions[..., 1] = (cells % grid) * cell + offsets
    return positions


def _compose(
    digits: np.ndarray,
    sources: np.ndarray,
    positions: np.ndarray,
    sizes: list[int],
    canvas_size: int,
) -> np.ndarray:
    """uint8 N×C×canvas×canvas canvases: digit ``sources[n, j]`` of ``digits``, resized to
    ``sizes[j]``, at ``positions[n, j]``; where digits overlap the brighter pixel wins."""
    count, channels = len(sources), digits.shape[1]
    # compose as N×H×W×C so a digit's pixels are one fancy-indexed block per position
    canvas = np.zeros((count, canvas_size, canvas_size, channels), dtype=np.uint8)
    rows = np.arange(count)[:, None, None]
    resized: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for j, size in enumerate(sizes):
        if size not in resized:
            needed = np.unique(sources[:, [k for k, s in enumerate(sizes) if s == size]])
            images = np.moveaxis(resize_images(digits[needed], size), 1, -1)
            resized[size] = (needed, images)
        needed, images = resized[size]
        placed = images[np.searchsorted(needed, sources[:, j])]
        y = positions[:, j, 0][:, None, None] + np.arange(size)[None, :, None]
        x = positions[:, j, 1][:, None, None] + np.arange(size)[None, None, :]
        canvas[rows, y, x] = np.maximum(canvas[rows, y, x], placed)
    return np.ascontiguousarray(np.moveaxis(canvas, -1, 1))


@SOURCES.register("multidigit", settings=MultiDigitSettings, labelled=True)
def read(settings: MultiDigitSettings, ingest: IngestSettingsBase) -> ImageDataset:
    """The ``multidigit`` source: the digits are ``settings.source``'s images, read with the
    same ``ingest`` settings but at their own size (``digit_size`` sizes them)."""
    digit_source = ingest.model_copy(update={"source": settings.source, "image_size": None})
    return make_multidigit(digit_source.read_source(), settings)
