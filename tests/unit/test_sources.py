"""Data sources, each read from small files written here in the real on-disk format; every bad
input stopping with one message that names the file, class or parameter at fault; the registry
of sources and the model of the `ingest:` parameters."""

from __future__ import annotations

import logging
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from crl_pipelines.datasets import NpzDataset
from crl_pipelines.images import (
    DataError,
    ImageDataset,
    random_split,
    split_train_test,
    stratified_split,
)
from crl_pipelines.parameters import ParameterError, PositiveInt, Settings, parse
from crl_pipelines.pipelines.ingest.nodes import load_source, split_dataset
from crl_pipelines.sources import (
    SOURCES,
    IngestSettings,
    Source,
    add_randbits,
    build_dataset,
    conform,
    load_cifar10_dataset,
    load_image_folder,
    load_npz_dataset,
    load_unlabelled_folder,
    luma,
    make_multidigit,
    parse_ingest,
    read_cifar_batch,
    resize_images,
)
from crl_pipelines.sources.digits import load_digits_dataset
from crl_pipelines.sources.idx import FASHION_MNIST_CLASSES, KMNIST_CLASSES, load_idx_dataset
from crl_pipelines.sources.multidigit import MultiDigitSettings
from tests.unit.test_data import fake_mnist, write_idx

RNG = np.random.default_rng(1234)


# --- writers of the real formats ------------------------------------------------------------


def write_idx_family(root: Path, folder: str, images: np.ndarray, labels: np.ndarray) -> None:
    """torchvision's layout for MNIST-family files: <root>/<folder>/raw/<IDX files>."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    write_idx(raw / "train-images-idx3-ubyte", images)
    write_idx(raw / "train-labels-idx1-ubyte", labels)


CIFAR_NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer"]


def cifar_batch(count: int, seed: int) -> dict[bytes, object]:
    """The dict structure of a CIFAR-10 python batch (bytes keys, as pickle.load(encoding=
    'bytes') shows them): uint8 data N×3072, labels a list of ints, file names."""
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": f"batch {seed}".encode(),
        b"labels": [int(v) for v in rng.integers(0, len(CIFAR_NAMES), size=count)],
        b"data": rng.integers(0, 256, size=(count, 3072), dtype=np.uint8),
        b"filenames": [f"img_{seed}_{i}.png".encode() for i in range(count)],
    }


def write_cifar(root: Path, sizes: dict[str, int], pickler=None) -> dict[str, dict]:
    """cifar-10-batches-py/ with the named batches and batches.meta, pickled with protocol 2 like
    the originals."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for seed, (name, count) in enumerate(sizes.items()):
        batches[name] = cifar_batch(count, seed)
        with open(folder / name, "wb") as handle:
            (pickler or pickle.Pickler)(handle, protocol=2).dump(batches[name])
    meta = {b"num_cases_per_batch": 10, b"label_names": CIFAR_NAMES, b"num_vis": 3072}
    with open(folder / "batches.meta", "wb") as handle:
        (pickler or pickle.Pickler)(handle, protocol=2).dump(meta)
    return batches


ALL_CIFAR_BATCHES = {
    **{f"data_batch_{i}": 3 + i for i in range(1, 6)},
    "test_batch": 5,
}


class Python2Pickler(pickle._Pickler):
    """Pickles ``bytes`` the way Python 2 pickled its ``str`` (SHORT_BINSTRING / BINSTRING
    opcodes), as in the files cs.toronto.edu distributes."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_python2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_python2_str


def write_image(path: Path, pixels: np.ndarray, **save: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **save)


def write_class_folder(
    root: Path, per_class: dict[str, int], size=(12, 10), suffix=".png", rgb=False
) -> dict[str, list[np.ndarray]]:
    """<root>/<class>/<i><suffix> images written with Pillow; returns the pixels per class."""
    written: dict[str, list[np.ndarray]] = {}
    for name, count in per_class.items():
        written[name] = []
        for i in range(count):
            shape = (*size, 3) if rgb else size
            pixels = RNG.integers(0, 256, size=shape, dtype=np.uint8)
            write_image(root / name / f"{i:03d}{suffix}", pixels)
            written[name].append(pixels)
    return written


def planar(pixels: np.ndarray) -> np.ndarray:
    """H×W or H×W×C → C×H×W."""
    return pixels[None] if pixels.ndim == 2 else np.moveaxis(pixels, -1, 0)


# --- MNIST family ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "folder", "classes"),
    [
        ("fashion_mnist", "FashionMNIST", FASHION_MNIST_CLASSES),
        ("kmnist", "KMNIST", KMNIST_CLASSES),
        ("mnist", "MNIST", tuple("0123456789")),
    ],
)
def test_idx_family_reads_torchvision_layout(tmp_path, name, folder, classes):
    """Fashion-MNIST and KMNIST are read like MNIST from <root>/<Folder>/raw/, with
    torchvision's class names; the source is chosen by parameters only."""
    images, labels = fake_mnist(20, 3)
    write_idx_family(tmp_path, folder, images, labels)
    dataset = build_dataset(
        {"source": name, name: {"root": str(tmp_path)}, "drop_duplicates": False}
    )
    assert dataset.images.shape == (20, 1, 28, 28)
    np.testing.assert_array_equal(dataset.images[:, 0], images)
    np.testing.assert_array_equal(dataset.labels, labels)
    assert dataset.class_names == classes
    assert dataset.provenance["source"] == name


def test_idx_class_names_are_torchvision_s():
    from torchvision.datasets import KMNIST, FashionMNIST

    assert list(FASHION_MNIST_CLASSES) == FashionMNIST.classes
    assert list(KMNIST_CLASSES) == KMNIST.classes


def test_idx_family_missing_files_name_file_and_switch(tmp_path):
    with pytest.raises(
        DataError, match=r"FashionMNIST/raw/train-images-idx3-ubyte.*ingest\.fashion_mnist"
    ):
        load_idx_dataset(tmp_path, "fashion_mnist")


# --- CIFAR-10 -------------------------------------------------------------------------------


def test_cifar10_python_batches_load(tmp_path):
    """All five train batches and the test batch, pickled with protocol 2 like the originals,
    become N×3×32×32 RGB (1024 red, 1024 green, 1024 blue values per row) with their labels and
    batches.meta's class names."""
    batches = write_cifar(tmp_path, ALL_CIFAR_BATCHES)
    train = load_cifar10_dataset(tmp_path)
    assert train.images.shape == (sum(3 + i for i in range(1, 6)), 3, 32, 32)
    first = batches["data_batch_1"]
    np.testing.assert_array_equal(train.images[0, 0].ravel(), first[b"data"][0, :1024])
    np.testing.assert_array_equal(train.images[0, 2].ravel(), first[b"data"][0, 2048:])
    np.testing.assert_array_equal(train.labels[:4], first[b"labels"])
    assert train.class_names == tuple(n.decode() for n in CIFAR_NAMES)
    both = build_dataset(
        {
            "source": "cifar10",
            "cifar10": {"root": str(tmp_path), "splits": ["train", "test"]},
            "drop_duplicates": False,
        }
    )
    assert len(both.labels) == len(train.labels) + 5
    np.testing.assert_array_equal(both.labels[-5:], batches["test_batch"][b"labels"])


def test_cifar10_written_by_python2_loads(tmp_path):
    """The distributed files were pickled by Python 2: byte strings as str opcodes and numpy's
    reconstruction under numpy.core.multiarray. Both read."""
    batches = write_cifar(tmp_path, ALL_CIFAR_BATCHES, pickler=Python2Pickler)
    folder = tmp_path / "cifar-10-batches-py"
    for path in folder.iterdir():
        raw = path.read_bytes().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
        assert b"_codecs" not in raw
        path.write_bytes(raw)
    images, labels = read_cifar_batch(folder / "test_batch")
    np.testing.assert_array_equal(images.reshape(len(images), -1), batches["test_batch"][b"data"])
    np.testing.assert_array_equal(labels, batches["test_batch"][b"labels"])
    assert load_cifar10_dataset(tmp_path).class_names[0] == "airplane"


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_cifar_pickle_with_a_forbidden_global_is_refused(tmp_path):
    """A batch whose pickle calls os.system is refused before anything runs, naming the file."""
    write_cifar(tmp_path, {"data_batch_1": 4})
    marker = tmp_path / "pwned"
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    batch.write_bytes(pickle.dumps({b"data": _Exploit(marker), b"labels": []}, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_1: refusing to unpickle the global .*system"):
        read_cifar_batch(batch)
    assert not marker.exists()


def test_cifar_truncated_and_missing_batches_name_the_file(tmp_path):
    write_cifar(tmp_path, ALL_CIFAR_BATCHES)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"cannot read .*data_batch_3 as a CIFAR python batch"):
        load_cifar10_dataset(tmp_path)
    batch.unlink()
    with pytest.raises(DataError, match=r"data_batch_3 is missing.*ingest\.cifar10\.download"):
        load_cifar10_dataset(tmp_path)


# --- image folders --------------------------------------------------------------------------


def test_png_class_folders(tmp_path):
    """PNG class folders read exactly, classes numbered in sorted folder order, each image's
    file recorded."""
    written = write_class_folder(tmp_path, {"cat": 3, "ant": 2, "bee": 4})
    dataset = load_image_folder(tmp_path)
    assert dataset.class_names == ("ant", "bee", "cat")
    np.testing.assert_array_equal(np.bincount(dataset.labels), [2, 4, 3])
    assert dataset.images.shape == (9, 1, 12, 10)
    ant, bee = np.stack(written["ant"]), np.stack(written["bee"])
    np.testing.assert_array_equal(dataset.images[:2, 0], ant)
    np.testing.assert_array_equal(dataset.images[2:6, 0], bee)
    assert dataset.extra["files"][0] == "ant/000.png"


def test_jpeg_rgb_class_folders_and_nested_images(tmp_path):
    """JPEG (lossy) class folders decode to what Pillow decodes; images nested inside a class
    folder belong to it; hidden files are skipped."""
    write_class_folder(tmp_path, {"a": 2, "b": 2}, suffix=".jpg", rgb=True)
    write_image(tmp_path / "b" / "more" / "deep.jpg", RNG.integers(0, 256, (12, 10, 3), np.uint8))
    (tmp_path / "a" / ".DS_Store").write_bytes(b"\0\1junk")
    dataset = load_image_folder(tmp_path)
    assert dataset.images.shape == (5, 3, 12, 10)
    np.testing.assert_array_equal(dataset.labels, [0, 0, 1, 1, 1])
    expected = np.asarray(Image.open(tmp_path / "b" / "more" / "deep.jpg"))
    np.testing.assert_array_equal(dataset.images[4], planar(expected))


def test_folder_channels_and_image_size_follow_pillow(tmp_path):
    """channels: 1 is Pillow's convert('L'); image_size resizes with Pillow bilinear; an .npz of
    the same pixels gives the same array (the rules are shared)."""
    written = write_class_folder(tmp_path / "f", {"x": 2, "y": 2}, rgb=True)
    grey = load_image_folder(tmp_path / "f", image_size=7, channels=1)
    pixels = written["x"][0]
    expected = Image.fromarray(pixels).convert("L").resize((7, 7), Image.BILINEAR)
    np.testing.assert_array_equal(grey.images[0, 0], np.asarray(expected))
    stack = np.stack(written["x"] + written["y"])
    np.savez(tmp_path / "same.npz", images=stack, labels=np.array([0, 0, 1, 1]))
    from_arrays = conform(load_npz_dataset(tmp_path / "same.npz"), image_size=7, channels=1)
    np.testing.assert_array_equal(from_arrays.images, grey.images)
    rgb = load_image_folder(tmp_path / "f", image_size=9)
    np.testing.assert_array_equal(
        rgb.images[0], planar(np.asarray(Image.fromarray(pixels).resize((9, 9), Image.BILINEAR)))
    )


def test_luma_and_resize_match_pillow():
    rgb = RNG.integers(0, 256, size=(3, 3, 5, 6), dtype=np.uint8)
    for n in range(3):
        pil = Image.fromarray(np.moveaxis(rgb[n], 0, -1)).convert("L")
        np.testing.assert_array_equal(luma(rgb)[n, 0], np.asarray(pil))
    grey = rgb[:, :1]
    resized = resize_images(grey, 11)
    np.testing.assert_array_equal(
        resized[1, 0], np.asarray(Image.fromarray(grey[1, 0]).resize((11, 11), Image.BILINEAR))
    )


def test_sixteen_bit_grayscale_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257 * 100], [65535, 257 * 7]], dtype=np.uint16)
    for name in ("a", "b"):
        for i in range(2):
            write_image(tmp_path / name / f"{i}.png", values)
    dataset = load_image_folder(tmp_path)
    np.testing.assert_array_equal(dataset.images[0, 0], [[0, 100], [255, 7]])


