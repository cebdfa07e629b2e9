"""Images from an ``.npz`` of arrays (``numpy.savez``), read without pickle. Anything else (a
lone ``.npy``, a damaged zip, an array that cannot be read, a zero-sized image) stops with a
message naming the file.

Arrays (any other array is ignored, and named in the log):

- ``images`` (required): N×H×W (grayscale), or N×H×W×C, or N×C×H×W. ``layout: auto`` tells the
  last two apart by the channel axis: C is 1, 3 or 4 on exactly one of axis 1 and axis 3;
  otherwise (e.g. 3×32×32×3, or 10×5×5×5) set ``layout`` to ``NHWC`` or ``NCHW``.
- values: ``uint8`` as they are; other integers must lie in 0..255; ``bool`` is 0 / 255; floats
  must be finite and ≥ 0, and with ``value_range: auto`` are read as fractions of 255 when all
  lie in [0, 1] (×255, rounded) and as pixel values when the largest exceeds 1 (≤ 255,
  rounded); set ``value_range: unit`` or ``byte`` when an all-dark [0, 255] array would be
  mistaken for [0, 1].
- ``labels`` (optional): N class labels, integers ≥ 0 or strings. Without ``class_names`` the
  classes are the distinct label values in sorted order, named by their values (labels 0..K−1
  stay as they are). With ``class_names`` the labels must be integers 0..K−1. Without
  ``labels`` (or with all −1) the dataset is unlabelled; other negative labels are an error.
- ``class_names`` (optional): K names, only with ``labels``.
- ``extra__<name>``: per-image arrays (N rows) carried along as ``extra[<name>]``, so the
  project's own ``dataset.npz`` reads back unchanged.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.lib.npyio import NpzFile

from crl_pipelines.images import EXTRA_PREFIX, DataError, ImageDataset
from crl_pipelines.parameters import Settings, Text
from crl_pipelines.sources.base import SOURCES, IngestSettingsBase
from crl_pipelines.sources.safe_open import describe, open_regular

log = logging.getLogger(__name__)

Layout = Literal["auto", "NHW", "NHWC", "NCHW"]
ValueRange = Literal["auto", "unit", "byte"]
_CHANNEL_COUNTS = (1, 3, 4)
_KNOWN = {"images", "labels", "class_names"}
_NPY_MAGIC = b"\x93NUMPY"  # a lone .npy file (numpy.save), not an archive


class NpzSettings(Settings):
    """``ingest.npz``: the archive and how to read its ``images`` (see the module docstring)."""

    path: Text = "data/01_raw/images.npz"
    layout: Layout = "auto"  # auto: the channel axis is the one of size 1, 3 or 4
    value_range: ValueRange = "auto"  # auto: floats all ≤ 1 are fractions of 255


def _layout(images: np.ndarray, layout: Layout, path: Path) -> str:
    if images.ndim == 3:
        if layout not in ("auto", "NHW"):
            raise DataError(
                f"{path}: 'images' is 3-D {images.shape} (N×H×W), not ingest.npz.layout {layout}"
            )
        return "NHW"
    if images.ndim != 4:
        raise DataError(
            f"{path}: 'images' must be N×H×W, N×H×W×C or N×C×H×W, got shape {images.shape}"
        )
    if layout == "NHW":
        raise DataError(f"{path}: 'images' is 4-D {images.shape}, not ingest.npz.layout NHW")
    if layout != "auto":
        return layout
    first, last = images.shape[1] in _CHANNEL_COUNTS, images.shape[3] in _CHANNEL_COUNTS
    if first != last:
        return "NCHW" if first else "NHWC"
    raise DataError(
        f"{path}: cannot tell the channel axis of 'images' {images.shape}; set "
        "ingest.npz.layout to NHWC or NCHW"
    )


def _pixels(images: np.ndarray, value_range: ValueRange, path: Path) -> tuple[np.ndarray, str]:
    """uint8 pixels and the rule that made them."""
    kind = images.dtype.kind
    if kind == "b":
        return images.astype(np.uint8) * np.uint8(255), "bool"
    if kind in "iu":
        if images.dtype == np.uint8:
            return images, "uint8"
        low, high = int(images.min()), int(images.max())
        if low < 0 or high > 255:
            raise DataError(
                f"{path}: 'images' ({images.dtype}) must lie in 0..255, found {low}..{high}"
            )
        return images.astype(np.uint8), "byte"
    if kind != "f":
        raise DataError(f"{path}: 'images' must hold numbers, got dtype {images.dtype}")
    bad = ~np.isfinite(images)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"{path}: 'images' holds {int(bad.sum())} NaN or infinite values (the first at "
            f"index {first})"
        )
    low, high = float(images.min()), float(images.max())
    if value_range == "auto":
        value_range = "unit" if high <= 1.0 else "byte"
    top = 1.0 if value_range == "unit" else 255.0
    if low < 0.0 or high > top:
        raise DataError(
            f"{path}: 'images' values must lie in [0, {top:g}] (value_range {value_range}), found "
            f"{low:g}..{high:g}"
        )
    scale = 255.0 if value_range == "unit" else 1.0
    return np.rint(images.astype(np.float64) * scale).astype(np.uint8), value_range


def _labels(
    arrays: dict[str, np.ndarray], count: int, path: Path
) -> tuple[np.ndarray, tuple[str, ...]]:
    names = arrays.get("class_names")
    if "labels" not in arrays:
        if names is not None and len(names):
            raise DataError(f"{path} has 'class_names' but no 'labels'")
        return np.full(count, -1, dtype=np.int64), ()
    labels = arrays["labels"]
    if labels.shape != (count,):
        raise DataError(
            f"{path}: 'labels' must hold one label per image ({count}), got shape {labels.shape}"
        )
    if labels.dtype.kind == "f":
        if not np.isfinite(labels).all():
            raise DataError(f"{path}: 'labels' holds NaN or infinite values")
        if not np.array_equal(labels, np.round(labels)):
            raise DataError(f"{path}: 'labels' must be whole numbers or strings")
        labels = labels.astype(np.int64)
    if labels.dtype.kind in "iu" and (labels == -1).all():
        return labels.astype(np.int64), ()
    if labels.dtype.kind in "iu" and (labels < 0).any():
        first = int(np.argmax(labels < 0))
        raise DataError(
            f"{path}: 'labels' holds negative values (the first, {labels[first]}, at index "
            f"{first}); labels are classes 0..K-1, or all -1 for unlabelled images"
        )
    if names is not None:
        return labels.astype(np.int64), _class_names(labels, names, path)
    if labels.dtype.kind not in "iuUS":
        raise DataError(f"{path}: 'labels' must be integers or strings, got dtype {labels.dtype}")
    values, indices = np.unique(labels, return_inverse=True)
    as_text = (v.decode() if isinstance(v, bytes) else str(v) for v in values.tolist())
    return indices.astype(np.int64).ravel(), tuple(as_text)


def _class_names(labels: np.ndarray, names: np.ndarray, path: Path) -> tuple[str, ...]:
    """The archive's ``class_names``, which the (non-negative) integer ``labels`` index."""
    class_names = tuple(str(n) for n in np.asarray(names).ravel())
    if not class_names:
        raise DataError(f"{path}: 'class_names' is empty; give one name per class, or leave it out")
    if len(set(class_names)) != len(class_names):
        raise DataError(f"{path}: 'class_names' repeats a name: {list(class_names)}")
    if labels.dtype.kind not in "iu":
        raise DataError(f"{path}: with 'class_names', 'labels' must be integers 0..K-1")
    if labels.max() >= len(class_names):
        raise DataError(
            f"{path}: 'labels' must lie in 0..{len(class_names) - 1} (one per class name), "
            f"found {labels.min()}..{labels.max()}"
        )
    return class_names


