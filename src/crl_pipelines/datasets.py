"""Kedro datasets whose every save is atomic: ``.npz`` arrays, torch encoders, figures that a
report can load back, a run's results (JSON that names its figure files), and kedro-datasets'
JSON, CSV and text datasets with an atomic save.

Every save goes through :func:`crl_pipelines.files.write_atomically`: the data is written to a
hidden temporary file beside the target, synced to disk, and renamed onto the target. A save that
fails (an exception, Ctrl-C, a full disk) leaves the previous artifact byte for byte and removes
its temporary file; a process killed mid-save leaves the previous artifact too, and the next save
of that target removes the killed writer's temporary file. Nothing loads with pickle.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import json
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO, Any

import numpy as np
import pandas as pd
import torch
from kedro.io import AbstractDataset, DatasetError
from kedro.io.core import get_filepath_str
from kedro_datasets._typing import ImagePreview, JSONPreview
from kedro_datasets.json import JSONDataset
from kedro_datasets.pandas import CSVDataset
from kedro_datasets.text import TextDataset
from matplotlib.figure import Figure

from crl_pipelines.errors import UserError
from crl_pipelines.files import save_npz, write_atomically
from crl_pipelines.lineage import StaleArtifactError
from crl_pipelines.models import Encoder, build_encoder


class UnreadableArtifactError(UserError, DatasetError):
    """An artifact on disk that cannot be read back (truncated, damaged or foreign); it is
    never loaded unsafely."""

    def __init__(self, path: Path, what: str, error: Exception) -> None:
        reason = (str(error).strip().splitlines() or [""])[0][:160]
        super().__init__(
            f"{path} is not {what} that can be read safely ({type(error).__name__}: {reason}); "
            "delete it and re-run the pipeline that makes it (`kedro run`, or `dvc repro`)"
        )


class StaleFigureError(StaleArtifactError, DatasetError):
    """A figure file that is not the one its run's results record (redrawn or changed since)."""


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
        except Exception as error:  # truncated, damaged, unsafe pickle, other config: many kinds
            raise UnreadableArtifactError(
                self._filepath, "an encoder this project saved", error
            ) from None
        return encoder.eval()

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


class _AtomicSave:
    """Mixed into a kedro-datasets file dataset (fsspec ``_fs``, ``_fs_open_args_save``): its
    save writes through its own file system and open arguments, as the original does, but into
    the temporary file of :func:`write_atomically` (local files only)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Kedro wraps each dataset class's __init__ to record its arguments (catalog.to_config);
        # give it the original's signature, not the parent's wrapper's (*args, **kwargs).
        cls.__init__ = inspect.unwrap(cls.__init__)
        super().__init_subclass__(**kwargs)

    def _save_atomically(self, dump: Callable[[IO[Any]], object]) -> None:
        """Save as the original does, ``dump`` into the file opened for saving, atomically."""
        if self._protocol != "file":
            raise DatasetError(
                f"{type(self).__name__} saves local files only, not {self._protocol}:// ones"
            )
        target = Path(get_filepath_str(self._get_save_path(), self._protocol))

        def write(temporary: Path) -> None:
            with self._fs.open(str(temporary), **self._fs_open_args_save) as file:
                dump(file)

        write_atomically(target, write)
        self._invalidate_cache()


class AtomicJSONDataset(_AtomicSave, JSONDataset):
    """kedro-datasets' ``json.JSONDataset`` (the same bytes, load, ``save_args``, preview and
    description) whose save is atomic, so a killed or failed save keeps the previous file.

    Example catalog entry::

        metrics:
          type: crl_pipelines.datasets.AtomicJSONDataset
          filepath: data/08_reporting/metrics.json
          save_args: {indent: 2}
    """

    def save(self, data: Any) -> None:
        self._save_atomically(lambda file: json.dump(data, file, **self._save_args))


class RunResultsDataset(AtomicJSONDataset):
    """A run's results: one JSON record (its scores, training history, lineage, ...) whose
    ``figures`` entry names each figure's PNG file, beside the JSON, with its SHA-256. The record
    is saved as written; it loads back with each figure's PNG bytes added under ``png``, after
    checking them against the digest, so a figure redrawn or damaged since its results were
    written is refused, not reported. The PNG files are the figure datasets' own: nothing is
    stored twice. kedro-viz previews the JSON as it is on disk.

    Example catalog entry::

        "{experiment}.{seed}.results":
          type: crl_pipelines.datasets.RunResultsDataset
          filepath: data/08_reporting/runs/{experiment}/{seed}/results.json
    """

    def load(self) -> dict[str, Any]:
        record = self._record()
        source = Path(get_filepath_str(self._filepath, self._protocol))
        for name, figure in (record.get("figures") or {}).items():
            path = source.parent / figure["file"]
            try:
                png = path.read_bytes()
            except OSError as error:
                raise UnreadableArtifactError(path, f"the {name} figure", error) from error
            if hashlib.sha256(png).hexdigest() != figure["sha256"]:
                raise StaleFigureError(
                    f"{path} is not the {name} figure that {source} records "
                    "(redrawn or changed since); re-run the run's evaluation (`kedro run "
                    "--pipelines=evaluate --namespaces=<experiment>`, or `dvc repro`)"
                )
            figure["png"] = png
        return record

    def preview(self) -> JSONPreview:
        """The record as it is on disk (figure files named, not embedded)."""
        return JSONPreview(json.dumps(self._record()))

    def _record(self) -> dict[str, Any]:
        return JSONDataset.load.__wrapped__(self)  # type: ignore[attr-defined]


class AtomicCSVDataset(_AtomicSave, CSVDataset):
    """kedro-datasets' ``pandas.CSVDataset`` (the same bytes, load and save arguments, table
    preview and description) whose save is atomic, so a killed or failed save keeps the
    previous file.

    Example catalog entry::

        comparison_table:
          type: crl_pipelines.datasets.AtomicCSVDataset
          filepath: data/08_reporting/comparison.csv
          save_args: {index: false}
          metadata:
            kedro-viz:
              preview_args: {nrows: 1000}
    """

    def save(self, data: pd.DataFrame) -> None:
        self._save_atomically(lambda file: data.to_csv(path_or_buf=file, **self._save_args))


class AtomicTextDataset(_AtomicSave, TextDataset):
    """kedro-datasets' ``text.TextDataset`` (the same bytes, load and description) whose save is
    atomic, so a killed or failed save keeps the previous file.

    Example catalog entry::

        report_html:
          type: crl_pipelines.datasets.AtomicTextDataset
          filepath: data/08_reporting/report.html
    """

    def save(self, data: str) -> None:
        self._save_atomically(lambda file: file.write(data))