def test_unlabelled_nested_folder_and_random_split(tmp_path):
    """Images directly in a folder or nested are read unlabelled (labels −1, no classes) and
    split at random (not stratified), seeded and disjoint."""
    for i in range(6):
        write_image(tmp_path / f"top{i}.png", RNG.integers(0, 256, (8, 8), np.uint8))
    for i in range(4):
        write_image(
            tmp_path / "sub" / "deeper" / f"n{i}.bmp", RNG.integers(0, 256, (8, 8), np.uint8)
        )
    dataset = load_unlabelled_folder(tmp_path)
    assert len(dataset.labels) == 10
    assert not dataset.labelled and dataset.class_names == () and (dataset.labels == -1).all()
    train, test = split_train_test(dataset, 0.3, seed=0)
    assert (len(train.labels), len(test.labels)) == (7, 3)
    assert not set(train.extra["files"]) & set(test.extra["files"])
    again, _ = random_split(dataset, 0.3, seed=0)
    np.testing.assert_array_equal(again.images, train.images)
    assert train.provenance["split_kind"] == "random"
    with pytest.raises(DataError, match="unlabelled; use random_split"):
        stratified_split(dataset, 0.3, seed=0)


# --- .npz -----------------------------------------------------------------------------------


def test_npz_layouts_value_ranges_and_labels(tmp_path):
    """N×H×W uint8; N×H×W×C floats in [0, 1]; N×C×H×W floats in [0, 255]; string labels become
    sorted class names; labels with class_names keep their indices; no labels → unlabelled."""
    base = RNG.integers(0, 256, size=(6, 3, 5, 7), dtype=np.uint8)
    np.savez(tmp_path / "nhw.npz", images=base[:, 0], labels=np.array(list("bababa")))
    nhw = load_npz_dataset(tmp_path / "nhw.npz")
    np.testing.assert_array_equal(nhw.images[:, 0], base[:, 0])
    assert nhw.class_names == ("a", "b") and list(nhw.labels) == [1, 0, 1, 0, 1, 0]
    np.savez(
        tmp_path / "nhwc.npz",
        images=np.moveaxis(base, 1, -1) / 255.0,
        labels=np.array([0, 1, 2, 0, 1, 2]),
        class_names=np.array(["x", "y", "z"]),
    )
    nhwc = load_npz_dataset(tmp_path / "nhwc.npz")
    np.testing.assert_array_equal(nhwc.images, base)
    assert nhwc.class_names == ("x", "y", "z") and nhwc.provenance["layout"] == "NHWC"
    np.savez(tmp_path / "nchw.npz", images=base.astype(np.float32))
    nchw = load_npz_dataset(tmp_path / "nchw.npz")
    np.testing.assert_array_equal(nchw.images, base)
    assert not nchw.labelled and nchw.provenance["values"] == "byte"
    dark = np.full((2, 4, 4), 1.0)  # pixel value 1 of 255, not "white"
    np.savez(tmp_path / "dark.npz", images=dark)
    assert load_npz_dataset(tmp_path / "dark.npz").images.max() == 255
    assert load_npz_dataset(tmp_path / "dark.npz", value_range="byte").images.max() == 1


