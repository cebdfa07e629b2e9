"""A folder of small files, saved whole: each file atomically, files no longer in it removed."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import JSONPreview

from crl_pipelines.atomic_writes import write_atomically


class FolderDataset(AbstractDataset[Mapping[str, bytes], dict[str, bytes]]):
    """A folder of files given as ``{relative path: bytes}`` (e.g. DVCLive's traces, DVC's
    metrics files). Each file is written with :func:`write_atomically`, so a failed or killed
    save leaves every file either as it was or as it is now, never truncated; then the files the
    folder held that are not in the new set are removed, so it holds exactly the saved files.
    Loads as the same mapping.

    Example catalog entry::

        metrics:
          type: crl_pipelines.datasets.FolderDataset
          filepath: data/08_reporting/metrics
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> dict[str, bytes]:
        return {name: (self._filepath / name).read_bytes() for name in self._files()}

    def save(self, data: Mapping[str, bytes]) -> None:
        outside = [name for name in data if not _inside(name)]
        if outside:
            raise DatasetError(f"{self._filepath}: {outside[0]!r} is not a path inside it")
        self._filepath.mkdir(parents=True, exist_ok=True)
        for name, content in data.items():
            write_atomically(self._filepath / name, lambda file, c=content: file.write_bytes(c))
        for name in set(self._files()) - set(data):
            (self._filepath / name).unlink()
        for folder, _, _ in sorted(os.walk(self._filepath), reverse=True):
            if folder != str(self._filepath) and not os.listdir(folder):
                os.rmdir(folder)

    def preview(self) -> JSONPreview:
        """kedro-viz's preview: each file's text by its relative path."""
        return JSONPreview(json.dumps({name: data.decode() for name, data in self.load().items()}))

    def _files(self) -> list[str]:
        """The folder's files (hidden temporary files of a save excluded), relative, sorted."""
        if not self._filepath.is_dir():
            return []
        return sorted(
            path.relative_to(self._filepath).as_posix()
            for path in self._filepath.rglob("*")
            if path.is_file() and not path.name.startswith(".")
        )

    def _exists(self) -> bool:
        return self._filepath.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(PurePosixPath(self._filepath))}


def _inside(name: str) -> bool:
    """Whether ``name`` is a relative path that stays inside the folder."""
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts
