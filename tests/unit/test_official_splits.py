"""``ingest.test_split``: ``official`` keeps a source's own test split whole (MNIST-family IDX
files, CIFAR-10 batches, an image folder's train/ and test/), subsamples only its train split,
and drops train images identical to a test image; ``random`` (the default) gives, byte for
byte, what ingest gave before the setting existed; bad combinations get one line each."""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from crl_pipelines import lineage
from crl_pipelines.images import (
    OFFICIAL_SPLIT,
    DataError,
    ImageDataset,
    image_keys,
    official_split,
    split_train_test,
)
from crl_pipelines.parameters import ParameterError
from crl_pipelines.pipelines.ingest.nodes import load_source, split_dataset
from crl_pipelines.sources import build_dataset, parse_ingest
from crl_pipelines.spec import build_spec
from tests.unit.test_data import fake_mnist, write_idx
from tests.unit.test_sources import CIFAR_NAMES, cifar_batch, write_image

BASE = Path(__file__).resolve().parents[2] / "conf" / "base" / "parameters.yml"
IDX_FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "kmnist": "KMNIST"}
SOURCES_WITH_A_TEST_SPLIT = "mnist, fashion_mnist, kmnist, cifar10, image_folder"


@dataclass
class Official:
    """Files of one source with their official splits, as written."""

    params: dict  # the ingest block that reads them (without test_split)
    train: tuple[np.ndarray, np.ndarray]  # the official train images N×C×H×W and labels
    test: tuple[np.ndarray, np.ndarray]  # the official test images and labels
    copy_of_test: int  # the train image that is also a test image
    repeat: tuple[int, int]  # a train image stored twice: (first, second)

    def kept_train(self) -> list[int]:
        """The official train images the official split keeps (copies of test images and second
        copies dropped), in file order."""
        dropped = {self.copy_of_test, self.repeat[1]}
        return [i for i in range(len(self.train[1])) if i not in dropped]


# --- files in the real formats; each has a train image copied into test and one stored twice


def write_idx_official(root: Path, name: str) -> Official:
    """torchvision's layout, <root>/<Folder>/raw/, with the train and t10k IDX files."""
    train_images, train_labels = fake_mnist(60, 0)
    test_images, test_labels = fake_mnist(20, 1)
    test_images[4] = train_images[5]
    train_images[17] = train_images[3]
    raw = root / IDX_FOLDERS[name] / "raw"
    raw.mkdir(parents=True)
    files = {"train": (train_images, train_labels), "t10k": (test_images, test_labels)}
    for prefix, (images, labels) in files.items():
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return Official(
        {"source": name, name: {"root": str(root)}},
        (train_images[:, None], train_labels.astype(np.int64)),
        (test_images[:, None], test_labels.astype(np.int64)),
        copy_of_test=5,
        repeat=(3, 17),
    )


