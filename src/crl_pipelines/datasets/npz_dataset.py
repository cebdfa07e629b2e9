"""``.npz`` arrays, saved atomically with bytes that depend on the arrays only."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError

from crl_pipelines.atomic_writes import save_npz, write_atomically
from crl_pipelines.datasets.errors import UnreadableArtifactError


class NpzDataset(AbstractDataset[dict[str, np.ndarray], dict[str, np.ndarray]]):
    """A dict of numpy arrays stored as one ``.npz`` file (no pickled objects allowed).

    Example catalog entry::

        train_set:
          type: crl_pipelines.datasets.NpzDataset
          filepath: data/03_primary/train.npz
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> dict[str, np.ndarray]:
        try:
            with np.load(self._filepath, allow_pickle=False) as archive:
                arrays = {key: archive[key] for key in archive.files}
            foreign = [key for key, value in arrays.items() if not isinstance(value, np.ndarray)]
            if foreign:  # np.load returns a member that is not an .npy array as raw bytes
                raise ValueError(f"members {foreign} are not .npy arrays")
            return arrays
        except FileNotFoundError:
            raise
        except Exception as error:  # truncated, damaged, foreign: numpy and zipfile raise many
            raise UnreadableArtifactError(self._filepath, "an .npz archive", error) from None

    def save(self, data: dict[str, np.ndarray]) -> None:
        arrays = {key: np.asarray(value) for key, value in data.items()}
        objects = [key for key, value in arrays.items() if value.dtype == object]
        if objects:
            raise DatasetError(
                f"{self._filepath}: arrays {objects} hold Python objects; store plain arrays"
            )

        def write(temporary: Path) -> None:
            with open(temporary, "wb") as handle:
                save_npz(handle, arrays)

        write_atomically(self._filepath, write)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(PurePosixPath(self._filepath))}
