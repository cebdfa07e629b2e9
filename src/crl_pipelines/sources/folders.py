"""Image folders, read with Pillow: labelled (torchvision's ImageFolder layout) and unlabelled.

- **labelled** (``image_folder``): ``<root>/<class>/...``, one sub-folder per class, classes
  numbered in sorted name order (as torchvision's ImageFolder does); images may sit in nested
  folders inside a class folder. Files directly in ``<root>`` are ignored (with a warning).
- **unlabelled** (``unlabelled_folder``): every image under ``<root>``, nested or not; labels
  are all −1 and there are no class names.

Every file whose name does not start with a dot is expected to be an image in a format Pillow
reads (PNG, JPEG, BMP, GIF (first frame), WebP, TIFF, PPM/PGM, …); hidden files and folders
(``.DS_Store``, ``.ipynb_checkpoints``) are skipped. A file Pillow cannot identify, or one it
cannot decode (unreadable, truncated), stops the run with a message naming it, or is skipped and
counted when ``ingest.on_bad_file: skip``.

Modes: grayscale modes (1, L, LA, I, I;16, F) become one channel (16-bit values are scaled by
1/257, not clipped), everything else (RGB, RGBA, P, CMYK, …) three (alpha is dropped). With
``channels`` set, Pillow's ``convert("L")`` or ``convert("RGB")`` makes every image that many
channels; without it, a folder mixing grayscale and colour images is an error. With
``image_size`` set, each image is resized to image_size × image_size with Pillow's bilinear
filter after that conversion; without it, a folder mixing image sizes is an error.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from crl_pipelines.data import DataError, ImageDataset
from crl_pipelines.sources.base import IngestSettingsBase, OnBadFile, Source
from crl_pipelines.validation import Settings, Text

log = logging.getLogger(__name__)

GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "F"})
SKIPPED_LISTED = 50  # at most this many skipped files are named in the provenance


class FolderSettings(Settings):
    """``ingest.image_folder`` and ``ingest.unlabelled_folder``: where the images are. The size,
    channels and what to do with a bad file are the shared ``ingest`` settings."""

    root: Text = "data/01_raw/images"


class BadImageFile(DataError):
    """A file that is not a readable image (the message names it)."""


@dataclass
class _Decoded:
    pixels: np.ndarray  # uint8 C×H×W
    mode: str  # the file's own Pillow mode


def _is_grey(mode: str) -> bool:
    return mode in GREY_MODES or mode.startswith("I;16")


def _eight_bit(image: Image.Image) -> Image.Image:
    """An 'L' or 'RGB' image: grayscale modes to 'L' (16-bit scaled), the rest to 'RGB'."""
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":  # 16-bit grayscale (PNG opens as I;16 or I)
        values = np.asarray(image, dtype=np.float64) / 257.0
        return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), mode="L")
    return image.convert("L" if _is_grey(mode) else "RGB")


def decode_image(
    path: str | Path, image_size: int | None = None, channels: int | None = None
) -> _Decoded:
    """One image file as uint8 C×H×W (see the module docstring); BadImageFile if it cannot be."""
    path = Path(path)
    try:
        image = Image.open(path)
    except UnidentifiedImageError:
        raise BadImageFile(
            f"{path} is not an image file (Pillow cannot identify its format)"
        ) from None
    except OSError as error:
        raise BadImageFile(f"{path} cannot be opened: {error}") from error
    with image:
        mode = image.mode
        try:
            image.load()
            converted = _eight_bit(image)
            if channels is not None:
                converted = converted.convert("L" if channels == 1 else "RGB")
            if image_size is not None:
                converted = converted.resize((image_size, image_size), Image.BILINEAR)
            pixels = np.asarray(converted)
        except Exception as error:  # Pillow's decoders fail with many exception types
            raise BadImageFile(
                f"{path} is an unreadable or truncated image ({type(error).__name__}: {error})"
            ) from error
    pixels = pixels[None] if pixels.ndim == 2 else np.moveaxis(pixels, -1, 0)
    return _Decoded(np.ascontiguousarray(pixels, dtype=np.uint8), mode)


def _visible_files(folder: Path) -> list[Path]:
    """Every file under ``folder`` (nested too), in sorted order, hidden files and folders
    excepted."""
    found = []
    for current, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(current) / f for f in sorted(files) if not f.startswith(".")]
    return found


def _decode_all(
    files: list[Path], image_size: int | None, channels: int | None, on_bad_file: OnBadFile
) -> tuple[list[_Decoded | None], list[str]]:
    """Decoded images (None where a bad file was skipped) and the skipped files' messages."""
    decoded: list[_Decoded | None] = []
    skipped: list[str] = []
    for path in files:
        try:
            decoded.append(decode_image(path, image_size, channels))
        except BadImageFile as error:
            if on_bad_file == "error":
                raise BadImageFile(
                    f"{error}; remove it, or set ingest.on_bad_file: skip to skip such files"
                ) from error.__cause__
            decoded.append(None)
            skipped.append(str(path))
    return decoded, skipped


