"""Each run's training traces in DVCLive's files, which DVC and its VS Code extension read as
they are (``dvc plots show``; dvc.yaml declares the folder).

One DVCLive folder, ``data/08_reporting/live``, holds every run: a run's per-epoch history under
``plots/metrics/<experiment>/<seed>/epoch/`` (step = the epoch: loss, learning rate, validation
scores, the epoch's loss spikes, ``degraded`` when the validation score fell, ``kept`` at the
epoch whose weights the model holds) and its per-step trace under ``…/step/`` (step = the step
since training began: loss, learning rate, gradient norm, ``spike``).

DVCLive's ``Live`` is used for its file format only (:func:`_live`): it opens no DVC
repository and no git repository (plain ``Live()`` reads git and, in a git repository without
DVC, runs ``dvc init``), writes no ``dvc.yaml`` (this project's declares the folder), saves no DVC
experiment and posts nothing to DVC Studio, its one network destination (DVCLive 3.49 has no
analytics of its own; ``DVC_STUDIO_OFFLINE`` or ``studio.offline`` in .dvc/config switch Studio
off for DVC as well). It writes into a temporary folder; the caller gets the files' bytes and
saves them atomically (:class:`crl_pipelines.datasets.FolderDataset`). No timestamps: the same
history gives the same bytes.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

EPOCH, STEP = "epoch", "step"  # the two traces' folders


def _live(folder: Path) -> Any:
    """DVCLive's ``Live`` writing into ``folder``, without its side effects on the repository,
    git and the network. Imported on use: DVCLive loads DVC, seconds that every Kedro start
    would otherwise pay."""
    from dvclive import Live

    class FilesOnly(Live):
        def _init_dvc(self) -> None:
            self._dvc_file = "dvc.yaml"  # never written: dvcyaml=False

        def _init_studio(self) -> None:
            self._studio_events_to_skip.update({"start", "data", "done"})

    return FilesOnly(str(folder), save_dvc_exp=False, dvcyaml=False, report=None)


def _number(value: Any) -> float | int | None:
    """A value DVCLive can log (a bool as 0/1), or None for a missing one (NaN)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _log_table(live: Any, prefix: str, table: pd.DataFrame, steps: Iterable[int]) -> None:
    """Each column of ``table`` as the trace ``<prefix>/<column>``, row by row at ``steps``;
    a missing value (NaN: e.g. the place of a spike in an epoch without one) is left out."""
    for step, row in zip(steps, table.to_dict("records"), strict=True):
        live.step = int(step)
        for column, value in row.items():
            if (number := _number(value)) is not None:
                live.log_metric(f"{prefix}/{column}", number)


def trace_files(history: pd.DataFrame, steps: pd.DataFrame) -> dict[str, bytes]:
    """One run's traces as DVCLive writes them: ``{"epoch/<column>.tsv": bytes, "step/<column>
    .tsv": bytes}`` (each a ``step``-and-value table), relative to the run's folder of
    ``plots/metrics``. ``history``: one row per epoch with its ``epoch`` number; ``steps``: one
    row per step in order (its own ``epoch`` and ``step``-within-epoch columns are replaced by
    the step count since training began)."""
    with tempfile.TemporaryDirectory() as folder:
        live = _live(Path(folder))
        epochs = history.drop(columns=[EPOCH])
        _log_table(live, EPOCH, epochs, history[EPOCH])
        trace = steps.drop(columns=[c for c in (EPOCH, STEP) if c in steps])
        _log_table(live, STEP, trace, range(1, len(trace) + 1))
        plots = Path(live.plots_dir) / "metrics"
        return {
            path.relative_to(plots).as_posix(): path.read_bytes()
            for path in sorted(plots.rglob("*.tsv"))
        }