def _read_archive(path: Path) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path`` (a zip of ``.npy`` files), read without pickle."""
    with open_regular(path, fix="set ingest.npz.path to an .npz file") as handle:
        start = handle.read(len(_NPY_MAGIC))
        handle.seek(0)
        if start == _NPY_MAGIC:
            raise DataError(
                f"{path} holds a single .npy array, not an .npz archive of named arrays; save "
                "it with numpy.savez(path, images=...)"
            )
        if not start.startswith(b"PK"):
            opening = f"starts with {start!r}" if start else "is empty"
            raise DataError(
                f"{path} is not an .npz archive (numpy.savez writes a zip file; this one {opening})"
            )
        try:
            archive = np.load(handle, allow_pickle=False)
        except Exception as error:  # a damaged zip fails in many ways
            raise DataError(f"{path} is not a readable .npz archive ({describe(error)})") from error
        with archive:
            return {key: _member(archive, key, path) for key in archive.files}


def _member(archive: NpzFile, key: str, path: Path) -> np.ndarray:
    try:
        return archive[key]
    except Exception as error:  # a damaged member (CRC, deflate, .npy header) or an object array
        raise DataError(f"{path}: the array {key!r} cannot be read ({describe(error)})") from error


def load_npz_dataset(
    path: str | Path, layout: Layout = "auto", value_range: ValueRange = "auto"
) -> ImageDataset:
    """An ``.npz`` of arrays (see the module docstring for the arrays and rules)."""
    path = Path(path)
    if not os.path.lexists(path):
        raise DataError(f"ingest.npz.path {path} does not exist")
    arrays = _read_archive(path)
    if "images" not in arrays:
        raise DataError(f"{path} has no 'images' array (it holds {sorted(arrays)})")
    images = arrays["images"]
    chosen = _layout(images, layout, path)
    if len(images) == 0:
        raise DataError(f"{path}: 'images' holds no images")
    if images.size == 0:
        raise DataError(
            f"{path}: 'images' {images.shape} has an axis of length 0 (every image needs a "
            "height, a width and a channel)"
        )
    pixels, rule = _pixels(images, value_range, path)
    if chosen == "NHW":
        pixels = pixels[:, None]
    elif chosen == "NHWC":
        pixels = np.moveaxis(pixels, -1, 1)
    labels, class_names = _labels(arrays, len(pixels), path)
    extra = {
        key.removeprefix(EXTRA_PREFIX): value
        for key, value in arrays.items()
        if key.startswith(EXTRA_PREFIX)
    }
    ignored = sorted(set(arrays) - _KNOWN - {f"{EXTRA_PREFIX}{name}" for name in extra})
    if ignored:
        log.info("%s: ignoring arrays %s", path, ignored)
    try:
        return ImageDataset(
            images=np.ascontiguousarray(pixels),
            labels=labels,
            class_names=class_names,
            provenance={"source": "npz", "path": str(path), "layout": chosen, "values": rule},
            extra=extra,
        )
    except DataError as error:
        raise DataError(f"{path}: {error}") from error


# labelled: None, the archive tells (labels or not)
@SOURCES.register("npz", settings=NpzSettings, labelled=None)
def read(settings: NpzSettings, ingest: IngestSettingsBase) -> ImageDataset:
    """The ``npz`` source from its validated block."""
    return load_npz_dataset(settings.path, settings.layout, settings.value_range)
