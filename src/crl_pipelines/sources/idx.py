"""The MNIST family (MNIST, Fashion-MNIST, KMNIST) from its IDX files in torchvision's layout,
``<root>/<MNIST|FashionMNIST|KMNIST>/raw/`` (plain or ``.gz``); torchvision is used only to
download missing files, and only when ``ingest.<name>.download`` says so. With
``ingest.test_split: official`` both official files are read (whatever ``splits`` says) and each
image's file is marked (``extra["official_split"]``)."""

from __future__ import annotations

import gzip
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crl_pipelines.images import OFFICIAL_SPLIT, DataError, ImageDataset
from crl_pipelines.sources.base import (
    SOURCES,
    SPLITS,
    DownloadSettings,
    IngestSettingsBase,
    Split,
)
from crl_pipelines.sources.safe_open import one_line, open_regular

# IDX type codes (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP = b"\x1f\x8b"  # the first bytes of every gzip file

# torchvision's on-disk names for MNIST under <root>/MNIST/raw/ (Fashion-MNIST and KMNIST use the
# same four names under <root>/FashionMNIST/raw/ and <root>/KMNIST/raw/).
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# Class names as torchvision.datasets.FashionMNIST.classes and KMNIST.classes have them (copied, so
# no torchvision dataset is instantiated without its files).
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
KMNIST_CLASSES = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")


@dataclass(frozen=True)
class IdxSource:
    """An MNIST-family dataset in torchvision's layout: ``<root>/<folder>/raw/`` (IDX files)."""

    title: str  # for messages
    folder: str  # torchvision's folder name, also the torchvision.datasets class name
    class_names: tuple[str, ...]


IDX_SOURCES = {
    "mnist": IdxSource("MNIST", "MNIST", tuple(str(digit) for digit in range(10))),
    "fashion_mnist": IdxSource("Fashion-MNIST", "FashionMNIST", FASHION_MNIST_CLASSES),
    "kmnist": IdxSource("KMNIST", "KMNIST", KMNIST_CLASSES),
}


