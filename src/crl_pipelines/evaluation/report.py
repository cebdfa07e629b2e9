"""The comparison of experiments and the report: tables, ranking, Markdown and self-contained HTML.

Framework-free: everything here takes plain dicts, DataFrames and PNG bytes. Which scores are
ranked and shown, under what heading, in which direction and format, comes from the registry
(`crl_pipelines.evaluation.scores.SCORES`).
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import jinja2
import numpy as np
import pandas as pd

from crl_pipelines.evaluation.scores import SCORES, Score, in_order
from crl_pipelines.evaluation.scores.robustness import MEAN_CORRUPTION, PER_CORRUPTION
from crl_pipelines.evaluation.similarity import similarity_sentences
from crl_pipelines.evaluation.uncertainty import Significance

_UNREGISTERED = Score(compute=lambda run: math.nan, needs_labels=False)
P_FLOOR = 1e-4  # smaller p-values read "p < 0.0001": the normal tail says nothing finer


def comparison_table(
    run_scores: Mapping[str, Mapping[str, float]], run_experiment: Mapping[str, str]
) -> pd.DataFrame:
    """One row per experiment: each score's mean over its runs (seeds) and, as ``<score>_std``,
    the sample standard deviation (NaN with one seed)."""
    rows = []
    for experiment in dict.fromkeys(run_experiment.values()):
        runs = [run for run, owner in run_experiment.items() if owner == experiment]
        frame = pd.DataFrame([run_scores[run] for run in runs], dtype=float)
        row: dict[str, Any] = {"experiment": experiment, "seeds": len(runs)}
        for name in frame.columns:
            row[name] = frame[name].mean()
            row[f"{name}_std"] = frame[name].std(ddof=1) if len(runs) > 1 else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def ranking(table: pd.DataFrame, floor: str) -> dict[str, list[tuple[str, float]]]:
    """For every score with a direction on which the trained experiments differ, the experiments
    from best to worst."""
    trained = table[table["experiment"] != floor]
    result = {}
    for name, score in in_order():
        values = trained.get(name)
        if score.better == 0 or values is None or values.isna().all() or values.nunique() < 2:
            continue  # nothing to rank: descriptive, missing, or the same for every experiment
        ordered = trained.sort_values(name, ascending=score.better < 0, na_position="last")
        result[name] = list(zip(ordered["experiment"], ordered[name].astype(float), strict=True))
    return result


def format_value(mean: float, std: float = math.nan, fmt: str = ".3f") -> str:
    """A value for a table in its score's one format (``"d"``: an integer as an integer, a
    fraction of one, e.g. a mean over seeds, with one decimal), a dash for NaN, "± std"."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    if math.isinf(mean):
        return "inf" if mean > 0 else "-inf"
    if fmt == "d":
        text = f"{mean:.0f}" if float(mean).is_integer() else f"{mean:.1f}"
        return f"{text} ± {std:.1f}" if not math.isnan(std) else text
    text = f"{mean:{fmt}}"
    return f"{text} ± {std:{fmt}}" if not math.isnan(std) else text


def _value(row: pd.Series, name: str, with_std: bool = True) -> str:
    """A table cell: the value, ± its std over seeds, and [its interval] when it has one."""
    fmt = SCORES[name].fmt
    std = float(row.get(f"{name}_std", math.nan)) if with_std else math.nan
    text = format_value(float(row[name]), std, fmt)
    low, high = float(row.get(f"{name}_low", math.nan)), float(row.get(f"{name}_high", math.nan))
    if math.isfinite(low) and math.isfinite(high):
        text += f" [{format_value(low, fmt=fmt)}, {format_value(high, fmt=fmt)}]"
    return text


