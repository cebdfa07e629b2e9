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
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import jinja2
import numpy as np
import pandas as pd

from crl_pipelines.evaluation.figures import CAPTIONS, SMALLEST_TEXT_PT
from crl_pipelines.evaluation.metrics_file import HEADLINE
from crl_pipelines.evaluation.scores import SCORES, Score, in_order
from crl_pipelines.evaluation.scores.robustness import MEAN_CORRUPTION, PER_CORRUPTION
from crl_pipelines.evaluation.similarity import similarity_sentences
from crl_pipelines.evaluation.uncertainty import Significance

_UNREGISTERED = Score(compute=lambda run: math.nan, needs_labels=False)
P_FLOOR = 1e-4  # smaller p-values read "p < 0.0001": the normal tail says nothing finer
# The scores the interval plot shows near the top of the report (those the table holds): DVC's
# headline scores, the class separation the summary sets against the guide's ranking, and the
# uniformity of the embedding.
HEADLINE_SCORES = (*HEADLINE, "class_separation", "uniformity")
SMALLEST_TEXT_PX = 9  # a figure is never shown so small that its smallest text is below this


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


def _label(name: str) -> str:
    """A score's label in words: its heading, or its name with spaces (``probe layer1``)."""
    return SCORES.get(name, _UNREGISTERED).heading or name.replace("_", " ")


def _arrow(name: str) -> str:
    """Which way a score is better: ↑, ↓ or nothing (descriptive)."""
    return {1: "↑", -1: "↓"}.get(SCORES[name].better, "")


def _axis(low: float, high: float) -> tuple[float, float]:
    """An interval plot's axis: the lowest to the highest end, 5 % of the span either side (a
    span of nothing widened, so a lone value sits in the middle)."""
    pad = 0.05 * (high - low) if high > low else 0.5 * abs(low) or 0.5
    return low - pad, high + pad


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


def _png_inches(png: bytes) -> float | None:
    """A PNG's width in inches, from its header's width and its pHYs density (matplotlib writes
    both); None when it does not say its density."""
    if not png.startswith(b"\x89PNG\r\n\x1a\n") or len(png) < 24:
        return None
    at = png.find(b"pHYs", 0, png.find(b"IDAT"))
    if at < 0:
        return None
    per_metre, _, unit = struct.unpack(">IIB", png[at + 4 : at + 13])
    if unit != 1 or not per_metre:
        return None
    return struct.unpack(">I", png[16:20])[0] / (per_metre * 0.0254)


def _figure_views(files: Mapping[str, FigureFile]) -> list[dict[str, Any]]:
    """Each figure as the templates show it: its name, its caption in words (its name when it
    has none), its file, and the narrowest width in CSS pixels at which its smallest text
    (:data:`~crl_pipelines.evaluation.figures.SMALLEST_TEXT_PT`) stays
    :data:`SMALLEST_TEXT_PX` (0: unknown); below it the figure scrolls in its own box."""
    views = []
    for key, file in files.items():
        inches = _png_inches(file.png)
        narrowest = inches * 72 * SMALLEST_TEXT_PX / SMALLEST_TEXT_PT if inches else 0
        views.append(
            {"key": key, "caption": CAPTIONS.get(key, key), "file": file, "min_width": narrowest}
        )
    return views


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


def used_parameters(
    parameters: Mapping[str, Any], plans: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, Any], list[str]]:
    """The parameters the run used, and each block left out with why: ``augment`` when no plan
    draws augmented views, ``tune`` but its switch when it is off, ``training.distributed`` in
    one process, and an experiment's keys left empty (the shared blocks hold for it)."""
    shown, unused = dict(parameters), []
    if "augment" in shown and not any("augmentations" in plan for plan in plans.values()):
        del shown["augment"]
        unused.append("augment (no experiment trains on augmented views)")
    tune = shown.get("tune")
    if isinstance(tune, Mapping) and tune.get("use") is False and len(tune) > 1:
        shown["tune"] = {"use": False}
        unused.append("the rest of tune (tune.use is false)")
    training = shown.get("training")
    world = training.get("distributed") if isinstance(training, Mapping) else None
    if isinstance(world, Mapping) and world.get("nproc_per_node") == world.get("nnodes") == 1:
        shown["training"] = {key: value for key, value in training.items() if key != "distributed"}
        unused.append("training.distributed (one process)")
    experiments = shown.get("experiments")
    if isinstance(experiments, Mapping):
        shown["experiments"] = {
            name: {key: value for key, value in entry.items() if value is not None}
            if isinstance(entry, Mapping)
            else entry
            for name, entry in experiments.items()
        }
    return shown, unused