def _idx_bytes(path: Path) -> bytes:
    """The whole content of an IDX file, gunzipped when its name ends in ``.gz``."""
    with open_regular(path, fix="replace it with the IDX file") as handle:
        try:
            if path.suffix == ".gz":
                with gzip.GzipFile(fileobj=handle) as unzipped:
                    return unzipped.read()
            return handle.read()
        except (OSError, EOFError, zlib.error) as error:
            raise DataError(f"cannot read IDX file {path}: {one_line(str(error))}") from error


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (MNIST's format), plain or gzip-compressed, into a numpy array."""
    path = Path(path)
    raw = _idx_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        hint = f"; it is gzip-compressed: name it {path.name}.gz" if raw[:2] == _GZIP else ""
        raise DataError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()}){hint}")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(
            f"{path} is truncated: its header needs {header} bytes for {ndim} dimensions, the "
            f"file holds {len(raw)}"
        )
    shape = tuple(int(n) for n in np.frombuffer(raw[4:header], dtype=">u4"))
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(
            f"{path} is truncated or padded: header says {shape} ({expected} bytes of data), "
            f"file holds {len(raw) - header}"
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def _find_idx(raw_dir: Path, name: str) -> Path | None:
    for candidate in (raw_dir / name, raw_dir / f"{name}.gz"):
        if os.path.lexists(candidate):  # there, even if not readable: reading it says why
            return candidate
    return None


def load_mnist_dataset(
    root: str | Path, splits: tuple[Split, ...] = ("train",), download: bool = False
) -> ImageDataset:
    """MNIST from its IDX files in torchvision's layout, ``<root>/MNIST/raw/``.

    Args:
        root: the folder holding ``MNIST/raw`` (``data/01_raw`` in this project).
        splits: which official files to pool: ``train`` (60 000) and/or ``test`` (10 000).
            The project makes its own stratified split from the pool.
        download: fetch the files with torchvision when they are missing. Off by default: a run
            never reaches the network unless the parameters say so.
    """
    return load_idx_dataset(root, "mnist", splits, download)


def load_idx_dataset(
    root: str | Path,
    name: str,
    splits: tuple[Split, ...] = ("train",),
    download: bool = False,
    mark_splits: bool = False,
) -> ImageDataset:
    """An MNIST-family dataset (``mnist``, ``fashion_mnist``, ``kmnist``) from its IDX files in
    torchvision's layout, ``<root>/<MNIST|FashionMNIST|KMNIST>/raw/`` (plain or ``.gz``).

    Args:
        root: the folder holding ``<Folder>/raw`` (``data/01_raw`` in this project).
        name: a key of :data:`IDX_SOURCES`; also the parameter block (``ingest.<name>``) that
            messages point to.
        splits: which official files to pool: ``train`` and/or ``test``.
        download: fetch missing files with ``torchvision.datasets.<Folder>(root, download=True)``.
        mark_splits: record each image's file (``train`` or ``test``) in
            ``extra["official_split"]``, so the official split can be kept.
    """
    spec = IDX_SOURCES[name]
    raw_dir = Path(root) / spec.folder / "raw"
    needed = [file for split in splits for file in MNIST_FILES[split]]
    if download and any(_find_idx(raw_dir, file) is None for file in needed):
        import torchvision.datasets

        dataset_class = getattr(torchvision.datasets, spec.folder)
        for split in splits:
            dataset_class(str(root), train=split == "train", download=True)
    images, labels, files, marks = [], [], [], []
    for split in splits:
        split_images, split_labels, split_files = _read_split(raw_dir, name, split)
        images.append(split_images[:, None])
        labels.append(split_labels.astype(np.int64))
        files += split_files
        marks.append(np.full(len(split_labels), split))
    return ImageDataset(
        images=np.concatenate(images),
        labels=np.concatenate(labels),
        class_names=spec.class_names,
        provenance={"source": name, "files": files},
        extra={OFFICIAL_SPLIT: np.concatenate(marks)} if mark_splits else {},
    )


def _read_split(raw_dir: Path, name: str, split: Split) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """One official split's N×H×W uint8 images, its N labels and the two files read."""
    title = IDX_SOURCES[name].title
    image_name, label_name = MNIST_FILES[split]
    image_path, label_path = _find_idx(raw_dir, image_name), _find_idx(raw_dir, label_name)
    for file, found in ((image_name, image_path), (label_name, label_path)):
        if found is None:
            raise DataError(
                f"{title} file {raw_dir / file} (or {file}.gz) is missing: put "
                f"torchvision's {title} files there, or set ingest.{name}.download: true"
            )
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or labels.ndim != 1:
        raise DataError(
            f"{image_path} must hold N×H×W images and {label_path} N labels, "
            f"got {images.shape} and {labels.shape}"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{image_path} holds {len(images)} images but {label_path} holds {len(labels)} labels"
        )
    if len(images) == 0:
        raise DataError(f"{image_path} holds no images")
    if images.size == 0:
        raise DataError(f"{image_path} holds images of size {images.shape[1]}×{images.shape[2]}")
    if images.dtype != np.uint8:
        raise DataError(f"{image_path} must hold uint8 pixels, got {images.dtype}")
    _check_labels(labels, label_path, IDX_SOURCES[name])
    return images, labels, [str(image_path), str(label_path)]


def _check_labels(labels: np.ndarray, path: Path, spec: IdxSource) -> None:
    """``labels`` must be integers, one of the dataset's classes each."""
    if labels.dtype.kind not in "iu":
        raise DataError(f"{path} must hold integer labels, got {labels.dtype}")
    top = len(spec.class_names) - 1
    if labels.min() < 0 or labels.max() > top:
        raise DataError(
            f"{path}: {spec.title} labels must lie in 0..{top}, "
            f"found {labels.min()}..{labels.max()}"
        )


def read(name: str, settings: DownloadSettings, ingest: IngestSettingsBase) -> ImageDataset:
    """The source ``name`` (a key of :data:`IDX_SOURCES`) from its validated block: the files
    ``splits`` names, or both, marked, with ``ingest.test_split: official``."""
    official = ingest.test_split == "official"
    splits = SPLITS if official else settings.splits
    return load_idx_dataset(settings.root, name, splits, settings.download, mark_splits=official)


@SOURCES.register("mnist", settings=DownloadSettings, labelled=True, official_test=True)
def read_mnist(settings: DownloadSettings, ingest: IngestSettingsBase) -> ImageDataset:
    """MNIST's IDX files under ``<root>/MNIST/raw``."""
    return read("mnist", settings, ingest)


@SOURCES.register("fashion_mnist", settings=DownloadSettings, labelled=True, official_test=True)
def read_fashion_mnist(settings: DownloadSettings, ingest: IngestSettingsBase) -> ImageDataset:
    """Fashion-MNIST's IDX files under ``<root>/FashionMNIST/raw``."""
    return read("fashion_mnist", settings, ingest)


@SOURCES.register("kmnist", settings=DownloadSettings, labelled=True, official_test=True)
def read_kmnist(settings: DownloadSettings, ingest: IngestSettingsBase) -> ImageDataset:
    """KMNIST's IDX files under ``<root>/KMNIST/raw``."""
    return read("kmnist", settings, ingest)