def claims(
    groups: list[list[str]],
    adjusted: Mapping[tuple[str, str], float],
    alpha: float,
    name: Callable[[str], str] = str,
) -> str:
    """The ranking in words, claiming only significant differences: who cannot be told apart,
    and who is behind whom (each later group is behind the previous group's first)."""

    def together(group: list[str]) -> str:
        names = [name(experiment) for experiment in group]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

    def p_of(first: str, second: str) -> float:
        return adjusted.get((first, second), adjusted.get((second, first), math.nan))

    first = groups[0]
    sentences = [
        f"{together(first)} {'leads' if len(first) == 1 else 'cannot be told apart and lead'}"
    ]
    for previous, group in itertools.pairwise(groups):
        worst = max(p_of(previous[0], experiment) for experiment in group)
        verb = "is" if len(group) == 1 else "are"
        tie = "" if len(group) == 1 else ", and cannot be told apart from each other"
        bound = f"p ≤ {worst:.2g}" if worst >= P_FLOOR else f"p < {P_FLOOR:g}"
        sentences.append(
            f"{together(group)} {verb} behind {name(previous[0])} "
            f"(Holm-adjusted {bound} < {alpha:g}){tie}"
        )
    return "; ".join(sentences) + "."


_SUFFIXES = ("_std", "_low", "_high")


def _score_of(column: str) -> str:
    """The score a comparison-table column belongs to (``knn_accuracy_std`` → ``knn_accuracy``)."""
    for suffix in _SUFFIXES:
        if column.endswith(suffix) and column[: -len(suffix)] in SCORES:
            return column[: -len(suffix)]
    return column


def metrics_json(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """``{experiment: {score: value}}`` for DVC metrics: scores only (each with its std over
    seeds and its interval where it has them), no counts, flags or seeds; a value that is NaN
    (skipped, or the std of one seed) is left out, and inf is written "inf" (valid JSON)."""

    def plain(value: Any) -> Any:
        value = value.item() if hasattr(value, "item") else value
        return str(value) if isinstance(value, float) and math.isinf(value) else value

    columns = [
        column
        for column in table.columns
        if _score_of(column) in SCORES and SCORES[_score_of(column)].kind == "score"
    ]
    return {
        row["experiment"]: {
            key: plain(row[key])
            for key in columns
            if not (isinstance(row[key], float) and math.isnan(row[key]))
        }
        for _, row in table.iterrows()
    }


# Characters that are Markdown syntax inside a line (code, emphasis, links, HTML, entities,
# headings' closing #, strikethrough, math on GitHub); "|" is the table's own to escape.
_MARKDOWN_SYNTAX = re.compile(r"([\\`*\[\]<>#$~&])")


def _one_line(text: str) -> str:
    return " ".join(str(text).splitlines())


def _literal_underscores(match: re.Match[str]) -> str:
    """``_`` stays as it is between two letters or digits (``random_init``: no emphasis can start
    or end there), and is escaped elsewhere (``_x_``)."""
    text, start, end = match.string, match.start(), match.end()
    inside = start > 0 and end < len(text) and text[start - 1].isalnum() and text[end].isalnum()
    return match.group() if inside else match.group().replace("_", "\\_")


def markdown_text(text: str) -> str:
    """``text`` (a run, experiment or class name) as literal Markdown text on one line: a
    newline becomes a space and Markdown syntax is escaped, so ``<b>x</b>`` or ``$x^2$`` shows
    as typed."""
    escaped = _MARKDOWN_SYNTAX.sub(r"\\\1", _one_line(text))
    return re.sub(r"_+", _literal_underscores, escaped)


def _markdown_code(text: str) -> str:
    """``text`` as one Markdown code span, fenced by more backticks than it holds."""
    text = _one_line(text)
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _markdown_table(headings: list[str], rows: list[list[str]]) -> str:
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(_one_line(cell).replace("|", "\\|") for cell in cells) + " |"

    return "\n".join([row(headings), "|" + "---|" * len(headings), *(row(cells) for cells in rows)])


def _html_id(text: str) -> str:
    """A run's section id: no whitespace (an id holds none), prefixed so that no run's name can
    take a fixed section's id."""
    return "run-" + re.sub(r"\s+", "-", text)


@dataclass(frozen=True)
class FigureFile:
    """A figure as the report shows it: embedded (``png``) in HTML, linked (``path``, relative to
    the report) in Markdown; ``layout`` is its width on the page: ``cell`` (one cell of the
    figure grid), ``double`` (two cells) or ``full`` (the page's width)."""

    png: bytes
    path: str
    layout: str = "cell"


def _markdown_image(title: str, figure: FigureFile) -> str:
    """A Markdown image: the title as literal alt text, the path percent-encoded (a space or a
    parenthesis in a run's folder would end the link)."""
    return f"![{markdown_text(title)}]({quote(figure.path)})"


def _setting(value: Any) -> str:
    """One setting's value as YAML would write it (``true``, ``null``, a list on one line)."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return ", ".join(map(_setting, value)) if value else "[]"
    return str(value)


def flatten(value: Any, prefix: str = "") -> list[list[str]]:
    """Nested settings as ``[dotted key, value]`` rows, for a two-column table: a mapping or a
    list of mappings one level deeper, a list of plain values on one row."""
    nested = isinstance(value, list | tuple) and any(
        isinstance(item, Mapping | list | tuple) for item in value
    )
    if isinstance(value, Mapping) or nested:
        items = value.items() if isinstance(value, Mapping) else enumerate(value)
        rows = [row for key, item in items for row in flatten(item, _dotted(prefix, key))]
        return rows if rows or not prefix else [[prefix, "{}"]]
    return [[prefix, _setting(value)]]


def _dotted(prefix: str, key: object) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


# The report's sections, in order: (id, heading); the runs' sections sit under "runs", and
# "tuning" is there when the experiments are tuned.
SECTIONS = (
    ("summary", "Summary"),
    ("ranking", "Ranking"),
    ("all-experiments", "All experiments"),
    ("tuning", "Tuning"),
    ("comparison-figures", "Comparison figures"),
    ("runs", "Runs"),
    ("dataset", "Dataset"),
    ("sampling-plans", "Sampling plans"),
    ("parameters", "Parameters"),
)


def _environment(autoescape: bool) -> jinja2.Environment:
    """The templates of ``crl_pipelines/evaluation/templates`` (package data, so an installed
    package finds them); HTML autoescapes every value."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("crl_pipelines.evaluation", "templates"),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(
        base64=lambda data: base64.b64encode(data).decode("ascii"),
        md_table=_markdown_table,
        md_image=lambda figure, title: _markdown_image(title, figure),
        md_code=_markdown_code,
        md_text=markdown_text,
    )
    return environment


