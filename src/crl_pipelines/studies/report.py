"""The study report: a table and a figure per score, and the results as CSV."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from crl_pipelines.atomic_writes import write_atomically
from crl_pipelines.studies.definition import (
    COMPARISON,
    FLOOR,
    StudySettings,
    hydra_value,
    variants,
)
from crl_pipelines.studies.results import label


def _score_info(score: str) -> tuple[str, str, int]:
    """A score's heading, value format and better direction, from the score registry."""
    from crl_pipelines.evaluation.scores import SCORES

    entry = SCORES.get(score)
    return (entry.heading or score, entry.fmt, entry.better) if entry else (score, ".3f", 0)


def _experiments(results: pd.DataFrame) -> list[str]:
    """The experiments in order of appearance, the floor last."""
    names = list(dict.fromkeys(results["experiment"]))
    return [name for name in names if name != FLOOR] + [name for name in names if name == FLOOR]


def _cell(row: pd.Series | None, fmt: str) -> str:
    from crl_pipelines.evaluation.report import format_value

    if row is None:
        return "–"
    text = format_value(row["value"], fmt=fmt)
    if math.isfinite(row["low"]) and math.isfinite(row["high"]):
        text += f" [{format_value(row['low'], fmt=fmt)}, {format_value(row['high'], fmt=fmt)}]"
    return text


def _markdown_table(headings: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"

    return "\n".join([line(headings), "|" + "---|" * len(headings), *map(line, rows)])


def score_table(study: StudySettings, results: pd.DataFrame, score: str) -> str:
    """A Markdown table of ``score``: a row per variant (its grid values), a column per
    experiment, cells ``value [low, high]``."""
    from crl_pipelines.evaluation.report import markdown_text

    _, fmt, _ = _score_info(score)
    chosen = results[results["score"] == score]
    experiments = _experiments(results)
    rows = []
    for variant in variants(study):
        mine = chosen[chosen["variant"] == variant.name].set_index("experiment")
        cells = [_cell(mine.loc[name] if name in mine.index else None, fmt) for name in experiments]
        rows.append([f"`{hydra_value(value)}`" for value in variant.values.values()] + cells)
    headings = [f"`{path}`" for path in study.grid] + [markdown_text(e) for e in experiments]
    return _markdown_table(headings, rows)


def _positions(values: list[Any]) -> tuple[list[float], list[str] | None]:
    """x positions of the x parameter's values: the numbers themselves, or 0, 1, … with the
    values as tick labels when they are not all numbers."""
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return [float(value) for value in values], None
    return list(range(len(values))), [hydra_value(value) for value in values]


def score_figure(study: StudySettings, results: pd.DataFrame, score: str) -> Figure:
    """``score`` against the x parameter: a line per experiment (and per value of the other
    grid parameters), its interval as a band; the untrained floor dashed and grey."""
    heading, _, better = _score_info(score)
    x = study.x_axis
    positions, ticks = _positions(study.grid[x])
    where = {
        label(value): position for value, position in zip(study.grid[x], positions, strict=True)
    }
    others = [path for path in study.grid if path != x]
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.add_subplot()
    chosen = results[results["score"] == score]
    for keys, line in chosen.groupby(["experiment", *others], sort=False, dropna=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        line = line.assign(position=line[x].map(where)).sort_values("position")
        name = keys[0] + "".join(
            f", {path}={value}" for path, value in zip(others, keys[1:], strict=True)
        )
        style = {"color": "grey", "linestyle": "--"} if keys[0] == FLOOR else {}
        drawn = axes.plot(line["position"], line["value"], marker="o", label=name, **style)
        axes.fill_between(
            line["position"], line["low"], line["high"], color=drawn[0].get_color(), alpha=0.15
        )
    if ticks is not None:
        axes.set_xticks(positions, ticks)
    direction = {1: " (higher is better)", -1: " (lower is better)"}.get(better, "")
    axes.set(xlabel=x, ylabel=heading + direction, title=f"{study.name}: {heading} against {x}")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return figure


def report_markdown(
    study: StudySettings, results: pd.DataFrame, missing: Mapping[str, str], confidence: Any
) -> str:
    """The study report: what was fixed and varied, the variants, and per score its table and
    figure (``<score>.png`` beside the report)."""
    from crl_pipelines.evaluation.report import markdown_text

    level = f"{confidence:.0%}" if isinstance(confidence, float) else "95%"
    chosen = variants(study)
    fixed = [f"- `{path}`: `{hydra_value(value)}`" for path, value in study.fixed.items()]
    lines = [f"# Study: {markdown_text(study.name)}", ""]
    lines += [markdown_text(study.description), ""] if study.description else []
    lines += ["Fixed in every variant:", "", *fixed, ""] if fixed else []
    lines += [f"Each variant is the DVC experiment named in the table (`dvc exp show`); "
              f"{len(chosen) - len(missing)} of {len(chosen)} have metrics.", ""]  # fmt: skip
    status = [
        [f"`{variant.name}`", *(f"`{hydra_value(v)}`" for v in variant.values.values()),
         markdown_text(f"missing: {missing[variant.name]}") if variant.name in missing else "done"]
        for variant in chosen
    ]  # fmt: skip
    lines += [_markdown_table(["variant", *(f"`{p}`" for p in study.grid), "status"], status), ""]
    for score in study.scores:
        heading, _, _ = _score_info(score)
        lines += [f"## {markdown_text(heading)} (`{score}`)", ""]
        lines += [f"Value [{level} bootstrap interval] per experiment and variant.", ""]
        if results.loc[results["score"] == score, "value"].isna().all():
            lines += [f"No variant's `{COMPARISON}` has `{score}`.", ""]
        lines += [score_table(study, results, score), "", f"![{score}]({score}.png)", ""]
    return "\n".join(lines)


def write_report(
    study: StudySettings,
    results: pd.DataFrame,
    missing: Mapping[str, str],
    folder: Path,
    confidence: Any = 0.95,
) -> None:
    """``results.csv``, one ``<score>.png`` per score and ``report.md`` in ``folder``, each
    written atomically."""
    write_atomically(
        folder / "results.csv", lambda temporary: results.to_csv(temporary, index=False)
    )
    for score in study.scores:
        figure = score_figure(study, results, score)
        write_atomically(
            folder / f"{score}.png",
            lambda temporary, figure=figure: figure.savefig(temporary, format="png", dpi=110),
        )
    text = report_markdown(study, results, missing, confidence)
    write_atomically(folder / "report.md", lambda temporary: temporary.write_text(text, "utf-8"))
