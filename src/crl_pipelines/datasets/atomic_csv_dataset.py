"""kedro-datasets' pandas CSV dataset with an atomic save."""

from __future__ import annotations

import pandas as pd
from kedro_datasets.pandas import CSVDataset

from crl_pipelines.datasets.atomic_save import AtomicSave


class AtomicCSVDataset(AtomicSave, CSVDataset):
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
