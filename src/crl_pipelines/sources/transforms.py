"""Bring a dataset to one image size and channel count, and append RandBits channels.

Rules (the same for every source, so a folder of PNGs and the same pixels in an ``.npz`` give
the same array):

- **size**: every image is resized to ``image_size × image_size`` with Pillow's bilinear filter
  (``Image.resize(..., Image.BILINEAR)``, which widens its support when it shrinks, i.e. it is
  antialiased), channel by channel on 8-bit planes. The aspect ratio is not kept.
- **channels**: 1 → 3 repeats the grey plane; 3 → 1 is the ITU-R 601-2 luma that Pillow's
  ``convert("L")`` computes, L = (19595 R + 38470 G + 7471 B + 2¹⁵) >> 16; 4 (RGBA) → 3 drops
  alpha, 4 → 1 is the luma of the RGB planes.
- **RandBits** (the "channel concatenation" datasets of Chen, Luo & Li, *Intriguing Properties of
  Contrastive Losses*): ``bits`` extra channels of random bits (0 or 255) appended after the image
  channels, drawn once per image from a seeded generator, so both augmented views of an image
  share them. By default each bit channel is constant over the image (the image carries one
  random ``bits``-bit integer); ``spatial: per_pixel`` draws every pixel independently. The
  number of bit channels is recorded in ``provenance["randbits_channels"]`` (read as
  ``ImageDataset.protected_channels``): augmentations must leave those last channels untouched.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image

from crl_pipelines.images import DataError, ImageDataset
from crl_pipelines.parameters import NonNegativeInt, Settings

LUMA_WEIGHTS = (19595, 38470, 7471)  # Pillow's fixed-point ITU-R 601-2 weights (sum 2¹⁶)
Spatial = Literal["constant", "per_pixel"]


class RandBitsSettings(Settings):
    """``ingest.randbits``: how many bit channels to append, how, and from which seed."""

    bits: NonNegativeInt = 0  # 0: none
    spatial: Spatial = "constant"  # constant: each bit channel one value per image
    seed: NonNegativeInt = 0


def luma(rgb: np.ndarray, axis: int = 1) -> np.ndarray:
    """Pillow's ``convert("L")`` of uint8 RGB planes along ``axis`` (kept, length 1)."""
    red, green, blue = (np.take(rgb, [c], axis=axis).astype(np.uint32) for c in range(3))
    weights = LUMA_WEIGHTS
    grey = (red * weights[0] + green * weights[1] + blue * weights[2] + 0x8000) >> 16
    return grey.astype(np.uint8)


def convert_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """uint8 N×C×H×W images with ``channels`` channels (see the module's rules)."""
    have = images.shape[1]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return np.repeat(images, 3, axis=1)
    if have in (3, 4) and channels == 1:
        return luma(images[:, :3])
    if have == 4 and channels == 3:
        return np.ascontiguousarray(images[:, :3])
    raise DataError(f"ingest.channels: cannot convert {have}-channel images to {channels}")


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 N×C×H×W images resized to size×size, Pillow bilinear, plane by plane."""
    if images.shape[2:] == (size, size):
        return images
    count, channels = images.shape[:2]
    out = np.empty((count, channels, size, size), dtype=np.uint8)
    for n in range(count):
        for c in range(channels):
            plane = Image.fromarray(np.ascontiguousarray(images[n, c]), mode="L")
            out[n, c] = np.asarray(plane.resize((size, size), Image.BILINEAR))
    return out


def conform(
    dataset: ImageDataset, image_size: int | None = None, channels: int | None = None
) -> ImageDataset:
    """``dataset`` with ``channels`` channels and image_size × image_size images (``None``:
    keep what the source has). Channels are reduced before resizing and added after it (the
    result is the same; it does less work)."""
    images = dataset.images
    if channels is not None and channels < images.shape[1]:
        images = convert_channels(images, channels)
    if image_size is not None:
        images = resize_images(images, image_size)
    if channels is not None:
        images = convert_channels(images, channels)
    if images is dataset.images:
        return dataset
    record = dict(dataset.provenance)
    if image_size is not None and dataset.images.shape[2:] != (image_size, image_size):
        record["resized_from"] = list(dataset.images.shape[2:])
        record["resize"] = "Pillow bilinear"
    if channels is not None and dataset.images.shape[1] != channels:
        record["channels_from"] = int(dataset.images.shape[1])
    return ImageDataset(images, dataset.labels, dataset.class_names, record, dataset.extra)


def add_randbits(
    dataset: ImageDataset, bits: int, seed: int = 0, spatial: Spatial = "constant"
) -> ImageDataset:
    """``dataset`` with ``bits`` RandBits channels (values 0 or 255) appended; see the module
    docstring. The bits depend only on the seed and the number and size of the images."""
    if bits == 0:
        return dataset
    count, channels, height, width = dataset.images.shape
    rng = np.random.default_rng(seed)
    if spatial == "constant":
        drawn = rng.integers(0, 2, size=(count, bits, 1, 1), dtype=np.uint8)
        planes = np.broadcast_to(drawn, (count, bits, height, width))
    else:
        planes = rng.integers(0, 2, size=(count, bits, height, width), dtype=np.uint8)
    images = np.concatenate([dataset.images, planes * np.uint8(255)], axis=1)
    record = {
        **dataset.provenance,
        "randbits_channels": bits,
        "randbits_seed": seed,
        "randbits_spatial": spatial,
        "image_channels": channels,
    }
    return ImageDataset(images, dataset.labels, dataset.class_names, record, dataset.extra)