_HTML = _environment(autoescape=True)
_MARKDOWN = _environment(autoescape=False)


@dataclass(frozen=True)
class TuningSection:
    """What the report's Tuning section shows (made by :mod:`crl_pipelines.evaluation.tuning`):
    sentences, one table (headings, rows) and the expected-best figure."""

    lines: list[str]
    table: tuple[list[str], list[list[str]]]
    figure: FigureFile


@dataclass
class Report:
    """Everything the report shows, gathered by the evaluate pipeline."""

    table: pd.DataFrame
    floor: str
    runs: dict[str, dict[str, Any]]  # run -> {"experiment", "seed", "scores", "skipped", "seconds"}
    comparison_figures: dict[str, FigureFile]  # title -> figure
    run_figures: dict[str, dict[str, FigureFile]]  # run -> title -> figure
    dataset: dict[str, Any]
    plans: dict[str, dict[str, Any]]  # sampling -> plan summary
    parameters: dict[str, Any]
    significance: Significance | None = None  # tied groups and tests (without: plain order)
    training: dict[str, TrainingNote] = field(default_factory=dict)  # trained run -> its note
    tuning: TuningSection | None = None  # when the experiments are tuned
    # the runs' CKA at the embedding, and each row's experiment (said in words in the summary)
    similarity: tuple[np.ndarray, list[str]] | None = None

    # The rows and sentences take ``name``, how a run or experiment name is written in the
    # output: Markdown-escaped for Markdown, as it is for HTML (whose every cell is escaped).

    def _ranking_rows(self, name: Callable[[str], str]) -> tuple[list[str], list[list[str]]]:
        ranks = ranking(self.table, self.floor)
        depth = max((len(order) for order in ranks.values()), default=0)
        headings = ["score", *(f"#{i + 1}" for i in range(depth))]
        rows = []
        values = self.table.set_index("experiment")
        for key, order in ranks.items():
            score = SCORES[key]
            group_of = self._group_of(key)
            cells = [f"{score.heading} {'↑' if score.better > 0 else '↓'}"]
            for place, (experiment, _) in enumerate(order):
                before = order[place - 1][0] if place else None
                tied = experiment in group_of and group_of[experiment] == group_of.get(before)
                shown = _value(values.loc[experiment], key, with_std=False)
                cells.append(f"{'= ' if tied else ''}{name(experiment)} ({shown})")
            rows.append(cells + [""] * (depth - len(order)))
        return headings, rows

    def _group_of(self, key: str) -> dict[str, int]:
        """Each experiment's tied group on score ``key`` (none without a significance test)."""
        if self.significance is None:
            return {}
        groups = self.significance.groups.get(key, [])
        return {experiment: index for index, group in enumerate(groups) for experiment in group}

    def _table_rows(self, name: Callable[[str], str]) -> tuple[list[str], list[list[str]]]:
        columns = [key for key, score in in_order() if score.in_table]
        headings = ["experiment", "seeds", *(SCORES[key].heading for key in columns)]
        rows = []
        for _, row in self.table.iterrows():
            experiment = row["experiment"]
            label = name(experiment) + (" (untrained floor)" if experiment == self.floor else "")
            cells = [label, str(int(row["seeds"]))]
            cells += [_value(row, column) if column in row else "–" for column in columns]
            rows.append(cells)
        return headings, rows

    def _robustness_rows(self, name: Callable[[str], str]) -> tuple[list[str], list[list[str]]]:
        """The corruption table: each experiment's probe accuracy under each corruption (mean of
        its severities) and over all of them, with intervals; no rows without corrupted data."""
        columns = [key for key in PER_CORRUPTION if key in self.table]
        headings = [
            "experiment",
            SCORES[MEAN_CORRUPTION].heading,
            *(SCORES[k].heading for k in columns),
        ]
        rows = []
        for _, row in self.table.iterrows():
            if MEAN_CORRUPTION not in row or not math.isfinite(float(row[MEAN_CORRUPTION])):
                continue
            cells = [name(row["experiment"]), _value(row, MEAN_CORRUPTION)]
            rows.append(cells + [_value(row, column) for column in columns])
        return headings, rows

    def summary(self, name: Callable[[str], str] = str) -> list[str]:
        """Plain sentences: the separation ranking against the guide's, and the floor (each
        experiment written by ``name``)."""
        ranks = ranking(self.table, self.floor)
        lines = []
        if "class_separation" in ranks:
            lines.append(
                f"Class separation on this data: {self._claim('class_separation', ranks, name)} "
                "The guide ranks NT-Xent > pairs (contrastive) > triplet > cross-entropy on MNIST."
            )
        if "probe_accuracy" in ranks:
            lines.append(f"Linear probe accuracy: {self._claim('probe_accuracy', ranks, name)}")
        if "probe_accuracy" in ranks and self.floor in set(self.table["experiment"]):
            floor_row = self.table[self.table["experiment"] == self.floor].iloc[0]
            floor_probe = float(floor_row["probe_accuracy"])
            below = [name(n) for n, v in ranks["probe_accuracy"] if v <= floor_probe]
            lines.append(
                "Untrained floor probe accuracy: "
                f"{format_value(floor_probe, fmt=SCORES['probe_accuracy'].fmt)}; "
                + (
                    f"at or below it: {', '.join(below)}."
                    if below
                    else "every experiment is above it."
                )
            )
        collapsed = self.table[
            (self.table["experiment"] != self.floor) & (self.table["collapsed"] > 0)
        ]
        if len(collapsed):
            names = ", ".join(map(name, collapsed["experiment"]))
            lines.append(f"Collapsed representations: {names}.")
        unstable = [
            f"{name(run)} ({note.problems})" for run, note in self.training.items() if note.problems
        ]
        if unstable:
            lines.append(f"Training instability: {'; '.join(unstable)}.")
        if self.similarity is not None:
            matrix, experiments = self.similarity
            lines.extend(similarity_sentences(matrix, [name(e) for e in experiments]))
        if self.significance is not None:
            lines.append(self.significance.note)
        return lines

    def _claim(self, key: str, ranks: dict[str, list], name: Callable[[str], str]) -> str:
        """The order on ``key``, claiming only the differences the tests found."""
        if self.significance is None or key not in self.significance.groups:
            return " > ".join(name(experiment) for experiment, _ in ranks[key]) + "."
        return claims(
            self.significance.groups[key],
            self.significance.adjusted[key],
            self.significance.alpha,
            name,
        )

    def caveats(self) -> list[str]:
        """How far the ranking can be trusted, in plain words, where the report has no interval
        or test to say it: no bootstrap, or one seed per experiment."""
        images = self.dataset.get("test_images")
        on = f"{images} test images" if images else "the test images"
        point = f" (one image is {100 / images:.1f} points of accuracy)" if images else ""
        seeds = int(self.table["seeds"].max()) if len(self.table) else 0
        lines = []
        if not any(column.endswith("_low") for column in self.table.columns):
            lines.append(
                "No intervals and no significance tests (evaluate.bootstrap_resamples is 0): "
                f"the ranking is a plain order of the values on {on}{point}, so experiments a "
                "few points apart may swap places on another split or seed."
            )
        if seeds == 1:
            lines.append(
                f"One seed per experiment: how noisy a single-seed ranking on {on} is, the "
                "intervals do not show, since another seed (other initial weights and batches) "
                "can reorder close experiments; list several seeds (parameter seeds) to measure it."
            )
        return lines

    def _run_rows(self, run: str) -> list[list[str]]:
        """A run's scores (not its counts and flags: :meth:`_counts`), each with its meaning."""
        record = self.runs[run]
        rows = []
        for name, value in record["scores"].items():
            score = SCORES.get(name, _UNREGISTERED)  # a record may outlive a removed score
            if score.kind != "score":
                continue
            shown = (
                f"skipped ({record['skipped'][name]})"
                if name in record["skipped"]
                else format_value(float(value), fmt=score.fmt)
            )
            rows.append([name, shown, score.meaning])
        return rows

    def _counts(self, run: str) -> str:
        """A run's counts and flags in words: ``collapsed: no; tsne_sample 60``."""
        record, parts = self.runs[run], []
        for name, value in record["scores"].items():
            score = SCORES.get(name, _UNREGISTERED)
            if score.kind == "score" or name in record["skipped"] or value is None:
                continue
            if score.kind == "flag":
                parts.append(f"{score.heading}: {'yes' if float(value) else 'no'}")
            else:
                parts.append(f"{name} {format_value(float(value), fmt=score.fmt)}")
        return "; ".join(parts)

    def _worst_classes(self, run: str, shown: int = 3) -> str:
        """The classes the run's linear probe gets right least often, in words:
        ``3 83 % of 36, 8 89 % of 35``, from its confusion (nothing without one)."""
        confusion = np.asarray(self.runs[run].get("confusion") or [], dtype=float)
        if confusion.ndim != 2 or not confusion.size:
            return ""
        names = list(self.dataset.get("class_names", []))
        totals = confusion.sum(axis=1)
        present = np.flatnonzero(totals)
        right = np.diag(confusion)[present] / totals[present]
        worst = present[np.argsort(right, kind="stable")[:shown]]
        return ", ".join(
            f"{names[c] if c < len(names) else c} {confusion[c, c] / totals[c]:.0%} of "
            f"{totals[c]:.0f}"
            for c in worst
        )

    def _view(self, name: Callable[[str], str]) -> dict[str, Any]:
        """What both templates show, each run or experiment name written by ``name``."""
        runs = [
            {
                "id": _html_id(run),
                "name": name(run),
                "experiment": record["experiment"],
                "seed": name(str(record["seed"])),
                "training": self.training[run].text if run in self.training else "",
                "counts": self._counts(run),
                "classes": name(self._worst_classes(run)),
                "scores": (["score", "value", "meaning"], self._run_rows(run)),
                "figures": self.run_figures[run],
            }
            for run, record in self.runs.items()
        ]

        def setting_rows(settings: Any) -> list[list[str]]:
            return [[name(key), name(value)] for key, value in flatten(settings)]

        return {
            "sections": [(id_, title) for id_, title in SECTIONS if id_ != "tuning" or self.tuning],
            "tuning": self._tuning_view(name),
            "summary": self.summary(name),
            "caveats": self.caveats(),
            "ranking": self._ranking_rows(name),
            "experiments": self._table_rows(name),
            "robustness": self._robustness_rows(name),
            "comparison_figures": self.comparison_figures,
            "runs": runs,
            "context": {
                "dataset": (["key", "value"], setting_rows(self.dataset)),
                "sampling-plans": (["sampling.setting", "value"], setting_rows(self.plans)),
                "parameters": (["parameter", "value"], setting_rows(self.parameters)),
            },
        }

    def _tuning_view(self, name: Callable[[str], str]) -> dict[str, Any] | None:
        """The Tuning section, every text written by ``name`` (None: not tuned)."""
        if self.tuning is None:
            return None
        headings, rows = self.tuning.table
        return {
            "lines": [name(line) for line in self.tuning.lines],
            "table": (headings, [[name(cell) for cell in row] for row in rows]),
            "figures": {"expected best validation score": self.tuning.figure},
        }

    def markdown(self) -> str:
        """The report as Markdown, figures linked; every name shows as typed."""
        return _MARKDOWN.get_template("report.md.j2").render(self._view(markdown_text))

    def html(self) -> str:
        """The report as one self-contained HTML page, figures embedded; every name escaped."""
        return _HTML.get_template("report.html.j2").render(self._view(str))