def test_npz_reads_back_the_project_s_own_dataset(tmp_path):
    """dataset.npz as the ingest node writes it (extras included) is itself a valid source."""
    digits = load_digits_dataset().subset(np.arange(40))
    digits = ImageDataset(
        digits.images, digits.labels, digits.class_names, {}, {"tag": np.arange(40)}
    )
    NpzDataset(filepath=str(tmp_path / "dataset.npz")).save(digits.to_arrays())
    again = load_npz_dataset(tmp_path / "dataset.npz")
    np.testing.assert_array_equal(again.images, digits.images)
    np.testing.assert_array_equal(again.labels, digits.labels)
    np.testing.assert_array_equal(again.extra["tag"], np.arange(40))


# --- MultiDigit -----------------------------------------------------------------------------


def small_digits() -> ImageDataset:
    return load_digits_dataset().subset(np.arange(200))


def compose_by_loop(dataset: ImageDataset, digits: ImageDataset, sizes: list[int]) -> np.ndarray:
    """The canvases rebuilt one digit at a time from the recorded sources and positions."""
    canvas = np.zeros_like(dataset.images)
    for n in range(len(dataset.images)):
        for j, size in enumerate(sizes):
            source = dataset.extra["digit_sources"][n, j]
            row, col = dataset.extra["digit_positions"][n, j]
            digit = np.asarray(
                Image.fromarray(digits.images[source, 0]).resize((size, size), Image.BILINEAR)
            )
            window = canvas[n, 0, row : row + size, col : col + size]
            np.maximum(window, digit, out=window)
    return canvas