def write_cifar_official(root: Path) -> Official:
    """<root>/cifar-10-batches-py/: data_batch_1..5 (8 images each), test_batch (6), meta."""
    sizes = {**{f"data_batch_{i}": 8 for i in range(1, 6)}, "test_batch": 6}
    batches = {name: cifar_batch(size, seed) for seed, (name, size) in enumerate(sizes.items())}
    names = list(sizes)
    for batch in batches.values():
        batch[b"labels"] = [i % len(CIFAR_NAMES) for i in range(len(batch[b"labels"]))]
    batches["test_batch"][b"data"][0] = batches["data_batch_2"][b"data"][1]
    batches["data_batch_4"][b"data"][3] = batches["data_batch_1"][b"data"][0]
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    meta = {b"label_names": CIFAR_NAMES}
    for name, content in {**batches, "batches.meta": meta}.items():
        (folder / name).write_bytes(pickle.dumps(content, protocol=2))

    def images(parts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        data = np.concatenate([batches[part][b"data"] for part in parts])
        labels = np.concatenate([batches[part][b"labels"] for part in parts]).astype(np.int64)
        return data.reshape(-1, 3, 32, 32), labels

    return Official(
        {"source": "cifar10", "cifar10": {"root": str(root)}},
        images(names[:5]),
        images(["test_batch"]),
        copy_of_test=8 + 1,
        repeat=(0, 3 * 8 + 3),
    )


def write_folder_official(root: Path) -> Official:
    """<root>/train/<class>/<i>.png (6 a class) and <root>/test/<class>/<i>.png (2 a class)."""
    rng = np.random.default_rng(5)
    classes = ("ant", "bee", "cat")
    counts = {"train": 6, "test": 2}
    pixels = {
        split: rng.integers(0, 256, size=(len(classes), count, 9, 7), dtype=np.uint8)
        for split, count in counts.items()
    }
    pixels["test"][1, 1] = pixels["train"][2, 2]  # bee/1.png of test is cat/2.png of train
    pixels["train"][0, 4] = pixels["train"][0, 0]  # ant/4.png is ant/0.png again
    for split, count in counts.items():
        for label, name in enumerate(classes):
            for i in range(count):
                write_image(root / split / name / f"{i}.png", pixels[split][label, i])

    def images(split: str) -> tuple[np.ndarray, np.ndarray]:
        labels = np.repeat(np.arange(len(classes)), counts[split]).astype(np.int64)
        return pixels[split].reshape(-1, 1, 9, 7), labels

    return Official(
        {"source": "image_folder", "image_folder": {"root": str(root)}},
        images("train"),
        images("test"),
        copy_of_test=2 * 6 + 2,
        repeat=(0, 4),
    )


WRITERS: dict[str, Callable[[Path], Official]] = {
    **{name: lambda root, name=name: write_idx_official(root, name) for name in IDX_FOLDERS},
    "cifar10": write_cifar_official,
    "image_folder": write_folder_official,
}


def ingest(params: dict) -> tuple[dict, dict, dict]:
    """The ingest nodes' outputs (train, test, summary) for the ``ingest`` block ``params``, with
    no validation part unless ``params`` asks for one (these tests are about the test split)."""
    settings = parse_ingest({"validation_fraction": 0.0, **params})
    train, validation, test, summary = split_dataset(
        load_source(settings=settings), settings=settings
    )
    assert len(validation["labels"]) == summary["validation_images"]
    return train, test, summary


def test_official_with_a_validation_part_holds_it_out_of_train(tmp_path):
    case = WRITERS["mnist"](tmp_path)
    settings = parse_ingest({**case.params, "test_split": "official", "validation_fraction": 0.3})
    parts = split_dataset(load_source(settings=settings), settings=settings)[:3]
    train, validation, test = (ImageDataset.from_arrays(part) for part in parts)
    np.testing.assert_array_equal(test.images, case.test[0])
    together = sorted(keys(np.concatenate([train.images, validation.images])))
    assert together == sorted(keys(case.train[0][case.kept_train()]))
    assert len(validation.labels) >= len(np.unique(train.labels))  # one per class at least


def keys(images: np.ndarray) -> list[bytes]:
    return [key.tobytes() for key in image_keys(images)]


# --- official: the whole test split, the train split less copies of test images -------------


@pytest.mark.parametrize("kind", list(WRITERS))
def test_official_keeps_the_whole_test_split_and_the_rest_of_train(tmp_path, kind):
    case = WRITERS[kind](tmp_path)
    train_arrays, test_arrays, summary = ingest({**case.params, "test_split": "official"})
    train, test = ImageDataset.from_arrays(train_arrays), ImageDataset.from_arrays(test_arrays)
    np.testing.assert_array_equal(test.images, case.test[0])
    np.testing.assert_array_equal(test.labels, case.test[1])
    kept = case.kept_train()
    np.testing.assert_array_equal(train.images, case.train[0][kept])
    np.testing.assert_array_equal(train.labels, case.train[1][kept])
    assert not set(keys(train.images)) & set(keys(test.images))
    assert (train.extra[OFFICIAL_SPLIT] == "train").all()
    assert (test.extra[OFFICIAL_SPLIT] == "test").all()
    assert train.provenance["split_kind"] == summary["split_kind"] == "official"
    assert summary["test_fraction"] is None and summary["split_seed"] is None
    assert (summary["train_images"], summary["test_images"]) == (len(kept), len(case.test[1]))
    provenance = summary["provenance"]
    assert provenance["test_split"] == "official"
    assert provenance["official_train_images"] == len(case.train[1])
    assert provenance["official_test_images"] == len(case.test[1])
    assert provenance["train_copies_of_test_dropped"] == 1
    assert provenance["duplicates_dropped"] == 1  # inside the train split
    empty = np.zeros((0, *train.images.shape[1:]), np.uint8), np.zeros(0, np.int64)
    split = lineage.fingerprint(train.images, train.labels, *empty, test.images, test.labels)
    assert summary[lineage.KEY] == {"split": split}
    assert lineage.of_arrays(train_arrays) == lineage.of_arrays(test_arrays) == {"split": split}


@pytest.mark.parametrize("kind", list(WRITERS))
def test_official_subsamples_only_the_train_split_stratified_and_seeded(tmp_path, kind):
    case = WRITERS[kind](tmp_path)
    kept = case.kept_train()
    size = len(kept) // 2
    params = {**case.params, "test_split": "official", "subset_size": size, "seed": 3}
    train_arrays, test_arrays, summary = ingest(params)
    train, test = ImageDataset.from_arrays(train_arrays), ImageDataset.from_arrays(test_arrays)
    np.testing.assert_array_equal(test.images, case.test[0])
    assert len(train.labels) == size
    official = dict(zip(keys(case.train[0][kept]), case.train[1][kept], strict=True))
    assert [official[key] for key in keys(train.images)] == train.labels.tolist()
    assert len(set(keys(train.images))) == size
    whole = np.bincount(case.train[1][kept])
    chosen = np.bincount(train.labels, minlength=len(whole))
    assert np.all(np.abs(chosen - size * whole / whole.sum()) <= 1)
    assert summary["provenance"]["subset_size"] == size
    again, _, _ = ingest(params)
    assert again["images"].tobytes() == train_arrays["images"].tobytes()


def test_official_reads_both_files_whatever_splits_names_and_ignores_test_fraction(tmp_path):
    case = write_idx_official(tmp_path, "kmnist")
    official = {**case.params, "test_split": "official"}
    first = ingest(official)
    for changed in (
        {"kmnist": {"root": str(tmp_path), "splits": ["train", "test"]}},
        {"test_fraction": 0.5},
    ):
        other = ingest({**official, **changed})
        for a, b in zip(first[:2], other[:2], strict=True):
            assert {k: v.tobytes() for k, v in a.items()} == {k: v.tobytes() for k, v in b.items()}


def test_official_drops_copies_of_test_images_even_without_drop_duplicates(tmp_path):
    """``drop_duplicates: false`` keeps the train split's repeated image, never a test image."""
    case = write_idx_official(tmp_path, "fashion_mnist")
    train, _, summary = ingest({**case.params, "test_split": "official", "drop_duplicates": False})
    kept = [i for i in range(len(case.train[1])) if i != case.copy_of_test]
    np.testing.assert_array_equal(train["images"], case.train[0][kept])
    assert summary["provenance"]["train_copies_of_test_dropped"] == 1
    assert "duplicates_dropped" not in summary["provenance"]


def test_official_image_folder_ignores_what_is_beside_train_and_test(tmp_path, caplog):
    case = write_folder_official(tmp_path)
    write_image(tmp_path / "val" / "ant" / "0.png", case.train[0][0, 0])
    (tmp_path / "notes.txt").write_text("not an image")
    _, test, _ = ingest({**case.params, "test_split": "official"})
    np.testing.assert_array_equal(test["images"], case.test[0])
    assert f"ignoring notes.txt, val in {tmp_path} (not train/ or test/)" in caplog.text


def test_official_with_randbits_and_resizing_keeps_the_test_split(tmp_path):
    """RandBits and resizing apply to both halves; the test split's images stay the test's."""
    case = write_idx_official(tmp_path, "mnist")
    params = {**case.params, "test_split": "official", "image_size": 14, "randbits": {"bits": 2}}
    train, test, _ = ingest(params)
    assert train["images"].shape[1:] == test["images"].shape[1:] == (3, 14, 14)
    assert len(test["labels"]) == len(case.test[1])
    np.testing.assert_array_equal(test["labels"], case.test[1])


# --- random: byte for byte what ingest gave before test_split existed -----------------------


def digest(*datasets: ImageDataset, root: Path) -> str:
    """A digest of every array of the datasets (paths in the provenance relative to ``root``)."""
    hashed = hashlib.sha256()
    for dataset in datasets:
        for key, array in sorted(dataset.to_arrays().items()):
            if key == "provenance":
                array = np.asarray(str(array).replace(str(root), "<root>"))
            hashed.update(f"{key}{array.dtype.str}{array.shape}".encode())
            hashed.update(np.ascontiguousarray(array).tobytes())
    return hashed.hexdigest()[:16]


# writer, settings over its ingest block, and the digest the code made before test_split existed
# (git HEAD before the change, with these writers and this digest)
RANDOM_CASES = {
    "mnist_both_files": (
        "mnist",
        {"subset_size": 40, "seed": 3, "test_fraction": 0.3},
        "21fba56d4aba38b3",
    ),
    "kmnist_train_file": ("kmnist", {"test_fraction": 0.3}, "601afacff5b9780b"),
    "cifar_both_files": ("cifar10", {"channels": 1, "seed": 5}, "1c106e062f18473e"),
    "folder_halves_as_classes": ("image_folder", {"image_size": 5}, "6e978209e55014c5"),
}
BOTH_FILES = {"mnist": ["train", "test"], "kmnist": ["train"], "cifar10": ["train", "test"]}


@pytest.mark.parametrize("case", list(RANDOM_CASES))
def test_random_split_is_byte_identical_to_before(tmp_path, case):
    kind, extra, expected = RANDOM_CASES[case]
    written = WRITERS[kind](tmp_path)
    params = {**written.params, **extra}
    if kind in BOTH_FILES:
        params[kind] = {**params[kind], "splits": BOTH_FILES[kind]}
    settings = parse_ingest(params)
    dataset = build_dataset(settings)
    halves = split_train_test(dataset, settings.test_fraction, settings.seed)
    assert OFFICIAL_SPLIT not in dataset.extra
    assert digest(dataset, *halves, root=tmp_path) == expected


# --- bad combinations: one line each -------------------------------------------------------


@pytest.mark.parametrize("source", ["digits", "npz", "unlabelled_folder", "multidigit"])
def test_official_is_refused_for_a_source_without_a_test_split(source):
    message = (
        f"parameter `ingest.test_split` official needs a source that ships a test split "
        f"({SOURCES_WITH_A_TEST_SPLIT}; any other source takes random), got source '{source}'"
    )
    with pytest.raises(ParameterError) as error:
        parse_ingest({"source": source, "test_split": "official"})
    assert str(error.value) == message
    base = yaml.safe_load(BASE.read_text())
    base["ingest"] = {**base["ingest"], "source": source, "test_split": "official"}
    with pytest.raises(ParameterError) as error:
        build_spec(base)
    assert str(error.value) == message


def test_official_with_splits_without_train_is_refused():
    with pytest.raises(ParameterError) as error:
        parse_ingest({"source": "cifar10", "cifar10": {"splits": "test"}, "test_split": "official"})
    assert str(error.value) == (
        "parameter `ingest.cifar10` splits should name train with ingest.test_split: official "
        "(which trains on the official train file and tests on the whole test file; both are "
        "read), got ['test']"
    )
    parse_ingest({"source": "cifar10", "cifar10": {"splits": "test"}})  # random pools it


def test_image_folder_without_its_own_split_is_bad_data(tmp_path):
    case = write_folder_official(tmp_path / "split")
    official = {"source": "image_folder", "test_split": "official"}
    flat = tmp_path / "split" / "train"  # class folders, no train/ and test/
    with pytest.raises(DataError) as error:
        build_dataset({**official, "image_folder": {"root": str(flat)}})
    assert str(error.value) == (
        f"image folder {flat} has no train/ and no test/ sub-folder: ingest.test_split: official "
        "reads <root>/train/<class>/… and <root>/test/<class>/… (or set ingest.test_split: random)"
    )
    (tmp_path / "split" / "test").rename(tmp_path / "split" / "val")
    with pytest.raises(DataError, match=r"has no test/ sub-folder: "):
        build_dataset(case.params | {"test_split": "official"})


def test_image_folder_halves_with_other_classes_are_bad_data(tmp_path):
    case = write_folder_official(tmp_path)
    (tmp_path / "test" / "cat").rename(tmp_path / "test" / "dog")
    (tmp_path / "train" / "bee").rename(tmp_path / "train" / "bat")
    with pytest.raises(DataError) as error:
        build_dataset({**case.params, "test_split": "official"})
    assert str(error.value) == (
        f"image folder {tmp_path}: train/ and test/ must hold the same class folders; "
        "only in train/: bat, cat; only in test/: bee, dog"
    )


def test_official_data_problems_name_the_cause(tmp_path):
    case = write_idx_official(tmp_path, "mnist")
    official = {**case.params, "test_split": "official"}
    with pytest.raises(DataError) as error:
        build_dataset({**official, "subset_size": 59})
    assert str(error.value) == (
        "ingest.subset_size 59 is more than the 58 images of the official train split of mnist "
        "(after dropping duplicates)"
    )
    made_random = build_dataset(case.params)  # no official split recorded
    with pytest.raises(DataError, match=r"does not record its images' official split .*; re-run"):
        official_split(made_random)
    raw = tmp_path / "MNIST" / "raw"
    for kind in ("images-idx3", "labels-idx1"):  # every train image is also a test image
        (raw / f"t10k-{kind}-ubyte").write_bytes((raw / f"train-{kind}-ubyte").read_bytes())
    with pytest.raises(DataError) as error:
        build_dataset(official)
    assert str(error.value) == (
        "every image of the official train split of mnist is also in its test split: none is "
        "left to train on"
    )
