"""A matplotlib figure saved as PNG, loaded back as its bytes, previewed as an image."""

from __future__ import annotations

import base64
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from kedro.io import AbstractDataset
from kedro_datasets._typing import ImagePreview

from crl_pipelines.atomic_writes import write_atomically

if TYPE_CHECKING:  # matplotlib is imported where a figure is drawn, not with the catalog
    from matplotlib.figure import Figure


class FigureDataset(AbstractDataset["Figure", bytes]):
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
        write_atomically(
            self._filepath, lambda temporary: data.savefig(temporary, **self._save_args)
        )

    def preview(self) -> ImagePreview:
        """The PNG as base64, which kedro-viz shows as an image."""
        return ImagePreview(base64.b64encode(self._filepath.read_bytes()).decode("ascii"))

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(PurePosixPath(self._filepath)), "save_args": self._save_args}
