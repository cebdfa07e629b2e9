"""kedro-datasets' JSON dataset with an atomic save."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kedro.io.core import get_filepath_str
from kedro_datasets.json import JSONDataset

from crl_pipelines.datasets.atomic_save import AtomicSave
from crl_pipelines.datasets.errors import UnreadableArtifactError


class AtomicJSONDataset(AtomicSave, JSONDataset):
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

    def load(self) -> Any:
        """The JSON; a file that is not JSON (truncated, damaged) is named in one line."""
        try:
            return JSONDataset.load.__wrapped__(self)  # type: ignore[attr-defined]
        except (ValueError, UnicodeDecodeError) as error:
            path = Path(get_filepath_str(self._filepath, self._protocol))
            raise UnreadableArtifactError(path, "JSON", error) from error