# The report's sections, in order: (id, heading); the runs' sections sit under "runs", and
# "tuning" is there when the experiments are tuned. What a reader looks at first comes first:
# the ranking, the headline scores' intervals and the figures that compare the experiments.
SECTIONS = (
    ("summary", "Summary"),
    ("ranking", "Ranking"),
    ("intervals", "Headline scores with intervals"),
    ("comparison-figures", "Comparison figures"),
    ("all-experiments", "All experiments"),
    ("tuning", "Tuning"),
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
        md_image=lambda figure: _markdown_image(figure["caption"], figure["file"]),
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
    # runs that failed (run -> one line of why): named at the top of the report, with no rows
    failed: Mapping[str, str] = field(default_factory=dict)

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
            cells = [f"{score.heading} {_arrow(key)}"]
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

    @staticmethod
    def _glossary() -> tuple[list[str], list[list[str]]]:
        """What each column of the comparison table means, from the registry."""
        rows = [[score.heading, score.meaning] for _, score in in_order() if score.in_table]
        return ["score", "meaning"], rows

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
        """Plain sentences: the findings (:meth:`findings`), then how the intervals and tests
        were made (each experiment written by ``name``)."""
        method = [self.significance.note] if self.significance is not None else []
        return self.findings(name) + method

    def findings(self, name: Callable[[str], str] = str) -> list[str]:
        """What the comparison found, in plain sentences: the separation ranking against the
        guide's, the probe ranking, the floor, collapse, instability and similarity."""
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
        """A run's scores (not its counts and flags: :meth:`_counts`; not those it skipped:
        :meth:`_not_scored`), each by its label with its meaning."""
        record = self.runs[run]
        rows = []
        for name, value in record["scores"].items():
            score = SCORES.get(name, _UNREGISTERED)  # a record may outlive a removed score
            if score.kind == "score" and name not in record["skipped"]:
                shown = format_value(float(value), fmt=score.fmt)
                rows.append([_label(name), shown, score.meaning])
        return rows

    def _not_scored(self, run: str) -> str:
        """The scores a run skipped, in one line grouped by why:
        ``probe layer3, probe layer4 (features not extracted)``."""
        by_reason: dict[str, list[str]] = {}
        for name, why in self.runs[run]["skipped"].items():
            by_reason.setdefault(str(why), []).append(_label(name))
        return "; ".join(f"{', '.join(names)} ({why})" for why, names in by_reason.items())

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

    def _run_view(self, run: str, name: Callable[[str], str]) -> dict[str, Any]:
        """One run's section, every name written by ``name``."""
        record = self.runs[run]
        return {
            "id": _html_id(run),
            "name": name(run),
            "experiment": record["experiment"],
            "seed": name(str(record["seed"])),
            "training": self.training[run].text if run in self.training else "",
            "counts": self._counts(run),
            "classes": name(self._worst_classes(run)),
            "not_scored": self._not_scored(run),
            "scores": (["score", "value", "meaning"], self._run_rows(run)),
            "figures": _figure_views(self.run_figures[run]),
        }

    def _view(self, name: Callable[[str], str]) -> dict[str, Any]:
        """What both templates show, each run or experiment name written by ``name``."""

        def setting_rows(settings: Any) -> list[list[str]]:
            return [[name(key), name(value)] for key, value in flatten(settings)]

        parameters, unused = used_parameters(self.parameters, self.plans)
        return {
            "sections": [(id_, title) for id_, title in SECTIONS if id_ != "tuning" or self.tuning],
            "failed": [(name(run), name(why)) for run, why in self.failed.items()],
            "tuning": self._tuning_view(name),
            "summary": self.findings(name),
            "method": self.significance.note if self.significance is not None else "",
            "caveats": self.caveats(),
            "ranking": self._ranking_rows(name),
            "intervals": self._intervals(name),
            "headline": self._headline_rows(name),
            "experiments": self._table_rows(name),
            "glossary": self._glossary(),
            "robustness": self._robustness_rows(name),
            "comparison_figures": _figure_views(self.comparison_figures),
            "runs": [self._run_view(run, name) for run in self.runs],
            "unused": unused,
            "context": {
                "dataset": (["key", "value"], setting_rows(self.dataset)),
                "sampling-plans": (["sampling.setting", "value"], setting_rows(self.plans)),
                "parameters": (["parameter", "value"], setting_rows(parameters)),
            },
        }

    def _headlines(self) -> list[str]:
        """The :data:`HEADLINE_SCORES` the comparison table holds a value of."""
        return [
            key
            for key in HEADLINE_SCORES
            if key in self.table and self.table[key].astype(float).notna().any()
        ]

    def _headline_rows(self, name: Callable[[str], str]) -> tuple[list[str], list[list[str]]]:
        """The headline scores as a table (Markdown's interval plot): an experiment a row, each
        score with its interval."""
        keys = self._headlines()
        headings = ["experiment", *(f"{SCORES[key].heading} {_arrow(key)}" for key in keys)]
        rows = [
            [name(row["experiment"]), *(_value(row, key, with_std=False) for key in keys)]
            for _, row in self.table.iterrows()
        ]
        return headings, rows

    def _intervals(self, name: Callable[[str], str]) -> list[dict[str, Any]]:
        """The interval plot: one panel per headline score (:meth:`_interval_panel`)."""
        return [self._interval_panel(key, name) for key in self._headlines()]

    def _interval_panel(self, key: str, name: Callable[[str], str]) -> dict[str, Any]:
        """One headline score's panel: every experiment from best to worst, its estimate and
        interval as places (0 to 100) on one axis the experiments share."""
        score, rows = SCORES[key], self.table[self.table[key].astype(float).notna()]
        rows = rows.sort_values(key, ascending=score.better < 0)
        middle = rows[key].astype(float).to_numpy()
        ends = [
            rows[f"{key}{end}"].astype(float).to_numpy() if f"{key}{end}" in rows else middle
            for end in ("_low", "_high")
        ]
        low, high = (np.where(np.isfinite(end), end, middle) for end in ends)
        start, stop = _axis(float(low.min()), float(high.max()))

        def at(value: float) -> float:
            return round(100 * (value - start) / (stop - start), 2)

        return {
            "heading": f"{score.heading} {_arrow(key)}",
            "meaning": score.meaning,
            "axis": (format_value(start, fmt=score.fmt), format_value(stop, fmt=score.fmt)),
            "rows": [
                {
                    "name": name(row["experiment"]),
                    "floor": row["experiment"] == self.floor,
                    "value": _value(row, key, with_std=False),
                    "low": at(lo),
                    "width": round(at(hi) - at(lo), 2),
                    "at": at(mid),
                }
                for (_, row), lo, mid, hi in zip(rows.iterrows(), low, middle, high, strict=True)
            ],
        }

    def _tuning_view(self, name: Callable[[str], str]) -> dict[str, Any] | None:
        """The Tuning section, every text written by ``name`` (None: not tuned)."""
        if self.tuning is None:
            return None
        headings, rows = self.tuning.table
        return {
            "lines": [name(line) for line in self.tuning.lines],
            "table": (headings, [[name(cell) for cell in row] for row in rows]),
            "figures": _figure_views({"expected best validation score": self.tuning.figure}),
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