def test_multidigit_grid_cells_hold_the_recorded_digits():
    """In-grid placement: crop every cell back; it is the source digit (resized) of the label
    recorded for it, and the rest of the canvas is black."""
    digits = small_digits()
    settings = MultiDigitSettings(
        num_images=30, num_digits=4, canvas_size=32, digit_size=12, placement="grid", seed=5
    )
    grid = make_multidigit(digits, settings)
    assert grid.images.shape == (30, 1, 32, 32)
    labels, sources = grid.extra["digit_labels"], grid.extra["digit_sources"]
    np.testing.assert_array_equal(labels, digits.labels[sources])
    np.testing.assert_array_equal(grid.labels, labels[:, 0])
    upscaled = resize_images(digits.images, 12)
    for n in range(30):
        mask = np.zeros((32, 32), dtype=bool)
        cells = set()
        for j in range(4):
            row, col = grid.extra["digit_positions"][n, j]
            assert (row - 2) % 16 == 0 and (col - 2) % 16 == 0  # centred in a 16-pixel cell
            cells.add((row // 16, col // 16))
            crop = grid.images[n, 0, row : row + 12, col : col + 12]
            np.testing.assert_array_equal(crop, upscaled[sources[n, j], 0])
            mask[row : row + 12, col : col + 12] = True
        assert len(cells) == 4  # distinct cells: no overlap
        assert not grid.images[n, 0][~mask].any()


def test_multidigit_random_placement_and_two_sizes_match_what_was_placed():
    """Random placement (overlaps allowed, brighter pixel wins) and the two-size variant: the
    canvas equals the recorded digits composed one by one; positions keep digits inside."""
    digits = small_digits()
    for sizes, count in (([10, 10, 10], 3), ([6, 14], 2)):
        settings = MultiDigitSettings(
            num_images=25, num_digits=count, canvas_size=24, digit_size=sizes, seed=1
        )
        made = make_multidigit(digits, settings)
        np.testing.assert_array_equal(made.images, compose_by_loop(made, digits, sizes))
        positions = made.extra["digit_positions"]
        assert positions.min() >= 0
        assert (positions + np.array(sizes)[None, :, None] <= 24).all()
        np.testing.assert_array_equal(made.extra["digit_labels"][:, 0], made.labels)
    one = make_multidigit(
        digits,
        MultiDigitSettings(num_images=10, num_digits=1, canvas_size=16, digit_size=8, seed=2),
    )
    row, col = one.extra["digit_positions"][0, 0]
    np.testing.assert_array_equal(
        one.images[0, 0, row : row + 8, col : col + 8],
        digits.images[one.extra["digit_sources"][0, 0], 0],
    )


def test_multidigit_is_seeded_and_wired_to_parameters(tmp_path):
    params = {
        "source": "multidigit",
        "multidigit": {"num_images": 40, "num_digits": 2, "canvas_size": 20, "digit_size": 8},
    }
    first, second = build_dataset(params), build_dataset(params)
    np.testing.assert_array_equal(first.images, second.images)
    other = build_dataset({**params, "multidigit": {**params["multidigit"], "seed": 1}})
    assert not np.array_equal(first.images, other.images)
    settings = parse_ingest({**params, "test_fraction": 0.25, "seed": 0})
    _, _, test, _ = split_dataset(load_source(settings=settings), settings=settings)
    assert ImageDataset.from_arrays(test).extra["digit_labels"].shape == (10, 2)


def test_multidigit_bad_parameters():
    """Digits that do not fit, a size list of the wrong length and an unlabelled digit source
    are refused before any image is drawn; an unlabelled dataset given directly is bad data."""
    cases = [
        (
            {"num_digits": 9, "canvas_size": 32, "digit_size": 12, "placement": "grid"},
            "parameter `ingest.multidigit.digit_size` does not fit a grid cell (10 = 32 // 3); "
            "enlarge canvas_size or shrink the digits, got 12",
        ),
        (
            {"num_digits": 2, "canvas_size": 32, "digit_size": [8]},
            "parameter `ingest.multidigit.digit_size` should be a positive integer or a list of "
            "num_digits (2) positive integers, got [8]",
        ),
        (
            {"source": "unlabelled_folder"},
            "parameter `ingest.multidigit.source` should be a labelled source (each digit needs "
            "a class), got 'unlabelled_folder'",
        ),
    ]
    for block, message in cases:
        with pytest.raises(ParameterError) as info:
            parse(MultiDigitSettings, block, "ingest.multidigit")
        assert str(info.value) == message
    digits = small_digits()
    unlabelled = ImageDataset(digits.images, np.full(200, -1), ())
    with pytest.raises(DataError, match=r"ingest\.multidigit\.source must be a labelled source"):
        make_multidigit(unlabelled, MultiDigitSettings(num_digits=2, digit_size=8))


# --- RandBits -------------------------------------------------------------------------------


def test_randbits_are_0_or_255_seeded_and_survive_a_re_read(tmp_path):
    """Bit channels follow the image channels, hold only 0 / 255, are constant over each image
    (one random integer per image), depend only on the seed, and read back identically."""
    params = {"source": "digits", "randbits": {"bits": 3, "seed": 7}, "subset_size": 100}
    dataset = build_dataset(params)
    assert dataset.images.shape == (100, 4, 8, 8)
    assert dataset.provenance["randbits_channels"] == 3 and dataset.protected_channels == 3
    bits = dataset.images[:, 1:]
    assert set(np.unique(bits)) <= {0, 255}
    assert (bits == bits[:, :, :1, :1]).all()
    assert 0 < bits.mean() < 255
    plain = build_dataset({**params, "randbits": {"bits": 0}})
    np.testing.assert_array_equal(dataset.images[:, :1], plain.images)
    np.testing.assert_array_equal(build_dataset(params).images, dataset.images)
    reseeded = build_dataset({**params, "randbits": {"bits": 3, "seed": 8}})
    assert not np.array_equal(reseeded.images, dataset.images)
    store = NpzDataset(filepath=str(tmp_path / "dataset.npz"))
    store.save(dataset.to_arrays())
    again = ImageDataset.from_arrays(store.load())
    np.testing.assert_array_equal(again.images, dataset.images)
    assert again.protected_channels == 3


def test_randbits_per_pixel():
    base = load_digits_dataset().subset(np.arange(20))
    noisy = add_randbits(base, 2, seed=0, spatial="per_pixel")
    assert noisy.images.shape == (20, 3, 8, 8)
    assert set(np.unique(noisy.images[:, 1:])) == {0, 255}
    assert not (noisy.images[:, 1:] == noisy.images[:, 1:, :1, :1]).all()


# --- bad input: one message each, naming the file, class or parameter ------------------------


def test_truncated_image_names_the_file(tmp_path):
    write_class_folder(tmp_path, {"a": 2, "b": 2})
    broken = tmp_path / "b" / "001.png"
    broken.write_bytes(broken.read_bytes()[:60])
    with pytest.raises(DataError, match=r"b/001\.png is an unreadable or truncated image.*skip"):
        load_image_folder(tmp_path)


def test_non_image_file_in_a_class_folder_names_the_file(tmp_path):
    write_class_folder(tmp_path, {"a": 2, "b": 2})
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match=r"a/notes\.txt is not an image file"):
        load_image_folder(tmp_path)


def test_on_bad_file_skip_skips_counts_and_logs(tmp_path, caplog):
    write_class_folder(tmp_path, {"a": 3, "b": 2})
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    cut = tmp_path / "a" / "000.png"
    cut.write_bytes(cut.read_bytes()[:60])
    with caplog.at_level(logging.WARNING):
        dataset = build_dataset(
            {
                "source": "image_folder",
                "image_folder": {"root": str(tmp_path)},
                "on_bad_file": "skip",
            }
        )
    assert len(dataset.labels) == 4  # a: 001, 002; b: 000, 001
    assert dataset.provenance["skipped_files"] == 2
    assert "skipped 2 of 6 files" in caplog.text


def test_a_class_with_a_single_image_names_the_class(tmp_path):
    write_class_folder(tmp_path, {"a": 2, "lonely": 1})
    with pytest.raises(DataError, match=r"class 'lonely' .* holds a single image, 000\.png"):
        load_image_folder(tmp_path)


def test_empty_folders_and_empty_classes(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"image folder .*empty is empty"):
        load_image_folder(tmp_path / "empty")
    with pytest.raises(DataError, match=r"unlabelled folder .*empty holds no images"):
        load_unlabelled_folder(tmp_path / "empty")
    write_class_folder(tmp_path / "f", {"a": 2})
    (tmp_path / "f" / "hollow").mkdir()
    with pytest.raises(
        DataError, match=r"class folder .*hollow \(class 'hollow'\) holds no images"
    ):
        load_image_folder(tmp_path / "f")
    write_image(tmp_path / "flat" / "x.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(DataError, match=r"no class sub-folders.*unlabelled_folder"):
        load_image_folder(tmp_path / "flat")
    with pytest.raises(DataError, match=r"ingest\.image_folder\.root .*missing is not a folder"):
        load_image_folder(tmp_path / "missing")


def test_empty_splits_name_the_parameter():
    one = load_digits_dataset().subset(np.arange(1))
    unlabelled = ImageDataset(one.images, np.array([-1]), ())
    with pytest.raises(
        DataError, match=r"train split is empty: ingest\.test_fraction 0\.5 of 1 image"
    ):
        random_split(unlabelled, 0.5, seed=0)
    digits = load_digits_dataset().subset(np.arange(40))
    with pytest.raises(DataError, match=r"ingest\.test_fraction 0\.05.*every class"):
        stratified_split(digits, 0.05, seed=0)


def test_mixed_sizes_without_image_size_name_both_files(tmp_path):
    write_class_folder(tmp_path, {"a": 2})
    write_class_folder(tmp_path, {"b": 2}, size=(9, 9))
    with pytest.raises(
        DataError, match=r"different sizes: .*a/000\.png is 12×10 .*b/000\.png is 9×9.*image_size"
    ):
        load_image_folder(tmp_path)
    assert load_image_folder(tmp_path, image_size=8).images.shape == (4, 1, 8, 8)


def test_mixed_modes_without_channels_name_the_parameter(tmp_path):
    write_class_folder(tmp_path, {"a": 2})
    write_class_folder(tmp_path, {"b": 2}, size=(12, 10), rgb=True)
    with pytest.raises(
        DataError, match=r"mix grayscale and colour: .*a/000\.png.*ingest\.channels"
    ):
        load_image_folder(tmp_path)
    assert load_image_folder(tmp_path, channels=3).images.shape == (4, 3, 12, 10)


def test_npz_nan_out_of_range_and_bad_layout_name_the_file(tmp_path):
    images = RNG.random((4, 6, 6))
    images[2, 3, 1] = np.nan
    np.savez(tmp_path / "nan.npz", images=images)
    with pytest.raises(DataError, match=r"nan\.npz: 'images' holds 1 NaN .*index \(2, 3, 1\)"):
        load_npz_dataset(tmp_path / "nan.npz")
    np.savez(tmp_path / "big.npz", images=np.full((2, 4, 4), 300.0))
    with pytest.raises(DataError, match=r"big\.npz: 'images' values must lie in \[0, 255\]"):
        load_npz_dataset(tmp_path / "big.npz")
    np.savez(tmp_path / "neg.npz", images=np.full((2, 4, 4), -3, dtype=np.int16))
    with pytest.raises(DataError, match=r"neg\.npz: 'images' \(int16\) must lie in 0\.\.255"):
        load_npz_dataset(tmp_path / "neg.npz")
    np.savez(tmp_path / "cube.npz", images=np.zeros((3, 3, 3, 3), np.uint8))
    with pytest.raises(
        DataError, match=r"cube\.npz: cannot tell the channel axis.*ingest\.npz\.layout"
    ):
        load_npz_dataset(tmp_path / "cube.npz")
    np.savez(tmp_path / "labels.npz", images=np.zeros((3, 4, 4), np.uint8), labels=[0, 1])
    with pytest.raises(DataError, match=r"labels\.npz: 'labels' must hold one label per image"):
        load_npz_dataset(tmp_path / "labels.npz")
    with pytest.raises(DataError, match=r"ingest\.npz\.path .*absent\.npz does not exist"):
        load_npz_dataset(tmp_path / "absent.npz")


TOP_LEVEL_KEYS = (
    "source, image_size, channels, randbits, on_bad_file, drop_duplicates, subset_size, "
    "test_split, test_fraction, validation_fraction, seed, digits, mnist, fashion_mnist, kmnist, "
    "cifar10, image_folder, unlabelled_folder, npz, multidigit"
)
BAD_INGEST_PARAMETERS = [
    (
        {"source": "svhn"},
        "parameter `ingest.source` should be 'digits', 'mnist', 'fashion_mnist', 'kmnist', "
        "'cifar10', 'image_folder', 'unlabelled_folder', 'npz' or 'multidigit', got 'svhn'",
    ),
    (
        {"sourse": "mnist"},
        "parameter `ingest.sourse` is unknown; did you mean 'source'? "
        f"(known here: {TOP_LEVEL_KEYS})",
    ),
    (
        {"subset": 300},
        "parameter `ingest.subset` is unknown; did you mean 'subset_size'? "
        f"(known here: {TOP_LEVEL_KEYS})",
    ),
    ({"zoom": 2}, f"parameter `ingest.zoom` is unknown (known here: {TOP_LEVEL_KEYS})"),
    ("digits", "parameter `ingest` should be a mapping of settings, got 'digits'"),
    ({"image_size": "big"}, "parameter `ingest.image_size` should be a valid integer, got 'big'"),
    ({"image_size": 2.5}, "parameter `ingest.image_size` should be a valid integer, got 2.5"),
    (
        {"image_size": 0},
        "parameter `ingest.image_size` should be greater than or equal to 1, got 0",
    ),
    ({"channels": 2}, "parameter `ingest.channels` should be 1 or 3, got 2"),
    ({"channels": True}, "parameter `ingest.channels` should be a valid integer, got True"),
    (
        {"test_fraction": float("nan")},
        "parameter `ingest.test_fraction` should be a finite number, got nan",
    ),
    ({"test_fraction": 1.0}, "parameter `ingest.test_fraction` should be less than 1, got 1.0"),
    (
        {"test_fraction": "0.2"},
        "parameter `ingest.test_fraction` should be a valid number, got '0.2'",
    ),
    ({"seed": -1}, "parameter `ingest.seed` should be greater than or equal to 0, got -1"),
    (
        {"subset_size": 0},
        "parameter `ingest.subset_size` should be greater than or equal to 1, got 0",
    ),
    (
        {"drop_duplicates": "yes"},
        "parameter `ingest.drop_duplicates` should be a valid boolean, got 'yes'",
    ),
    (
        {"on_bad_file": "ignore"},
        "parameter `ingest.on_bad_file` should be 'error' or 'skip', got 'ignore'",
    ),
    ({"randbits": 3}, "parameter `ingest.randbits` should be a mapping of settings, got 3"),
    (
        {"randbits": {"bits": -1}},
        "parameter `ingest.randbits.bits` should be greater than or equal to 0, got -1",
    ),
    (
        {"randbits": {"bitz": 2}},
        "parameter `ingest.randbits.bitz` is unknown; did you mean 'bits'? "
        "(known here: bits, spatial, seed)",
    ),
    (
        {"randbits": {"spatial": "pixel"}},
        "parameter `ingest.randbits.spatial` should be 'constant' or 'per_pixel', got 'pixel'",
    ),
    (
        {"mnist": {"splits": ["val"]}},
        "parameter `ingest.mnist.splits` should name some of ['train', 'test'], got ['val']",
    ),
    (
        {"kmnist": {"splits": []}},
        "parameter `ingest.kmnist.splits` should name some of ['train', 'test'], got []",
    ),
    (
        {"cifar10": {"download": "yes"}},
        "parameter `ingest.cifar10.download` should be a valid boolean, got 'yes'",
    ),
    (
        {"image_folder": {"rooot": "x"}},
        "parameter `ingest.image_folder.rooot` is unknown; did you mean 'root'? (known here: root)",
    ),
    ({"digits": {"root": "x"}}, "parameter `ingest.digits.root` is unknown (known here: none)"),
    (
        {"npz": {"layout": "NWHC"}},
        "parameter `ingest.npz.layout` should be 'auto', 'NHW', 'NHWC' or 'NCHW', got 'NWHC'",
    ),
    (
        {"multidigit": {"num_images": float("nan")}},
        "parameter `ingest.multidigit.num_images` should be a valid integer, got nan",
    ),
    (
        {"multidigit": {"num_digit": 2}},
        "parameter `ingest.multidigit.num_digit` is unknown; did you mean 'num_digits'? (known "
        "here: source, num_images, num_digits, placement, canvas_size, digit_size, seed)",
    ),
    (
        {"multidigit": {"source": "multidigit"}},
        "parameter `ingest.multidigit.source` should name another source (digits, mnist, "
        "fashion_mnist, kmnist, cifar10, image_folder, unlabelled_folder, npz), got 'multidigit'",
    ),
    (
        {"multidigit": {"num_digits": 2, "canvas_size": 10, "digit_size": [6, 14]}},
        "parameter `ingest.multidigit.digit_size` does not fit the canvas (10); enlarge "
        "canvas_size or shrink the digits, got [6, 14]",
    ),
    (
        {"image_size": 0, "seed": -1, "mnist": {"download": 1}},
        "parameter `ingest.image_size` should be greater than or equal to 1, got 0\n"
        "parameter `ingest.seed` should be greater than or equal to 0, got -1\n"
        "parameter `ingest.mnist.download` should be a valid boolean, got 1",
    ),
]


@pytest.mark.parametrize(("params", "message"), BAD_INGEST_PARAMETERS)
def test_bad_ingest_parameters_stop_with_one_line_each(params, message):
    """Every bad value (wrong type, out of range, NaN, unknown or misspelled key, at the top
    level or in any source's block, chosen or not) stops before anything is read, naming it."""
    with pytest.raises(ParameterError) as info:
        build_dataset(params)
    assert str(info.value) == message


def test_an_unknown_source_lists_every_registered_one():
    with pytest.raises(ParameterError) as info:
        build_dataset({"source": "svhn"})
    assert all(f"'{name}'" in str(info.value) for name in SOURCES)


def test_ingest_defaults_are_those_of_conf_base():
    """conf/base/parameters.yml documents every `ingest` key with its default (a source without
    settings needs no block): it validates to the model's defaults, block by block."""
    parameters = Path(__file__).parents[2] / "conf" / "base" / "parameters.yml"
    documented = yaml.safe_load(parameters.read_text())["ingest"]
    empty = {name for name, source in SOURCES.items() if not source.settings.model_fields}
    assert set(documented) == set(IngestSettings.model_fields) - empty
    assert parse_ingest(documented) == IngestSettings()


def test_labels_are_known_from_the_settings_where_the_source_tells():
    expected = {"unlabelled_folder": False, "npz": None, "mnist": True, "multidigit": True}
    for source, labelled in expected.items():
        assert parse_ingest({"source": source}).labelled is labelled
    assert {name for name, source in SOURCES.items() if source.labelled is None} == {"npz"}


class ToySettings(Settings):
    count: PositiveInt = 4


def read_toy(settings: ToySettings, ingest) -> ImageDataset:
    """``count`` 6×6 images of two classes; records the shared settings it was given."""
    values = np.arange(settings.count * 36) % 251
    return ImageDataset(
        values.astype(np.uint8).reshape(settings.count, 1, 6, 6),
        np.arange(settings.count) % 2,
        ("even", "odd"),
        {"source": "toy", "on_bad_file": ingest.on_bad_file},
    )


def test_a_source_registered_in_the_registry_alone_is_read(monkeypatch):
    """A new source is its settings model, its reader and one registry entry: the ingest model,
    build_dataset and MultiDigit take it without any other change."""
    with monkeypatch.context() as patch:
        patch.setitem(SOURCES, "toy", Source(ToySettings, read_toy, labelled=True))
        params = {"source": "toy", "toy": {"count": 6}, "image_size": 3, "on_bad_file": "skip"}
        dataset = build_dataset({**params, "randbits": {"bits": 1}})
        assert dataset.images.shape == (6, 2, 3, 3) and dataset.protected_channels == 1
        assert dataset.provenance["resized_from"] == [6, 6]
        assert dataset.provenance["on_bad_file"] == "skip"
        settings = parse_ingest({"source": "toy"})
        assert settings.block == ToySettings() and settings.labelled is True
        with pytest.raises(ParameterError) as info:
            build_dataset({"source": "toy", "toy": {"count": 0}})
        assert str(info.value) == (
            "parameter `ingest.toy.count` should be greater than or equal to 1, got 0"
        )
        block = {"source": "toy", "num_images": 5, "num_digits": 2, "canvas_size": 8}
        made = build_dataset({"source": "multidigit", "multidigit": {**block, "digit_size": 4}})
        assert made.provenance["digit_source"]["source"] == "toy"
    with pytest.raises(ParameterError, match=r"ingest\.source` should be .*, got 'toy'"):
        build_dataset({"source": "toy"})
    for taken in ("seed", "labelled"):
        monkeypatch.setitem(SOURCES, taken, Source(ToySettings, read_toy, labelled=True))
        with pytest.raises(ValueError, match=rf"\['{taken}'\] are taken by the shared ingest"):
            build_dataset({"source": "digits"})
        monkeypatch.delitem(SOURCES, taken)


def test_readers_get_the_shared_settings_they_need(tmp_path):
    """Image folders decode at the shared image_size and channels; as MultiDigit's digit source
    they keep their own size (digit_size sizes the digits) but take the channels."""
    write_class_folder(tmp_path, {"a": 3, "b": 3}, size=(10, 10), rgb=True)
    folder = {"image_folder": {"root": str(tmp_path)}, "channels": 1, "drop_duplicates": False}
    small = build_dataset({"source": "image_folder", "image_size": 5, **folder})
    assert small.images.shape == (6, 1, 5, 5)
    block = {"source": "image_folder", "num_images": 4, "num_digits": 1, "digit_size": 10}
    multidigit = {"multidigit": {**block, "canvas_size": 12}, "image_size": 12}
    made = build_dataset({"source": "multidigit", **multidigit, **folder})
    grey = load_image_folder(tmp_path, channels=1).images
    for n in range(4):
        row, col = made.extra["digit_positions"][n, 0]
        crop = made.images[n, :, row : row + 10, col : col + 10]
        np.testing.assert_array_equal(crop, grey[made.extra["digit_sources"][n, 0]])


def test_image_size_and_channels_apply_to_array_sources():
    dataset = build_dataset({"source": "digits", "image_size": 16, "channels": 3})
    assert dataset.images.shape == (len(dataset.labels), 3, 16, 16)
    assert dataset.provenance["resized_from"] == [8, 8] and dataset.provenance["channels_from"] == 1
    np.testing.assert_array_equal(dataset.images[:, 0], dataset.images[:, 2])
