"""The comparison of experiments: one row per encoder, the same columns for all."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

# Column, its heading in the Markdown table, and whether higher is better (for the ranking).
COLUMNS = {
    "probe_accuracy": ("probe accuracy", True),
    "pca2_variance": ("PCA-2 variance", None),
    "class_separation": ("class separation", True),
    "mean_vif": ("mean VIF", False),
    "vif_infinite": ("infinite VIFs", False),
    "mean_abs_correlation": ("mean |corr|", False),
}


def comparison_table(scores: dict[str, dict[str, Any]], floor: str) -> pd.DataFrame:
    """One row per experiment (the random floor last), the scalar scores as columns."""
    names = [name for name in scores if name != floor] + ([floor] if floor in scores else [])
    rows = [{"experiment": name, **{key: scores[name][key] for key in COLUMNS}} for name in names]
    return pd.DataFrame(rows, columns=["experiment", *COLUMNS])


def _format(value: Any) -> str:
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.3f}"
    return str(value)


def to_markdown(table: pd.DataFrame, floor: str) -> str:
    """The table as GitHub Markdown, with the floor's row marked and each column's best in bold."""
    headings = ["experiment", *(COLUMNS[key][0] for key in COLUMNS)]
    lines = ["| " + " | ".join(headings) + " |", "|" + "---|" * len(headings)]
    trained = table[table["experiment"] != floor]
    best = {}
    for key, (_, higher) in COLUMNS.items():
        if higher is not None and len(trained):
            best[key] = trained[key].max() if higher else trained[key].min()
    for _, row in table.iterrows():
        name = (
            f"{row['experiment']} (random init)"
            if row["experiment"] == floor
            else row["experiment"]
        )
        cells = [name]
        for key in COLUMNS:
            text = _format(row[key])
            cells.append(
                f"**{text}**" if row["experiment"] != floor and best.get(key) == row[key] else text
            )
        lines.append("| " + " | ".join(cells) + " |")
    legend = (
        "\nHigher is better for probe accuracy and class separation (mean between-class ÷ mean "
        "within-class distance); lower VIF and |corr| mean more decorrelated features. "
        "Best trained "
        f"value in bold; `{floor}` is an untrained encoder of the same architecture, the floor."
    )
    return "\n".join(lines) + "\n" + legend + "\n"


def _json_value(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value  # numpy scalar -> Python
    return str(value) if isinstance(value, float) and not math.isfinite(value) else value


def metrics_json(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """``{experiment: {score: value}}`` for DVC metrics (inf/NaN as strings: valid JSON)."""
    return {
        row["experiment"]: {key: _json_value(row[key]) for key in COLUMNS}
        for _, row in table.iterrows()
    }
