"""Image data sources, their canonical form, and the stratified train/test split.

Every source ends up as an :class:`ImageDataset`: uint8 images N×C×H×W, integer labels 0..K-1,
the class names and a provenance record saying where the images came from. That one form is what
the rest of the project reads, whatever the source was.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# IDX type codes (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# torchvision's on-disk names for MNIST under <root>/MNIST/raw/.
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class DataError(ValueError):
    """Input data that cannot be used; the message names the file, class or parameter at fault."""


@dataclass(frozen=True)
class ImageDataset:
    """Images in the project's canonical form.

    Attributes:
        images: uint8 array N×C×H×W.
        labels: int64 array of N class indices into ``class_names``.
        class_names: one name per class.
        provenance: where the images came from (JSON-serialisable).
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise DataError(
                f"images must be uint8 N×C×H×W, got {self.images.dtype} {self.images.shape}"
            )
        if self.labels.ndim != 1 or len(self.labels) != len(self.images):
            raise DataError(f"{len(self.images)} images but labels of shape {self.labels.shape}")
        if len(self.images) == 0:
            raise DataError(f"the dataset from {self.provenance.get('source', '?')} is empty")
        if self.labels.min() < 0 or self.labels.max() >= len(self.class_names):
            raise DataError(
                f"labels must lie in 0..{len(self.class_names) - 1} (one per class name), "
                f"got {self.labels.min()}..{self.labels.max()}"
            )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def subset(self, indices: np.ndarray, **provenance: Any) -> ImageDataset:
        """The images at ``indices``, with ``provenance`` added to the record."""
        return ImageDataset(
            self.images[indices],
            self.labels[indices],
            self.class_names,
            {**self.provenance, **provenance},
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (no pickled objects), as stored in an ``.npz``."""
        return {
            "images": self.images,
            "labels": self.labels,
            "class_names": np.asarray(self.class_names, dtype=str),
            "provenance": np.asarray(json.dumps(self.provenance, sort_keys=True)),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ImageDataset:
        """Inverse of :meth:`to_arrays`."""
        return cls(
            images=np.asarray(arrays["images"]),
            labels=np.asarray(arrays["labels"]).astype(np.int64),
            class_names=tuple(str(name) for name in arrays["class_names"]),
            provenance=json.loads(str(arrays["provenance"])),
        )


def load_digits_dataset() -> ImageDataset:
    """scikit-learn's bundled 8×8 digits (1797 images, 10 classes), scaled from 0..16 to 0..255."""
    import sklearn
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    return ImageDataset(
        images=images,
        labels=digits.target.astype(np.int64),
        class_names=tuple(str(name) for name in digits.target_names),
        provenance={"source": "sklearn.datasets.load_digits", "sklearn": sklearn.__version__},
    )


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (MNIST's format), plain or gzip-compressed, into a numpy array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:
        raise DataError(f"cannot read IDX file {path}: {error}") from error
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(n) for n in np.frombuffer(raw[4:header], dtype=">u4"))
    expected = int(np.prod(shape)) * dtype.itemsize
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
        if candidate.exists():
            return candidate
    return None


def load_mnist_dataset(
    root: str | Path, splits: tuple[str, ...] = ("train",), download: bool = False
) -> ImageDataset:
    """MNIST from its IDX files in torchvision's layout, ``<root>/MNIST/raw/``.

    Args:
        root: the folder holding ``MNIST/raw`` (``data/01_raw`` in this project).
        splits: which official files to pool: ``train`` (60 000) and/or ``test`` (10 000).
            The project makes its own stratified split from the pool.
        download: fetch the files with torchvision when they are missing. Off by default: a run
            never reaches the network unless the parameters say so.
    """
    raw_dir = Path(root) / "MNIST" / "raw"
    unknown = set(splits) - set(MNIST_FILES)
    if unknown or not splits:
        raise DataError(
            f"ingest.mnist.splits must name some of {sorted(MNIST_FILES)}, got {list(splits)}"
        )
    needed = [name for split in splits for name in MNIST_FILES[split]]
    if download and any(_find_idx(raw_dir, name) is None for name in needed):
        from torchvision.datasets import MNIST

        for split in splits:
            MNIST(str(root), train=split == "train", download=True)
    images, labels, files = [], [], []
    for split in splits:
        image_name, label_name = MNIST_FILES[split]
        image_path, label_path = _find_idx(raw_dir, image_name), _find_idx(raw_dir, label_name)
        for name, found in ((image_name, image_path), (label_name, label_path)):
            if found is None:
                raise DataError(
                    f"MNIST file {raw_dir / name} (or {name}.gz) is missing: put torchvision's "
                    "MNIST files there, or set ingest.mnist.download: true"
                )
        split_images, split_labels = read_idx(image_path), read_idx(label_path)
        if split_images.ndim != 3 or split_labels.ndim != 1:
            raise DataError(
                f"{image_path} must hold N×H×W images and {label_path} N labels, "
                f"got {split_images.shape} and {split_labels.shape}"
            )
        if len(split_images) != len(split_labels):
            raise DataError(
                f"{image_path} holds {len(split_images)} images but {label_path} "
                f"holds {len(split_labels)} labels"
            )
        images.append(split_images.astype(np.uint8)[:, None])
        labels.append(split_labels.astype(np.int64))
        files += [str(image_path), str(label_path)]
    all_labels = np.concatenate(labels)
    if all_labels.min() < 0 or all_labels.max() > 9:
        raise DataError(
            f"MNIST labels must lie in 0..9, found {all_labels.min()}..{all_labels.max()}"
        )
    return ImageDataset(
        images=np.concatenate(images),
        labels=all_labels,
        class_names=tuple(str(digit) for digit in range(10)),
        provenance={"source": "mnist", "files": files},
    )


def drop_duplicate_images(dataset: ImageDataset) -> tuple[ImageDataset, int]:
    """Keep the first copy of every pixel-identical image, so no image can land in both halves."""
    rows = np.ascontiguousarray(dataset.images.reshape(len(dataset.images), -1))
    keys = rows.view(np.dtype((np.void, rows.shape[1])))[:, 0]
    _, first = np.unique(keys, return_index=True)
    first.sort()
    dropped = len(rows) - len(first)
    if dropped == 0:
        return dataset, 0
    return dataset.subset(first, duplicates_dropped=dropped), dropped


def _check_class_counts(
    labels: np.ndarray, class_names: tuple[str, ...], minimum: int, why: str
) -> None:
    counts = np.bincount(labels, minlength=len(class_names))
    short = [f"'{class_names[k]}' ({counts[k]})" for k in np.flatnonzero(counts < minimum)]
    if short:
        raise DataError(f"classes with fewer than {minimum} images {why}: {', '.join(short)}")


def stratified_subsample(dataset: ImageDataset, size: int, seed: int) -> ImageDataset:
    """A seeded subset of ``size`` images with the class proportions of the whole."""
    from sklearn.model_selection import train_test_split

    if not 0 < size <= len(dataset.labels):
        raise DataError(f"ingest.subset_size must lie in 1..{len(dataset.labels)}, got {size}")
    if size == len(dataset.labels):
        return dataset
    _check_class_counts(dataset.labels, dataset.class_names, 2, "to subsample by class")
    indices, _ = train_test_split(
        np.arange(len(dataset.labels)), train_size=size, stratify=dataset.labels, random_state=seed
    )
    return dataset.subset(np.sort(indices), subset_size=size, subset_seed=seed)


def stratified_split(
    dataset: ImageDataset, test_fraction: float, seed: int
) -> tuple[ImageDataset, ImageDataset]:
    """Split into train and test halves with the same class proportions; no image is in both."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise DataError(
            f"ingest.test_fraction must lie strictly between 0 and 1, got {test_fraction}"
        )
    _check_class_counts(dataset.labels, dataset.class_names, 2, "to split into train and test")
    train_idx, test_idx = train_test_split(
        np.arange(len(dataset.labels)),
        test_size=test_fraction,
        stratify=dataset.labels,
        random_state=seed,
    )
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    record = {"split_seed": seed, "test_fraction": test_fraction}
    return (
        dataset.subset(train_idx, split="train", **record),
        dataset.subset(test_idx, split="test", **record),
    )
