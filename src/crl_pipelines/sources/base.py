"""What every data source is: a settings model for its ``ingest.<name>`` block, a reader,
whether it yields labels and whether it ships an official test split; and the settings that
every source shares (``image_size``, ``channels``, ``randbits``, ``test_split``, ...), which a
reader receives beside its own block."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from crl_pipelines.images import ImageDataset
from crl_pipelines.parameters import (
    Flag,
    Fraction,
    Integer,
    NonNegativeInt,
    OpenFraction,
    PositiveInt,
    Settings,
    Text,
)
from crl_pipelines.registry import Registry
from crl_pipelines.sources.transforms import RandBitsSettings

Split = Literal["train", "test"]
SPLITS: tuple[Split, ...] = ("train", "test")
OnBadFile = Literal["error", "skip"]
# random: the project's own seeded split of the pooled images; official: the source's test split.
TestSplit = Literal["random", "official"]


def _splits(value: Any) -> tuple[str, ...]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not names or any(n not in SPLITS for n in names):
        context = {"known": list(SPLITS), "value": repr(value)}
        raise PydanticCustomError("splits", "should name some of {known}, got {value}", context)
    return tuple(names)


def _one_or_three(channels: int) -> int:
    if channels not in (1, 3):
        raise PydanticCustomError("channels", "should be 1 or 3, got {value}", {"value": channels})
    return channels


Splits = Annotated[tuple[Split, ...], BeforeValidator(_splits)]  # one name or a list of them
Channels = Annotated[Integer, AfterValidator(_one_or_three)]


class DownloadSettings(Settings):
    """The block of a dataset distributed as official files (MNIST family, CIFAR-10)."""

    root: Text = "data/01_raw"
    splits: Splits = ("train",)  # official files to pool (test_split: official reads both)
    download: Flag = False  # true lets torchvision fetch missing files


@dataclass(frozen=True)
class Source:
    """One data source.

    Attributes:
        settings: the model of its ``ingest.<name>`` block (defaults filled when it is absent).
        read: ``read(block, ingest)``: the images, from the validated block and the whole
            validated ``ingest`` settings (for what the source needs beyond its block: image
            folders decode at ``image_size``/``channels``, MultiDigit reads another source).
        labelled: True when the source always yields labels, False when never, None when only
            the data can say (an ``.npz`` with or without ``labels``).
        official_test: whether the source ships an official test split; its reader then reads
            both splits when ``ingest.test_split`` is ``official`` and marks each image's split
            in ``extra["official_split"]`` (:data:`crl_pipelines.images.OFFICIAL_SPLIT`).
    """

    settings: type[Settings]
    read: Callable[[Any, IngestSettingsBase], ImageDataset]
    labelled: bool | None
    official_test: bool = False


def _source(read: Callable[[Any, IngestSettingsBase], ImageDataset], **traits: Any) -> Source:
    return Source(read=read, **traits)


SOURCES: Registry[Source] = Registry("source", _source)
"""Every source by name: ``@SOURCES.register("<name>", settings=..., labelled=...)`` on its
reader ``read(block, ingest)``."""


class IngestSettingsBase(Settings):
    """The ``ingest:`` settings every source shares. The full model, with ``source`` one of the
    registered names and one block per source, is built from the registry
    (:func:`crl_pipelines.sources.ingest.settings_model`), so adding a source edits no model."""

    registry: ClassVar[Mapping[str, Source]] = MappingProxyType({})

    source: str = "digits"
    image_size: PositiveInt | None = None  # every image resized to image_size²; None: as is
    channels: Channels | None = None  # 1 or 3; None: as the source has them
    randbits: RandBitsSettings = RandBitsSettings()
    on_bad_file: OnBadFile = "error"  # image folders: stop at, or skip, an unreadable file
    drop_duplicates: Flag = True
    subset_size: PositiveInt | None = None  # with test_split: official, of the train split
    test_split: TestSplit = "random"  # official: the source's own test split, kept whole
    test_fraction: OpenFraction = 0.2  # test_split: random only (official ignores it)
    validation_fraction: Fraction = 0.1  # of the train split, held out for the monitor; 0: none
    seed: NonNegativeInt = 0  # of the subset and of the train/test split

    @field_validator("test_split")
    @classmethod
    def _source_has_a_test_split(cls, test_split: str, info: ValidationInfo) -> str:
        """``official`` only for a source that ships a test split (the registry says which)."""
        source = info.data.get("source")  # absent when it was itself invalid
        if test_split != "official" or source not in cls.registry:
            return test_split
        if not cls.registry[source].official_test:
            having = [name for name, entry in cls.registry.items() if entry.official_test]
            raise PydanticCustomError(
                "test_split",
                "official needs a source that ships a test split ({having}; any other source "
                "takes random), got source {source}",
                {"having": ", ".join(having), "source": repr(source)},
            )
        return test_split

    @field_validator("*")
    @classmethod
    def _splits_hold_the_train_file(cls, block: Any, info: ValidationInfo) -> Any:
        """With ``test_split: official`` the chosen source's ``splits`` (what ``random`` pools)
        must name ``train``: official trains on the train file, tests on the test file."""
        chosen = info.field_name == info.data.get("source")
        official = info.data.get("test_split") == "official"
        if not (chosen and official and isinstance(block, DownloadSettings)):
            return block
        if "train" not in block.splits:
            raise PydanticCustomError(
                "test_split",
                "splits should name train with ingest.test_split: official (which trains on the "
                "official train file and tests on the whole test file; both are read), got "
                "{splits}",
                {"splits": list(block.splits)},
            )
        return block

    @property
    def block(self) -> Settings:
        """The chosen source's validated ``ingest.<source>`` block."""
        return getattr(self, self.source)

    @property
    def labelled(self) -> bool | None:
        """Whether the chosen source yields labels, when the settings alone tell (None: only the
        data can say); lets a run refuse label-using losses before anything is read."""
        return self.registry[self.source].labelled

    def read_source(self) -> ImageDataset:
        """The images of the chosen source as the source holds them (image folders already at
        ``image_size`` and ``channels``: they must be, to be stacked)."""
        return self.registry[self.source].read(self.block, self)