@dataclass(frozen=True)
class TrainingNote:
    """What the report says about how a run trained: beside the run (``text``), which epoch's
    weights it kept and each epoch's loss spikes and validation fall; in the summary
    (``problems``, empty when there were none), one line of them."""

    text: str
    problems: str

    @classmethod
    def of(cls, history: Mapping[str, Sequence[float]], keep: str) -> TrainingNote:
        """The note of a run's history (the columns the training loop writes)."""
        rows = pd.DataFrame(dict(history))
        kept_rows = rows[rows["kept"] == 1] if "kept" in rows else rows.tail(1)
        kept = kept_rows.iloc[0]
        text = f"the weights of epoch {int(kept['epoch'])} of {len(rows)} are kept"
        text += f" (training.keep: {keep})"
        if not math.isnan(kept.get("val_knn_accuracy", math.nan)):
            text += f"; validation kNN accuracy there {kept['val_knn_accuracy']:.3f}"
        spiked = rows[rows["spikes"] > 0] if "spikes" in rows else rows.iloc[:0]
        fell = rows["epoch"][rows["degraded"] == 1] if "degraded" in rows else rows["epoch"][:0]
        details = [f"loss spike at {_spike(row)}" for _, row in spiked.iterrows()]
        summary = []
        if len(spiked):
            epochs = ", ".join(str(int(epoch)) for epoch in spiked["epoch"])
            summary.append(
                f"{int(spiked['spikes'].sum())} loss-spike step(s) in epoch(s) {epochs}, the "
                f"first at {_spike(spiked.iloc[0])}"
            )
        if len(fell):
            summary.append(
                "validation score fell well below its best at epoch(s) "
                + ", ".join(str(int(epoch)) for epoch in fell)
            )
        details += summary[len(spiked) > 0 :]
        text += "; " + ("; ".join(details) if details else "no loss spike, no validation fall")
        return cls(text + ".", "; ".join(summary))


def _spike(row: pd.Series) -> str:
    """One epoch's first spike: ``epoch 9, step 264: loss 0.189 against a median of 0.001``."""
    more = f" ({int(row['spikes'])} steps of the epoch flagged)" if row["spikes"] > 1 else ""
    return (
        f"epoch {int(row['epoch'])}, step {int(row['spike_step'])}: loss {row['spike_loss']:.3g} "
        f"against a median of {row['spike_median']:.3g}{more}"
    )


def plan_summary(plan: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The shape and settings of a sampling plan, for the report."""
    epochs, steps, batch = plan["anchors"].shape
    summary: dict[str, Any] = {
        "epochs": int(epochs),
        "steps_per_epoch": int(steps),
        "batch": int(batch),
        "seed": int(plan["seed"]),
    }
    if "pairs_per_class" in plan:
        summary["pairs_per_class"] = int(plan["pairs_per_class"])
    if "augment" in plan:
        summary["augmentations"] = json.loads(str(plan["augment"]))
    return summary