def _check_uniform(
    root: Path,
    files: list[Path],
    decoded: list[_Decoded],
    image_size: int | None,
    channels: int | None,
) -> None:
    """Without ``channels`` every image must be grayscale or every one colour; without
    ``image_size`` every image must have the same size."""
    grey = [f for f, d in zip(files, decoded, strict=True) if _is_grey(d.mode)]
    colour = [(f, d.mode) for f, d in zip(files, decoded, strict=True) if not _is_grey(d.mode)]
    if channels is None and grey and colour:
        grey_mode = next(d.mode for d in decoded if _is_grey(d.mode))
        raise DataError(
            f"images under {root} mix grayscale and colour: {grey[0]} is grayscale "
            f"({grey_mode!r}), {colour[0][0]} is colour ({colour[0][1]!r}); "
            "set ingest.channels to 1 or 3"
        )
    if image_size is not None:
        return
    shape = decoded[0].pixels.shape[1:]
    for path, image in zip(files, decoded, strict=True):
        if image.pixels.shape[1:] != shape:
            raise DataError(
                f"images under {root} have different sizes: {files[0]} is {shape[0]}×{shape[1]} "
                f"(H×W), {path} is {image.pixels.shape[1]}×{image.pixels.shape[2]}; "
                "set ingest.image_size to resize them all to one size"
            )


def _report_skipped(root: Path, skipped: list[str], total: int) -> dict[str, object]:
    if not skipped:
        return {}
    log.warning(
        "skipped %d of %d files under %s that are not readable images (ingest.on_bad_file: "
        "skip): %s",
        len(skipped),
        total,
        root,
        ", ".join(skipped[:5]) + (" …" if len(skipped) > 5 else ""),
    )
    return {"skipped_files": len(skipped), "skipped": skipped[:SKIPPED_LISTED]}


def _root(root: str | Path, parameter: str) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{parameter} {root} is not a folder")
    return root


def _relative(files: list[Path], root: Path) -> np.ndarray:
    return np.asarray([f.relative_to(root).as_posix() for f in files], dtype=str)


def _class_folders(root: Path) -> list[Path]:
    """The class sub-folders of a labelled folder, sorted by name (stray files warned about)."""
    class_dirs = sorted(
        (entry for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith(".")),
        key=lambda entry: entry.name,
    )
    stray = [e for e in root.iterdir() if e.is_file() and not e.name.startswith(".")]
    if not class_dirs:
        if stray:
            raise DataError(
                f"image folder {root} has no class sub-folders, only {len(stray)} file(s): a "
                "labelled folder holds one sub-folder of images per class (for images without "
                "classes use ingest.source: unlabelled_folder)"
            )
        raise DataError(
            f"image folder {root} is empty: it needs one sub-folder of images per class"
        )
    if stray:
        log.warning("ignoring %d files directly in %s (not in a class folder)", len(stray), root)
    return class_dirs


