"""Image folders, read with Pillow: labelled (torchvision's ImageFolder layout) and unlabelled.

- **labelled** (``image_folder``): ``<root>/<class>/...``, one sub-folder per class, classes
  numbered in sorted name order (as torchvision's ImageFolder does); images may sit in nested
  folders inside a class folder. Files directly in ``<root>`` are ignored (with a warning). With
  ``ingest.test_split: official`` the folder ships its own split: ``<root>/train/<class>/...``
  and ``<root>/test/<class>/...``, with the same class folders.
- **unlabelled** (``unlabelled_folder``): every image under ``<root>``, nested or not; labels
  are all −1 and there are no class names.

Every file whose name does not start with a dot is expected to be an image in a format Pillow
reads (PNG, JPEG, BMP, GIF (first frame), WebP, TIFF, PPM/PGM, …); hidden files and folders
(``.DS_Store``, ``.ipynb_checkpoints``) are skipped; links are followed. A bad file stops the
run with one message naming it, or is skipped, counted and named in the provenance when
``ingest.on_bad_file: skip``: one Pillow cannot identify or decode (unreadable, truncated,
damaged), one over Pillow's pixel limit (``PIL.Image.MAX_IMAGE_PIXELS``, a guard against
decompression bombs; Pillow's warning between one and two times the limit is refused like its
error above), one that is not a regular file (a named pipe, socket or device is never opened, as
reading it would block or never end; a folder link back to a folder it is in; a broken or
looping link), one without read permission or deleted meanwhile, and one whose pixel values 8
bits cannot show (below). Pillow's other warnings are logged with the file's name. A sub-folder
that cannot be listed stops the run whatever ``on_bad_file`` says: skipping it would silently
drop a whole part of the data.

Modes: grayscale modes (1, L, LA, I, I;16, F) become one channel (16-bit values are scaled by
1/257; 32-bit ``I`` values must lie in 0..65535 and are scaled alike; floating-point ``F``
values must be finite, lie in 0..255 and not be fractions of 1, and are converted by Pillow),
everything else (RGB, RGBA, P, CMYK, …) three (alpha is dropped). With
``channels`` set, Pillow's ``convert("L")`` or ``convert("RGB")`` makes every image that many
channels; without it, a folder mixing grayscale and colour images is an error. With
``image_size`` set, each image is resized to image_size × image_size with Pillow's bilinear
filter after that conversion; without it, a folder mixing image sizes is an error.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from crl_pipelines.images import OFFICIAL_SPLIT, DataError, ImageDataset
from crl_pipelines.parameters import Settings, Text
from crl_pipelines.sources.base import SOURCES, SPLITS, IngestSettingsBase, OnBadFile
from crl_pipelines.sources.safe_open import UnreadableFile, describe, one_line, open_regular, shown

log = logging.getLogger(__name__)

GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "F"})
SKIPPED_LISTED = 50  # at most this many skipped files are named in the provenance
_BOMBS = (Image.DecompressionBombError, Image.DecompressionBombWarning)  # over the pixel limit


class FolderSettings(Settings):
    """``ingest.image_folder`` and ``ingest.unlabelled_folder``: where the images are. The size,
    channels and what to do with a bad file are the shared ``ingest`` settings."""

    root: Text = "data/01_raw/images"


class BadImageFile(UnreadableFile):
    """A file that is there but is not a readable image (the message names it)."""


@dataclass
class _Decoded:
    pixels: np.ndarray  # uint8 C×H×W
    mode: str  # the file's own Pillow mode


def _is_grey(mode: str) -> bool:
    return mode in GREY_MODES or mode.startswith("I;16")


def _eight_bit(path: Path, image: Image.Image) -> Image.Image:
    """An 'L' or 'RGB' image: grayscale modes to 'L' (16-bit scaled), the rest to 'RGB'; pixel
    values that 8 bits cannot show faithfully are a BadImageFile."""
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":  # 16-bit grayscale (PNG opens as I;16 or I)
        values = np.asarray(image, dtype=np.float64)
        low, high = values.min(), values.max()
        if low < 0 or high > 65535:
            raise BadImageFile(
                f"{shown(path)} holds pixel values {low:g}..{high:g} (mode {mode}), outside "
                "0..65535, the 16-bit range that is scaled to 8 bits"
            )
        return Image.fromarray(np.rint(values / 257.0).astype(np.uint8), mode="L")
    if mode == "F":
        _check_floats(path, np.asarray(image))
    return image.convert("L" if _is_grey(mode) else "RGB")


def _check_floats(path: Path, values: np.ndarray) -> None:
    """Floating-point pixels (mode F) become 8-bit by Pillow's conversion (truncated): they
    must be finite and in 0..255, and not fractions of 1 (which would all become 0)."""
    if not np.isfinite(values).all():
        raise BadImageFile(f"{shown(path)} holds NaN or infinite pixel values (mode F)")
    low, high = float(values.min()), float(values.max())
    if low < 0 or high > 255:
        raise BadImageFile(
            f"{shown(path)} holds floating-point pixels {low:g}..{high:g}, outside 0..255"
        )
    if high <= 1 and (values != np.round(values)).any():
        raise BadImageFile(
            f"{shown(path)} holds floating-point pixels in 0..1 (mode F), which read as 0..255 "
            "values would all be black"
        )


@contextmanager
def _pillow_warnings(path: Path) -> Iterator[None]:
    """While one file is decoded, Pillow's decompression-bomb warning (an image over
    MAX_IMAGE_PIXELS) is raised, so it is refused like one over twice the limit (Pillow's own
    error), and any other warning is logged with the file's name. Only the warning filters
    change, and only inside."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield
    for warning in caught:
        log.warning("%s: %s", shown(path), warning.message)


