"""kedro-datasets' text dataset with an atomic save."""

from __future__ import annotations

from kedro_datasets.text import TextDataset

from crl_pipelines.datasets.atomic_save import AtomicSave


class AtomicTextDataset(AtomicSave, TextDataset):
    """kedro-datasets' ``text.TextDataset`` (the same bytes, load and description) whose save is
    atomic, so a killed or failed save keeps the previous file.

    Example catalog entry::

        report_html:
          type: crl_pipelines.datasets.AtomicTextDataset
          filepath: data/08_reporting/report.html
    """

    def save(self, data: str) -> None:
        self._save_atomically(lambda file: file.write(data))
