"""DVC's metrics: each experiment's headline scores with their intervals, one small file each.

``dvc metrics show`` prints a row per metrics file and a column per key, so one file of every
experiment's scores is one line as wide as all of them together (315 numbers, 9 402 characters
for the default run). Here each experiment's headline score is its own file,
``<experiment>/<score>.json`` = ``{"value": …, "low": …, "high": …}``: its mean over seeds and
the bounds of its interval. The table then has three columns and a row per experiment and score
(about a dozen numbers per experiment), and ``dvc metrics diff`` names what changed by path.
Every score, its std over seeds and its interval stay in ``comparison.csv``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from crl_pipelines.evaluation.scores.robustness import MEAN_CORRUPTION

# Linear probe, kNN, retrieval and robustness to corrupted inputs: one score of each question.
HEADLINE = ("probe_accuracy", "knn_accuracy", "map_at_r", MEAN_CORRUPTION)
BOUNDS = ("low", "high")


def _plain(value: Any) -> float | str | None:
    """A number for JSON: None for NaN (left out), "inf"/"-inf" for infinities (strict JSON)."""
    value = float(value)
    if math.isnan(value):
        return None
    return str(value) if math.isinf(value) else value


def metrics_files(table: pd.DataFrame, scores: Iterable[str] = HEADLINE) -> dict[str, bytes]:
    """``{"<experiment>/<score>.json": JSON bytes}`` of the comparison table's rows (one per
    experiment): each of ``scores`` it has, as ``value`` and, where the table has its interval,
    ``low`` and ``high``. A score that is NaN (skipped) has no file; the bytes depend on the
    numbers only, so an unchanged comparison gives unchanged files."""
    files = {}
    for _, row in table.iterrows():
        for score in scores:
            if _plain(row.get(score, math.nan)) is None:
                continue
            record = {"value": _plain(row[score])}
            for bound in BOUNDS:
                if (value := _plain(row.get(f"{score}_{bound}", math.nan))) is not None:
                    record[bound] = value
            text = json.dumps(record, indent=1, allow_nan=False) + "\n"
            files[f"{row['experiment']}/{score}.json"] = text.encode()
    return files