def _too_large(path: Path, error: Exception) -> BadImageFile:
    found = re.search(r"\((\d+) pixels\)", str(error))  # Pillow's message holds the count
    count = f"{int(found[1]):,} pixels, over" if found else "more pixels than"
    return BadImageFile(
        f"{shown(path)} is too large to decode safely: {count} the limit of "
        f"{Image.MAX_IMAGE_PIXELS:,} pixels (Pillow's MAX_IMAGE_PIXELS, a guard against "
        "decompression bombs)"
    )


def _identify(path: Path, handle: BinaryIO) -> Image.Image:
    """The image in ``handle``, identified (not yet decoded)."""
    try:
        return Image.open(handle)
    except UnidentifiedImageError:
        raise BadImageFile(
            f"{shown(path)} is not an image file Pillow can read (an unknown format, or a "
            "damaged or zero-sized header)"
        ) from None
    except _BOMBS as error:
        raise _too_large(path, error) from None
    except Exception as error:  # a damaged header fails in many ways
        raise BadImageFile(
            f"{shown(path)} is an unreadable or truncated image ({describe(error)})"
        ) from error


def _planes(
    path: Path, image: Image.Image, image_size: int | None, channels: int | None
) -> np.ndarray:
    """``image`` decoded, converted and resized, as uint8 C×H×W."""
    try:
        image.load()
        converted = _eight_bit(path, image)
        if channels is not None:
            converted = converted.convert("L" if channels == 1 else "RGB")
        if image_size is not None:
            converted = converted.resize((image_size, image_size), Image.BILINEAR)
        pixels = np.asarray(converted)
    except BadImageFile:
        raise
    except _BOMBS as error:  # some formats size their frames only when decoded
        raise _too_large(path, error) from None
    except Exception as error:  # Pillow's decoders fail with many exception types
        raise BadImageFile(
            f"{shown(path)} is an unreadable or truncated image ({describe(error)})"
        ) from error
    pixels = pixels[None] if pixels.ndim == 2 else np.moveaxis(pixels, -1, 0)
    return np.ascontiguousarray(pixels, dtype=np.uint8)


def decode_image(
    path: str | Path, image_size: int | None = None, channels: int | None = None
) -> _Decoded:
    """One image file as uint8 C×H×W (see the module docstring); an UnreadableFile (a
    BadImageFile when the file is there but is no readable image) names it if it cannot be."""
    path = Path(path)
    with open_regular(path) as handle, _pillow_warnings(path), _identify(path, handle) as image:
        mode = image.mode
        pixels = _planes(path, image, image_size, channels)
    return _Decoded(pixels, mode)


