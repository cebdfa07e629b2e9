"""An encoder: its weights and the config that rebuilds it; loaded with ``weights_only=True``."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import torch
from kedro.io import AbstractDataset

from crl_pipelines.atomic_writes import write_atomically
from crl_pipelines.datasets.errors import UnreadableArtifactError
from crl_pipelines.models import Encoder, load_encoder


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
            return load_encoder(self._filepath)
        except FileNotFoundError:
            raise
        except Exception as error:  # truncated, damaged, unsafe pickle, other config: many kinds
            raise UnreadableArtifactError(
                self._filepath, "an encoder this project saved", error
            ) from None

    def save(self, data: Encoder) -> None:
        checkpoint = {"config": data.config, "state_dict": data.state_dict()}

        def write(temporary: Path) -> None:
            # Into a file object, torch names the archive inside "archive"; given a path, it
            # would name it after the (random) temporary file, and no two saves would agree.
            with open(temporary, "wb") as handle:
                torch.save(checkpoint, handle)

        write_atomically(self._filepath, write)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(PurePosixPath(self._filepath))}
