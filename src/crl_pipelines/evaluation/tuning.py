"""The tuning in the comparison: every trial in one table (``tuning.csv``), and the report's Tuning
section: per experiment the budget, the best parameters beside the defaults, the validation score
of both (with its standard error) and the test scores of the untuned and the tuned run (with
their intervals), and whether tuning changed the ranking.

The claim the report makes is the final runs' test scores with their intervals; the best
validation value only chose the parameters (it is the maximum of many noisy values, so it is
biased upward, and shown with its standard error to say how little a few hundred validation
images can tell apart).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from crl_pipelines.evaluation.report import FigureFile, TuningSection, format_value
from crl_pipelines.evaluation.scores import SCORES

HEADLINE = "probe_accuracy"  # the score whose ranking before and after tuning the report compares
SHOWN = ("probe_accuracy", "knn_accuracy")  # test scores shown untuned → tuned


def trials_table(records: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per trial of every tuned experiment: experiment, trial number, state, value,
    epochs trained, and each parameter (a column per parameter, empty where an experiment has
    no such parameter)."""
    rows = [
        {
            "experiment": experiment,
            "trial": trial["number"],
            "state": trial["state"],
            "value": trial["value"],
            "epochs": trial["epochs"],
            **trial["params"],
        }
        for experiment, record in records.items()
        if record.get("tuned")
        for trial in record["trials"]
    ]
    columns = ["experiment", "trial", "state", "value", "epochs"]
    return pd.DataFrame(
        rows, columns=list(dict.fromkeys([*columns, *(k for r in rows for k in r)]))
    )


def order(groups: Sequence[Sequence[str]]) -> str:
    """A ranking's tied groups as text: ``a > b = c``."""
    return " > ".join(" = ".join(group) for group in groups)


def _cell(row: pd.Series | None, name: str) -> str:
    if row is None or name not in row or _missing(row[name]):
        return "–"
    fmt = SCORES[name].fmt
    text = format_value(float(row[name]), fmt=fmt)
    low, high = row.get(f"{name}_low", math.nan), row.get(f"{name}_high", math.nan)
    if not (_missing(low) or _missing(high)):
        text += f" [{format_value(float(low), fmt=fmt)}, {format_value(float(high), fmt=fmt)}]"
    return text


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _parameters(record: Mapping[str, Any]) -> str:
    """The best parameters beside the defaults: ``temperature 0.12 (default 0.5)``."""

    def shown(value: Any) -> str:
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    defaults = record["defaults"]
    return "; ".join(
        f"{path.split('.', 1)[1]} {shown(value)} (default {shown(defaults.get(path))})"
        for path, value in record["best"]["params"].items()
    )


def _validation(record: Mapping[str, Any]) -> tuple[str, str]:
    """The default parameters' validation score (their trial, when the study tried them) and
    the best one, with its standard error."""
    best = record["best"]
    error = best["standard_error"]
    best_text = f"{best['value']:.3f}" + ("" if error is None else f" ± {error:.3f}")
    default = record.get("default") or {}
    value = default.get("value")
    return ("–" if value is None else f"{value:.3f}"), best_text


def tuning_section(
    records: Mapping[str, Mapping[str, Any]],
    tuned: pd.DataFrame,
    untuned: pd.DataFrame,
    rankings: tuple[Sequence[Sequence[str]], Sequence[Sequence[str]]],
    figure: FigureFile,
) -> TuningSection:
    """The section, from the experiments' tuning records, the comparison tables of the tuned and
    the untuned runs (one row per experiment, with intervals), and the tied groups of each on
    :data:`HEADLINE` (before, after)."""
    first = next(iter(records.values()))
    budget = first["budget"]
    before, after = rankings
    changed = [set(group) for group in before] != [set(group) for group in after]
    heading = SCORES[HEADLINE].heading
    epochs = f"{budget['epochs']} epoch{'s' if budget['epochs'] != 1 else ''}"
    lines = [
        f"Every experiment was tuned with the same budget: {budget['trials']} finished trials "
        f"of {epochs} each ({budget['sampler']} sampler, {budget['pruner']} pruner, seed "
        f"{budget['seed']}, {budget['batch']} trials a step), scored on the validation split "
        f"({first['objective']}, {first['validation_images']} images); the test split was not "
        "read. The final runs train at the best parameters for every epoch of the plan, and the "
        "untuned runs at the parameters as written.",
        f"Tuning {'changed' if changed else 'did not change'} the ranking on {heading}: before "
        f"{order(before)}; after {order(after)}.",
        "The validation values only chose the parameters: the claim is the test scores with "
        "their intervals.",
    ]
    tuned_rows, untuned_rows = tuned.set_index("experiment"), untuned.set_index("experiment")
    headings = ["experiment", "trials (complete / pruned)", "best parameters",
                "validation: default", "validation: best",
                *(f"{SCORES[name].heading}: untuned → tuned" for name in SHOWN)]  # fmt: skip
    rows = []
    for experiment, record in records.items():
        counts = record["counts"]
        default_value, best_value = _validation(record)
        rows.append(
            [
                experiment,
                f"{counts['complete']} / {counts['pruned']}",
                _parameters(record),
                default_value,
                best_value,
                *(
                    f"{_cell(_row(untuned_rows, experiment), name)} → "
                    f"{_cell(_row(tuned_rows, experiment), name)}"
                    for name in SHOWN
                ),
            ]
        )
    return TuningSection(lines, (headings, rows), figure)


def _row(table: pd.DataFrame, experiment: str) -> pd.Series | None:
    return table.loc[experiment] if experiment in table.index else None