def _listing(folder: Path) -> tuple[list[Path], list[Path]]:
    """The visible (not hidden) entries of ``folder``, each sorted by name: the sub-folders
    (links followed) and everything else, which is expected to be an image file."""
    try:
        with os.scandir(folder) as scan:
            entries = sorted((e for e in scan if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError as error:
        raise DataError(
            f"cannot list the folder {shown(folder)} ({one_line(error.strerror or str(error))}); "
            "fix its permissions or remove it"
        ) from error
    folders: list[Path] = []
    files: list[Path] = []
    for entry in entries:
        (folders if _is_folder(entry) else files).append(Path(entry.path))
    return folders, files


def _is_folder(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a link loop: listed as a file, and reported when it is read
        return False


def _visible_files(folder: Path, _inside: tuple[str, ...] = ()) -> list[Path]:
    """Every file under ``folder`` (nested too, links followed), in sorted order (a folder's own
    files before its sub-folders'), hidden files and folders excepted. A link back to a folder
    it is in is listed as a file, so it is reported (or skipped) like any bad file."""
    inside = (*_inside, os.path.realpath(folder))
    folders, found = _listing(folder)
    for sub in folders:
        if os.path.realpath(sub) in inside:
            found.append(sub)
        else:
            found += _visible_files(sub, inside)
    return found


def _decode_all(
    files: list[Path], image_size: int | None, channels: int | None, on_bad_file: OnBadFile
) -> tuple[list[_Decoded | None], list[str]]:
    """Decoded images (None where a bad file was skipped) and the files skipped."""
    decoded: list[_Decoded | None] = []
    skipped: list[str] = []
    for path in files:
        try:
            decoded.append(decode_image(path, image_size, channels))
        except UnreadableFile as error:
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
            f"images under {shown(root)} mix grayscale and colour: {shown(grey[0])} is grayscale "
            f"({grey_mode!r}), {shown(colour[0][0])} is colour ({colour[0][1]!r}); "
            "set ingest.channels to 1 or 3"
        )
    if image_size is not None:
        return
    shape = decoded[0].pixels.shape[1:]
    for path, image in zip(files, decoded, strict=True):
        if image.pixels.shape[1:] != shape:
            raise DataError(
                f"images under {shown(root)} have different sizes: {shown(files[0])} is "
                f"{shape[0]}×{shape[1]} (H×W), {shown(path)} is "
                f"{image.pixels.shape[1]}×{image.pixels.shape[2]}; "
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
        shown(root),
        ", ".join(shown(name) for name in skipped[:5]) + (" …" if len(skipped) > 5 else ""),
    )
    return {"skipped_files": len(skipped), "skipped": skipped[:SKIPPED_LISTED]}


def _root(root: str | Path, parameter: str) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{parameter} {shown(root)} is not a folder")
    return root


def _relative(files: list[Path], root: Path) -> np.ndarray:
    return np.asarray([f.relative_to(root).as_posix() for f in files], dtype=str)


def _class_folders(root: Path) -> list[Path]:
    """The class sub-folders of a labelled folder, sorted by name (stray files warned about)."""
    class_dirs, stray = _listing(root)
    if not class_dirs:
        if stray:
            raise DataError(
                f"image folder {shown(root)} has no class sub-folders, only {len(stray)} "
                "file(s): a labelled folder holds one sub-folder of images per class (for images "
                "without classes use ingest.source: unlabelled_folder)"
            )
        raise DataError(
            f"image folder {shown(root)} is empty: it needs one sub-folder of images per class"
        )
    for path in stray:
        if path.is_symlink() and not path.exists():  # a loop, or a link to nothing
            problem = _looping_or_broken(path)
            raise DataError(
                f"the class folder {shown(path)} {problem}: its images would be dropped; "
                "replace the link with the class's folder of images, or remove it"
            )
    if stray:
        log.warning(
            "ignoring %d files directly in %s (not in a class folder)", len(stray), shown(root)
        )
    return class_dirs


def _looping_or_broken(link: Path) -> str:
    """What a link that leads to no file or folder is: a loop, or broken."""
    try:
        link.resolve(strict=True)
    except RuntimeError:
        return "is a symbolic link loop (it leads back to itself)"
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "is a symbolic link loop (it leads back to itself)"
    return f"is a broken symbolic link (to {shown(os.readlink(link))}, which does not exist)"


def _read_class(
    folder: Path, image_size: int | None, channels: int | None, on_bad_file: OnBadFile
) -> tuple[list[tuple[Path, _Decoded]], list[str]]:
    """A class folder's readable images (at least two) and the files skipped."""
    files = _visible_files(folder)
    if not files:
        raise DataError(f"class folder {shown(folder)} (class {folder.name!r}) holds no images")
    decoded, skipped = _decode_all(files, image_size, channels, on_bad_file)
    kept = [(f, d) for f, d in zip(files, decoded, strict=True) if d is not None]
    if not kept:
        raise DataError(
            f"class folder {shown(folder)} (class {folder.name!r}) holds no readable images "
            f"({len(skipped)} skipped)"
        )
    if len(kept) == 1:
        raise DataError(
            f"class {folder.name!r} ({shown(folder)}) holds a single image, "
            f"{shown(kept[0][0].name)}; "
            "class-pair sampling and the stratified split need at least 2 images per class"
            + (f" ({len(skipped)} other files skipped)" if skipped else "")
        )
    return kept, skipped


@dataclass
class _Classes:
    """The readable images of some class folders, in order, and the files skipped."""

    files: list[Path]
    decoded: list[_Decoded]
    labels: list[int]  # the index of the image's class folder
    skipped: list[str]

    def __add__(self, other: _Classes) -> _Classes:
        return _Classes(
            self.files + other.files,
            self.decoded + other.decoded,
            self.labels + other.labels,
            self.skipped + other.skipped,
        )


def _read_classes(
    class_dirs: list[Path], image_size: int | None, channels: int | None, on_bad_file: OnBadFile
) -> _Classes:
    """Every class folder's readable images, labelled by the folder's index."""
    read = _Classes([], [], [], [])
    for index, folder in enumerate(class_dirs):
        kept, skipped = _read_class(folder, image_size, channels, on_bad_file)
        files, decoded = [f for f, _ in kept], [d for _, d in kept]
        read += _Classes(files, decoded, [index] * len(kept), skipped)
    return read


def _labelled(
    root: Path, class_names: tuple[str, ...], read: _Classes, extra: dict[str, np.ndarray]
) -> ImageDataset:
    """The dataset of the images ``read`` (paths relative to ``root``), with ``extra``."""
    return ImageDataset(
        images=np.stack([d.pixels for d in read.decoded]),
        labels=np.asarray(read.labels, dtype=np.int64),
        class_names=class_names,
        provenance={
            "source": "image_folder",
            "root": str(root),
            **_report_skipped(root, read.skipped, len(read.files) + len(read.skipped)),
        },
        extra={"files": _relative(read.files, root), **extra},
    )


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
    read = _read_classes(class_dirs, image_size, channels, on_bad_file)
    _check_uniform(root, read.files, read.decoded, image_size, channels)
    return _labelled(root, tuple(folder.name for folder in class_dirs), read, {})


def _split_folders(root: Path) -> dict[str, list[Path]]:
    """The class folders of ``<root>/train`` and ``<root>/test``, which must name the same
    classes."""
    folders, files = _listing(root)
    missing = [f"{split}/" for split in SPLITS if root / split not in folders]
    if missing:
        raise DataError(
            f"image folder {shown(root)} has no {' and no '.join(missing)} sub-folder: "
            "ingest.test_split: official reads <root>/train/<class>/… and "
            "<root>/test/<class>/… (or set ingest.test_split: random)"
        )
    others = sorted(shown(path.name) for path in folders + files if path.name not in SPLITS)
    if others:
        log.warning("ignoring %s in %s (not train/ or test/)", ", ".join(others), shown(root))
    halves = {split: _class_folders(root / split) for split in SPLITS}
    names = {split: {folder.name for folder in dirs} for split, dirs in halves.items()}
    if names["train"] != names["test"]:
        only = {s: sorted(names[s] - names[o]) for s, o in (("train", "test"), ("test", "train"))}
        raise DataError(
            f"image folder {shown(root)}: train/ and test/ must hold the same class folders; "
            + "; ".join(f"only in {s}/: {', '.join(map(shown, n))}" for s, n in only.items() if n)
        )
    return halves


def load_split_image_folder(
    root: str | Path,
    image_size: int | None = None,
    channels: int | None = None,
    on_bad_file: OnBadFile = "error",
) -> ImageDataset:
    """A labelled image folder that ships its own split, ``<root>/train/<class>/<images>`` and
    ``<root>/test/<class>/<images>`` with the same classes: train images first, each image's
    half in ``extra["official_split"]``, its path relative to ``root`` in ``extra["files"]``."""
    root = _root(root, "ingest.image_folder.root")
    halves = _split_folders(root)
    train = _read_classes(halves["train"], image_size, channels, on_bad_file)
    test = _read_classes(halves["test"], image_size, channels, on_bad_file)
    read = train + test
    _check_uniform(root, read.files, read.decoded, image_size, channels)
    marks = np.asarray(["train"] * len(train.files) + ["test"] * len(test.files))
    class_names = tuple(folder.name for folder in halves["train"])
    return _labelled(root, class_names, read, {OFFICIAL_SPLIT: marks})


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
        raise DataError(f"unlabelled folder {shown(root)} holds no images")
    decoded, skipped = _decode_all(files, image_size, channels, on_bad_file)
    kept = [(f, d) for f, d in zip(files, decoded, strict=True) if d is not None]
    if not kept:
        raise DataError(
            f"unlabelled folder {shown(root)} holds no readable images ({len(skipped)} skipped)"
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


@SOURCES.register("image_folder", settings=FolderSettings, labelled=True, official_test=True)
def read_image_folder(settings: FolderSettings, ingest: IngestSettingsBase) -> ImageDataset:
    """The ``image_folder`` source, decoded at ``ingest.image_size`` and ``ingest.channels``;
    its ``train/`` and ``test/`` halves with ``ingest.test_split: official``."""
    official = ingest.test_split == "official"
    load = load_split_image_folder if official else load_image_folder
    return load(settings.root, ingest.image_size, ingest.channels, ingest.on_bad_file)


@SOURCES.register("unlabelled_folder", settings=FolderSettings, labelled=False)
def read_unlabelled_folder(settings: FolderSettings, ingest: IngestSettingsBase) -> ImageDataset:
    """The ``unlabelled_folder`` source, decoded like :func:`read_image_folder`."""
    return load_unlabelled_folder(
        settings.root, ingest.image_size, ingest.channels, ingest.on_bad_file
    )
