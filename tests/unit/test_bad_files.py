"""Every bad input file, written in its real format (real FIFOs, sockets, links and
permissions), read by the real reader: each ends in one DataError whose one-line message names
the file and the fix, never a raw traceback, a hang or a silent misread; in an image folder,
``ingest.on_bad_file: skip`` skips it instead, counted and named in the provenance."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import socket
import struct
import threading
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from crl_pipelines.images import DataError, ImageDataset
from crl_pipelines.sources import build_dataset, folders
from tests.unit.test_data import fake_mnist, write_idx
from tests.unit.test_sources import write_cifar

DEADLINE_S = 30  # a reader that blocks (on a named pipe, say) fails the test instead of hanging
SKIP_FIX = "; remove it, or set ingest.on_bad_file: skip to skip such files"
NOT_AN_IMAGE = (
    "is not an image file Pillow can read (an unknown format, or a damaged or zero-sized header)"
)
TOO_LARGE = (
    "is too large to decode safely: {count} pixels, over the limit of 89,478,485 pixels "
    "(Pillow's MAX_IMAGE_PIXELS, a guard against decompression bombs)"
)
NPZ_FIX = "; set ingest.npz.path to an .npz file"
IDX = "{tmp}/MNIST/raw/train-images-idx3-ubyte"
LABELS = "{tmp}/MNIST/raw/train-labels-idx1-ubyte"
BATCH = "{tmp}/cifar-10-batches-py/data_batch_1"


@dataclass(frozen=True)
class Bad:
    """One bad input. ``make(tmp, monkeypatch)`` writes it under ``tmp`` and returns the
    ``ingest`` parameters that read it; ``message`` is the exact error (``{tmp}`` for the
    folder); ``skipped``, for a bad file in an image folder, is its path under ``tmp``, which
    ``on_bad_file: skip`` must skip."""

    name: str
    make: Callable[[Path, pytest.MonkeyPatch], dict[str, Any]]
    message: str
    skipped: str | None = None
    needs_non_root: bool = False


# --- writers of the real formats ------------------------------------------------------------


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares ``width``×``height`` (8-bit grey), with valid chunk CRCs: what
    Pillow reads to size an image before decoding any pixel."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 16)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def good_folder(tmp: Path) -> Path:
    """``tmp/f``: classes a and b, three 6×5 grey PNGs each."""
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (tmp / "f" / name).mkdir(parents=True)
        for i in range(3):
            pixels = rng.integers(0, 256, (6, 5), dtype=np.uint8)
            (tmp / "f" / name / f"{i}.png").write_bytes(png_bytes(pixels))
    return tmp / "f"


def in_folder(name: str, write: Callable[[Path], object]) -> Callable[..., dict[str, Any]]:
    """A labelled folder whose class a also holds ``name``, made by ``write(path)``."""

    def make(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
        write(good_folder(tmp) / "a" / name)
        return {"source": "image_folder", "image_folder": {"root": str(tmp / "f")}}

    return make


def folder_row(name: str, write: Callable[[Path], object], problem: str, **more: Any) -> Bad:
    """A bad file ``a/<name>`` in a labelled folder: its message, and skipped with skip."""
    message = f"{{tmp}}/f/a/{name} {problem}{SKIP_FIX}"
    return Bad(f"folder-{name}", in_folder(name, write), message, f"f/a/{name}", **more)


def tiff(path: Path, values: np.ndarray) -> None:
    Image.fromarray(values).save(path, "TIFF")


def make_socket(path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
        unix.bind(str(path))


def locked(path: Path) -> None:
    path.write_bytes(png_bytes(np.zeros((6, 5), np.uint8)))
    path.chmod(0)


def vanishing(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A readable image deleted after the folder is listed, before it is read."""
    params = in_folder("gone.png", lambda p: p.write_bytes(png_bytes(np.zeros((6, 5), np.uint8))))
    listed = folders._visible_files

    def list_then_delete(folder: Path, *inside: Any) -> list[Path]:
        found = listed(folder, *inside)
        (tmp / "f" / "a" / "gone.png").unlink(missing_ok=True)
        return found

    monkeypatch.setattr(folders, "_visible_files", list_then_delete)
    return params(tmp, monkeypatch)


