"""Kedro datasets whose every save is atomic: ``.npz`` arrays, torch encoders, figures that a
report can load back, a run's results (JSON that names its figure files), and kedro-datasets'
JSON, CSV and text datasets with an atomic save, and folders of small files saved whole.

Every save goes through :func:`crl_pipelines.atomic_writes.write_atomically`: the data is
written to a hidden temporary file beside the target, synced to disk, and renamed onto it. A
save that fails (an exception, Ctrl-C, a full disk) leaves the previous artifact byte for byte
and removes its temporary file; a process killed mid-save leaves the previous artifact too, and
the next save of that target removes the killed writer's temporary file. Nothing loads with pickle.

One dataset class per module, each with its catalog example; the names below are loaded on first
use (as kedro-datasets does), so naming one imports only its module.
"""

from __future__ import annotations

import importlib
from typing import Any

_MODULES = {
    "AtomicCSVDataset": "atomic_csv_dataset",
    "AtomicJSONDataset": "atomic_json_dataset",
    "AtomicTextDataset": "atomic_text_dataset",
    "FigureDataset": "figure_dataset",
    "FolderDataset": "folder_dataset",
    "NpzDataset": "npz_dataset",
    "RunResultsDataset": "run_results_dataset",
    "StaleFigureError": "errors",
    "TorchModelDataset": "torch_model_dataset",
    "UnreadableArtifactError": "errors",
}

__all__ = sorted(_MODULES)


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
