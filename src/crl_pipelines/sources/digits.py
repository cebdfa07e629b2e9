"""scikit-learn's bundled 8×8 digits: no files, no download, no settings."""

from __future__ import annotations

import numpy as np

from crl_pipelines.images import ImageDataset
from crl_pipelines.parameters import Settings
from crl_pipelines.sources.base import SOURCES, IngestSettingsBase


class DigitsSettings(Settings):
    """``ingest.digits``: nothing to set (any key is an error)."""


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


@SOURCES.register("digits", settings=DigitsSettings, labelled=True)
def read(settings: DigitsSettings, ingest: IngestSettingsBase) -> ImageDataset:
    """The ``digits`` source."""
    return load_digits_dataset()
