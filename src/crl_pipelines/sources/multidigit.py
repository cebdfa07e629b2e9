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

import numpy as np

from crl_pipelines.data import DataError, ImageDataset
from crl_pipelines.sources.transforms import resize_images

PLACEMENTS = ("random", "grid")


def digit_sizes(digit_size: int | list[int], num_digits: int) -> list[int]:
    """One size per digit position, from an int or a list of ``num_digits`` ints."""
    sizes = [digit_size] * num_digits if not isinstance(digit_size, list | tuple) else digit_size
    if len(sizes) != num_digits or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sizes
    ):
        raise DataError(
            "ingest.multidigit.digit_size must be a positive integer or a list of "
            f"num_digits ({num_digits}) positive integers, got {digit_size!r}"
        )
    return list(sizes)


def make_multidigit(
    digits: ImageDataset,
    num_images: int,
    num_digits: int,
    canvas_size: int,
    digit_size: int | list[int],
    placement: str = "random",
    seed: int = 0,
) -> ImageDataset:
    """``num_images`` canvases of ``num_digits`` digits from ``digits`` (see the module)."""
    if not digits.labelled:
        raise DataError(
            "ingest.multidigit.source must be a labelled source (each digit needs a class); "
            f"{digits.provenance.get('source', '?')} is unlabelled"
        )
    if placement not in PLACEMENTS:
        raise DataError(
            f"ingest.multidigit.placement must be one of {list(PLACEMENTS)}, got {placement!r}"
        )
    sizes = digit_sizes(digit_size, num_digits)
    grid = math.ceil(math.sqrt(num_digits))
    cell = canvas_size // grid
    room = cell if placement == "grid" else canvas_size
    if max(sizes) > room:
        where = (
            f"a grid cell ({cell} = {canvas_size} // {grid})"
            if placement == "grid"
            else (f"the canvas ({canvas_size})")
        )
        raise DataError(
            f"ingest.multidigit.digit_size {digit_size} does not fit {where}; enlarge "
            "ingest.multidigit.canvas_size or shrink the digits"
        )
    rng = np.random.default_rng(seed)
    sources = rng.integers(0, len(digits.labels), size=(num_images, num_digits))
    positions = np.empty((num_images, num_digits, 2), dtype=np.int64)
    if placement == "random":
        for j, size in enumerate(sizes):
            positions[:, j] = rng.integers(0, canvas_size - size + 1, size=(num_images, 2))
    else:
        cells = np.argsort(rng.random((num_images, grid * grid)), axis=1)[:, :num_digits]
        offsets = np.array([(cell - size) // 2 for size in sizes])
        positions[..., 0] = (cells // grid) * cell + offsets
        positions[..., 1] = (cells % grid) * cell + offsets
    channels = digits.images.shape[1]
    # compose as N×H×W×C so a digit's pixels are one fancy-indexed block per position
    canvas = np.zeros((num_images, canvas_size, canvas_size, channels), dtype=np.uint8)
    rows = np.arange(num_images)[:, None, None]
    resized: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for j, size in enumerate(sizes):
        if size not in resized:
            needed = np.unique(sources[:, [k for k, s in enumerate(sizes) if s == size]])
            images = np.moveaxis(resize_images(digits.images[needed], size), 1, -1)
            resized[size] = (needed, images)
        needed, images = resized[size]
        placed = images[np.searchsorted(needed, sources[:, j])]
        y = positions[:, j, 0][:, None, None] + np.arange(size)[None, :, None]
        x = positions[:, j, 1][:, None, None] + np.arange(size)[None, None, :]
        canvas[rows, y, x] = np.maximum(canvas[rows, y, x], placed)
    digit_labels = digits.labels[sources]
    return ImageDataset(
        images=np.ascontiguousarray(np.moveaxis(canvas, -1, 1)),
        labels=digit_labels[:, 0].copy(),
        class_names=digits.class_names,
        provenance={
            "source": "multidigit",
            "num_digits": num_digits,
            "placement": placement,
            "canvas_size": canvas_size,
            "digit_sizes": sizes,
            "seed": seed,
            "labels": "class of the first digit; extra digit_labels holds every digit's",
            "digit_source": digits.provenance,
        },
        extra={
            "digit_labels": digit_labels,
            "digit_positions": positions,
            "digit_sources": sources.astype(np.int64),
        },
    )