def damaged_png(path: Path) -> None:
    data = bytearray(png_bytes(np.random.default_rng(1).integers(0, 256, (6, 5), np.uint8)))
    start = data.index(b"IDAT") + 8
    data[start : start + 12] = bytes(b ^ 0x5A for b in data[start : start + 12])
    path.write_bytes(bytes(data))


def truncated_jpeg(path: Path) -> None:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(2).integers(0, 256, (16, 16, 3), np.uint8)
    Image.fromarray(pixels).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])


def class_with_nothing(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Class c holds only a hidden file and an empty folder named like an image."""
    root = good_folder(tmp)
    (root / "c" / "x.png").mkdir(parents=True)
    (root / "c" / ".DS_Store").write_bytes(b"\0")
    return {"source": "image_folder", "image_folder": {"root": str(root)}}


def unlabelled_with_fifo(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    os.mkfifo(good_folder(tmp) / "b" / "pipe.png")
    return {"source": "unlabelled_folder", "unlabelled_folder": {"root": str(tmp / "f")}}


def npz(layout: str = "auto", **arrays: np.ndarray) -> Callable[..., dict[str, Any]]:
    """An .npz of ``arrays`` read with ``ingest.npz.layout: <layout>``."""

    def make(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
        np.savez(tmp / "x.npz", **arrays)
        return {"source": "npz", "npz": {"path": str(tmp / "x.npz"), "layout": layout}}

    return make


def npz_file(write: Callable[[Path], object]) -> Callable[..., dict[str, Any]]:
    def make(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
        write(tmp / "x.npz")
        return {"source": "npz", "npz": {"path": str(tmp / "x.npz")}}

    return make


def npz_bytes(arrays: dict[str, np.ndarray], edit: Callable[[bytes], bytes]) -> Callable:
    """An .npz of ``arrays`` as numpy.savez writes it, then its bytes passed through ``edit``."""

    def write(path: Path) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        path.write_bytes(edit(buffer.getvalue()))

    return npz_file(write)


def lone_npy(path: Path) -> None:
    with open(path, "wb") as handle:
        np.save(handle, np.zeros((3, 4, 4), np.uint8))


def flip_data_bytes(archive: bytes) -> bytes:
    at = archive.index(b"\x93NUMPY") + 140  # past the .npy header, inside the pixels
    return archive[:at] + bytes(b ^ 0xFF for b in archive[at : at + 8]) + archive[at + 8 :]


IMAGES = {"images": np.random.default_rng(3).integers(0, 256, (4, 8, 8), np.uint8)}


def mnist(
    images: bytes | np.ndarray | None = None,
    labels: bytes | np.ndarray | None = None,
    name: str = "train-images-idx3-ubyte",
) -> Callable[..., dict[str, Any]]:
    """MNIST's train files in torchvision's layout; ``images`` or ``labels`` replaced by raw
    bytes or another array, the images file named ``name``."""

    def make(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
        raw = tmp / "MNIST" / "raw"
        raw.mkdir(parents=True)
        good_images, good_labels = fake_mnist(6, 0)
        for path, value, good in (
            (raw / name, images, good_images),
            (raw / "train-labels-idx1-ubyte", labels, good_labels),
        ):
            if isinstance(value, bytes):
                path.write_bytes(value)
            else:
                write_idx(path, good if value is None else value)
        return {"source": "mnist", "mnist": {"root": str(tmp)}}

    return make


def idx_raw(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return header + array.astype(np.uint8).tobytes()


GOOD_IDX = idx_raw(fake_mnist(6, 0)[0])


def mnist_special(make_it: Callable[[Path], object]) -> Callable[..., dict[str, Any]]:
    """MNIST whose images file is replaced by what ``make_it(path)`` makes there."""

    def make(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
        params = mnist()(tmp, monkeypatch)
        path = tmp / "MNIST" / "raw" / "train-images-idx3-ubyte"
        path.unlink()
        make_it(path)
        return params

    return make


def cifar(batch: Callable[[Path], object] | None = None, meta: Any = None) -> Callable:
    """CIFAR-10's train batches and meta in torchvision's layout; ``data_batch_1`` replaced by
    what ``batch(path)`` makes, ``batches.meta`` by the pickled ``meta``."""

    def make(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
        write_cifar(tmp, {f"data_batch_{i}": 3 for i in range(1, 6)})
        folder = tmp / "cifar-10-batches-py"
        if batch is not None:
            (folder / "data_batch_1").unlink()
            batch(folder / "data_batch_1")
        if meta is not None:
            (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
        return {"source": "cifar10", "cifar10": {"root": str(tmp)}}

    return make


def pickled(entry: Any) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(pickle.dumps(entry, protocol=2))


class _Exploit:
    def __reduce__(self) -> tuple[Any, ...]:
        return os.system, ("true",)  # refused before it could run


def grey_noise() -> np.ndarray:
    return np.random.default_rng(5).integers(0, 256, (6, 5), dtype=np.uint8)


def grey(count: int, height: int = 6, width: int = 5) -> np.ndarray:
    return np.zeros((count, height, width), np.uint8)


FOLDER_ROWS = [
    folder_row("notes.png", lambda p: p.write_text("not an image"), NOT_AN_IMAGE),
    folder_row("flat.png", lambda p: p.write_bytes(png_header(0, 5)), NOT_AN_IMAGE),
    folder_row(
        "cut.png",
        lambda p: p.write_bytes(png_bytes(grey_noise())[:60]),
        "is an unreadable or truncated image (OSError: image file is truncated)",
    ),
    folder_row(
        "damaged.png",
        damaged_png,
        "is an unreadable or truncated image (OSError: broken data stream when reading image file)",
    ),
    folder_row(
        "cut.jpg",
        truncated_jpeg,
        "is an unreadable or truncated image (OSError: Truncated File Read)",
    ),
    folder_row(  # over the limit: Pillow warns; the warning is an error here
        "big.png",
        lambda p: p.write_bytes(png_header(10_000, 10_000)),
        TOO_LARGE.format(count="100,000,000"),
    ),
    folder_row(  # over twice the limit: Pillow's DecompressionBombError
        "huge.png",
        lambda p: p.write_bytes(png_header(20_000, 20_000)),
        TOO_LARGE.format(count="400,000,000"),
    ),
    folder_row("pipe.png", os.mkfifo, "is a named pipe (FIFO), not a regular file"),
    folder_row("socket.png", make_socket, "is a socket, not a regular file"),
    folder_row(
        "null.png",
        lambda p: p.symlink_to("/dev/null"),
        "is a character device, not a regular file",
    ),
    folder_row(
        "broken.png",
        lambda p: p.symlink_to(p.parent / "nowhere.png"),
        "is a broken symbolic link (to {tmp}/f/a/nowhere.png, which does not exist)",
    ),
    folder_row(
        "self.png",
        lambda p: p.symlink_to(p),
        "is a symbolic link loop (it leads back to itself)",
    ),
    folder_row(
        "back",
        lambda p: p.symlink_to(p.parent),
        "is a symbolic link to {tmp}/f/a, a folder it is in (a loop)",
    ),
    folder_row("locked.png", locked, "cannot be read (permission denied)", needs_non_root=True),
    Bad(
        "folder-vanished",
        vanishing,
        "{tmp}/f/a/gone.png disappeared before it could be read (moved or deleted meanwhile)"
        + SKIP_FIX,
        "f/a/gone.png",
    ),
    folder_row(
        "wide.tif",
        lambda p: tiff(p, np.full((6, 5), 100_000, np.int32)),
        "holds pixel values 100000..100000 (mode I), outside 0..65535, the 16-bit range that "
        "is scaled to 8 bits",
    ),
    folder_row(
        "nan.tif",
        lambda p: tiff(p, np.where(np.eye(6, 5) > 0, np.nan, 1.0).astype(np.float32)),
        "holds NaN or infinite pixel values (mode F)",
    ),
    folder_row(
        "unit.tif",
        lambda p: tiff(p, np.linspace(0, 1, 30, dtype=np.float32).reshape(6, 5)),
        "holds floating-point pixels in 0..1 (mode F), which read as 0..255 values would all "
        "be black",
    ),
    Bad(
        "folder-line-break-in-name",
        in_folder("bad\nname.png", lambda p: p.write_text("x")),
        f"'{{tmp}}/f/a/bad\\nname.png' {NOT_AN_IMAGE}{SKIP_FIX}",
        "f/a/bad\nname.png",
    ),
    Bad(
        "folder-name-not-utf8",
        in_folder(os.fsdecode(b"bad\xff.png"), lambda p: p.write_text("x")),
        f"'{{tmp}}/f/a/bad\\udcff.png' {NOT_AN_IMAGE}{SKIP_FIX}",
        os.fsdecode(b"f/a/bad\xff.png"),
    ),
    Bad(
        "unlabelled-fifo",
        unlabelled_with_fifo,
        "{tmp}/f/b/pipe.png is a named pipe (FIFO), not a regular file" + SKIP_FIX,
        "f/b/pipe.png",
    ),
    Bad(
        "folder-class-without-images",
        class_with_nothing,
        "class folder {tmp}/f/c (class 'c') holds no images",
    ),
]

NPZ_ROWS = [
    Bad(
        "npz-not-a-zip",
        npz_file(lambda p: p.write_text("hello, not a zip")),
        "{tmp}/x.npz is not an .npz archive (numpy.savez writes a zip file; this one starts "
        "with b'hello,')",
    ),
    Bad(
        "npz-empty-file",
        npz_file(lambda p: p.write_bytes(b"")),
        "{tmp}/x.npz is not an .npz archive (numpy.savez writes a zip file; this one is empty)",
    ),
    Bad(
        "npz-lone-npy",
        npz_file(lone_npy),
        "{tmp}/x.npz holds a single .npy array, not an .npz archive of named arrays; save it "
        "with numpy.savez(path, images=...)",
    ),
    Bad(
        "npz-truncated",
        npz_bytes(IMAGES, lambda data: data[:200]),
        "{tmp}/x.npz is not a readable .npz archive (BadZipFile: File is not a zip file)",
    ),
    Bad(
        "npz-damaged-member",
        npz_bytes(IMAGES, flip_data_bytes),
        "{tmp}/x.npz: the array 'images' cannot be read (BadZipFile: Bad CRC-32 for file "
        "'images.npy')",
    ),
    Bad(
        "npz-object-array",
        npz(images=np.array([1, "a"], dtype=object)),
        "{tmp}/x.npz: the array 'images' cannot be read (ValueError: Object arrays cannot be "
        "loaded when allow_pickle=False)",
    ),
    Bad(
        "npz-no-images",
        npz(pictures=grey(3)),
        "{tmp}/x.npz has no 'images' array (it holds ['pictures'])",
    ),
    Bad(
        "npz-2d-images",
        npz(images=np.zeros((4, 5), np.uint8)),
        "{tmp}/x.npz: 'images' must be N×H×W, N×H×W×C or N×C×H×W, got shape (4, 5)",
    ),
    Bad("npz-no-images-at-all", npz(images=grey(0)), "{tmp}/x.npz: 'images' holds no images"),
    Bad(
        "npz-zero-height",
        npz(images=grey(10, 0, 28)),
        "{tmp}/x.npz: 'images' (10, 0, 28) has an axis of length 0 (every image needs a "
        "height, a width and a channel)",
    ),
    Bad(
        "npz-zero-channels",
        npz(images=np.zeros((10, 28, 28, 0), np.float32), layout="NHWC"),
        "{tmp}/x.npz: 'images' (10, 28, 28, 0) has an axis of length 0 (every image needs a "
        "height, a width and a channel)",
    ),
    Bad(
        "npz-infinite-pixels",
        npz(images=np.where(np.eye(5) > 0, np.inf, 0.5)[None].repeat(2, 0)),
        "{tmp}/x.npz: 'images' holds 10 NaN or infinite values (the first at index (0, 0, 0))",
    ),
    Bad(
        "npz-length-mismatch",
        npz(images=grey(3), labels=np.array([0, 1])),
        "{tmp}/x.npz: 'labels' must hold one label per image (3), got shape (2,)",
    ),
    Bad(
        "npz-negative-labels",
        npz(images=grey(4), labels=np.array([0, 1, -2, 1])),
        "{tmp}/x.npz: 'labels' holds negative values (the first, -2, at index 2); labels are "
        "classes 0..K-1, or all -1 for unlabelled images",
    ),
    Bad(
        "npz-label-beyond-class-names",
        npz(images=grey(4), labels=np.array([0, 1, 2, 1]), class_names=np.array(["x", "y"])),
        "{tmp}/x.npz: 'labels' must lie in 0..1 (one per class name), found 0..2",
    ),
    Bad(
        "npz-empty-class-names",
        npz(images=grey(4), labels=np.array([0, 1, 0, 1]), class_names=np.array([], str)),
        "{tmp}/x.npz: 'class_names' is empty; give one name per class, or leave it out",
    ),
    Bad(
        "npz-fifo",
        npz_file(os.mkfifo),
        "{tmp}/x.npz is a named pipe (FIFO), not a regular file" + NPZ_FIX,
    ),
    Bad(
        "npz-folder",
        npz_file(Path.mkdir),
        "{tmp}/x.npz is a folder, not a regular file" + NPZ_FIX,
    ),
    Bad(
        "npz-broken-link",
        npz_file(lambda p: p.symlink_to(p.parent / "nowhere.npz")),
        "{tmp}/x.npz is a broken symbolic link (to {tmp}/nowhere.npz, which does not exist)"
        + NPZ_FIX,
    ),
]

IDX_ROWS = [
    Bad(
        "idx-bad-magic",
        mnist(images=png_bytes(np.zeros((2, 2), np.uint8))),
        IDX + " is not an IDX file (bad magic number 89504e47)",
    ),
    Bad(
        "idx-gzip-without-gz",
        mnist(images=gzip.compress(GOOD_IDX, mtime=0)),
        IDX + " is not an IDX file (bad magic number 1f8b0800); it is gzip-compressed: name it "
        "train-images-idx3-ubyte.gz",
    ),
    Bad(
        "idx-short-header",
        mnist(images=b"\x00\x00\x08\x03\x00\x00"),
        IDX + " is truncated: its header needs 16 bytes for 3 dimensions, the file holds 6",
    ),
    Bad(
        "idx-padded",
        mnist(images=GOOD_IDX + b"\x00"),
        IDX + " is truncated or padded: header says (6, 28, 28) (4704 bytes of data), file "
        "holds 4705",
    ),
    Bad(
        "idx-gz-truncated",
        mnist(images=gzip.compress(GOOD_IDX, mtime=0)[:60], name="train-images-idx3-ubyte.gz"),
        "cannot read IDX file " + IDX + ".gz: Compressed file ended before the end-of-stream "
        "marker was reached",
    ),
    Bad(
        "idx-gz-damaged",
        mnist(
            images=gzip.compress(GOOD_IDX, mtime=0)[:-8] + b"\x00" * 8,
            name="train-images-idx3-ubyte.gz",
        ),
        "cannot read IDX file " + IDX + ".gz: CRC check failed 0x0 != 0x{crc:x}",
    ),
    Bad(
        "idx-gz-not-gzip",
        mnist(images=GOOD_IDX, name="train-images-idx3-ubyte.gz"),
        "cannot read IDX file " + IDX + ".gz: Not a gzipped file (b'\\x00\\x00')",
    ),
    Bad(
        "idx-length-mismatch",
        mnist(labels=np.arange(5, dtype=np.uint8)),
        IDX + " holds 6 images but " + LABELS + " holds 5 labels",
    ),
    Bad(
        "idx-labels-out-of-range",
        mnist(labels=np.array([0, 1, 12, 3, 4, 5], np.uint8)),
        LABELS + ": MNIST labels must lie in 0..9, found 0..12",
    ),
    Bad(
        "idx-float-labels",
        mnist(labels=np.array([0, 1.5, 2, 3, 4, 5], np.float32)),
        LABELS + " must hold integer labels, got float32",
    ),
    Bad(
        "idx-zero-height",
        mnist(images=idx_raw(np.zeros((6, 0, 28), np.uint8))),
        IDX + " holds images of size 0×28",
    ),
    Bad(
        "idx-fifo",
        mnist_special(os.mkfifo),
        IDX + " is a named pipe (FIFO), not a regular file; replace it with the IDX file",
    ),
    Bad(
        "idx-folder",
        mnist_special(Path.mkdir),
        IDX + " is a folder, not a regular file; replace it with the IDX file",
    ),
]

CIFAR_FIX = "; put torchvision's CIFAR-10 file there"
CIFAR_ROWS = [
    Bad(
        "cifar-wrong-row-length",
        cifar(pickled({b"data": np.zeros((2, 3071), np.uint8), b"labels": [0, 1]})),
        BATCH + ": 'data' must be uint8 N×3072, got uint8 (2, 3071)",
    ),
    Bad(
        "cifar-images-as-cubes",
        cifar(pickled({b"data": np.zeros((2, 3, 32, 32), np.uint8), b"labels": [0, 1]})),
        BATCH + ": 'data' must be uint8 N×3072, got uint8 (2, 3, 32, 32)",
    ),
    Bad(
        "cifar-label-count",
        cifar(pickled({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1, 2]})),
        BATCH + ": 2 images but labels of shape (3,) (int64)",
    ),
    Bad(
        "cifar-labels-out-of-range",
        cifar(pickled({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 7]})),
        BATCH + ": labels must lie in 0..4 (the classes of batches.meta), found 0..7",
    ),
    Bad(
        "cifar-empty-batch",
        cifar(pickled({b"data": np.zeros((0, 3072), np.uint8), b"labels": []})),
        BATCH + " holds no images",
    ),
    Bad(
        "cifar-not-a-pickle",
        cifar(lambda p: p.write_bytes(b"garbage")),
        "cannot read " + BATCH + " as a CIFAR python batch: UnpicklingError: pickle data was "
        "truncated",
    ),
    Bad(
        "cifar-forbidden-global",
        cifar(pickled({b"data": _Exploit(), b"labels": []})),
        BATCH + ": refusing to unpickle the global posix.system; a CIFAR batch needs only "
        "numpy arrays, lists and strings (is it really a CIFAR file?)",
    ),
    Bad(
        "cifar-batch-is-a-list",
        cifar(pickled([1, 2])),
        BATCH + " must hold a dict, got list",
    ),
    Bad(
        "cifar-fifo",
        cifar(os.mkfifo),
        BATCH + " is a named pipe (FIFO), not a regular file" + CIFAR_FIX,
    ),
    Bad("cifar-folder", cifar(Path.mkdir), BATCH + " is a folder, not a regular file" + CIFAR_FIX),
    Bad(
        "cifar-label-names-not-a-list",
        cifar(meta={b"label_names": 5}),
        "{tmp}/cifar-10-batches-py/batches.meta: 'label_names' must be a list of class names "
        "(text), got int",
    ),
]

ROWS = FOLDER_ROWS + NPZ_ROWS + IDX_ROWS + CIFAR_ROWS


def within_deadline(params: dict[str, Any]) -> ImageDataset:
    """``build_dataset(params)`` in a thread that must finish within DEADLINE_S; its error
    re-raised here."""
    outcome: dict[str, Any] = {}

    def read() -> None:
        try:
            outcome["dataset"] = build_dataset(params)
        except BaseException as error:  # handed to the test thread
            outcome["error"] = error

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(DEADLINE_S)
    if reader.is_alive():
        pytest.fail(f"reading hung for over {DEADLINE_S} s (did it open a named pipe?)")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["dataset"]


def expected(row: Bad, tmp: Path) -> str:
    crc = zlib.crc32(GOOD_IDX)
    return row.message.format(tmp=tmp, crc=crc)


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_bad_input_stops_with_one_line_naming_it(row, tmp_path, monkeypatch):
    if row.needs_non_root and os.geteuid() == 0:
        pytest.skip("root reads any file whatever its permissions")
    params = row.make(tmp_path, monkeypatch)
    with pytest.raises(DataError) as info:
        within_deadline({**params, "on_bad_file": "error"})
    assert str(info.value) == expected(row, tmp_path)
    assert "\n" not in str(info.value)


SKIPPABLE = [row for row in ROWS if row.skipped]


@pytest.mark.parametrize("row", SKIPPABLE, ids=[row.name for row in SKIPPABLE])
def test_on_bad_file_skip_skips_it_counted_and_named(row, tmp_path, monkeypatch):
    if row.needs_non_root and os.geteuid() == 0:
        pytest.skip("root reads any file whatever its permissions")
    params = row.make(tmp_path, monkeypatch)
    dataset = within_deadline({**params, "on_bad_file": "skip", "drop_duplicates": False})
    assert dataset.images.shape == (6, 1, 6, 5)
    assert dataset.provenance["skipped_files"] == 1
    assert dataset.provenance["skipped"] == [str(tmp_path / row.skipped)]


def test_the_table_is_wide():
    assert len(ROWS) >= 25 and len({row.name for row in ROWS}) == len(ROWS)


def test_the_pixel_limit_leaves_pillow_and_warnings_as_they_were(tmp_path):
    """Refusing an oversized image changes neither Pillow's limit nor the warning filters of the
    rest of the process: outside the reader the bomb is still only a warning."""
    filters, limit = list(warnings.filters), Image.MAX_IMAGE_PIXELS
    (tmp_path / "big.png").write_bytes(png_header(10_000, 10_000))
    with pytest.raises(DataError, match="too large to decode safely"):
        folders.decode_image(tmp_path / "big.png")
    assert warnings.filters == filters and limit == Image.MAX_IMAGE_PIXELS
    with pytest.warns(Image.DecompressionBombWarning):
        Image.open(tmp_path / "big.png").close()


def test_unusual_modes_are_read_as_pillow_converts_them(tmp_path, caplog):
    """16-bit grey, palette with transparency, CMYK and 1-bit images are read (not refused,
    not misread); Pillow's warning about the palette names the file."""
    rgb = Image.fromarray(np.random.default_rng(4).integers(0, 256, (6, 5, 3), dtype=np.uint8))
    rgb.convert("CMYK").save(tmp_path / "cmyk.jpg")
    rgb.convert("1").save(tmp_path / "one_bit.png")
    rgb.convert("P").save(tmp_path / "palette.png", transparency=bytes(3) + b"\xff" * 253)
    for name in ("cmyk.jpg", "one_bit.png", "palette.png"):
        with Image.open(tmp_path / name) as again, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rgb_pixels = np.moveaxis(np.asarray(again.convert("RGB")), -1, 0)
        np.testing.assert_array_equal(
            folders.decode_image(tmp_path / name, channels=3).pixels, rgb_pixels
        )
    sixteen = np.array([[0, 257 * 3], [65535, 1000]], dtype=np.uint16)
    Image.fromarray(sixteen).save(tmp_path / "deep.png")
    np.testing.assert_array_equal(
        folders.decode_image(tmp_path / "deep.png").pixels[0], [[0, 3], [255, 4]]
    )
    assert f"{tmp_path / 'palette.png'}: Palette images with Transparency" in caplog.text


@pytest.mark.parametrize("on_bad_file", ["error", "skip"])
def test_a_class_folder_that_links_to_itself_is_named_not_dropped(tmp_path, on_bad_file):
    root = good_folder(tmp_path)
    os.symlink(root / "c", root / "c")
    with pytest.raises(DataError) as info:
        within_deadline({"source": "image_folder", "image_folder": {"root": str(root)},
                         "on_bad_file": on_bad_file})  # fmt: skip
    assert str(info.value) == (
        f"the class folder {root}/c is a symbolic link loop (it leads back to itself): its "
        "images would be dropped; replace the link with the class's folder of images, or "
        "remove it"
    )


def test_one_class_is_refused_at_ingest(tmp_path):
    root = good_folder(tmp_path)
    for image in (root / "b").iterdir():
        image.unlink()
    (root / "b").rmdir()
    with pytest.raises(DataError, match=r"has one class \('a', 3 images\): a comparison needs"):
        within_deadline({"source": "image_folder", "image_folder": {"root": str(root)}})
