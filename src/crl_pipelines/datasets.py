"""Kedro datasets for what kedro-datasets has no class for: ``.npz`` arrays, torch encoders, and
figures that a report can load back.

All write to a temporary file beside the target and rename it into place, so an interrupted save
never leaves a half-written artifact where a good one stood, and both load without pickle.
"""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import ImagePreview
from matplotlib.figure import Figure

from crl_pipelines.models import Encoder, build_encoder


def _write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(Path(temporary))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600; give it a normal file's mode
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


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
                return {key: archive[key] for key in archive.files}
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as error:
            raise DatasetError(
                f"{self._filepath} is not a readable .npz archive: {error}"
            ) from error

    def save(self, data: dict[str, np.ndarray]) -> None:
        arrays = {key: np.asarray(value) for key, value in data.items()}
        objects = [key for key, value in arrays.items() if value.dtype == object]
        if objects:
            raise DatasetError(
                f"{self._filepath}: arrays {objects} hold Python objects; store plain arrays"
            )

        def write(temporary: Path) -> None:
            with open(temporary, "wb") as handle:
                np.savez(handle, **arrays)

        _write_atomically(self._filepath, write)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(PurePosixPath(self._filepath))}


class TorchModelDataset(AbstractDataset[Encoder, Encoder]):
    """An encoder saved as its weights plus the config that rebuilds it.

    Loading rebuilds the architecture from the config and reads the weights with
    ``torch.load(weights_only=True)``, so no pickled code is ever executed.

    Example catalog entry::

        "{experiment}.model":
          type: crl_pipelines.datasets.TorchModelDataset
          filepath: data/06_models/{experiment}/model.pt
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> Encoder:
        try:
            checkpoint = torch.load(self._filepath, map_location="cpu", weights_only=True)
            encoder = build_encoder(checkpoint["config"])
            encoder.load_state_dict(checkpoint["state_dict"])
        except FileNotFoundError:
            raise
        except (KeyError, RuntimeError, ValueError) as error:
            raise DatasetError(
                f"{self._filepath} is not an encoder this project saved: {error}"
            ) from error
        return encoder.eval()

    def save(self, data: Encoder) -> None:
        checkpoint = {"config": data.config, "state_dict": data.state_dict()}
        _write_atomically(self._filepath, lambda temporary: torch.save(checkpoint, temporary))

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(PurePosixPath(self._filepath))}


class FigureDataset(AbstractDataset[Figure, bytes]):
    """A matplotlib figure saved as PNG; loads back as the PNG's bytes (for reports), and
    previews in kedro-viz as an image.

    Example catalog entry::

        "{run}.pca_png":
          type: crl_pipelines.datasets.FigureDataset
          filepath: data/08_reporting/{run}/pca.png
          save_args: {dpi: 110}
    """

    def __init__(
        self,
        *,
        filepath: str,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._filepath = Path(filepath)
        self._save_args = {"format": "png", **(save_args or {})}
        self.metadata = metadata

    def load(self) -> bytes:
        return self._filepath.read_bytes()

    def save(self, data: Figure) -> None:
        _write_atomically(
            self._filepath, lambda temporary: data.savefig(temporary, **self._save_args)
        )

    def preview(self) -> ImagePreview:
        """The PNG as base64, which kedro-viz shows as an image."""
        return ImagePreview(base64.b64encode(self._filepath.read_bytes()).decode("ascii"))

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(PurePosixPath(self._filepath)), "save_args": self._save_args}
