"""A run's results: JSON naming its figure files, loaded with their checked bytes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from kedro.io.core import get_filepath_str
from kedro_datasets._typing import JSONPreview

from crl_pipelines.datasets.atomic_json_dataset import AtomicJSONDataset
from crl_pipelines.datasets.errors import StaleFigureError, UnreadableArtifactError


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
        return AtomicJSONDataset.load(self)