def _read_class(
    folder: Path, image_size: int | None, channels: int | None, on_bad_file: OnBadFile
) -> tuple[list[tuple[Path, _Decoded]], list[str]]:
    """A class folder's readable images (at least two) and the files skipped."""
    files = _visible_files(folder)
    if not files:
        raise DataError(f"class folder {folder} (class '{folder.name}') holds no images")
    decoded, skipped = _decode_all(files, image_size, channels, on_bad_file)
    kept = [(f, d) for f, d in zip(files, decoded, strict=True) if d is not None]
    if not kept:
        raise DataError(
            f"class folder {folder} (class '{folder.name}') holds no readable images "
            f"({len(skipped)} skipped)"
        )
    if len(kept) == 1:
        raise DataError(
            f"class '{folder.name}' ({folder}) holds a single image, {kept[0][0].name}; "
            "class-pair sampling and the stratified split need at least 2 images per class"
            + (f" ({len(skipped)} other files skipped)" if skipped else "")
        )
    return kept, skipped


def load_image_folder(
    root: str | Path,
    image_size: int | None = None,
    channels: int | None = None,
    on_bad_file: OnBadFile = "error",
) -> ImageDataset:
    """A labelled image folder, ``<root>/<class>/<images>`` (see the module docstring). The
    dataset's ``extra["files"]`` holds each image's path relative to ``root``."""
    root = _root(root, "ingest.image_folder.root")
    class_dirs = _class_folders(root)
    all_files: list[Path] = []
    all_decoded: list[_Decoded] = []
    labels: list[int] = []
    skipped: list[str] = []
    for index, folder in enumerate(class_dirs):
        kept, skipped_here = _read_class(folder, image_size, channels, on_bad_file)
        skipped += skipped_here
        all_files += [f for f, _ in kept]
        all_decoded += [d for _, d in kept]
        labels += [index] * len(kept)
    _check_uniform(root, all_files, all_decoded, image_size, channels)
    return ImageDataset(
        images=np.stack([d.pixels for d in all_decoded]),
        labels=np.asarray(labels, dtype=np.int64),
        class_names=tuple(folder.name for folder in class_dirs),
        provenance={
            "source": "image_folder",
            "root": str(root),
            **_report_skipped(root, skipped, len(all_files) + len(skipped)),
        },
        extra={"files": _relative(all_files, root)},
    )


def load_unlabelled_folder(
    root: str | Path,
    image_size: int | None = None,
    channels: int | None = None,
    on_bad_file: OnBadFile = "error",
) -> ImageDataset:
    """Every image under ``root`` (nested or not), unlabelled: labels −1, no class names. The
    dataset's ``extra["files"]`` holds each image's path relative to ``root``."""
    root = _root(root, "ingest.unlabelled_folder.root")
    files = _visible_files(root)
    if not files:
        raise DataError(f"unlabelled folder {root} holds no images")
    decoded, skipped = _decode_all(files, image_size, channels, on_bad_file)
    kept = [(f, d) for f, d in zip(files, decoded, strict=True) if d is not None]
    if not kept:
        raise DataError(
            f"unlabelled folder {root} holds no readable images ({len(skipped)} skipped)"
        )
    kept_files, kept_decoded = [f for f, _ in kept], [d for _, d in kept]
    _check_uniform(root, kept_files, kept_decoded, image_size, channels)
    return ImageDataset(
        images=np.stack([d.pixels for d in kept_decoded]),
        labels=np.full(len(kept), -1, dtype=np.int64),
        class_names=(),
        provenance={
            "source": "unlabelled_folder",
            "root": str(root),
            **_report_skipped(root, skipped, len(files)),
        },
        extra={"files": _relative(kept_files, root)},
    )


def read_image_folder(settings: FolderSettings, ingest: IngestSettingsBase) -> ImageDataset:
    """The ``image_folder`` source, decoded at ``ingest.image_size`` and ``ingest.channels``."""
    return load_image_folder(settings.root, ingest.image_size, ingest.channels, ingest.on_bad_file)


def read_unlabelled_folder(settings: FolderSettings, ingest: IngestSettingsBase) -> ImageDataset:
    """The ``unlabelled_folder`` source, decoded like :func:`read_image_folder`."""
    return load_unlabelled_folder(
        settings.root, ingest.image_size, ingest.channels, ingest.on_bad_file
    )


IMAGE_FOLDER = Source(FolderSettings, read_image_folder, labelled=True)
UNLABELLED_FOLDER = Source(FolderSettings, read_unlabelled_folder, labelled=False)
