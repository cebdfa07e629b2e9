"""kedro-datasets' JSON dataset with an atomic save."""

from __future__ import annotations

import json
from typing import Any

from kedro_datasets.json import JSONDataset

from crl_pipelines.datasets.atomic_save import AtomicSave


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
