"""Unit tests for the comparison table, ranking, formatting and the Markdown/HTML report."""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from html.parser import HTMLParser
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd
import pytest
from matplotlib.cbook import is_math_text
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text

from crl_pipelines.evaluation import figures as plots
from crl_pipelines.evaluation.battery import score_embeddings
from crl_pipelines.evaluation.report import (
    HEADLINE_SCORES,
    SECTIONS,
    FigureFile,
    Report,
    _markdown_table,
    comparison_table,
    flatten,
    format_value,
    markdown_text,
    plan_summary,
    ranking,
    used_parameters,
)
from crl_pipelines.evaluation.scores import SCORES, Score
from crl_pipelines.evaluation.settings import ScoringSettings
from crl_pipelines.evaluation.uncertainty import Significance

# without tuning, the report has no Tuning section
UNTUNED_SECTIONS = [(id_, title) for id_, title in SECTIONS if id_ != "tuning"]


def png(colour):
    """A tiny real PNG (one filled square of the given colour), drawn with matplotlib."""
    figure = Figure(figsize=(0.4, 0.4), dpi=20)
    figure.add_subplot().add_patch(Rectangle((0, 0), 1, 1, color=colour))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# comparison table
# ---------------------------------------------------------------------------------------------


RUN_SCORES = {
    "ntxent_s0": {"probe_accuracy": 0.80, "alignment": 0.40},
    "triplet_s0": {"probe_accuracy": 0.70, "alignment": 0.50},
    "ntxent_s1": {"probe_accuracy": 0.86, "alignment": 0.30},
    "ntxent_s2": {"probe_accuracy": 0.83, "alignment": 0.35},
}
RUN_EXPERIMENT = {
    "ntxent_s0": "ntxent",
    "triplet_s0": "triplet",
    "ntxent_s1": "ntxent",
    "ntxent_s2": "ntxent",
}


def test_comparison_table_mean_std_and_seeds():
    """Three runs: mean and sample std (ddof = 1) as numpy computes them; one run: its value and
    NaN std; seeds counts the runs."""
    table = comparison_table(RUN_SCORES, RUN_EXPERIMENT).set_index("experiment")
    ntxent = ["ntxent_s0", "ntxent_s1", "ntxent_s2"]
    for score in ("probe_accuracy", "alignment"):
        values = np.array([RUN_SCORES[run][score] for run in ntxent])
        assert table.loc["ntxent", score] == pytest.approx(values.mean(), rel=1e-12)
        assert table.loc["ntxent", f"{score}_std"] == pytest.approx(values.std(ddof=1), rel=1e-12)
        assert table.loc["triplet", score] == RUN_SCORES["triplet_s0"][score]
        assert math.isnan(table.loc["triplet", f"{score}_std"])
    assert table.loc["ntxent", "seeds"] == 3
    assert table.loc["triplet", "seeds"] == 1


def test_comparison_table_row_order_is_first_appearance():
    """Rows follow the experiments' first appearance in the run mapping, not alphabetical order."""
    runs = {"zeta_0": {"uniformity": -1.0}, "alpha_0": {"uniformity": -2.0}}
    runs["zeta_1"] = {"uniformity": -3.0}
    owners = {"zeta_0": "zeta", "alpha_0": "alpha", "zeta_1": "zeta"}
    table = comparison_table(runs, owners)
    assert list(table["experiment"]) == ["zeta", "alpha"]
    assert list(table["seeds"]) == [2, 1]


# ---------------------------------------------------------------------------------------------
# ranking
# ---------------------------------------------------------------------------------------------


def ranking_table():
    """Three trained experiments and a floor that is best on every score."""
    return pd.DataFrame(
        {
            "experiment": ["a", "b", "c", "random_init"],
            "probe_accuracy": [0.7, 0.9, 0.8, 0.99],  # higher is better
            "alignment": [0.3, 0.1, 0.2, 0.0],  # lower is better
            "knn_accuracy": [0.5, 0.5, 0.5, 0.1],  # equal for every trained experiment
            "pca2_variance": [0.2, 0.6, 0.4, 0.9],  # descriptive
        }
    )


def test_ranking_directions_and_floor():
    """Higher-is-better scores rank descending, lower-is-better ascending; the floor is never in
    the ranking (even though it is best on each)."""
    ranks = ranking(ranking_table(), floor="random_init")
    assert [name for name, _ in ranks["probe_accuracy"]] == ["b", "c", "a"]
    assert [value for _, value in ranks["probe_accuracy"]] == [0.9, 0.8, 0.7]
    assert [name for name, _ in ranks["alignment"]] == ["b", "c", "a"]
    assert [value for _, value in ranks["alignment"]] == [0.1, 0.2, 0.3]
    for order in ranks.values():
        assert "random_init" not in [name for name, _ in order]


def test_ranking_leaves_out_equal_descriptive_and_missing_scores():
    """A score equal for all trained experiments, a descriptive score (better == 0) and a score
    absent from the table are not ranked."""
    ranks = ranking(ranking_table(), floor="random_init")
    assert SCORES["pca2_variance"].better == 0
    assert set(ranks) == {"probe_accuracy", "alignment"}


# ---------------------------------------------------------------------------------------------
# formatting and JSON
# ---------------------------------------------------------------------------------------------


def test_format_value():
    """NaN shows as a dash, inf as "inf", a std after "± ", every value in its score's one
    format (large ones too), and "d" shows an integer without decimals."""
    assert format_value(math.nan) == "–"
    assert format_value(math.inf) == "inf"
    assert format_value(-math.inf) == "-inf"
    assert format_value(0.12345) == "0.123"
    assert format_value(0.5, 0.0123) == "0.500 ± 0.012"
    assert format_value(0.5, math.nan) == "0.500"
    assert format_value(123456.7) == "123456.700"
    assert format_value(0.5, 0.0123, fmt=".1f") == "0.5 ± 0.0"
    assert format_value(882.789, fmt=".1f") == "882.8"
    assert format_value(2397.0, fmt=".1f") == "2397.0"
    assert format_value(60.0, fmt="d") == "60"
    assert format_value(0.5, 0.7071, fmt="d") == "0.5 ± 0.7"


# ---------------------------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------------------------

FLOOR = "random_init"


def full_scores(probe, separation, alignment, collapsed=0.0):
    """A run's scores: three that differ between experiments, the rest filled in."""
    scores = {name: 0.5 for name in SCORES}
    scores.update(
        probe_accuracy=probe,
        class_separation=separation,
        alignment=alignment,
        collapsed=collapsed,
    )
    return scores


def small_report(run_scores=None):
    """Two trained experiments (one with two seeds) and the floor; one name contains "<"."""
    run_scores = run_scores or {
        "ntxent_s0": full_scores(0.9, 3.0, 0.2),
        "ntxent_s1": full_scores(0.8, 2.6, 0.3),
        "tri<plet>_s0": full_scores(0.35, 1.5, 0.4, collapsed=1.0),
        "floor_s0": full_scores(0.4, 1.2, 0.6),
    }
    run_experiment = {
        "ntxent_s0": "ntxent",
        "ntxent_s1": "ntxent",
        "tri<plet>_s0": "tri<plet>",
        "floor_s0": FLOOR,
    }
    runs = {
        run: {
            "experiment": run_experiment[run],
            "seed": int(run[-1]),
            "scores": scores,
            "skipped": {"silhouette": "too few rows"} if run == "ntxent_s1" else {},
            "seconds": {},
        }
        for run, scores in run_scores.items()
    }
    comparison_figures = {
        title: FigureFile(png(colour), f"figures/{i}.png")
        for i, (title, colour) in enumerate([("separation bars", "red"), ("probe bars", "green")])
    }
    run_figures = {
        run: {"distances": FigureFile(png("blue"), f"figures/{run}/distances.png")} for run in runs
    }
    run_figures["ntxent_s0"]["t-SNE"] = FigureFile(png("orange"), "figures/ntxent_s0/t-SNE.png")
    return Report(
        table=comparison_table(run_scores, run_experiment),
        floor=FLOOR,
        runs=runs,
        comparison_figures=comparison_figures,
        run_figures=run_figures,
        dataset={"name": "tiny"},
        plans={"class_pairs": {"epochs": 1}},
        parameters={"evaluate": {"knn_k": 5}},
    )


def test_report_summary_names_separation_order_and_floor():
    """The summary gives the class-separation order of trained experiments, the experiments at or
    below the floor's probe accuracy, and the collapsed ones."""
    lines = small_report().summary()
    assert any("Class separation on this data: ntxent > tri<plet>." in line for line in lines)
    floor_line = next(line for line in lines if line.startswith("Untrained floor"))
    assert "0.400" in floor_line
    assert "at or below it: tri<plet>." in floor_line
    assert "Collapsed representations: tri<plet>." in lines


def test_report_markdown_tables_figures_and_skipped():
    """Markdown has the ranking and all-experiments tables (floor labelled), one image link per
    figure_paths entry, a section per run, and skipped scores shown with their reason; the "<" of
    a name is escaped."""
    report = small_report()
    text = report.markdown()
    assert "## Ranking" in text and "## All experiments" in text
    assert "| separation ↑ | ntxent (2.800) | tri\\<plet\\> (1.500) |" in text
    assert "| alignment ↓ | ntxent (0.250) | tri\\<plet\\> (0.400) |" in text
    assert "| random_init (untrained floor) | 1 |" in text
    assert "| ntxent | 2 | 0.850 ± 0.071 |" in text
    figures = [*report.comparison_figures.values()]
    figures += [f for per_run in report.run_figures.values() for f in per_run.values()]
    for figure in figures:
        assert text.count(f"]({quote(figure.path)})") == 1, figure.path
    for run in report.runs:
        assert f"## {markdown_text(run)}" in text
    assert "## ntxent_s0" in text and "## tri\\<plet\\>\\_s0" in text
    assert "Not scored: silhouette (too few rows)." in text
    assert "| silhouette |" not in text.split("### ntxent_s1")[1].split("###")[0]
    assert "Class separation on this data: ntxent > tri\\<plet\\>." in text


def test_report_html_embeds_every_figure():
    """The HTML holds one base64 <img> per PNG, in order, each decoding to the same bytes."""
    report = small_report()
    page = report.html()
    expected = list(report.comparison_figures.values())
    for run in report.runs:
        expected += list(report.run_figures[run].values())
    assert page.count("<img ") == len(expected) == 7
    encoded = re.findall(
        r'<img alt="[^"]*"(?: style="[^"]*")? src="data:image/png;base64,([^"]+)">', page
    )
    assert [base64.b64decode(data) for data in encoded] == [f.png for f in expected]
    assert all(figure.png.startswith(b"\x89PNG") for figure in expected)


def test_report_html_tables_escaping_and_skipped():
    """The HTML has the ranking and all-experiments tables, escapes the run and experiment names
    containing "<", shows skipped scores with their reason, and the separation sentence."""
    page = small_report().html()
    rows = Page(page).rows
    assert "<h2>Ranking</h2>" in page and "<h2>All experiments</h2>" in page
    assert "<th>score</th><th>#1</th><th>#2</th>" in page
    assert ["separation ↑", "ntxent (2.800)", "tri<plet> (1.500)"] in rows
    assert next(r[:2] for r in rows if "random" in r[0]) == ["random_init (untrained floor)", "1"]
    assert "tri<plet>" not in page
    assert "<h3>tri&lt;plet&gt;_s0</h3>" in page
    assert "Not scored: silhouette (too few rows)." in page
    assert "Class separation on this data: ntxent &gt; tri&lt;plet&gt;." in page
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def test_plan_summary():
    """Epochs, steps and batch come from the anchors' shape; pairs_per_class and seed as ints."""
    plan = {
        "anchors": np.zeros((3, 5, 4), dtype=np.int64),
        "pairs_per_class": np.int64(2),
        "seed": np.array(7),
    }
    summary = plan_summary(plan)
    assert summary == {
        "epochs": 3,
        "steps_per_epoch": 5,
        "batch": 4,
        "pairs_per_class": 2,
        "seed": 7,
    }
    assert all(type(value) is int for value in summary.values())
    json.dumps(summary)


def test_markdown_cells_escape_pipes():
    """A '|' inside a cell (e.g. 'mean |Pearson r|') must not split the Markdown table."""
    table = _markdown_table(["score", "meaning"], [["mean_abs_correlation", "mean |r|"]])
    assert table.splitlines()[2] == "| mean_abs_correlation | mean \\|r\\| |"


def test_a_registered_toy_score_reaches_every_output(monkeypatch):
    """A score registered only in this test is computed by the battery and shown everywhere
    scores are: the comparison table, the ranking (in its direction and place), and
    the Markdown and HTML report (its heading, format and meaning), with no other change."""
    monkeypatch.setitem(
        SCORES,
        "toy_offset",
        Score(
            lambda run: float(run.test_x[0, 0]),
            needs_labels=False,
            heading="toy off.",
            better=-1,
            meaning="first test value (a toy)",
            in_table=True,
            order=0,  # first in the ranking and the table
            fmt=".1f",
        ),
    )
    rng = np.random.default_rng(0)
    runs = dict.fromkeys(["ntxent_s0", "ntxent_s1", "tri<plet>_s0", "floor_s0"])
    for offset, run in enumerate(runs):
        train_x, test_x = rng.normal(size=(40, 4)), rng.normal(size=(20, 4))
        test_x[0, 0] = 10.0 * offset
        result = score_embeddings(
            {"train_embedding": train_x, "test_embedding": test_x},
            ScoringSettings(tsne_sample=10, bootstrap_resamples=0),  # no intervals: seconds
        )
        assert result.scores["toy_offset"] == 10.0 * offset
        runs[run] = result.scores
    report = small_report(runs)
    assert list(report.table.set_index("experiment")["toy_offset"]) == [5.0, 20.0, 30.0]
    ranks = ranking(report.table, FLOOR)
    assert next(iter(ranks)) == "toy_offset"
    assert ranks["toy_offset"] == [("ntxent", 5.0), ("tri<plet>", 20.0)]  # lower is better
    markdown, page = report.markdown(), report.html()
    first_ranked = (
        "| score | #1 | #2 |\n|---|---|---|\n| toy off. ↓ | ntxent (5.0) | tri\\<plet\\> (20.0) |"
    )
    assert first_ranked in markdown
    assert "| experiment | seeds | toy off. | " in markdown
    assert "| ntxent | 2 | 5.0 ± 7.1 |" in markdown
    assert "| toy off. | 30.0 | first test value (a toy) |" in markdown
    rows = Page(page).rows
    assert ["toy off. ↓", "ntxent (5.0)", "tri<plet> (20.0)"] in rows
    assert "<th>seeds</th><th>toy off.</th>" in page
    assert ["toy off.", "30.0", "first test value (a toy)"] in rows


# ---------------------------------------------------------------------------------------------
# hostile names: plain text in figures, escaped in HTML and Markdown
# ---------------------------------------------------------------------------------------------

HOSTILE = (
    "$x^2$",
    "a$b",
    "cost $5 or $6",
    "$x^$ \\unknown{",  # mathtext that cannot be parsed: the figure would not draw
    "a\\$b",
    "\\frac",
    "<b>x</b>",
    "a|b",
    "*star* _under_",
    "`tick`",
    "[link](x) ~~no~~ #",
    "&amp; &",
    "line\nbreak",
    "_hidden",
)


def drawn(figure: Figure) -> list[str]:
    """Every non-empty string the figure draws, after rendering it to PNG; none may be mathtext
    (matplotlib draws a plain string with its escaped ``\\$`` as ``$``)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=40)
    assert buffer.getvalue().startswith(b"\x89PNG")
    texts = [text.get_text() for text in figure.findobj(Text) if text.get_text()]
    assert not [text for text in texts if is_math_text(text)]
    return [text.replace("\\$", "$") for text in texts]


def test_plots_draw_hostile_names_as_typed():
    """Class names, titles, legends and stage names containing mathtext, TeX, HTML, Markdown
    and newlines are drawn literally; a legend keeps a name starting with "_"."""
    names = list(HOSTILE)
    count = len(names)
    rng = np.random.default_rng(0)
    labels = np.arange(40) % count
    title = "run $x^2$ <b>x</b> cost $5 or $6 \\frac"
    figures = {
        "heatmap": plots.class_distance_heatmap(rng.random((count, count)), names, title),
        "scatter": plots.class_scatter(rng.normal(size=(40, 2)), labels, names, title, "$PC$"),
        "histograms": plots.between_class_histograms({n: rng.random(6) for n in names}),
        "depth": plots.probe_by_depth({n: {"$s1$": 0.5, "s_2_": 0.6} for n in names}),
        "curves": plots.training_curves({n: {"epoch": [0, 1], "loss": [2, 1]} for n in names}),
        "correlation": plots.correlation_heatmap(np.eye(3), title),
        "vif": plots.vif_bars(np.array([0.5, np.inf]), title),
        "skipped": plots.skipped(title, "$no$ labels"),
    }
    texts = {key: drawn(figure) for key, figure in figures.items()}
    for key in ("heatmap", "scatter", "histograms", "depth", "curves"):
        assert set(names) <= set(texts[key]), key
    for key in ("heatmap", "scatter", "correlation", "vif", "skipped"):
        assert any(text.startswith(title) for text in texts[key]), key
    assert {"$s1$", "s_2_", "$PC$ 1"} <= set(texts["depth"] + texts["scatter"])
    for key in ("histograms", "depth"):
        legend = figures[key].axes[0].get_legend()
        assert [t.get_text().replace("\\$", "$") for t in legend.get_texts()] == names


def hostile_report() -> Report:
    """A report whose experiments, runs and figure titles are all hostile names."""
    experiments = [*HOSTILE, FLOOR]
    run_experiment = {f"{name} run": name for name in experiments}
    run_scores = {
        run: full_scores(0.3 + 0.05 * i, 1.0 + i, 0.1 * i, collapsed=float(i == 0))
        for i, run in enumerate(run_experiment)
    }
    runs = {
        run: {"experiment": name, "seed": 0, "scores": run_scores[run], "skipped": {}}
        for run, name in run_experiment.items()
    }
    return Report(
        table=comparison_table(run_scores, run_experiment),
        floor=FLOOR,
        runs=runs,
        comparison_figures={name: FigureFile(png("red"), f"{name}.png") for name in HOSTILE},
        run_figures={run: {run: FigureFile(png("blue"), f"runs/{run}/x.png")} for run in runs},
        dataset={"class_names": list(HOSTILE)},
        plans={},
        parameters={},
    )


class Page(HTMLParser):
    """An HTML page read back: its tags, links, ids, image alt texts and sources, second- and
    third-level headings, the number of cells of each row of each table, the text of each
    table row's cells, and its text."""

    def __init__(self, page: str):
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []
        self.ids: list[str] = []
        self.images: list[dict[str, str]] = []
        self.headings: list[str] = []
        self.tables: list[list[int]] = []
        self.rows: list[list[str]] = []
        self.text: list[str] = []
        self.in_heading = self.in_cell = False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attributes = dict(attrs)
        self.links += [attributes["href"]] if tag == "a" else []
        self.ids += [attributes["id"]] if "id" in attributes else []
        if tag == "img":
            self.images.append(dict(attrs))
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append(0)
            self.rows.append([])
        elif tag in ("td", "th"):
            self.tables[-1][-1] += 1
            self.rows[-1].append("")
            self.in_cell = True
        elif tag in ("h2", "h3"):
            self.headings.append("")
            self.in_heading = True

    def handle_endtag(self, tag):
        self.in_heading = self.in_heading and tag not in ("h2", "h3")
        self.in_cell = self.in_cell and tag not in ("td", "th")

    def handle_data(self, data):
        self.text.append(data)
        if self.in_cell:
            self.rows[-1][-1] += data.strip("\n")
        if self.in_heading:
            self.headings[-1] += data


def one_line(name: str) -> str:
    return " ".join(name.splitlines())


def test_report_html_escapes_hostile_names():
    """No name adds a tag or an attribute to the HTML: every name reads back as typed in the
    text, in the headings and in the images' alt text; section ids hold no whitespace, and
    every link of the table of contents leads to one of them."""
    report = hostile_report()
    page = Page(report.html())
    expected = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "table"}
    expected |= {"thead", "tbody", "tr", "th", "td", "figure", "img", "figcaption", "section"}
    expected |= {"nav", "strong", "ol", "li", "a", "div", "span", "code", "script"}
    expected |= {"details", "summary"}
    assert set(page.tags) == expected
    assert sorted(page.links) == sorted(f"#{id}" for id in page.ids)
    assert len(page.links) == len(UNTUNED_SECTIONS) + len(report.runs)
    text = "".join(page.text)
    for name in HOSTILE:
        assert name in text
        assert f"{name} run" in page.headings
    assert [image["alt"] for image in page.images] == [*HOSTILE, *report.runs]
    assert all(len(set(rows)) == 1 for rows in page.tables)
    assert not re.search(r'<section id="[^"]*\s', report.html())


def test_report_markdown_escapes_hostile_names():
    """Rendered as CommonMark with tables, the Markdown keeps every table's column count, adds no
    emphasis, link, HTML or strikethrough, and shows each name as typed (a newline as a space)
    in the sentences, tables, headings and image alt text, with the image paths intact."""
    markdown_it = pytest.importorskip("markdown_it")
    report = hostile_report()
    rendered = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])
    page = Page(rendered.render(report.markdown()))
    assert not {"b", "em", "strong", "s", "br"} & set(page.tags)
    assert page.links == [f"#{id}" for id, _ in UNTUNED_SECTIONS]  # the table of contents only
    assert page.tags.count("code") == len(report.runs)
    # the ranking, the headline scores, every experiment, what its columns mean, the corruption
    # table, each run's, the dataset's class names
    assert len(page.tables) == 5 + len(report.runs) + 1
    assert all(len(set(rows)) == 1 for rows in page.tables)  # every row as wide as the header
    assert page.tables[2][0] == 2 + sum(score.in_table for score in SCORES.values())
    text = "".join(page.text)
    for name in HOSTILE:
        assert one_line(name) in text
        assert f"{one_line(name)} run" in page.headings
    names = [*HOSTILE, *report.runs]
    assert [image["alt"] for image in page.images] == [one_line(name) for name in names]
    paths = [f.path for f in report.comparison_figures.values()]
    paths += [f.path for figures in report.run_figures.values() for f in figures.values()]
    assert [unquote(image["src"]) for image in page.images] == paths


def test_markdown_text_escapes_syntax_and_keeps_plain_names():
    """Plain names (``random_init``, ``ntxent.seed0``) are unchanged; Markdown syntax is escaped;
    a newline becomes a space."""
    assert markdown_text("random_init") == "random_init"
    assert markdown_text("ntxent.seed0") == "ntxent.seed0"
    assert markdown_text("_x_") == "\\_x\\_"
    assert markdown_text("<b>x</b>") == "\\<b\\>x\\</b\\>"
    assert markdown_text("$x^2$ *a*") == "\\$x^2\\$ \\*a\\*"
    assert markdown_text("line\nbreak") == "line break"


def test_report_shows_intervals_tied_groups_and_only_significant_claims():
    """With a significance assessment the table and ranking carry each score's interval, tied
    experiments are joined by "=", and the headline says who cannot be told apart and who is
    behind whom (with the Holm-adjusted p), and states what the intervals cover."""
    report = small_report()
    table = report.table.copy()
    for name in ("class_separation", "probe_accuracy"):
        table[f"{name}_low"], table[f"{name}_high"] = table[name] - 0.1, table[name] + 0.1
    report.table = table
    adjusted = {("ntxent", "tri<plet>"): 0.004}
    report.significance = Significance(
        groups={"class_separation": [["ntxent"], ["tri<plet>"]],
                "probe_accuracy": [["ntxent", "tri<plet>"]]},
        adjusted={"class_separation": adjusted, "probe_accuracy": {("ntxent", "tri<plet>"): 0.3}},
        tests={"class_separation": "paired bootstrap", "probe_accuracy": "paired bootstrap"},
        alpha=0.05,
        note="Intervals: a note.",
    )  # fmt: skip
    text = report.markdown()
    assert "| separation ↑ | ntxent (2.800 [2.700, 2.900]) | tri\\<plet\\> (1.500 [1.400, " in text
    assert "| probe acc. ↑ | ntxent (0.850 [0.750, 0.950]) | = tri\\<plet\\> (0.350 " in text
    assert (
        "Class separation on this data: ntxent leads; tri\\<plet\\> is behind ntxent "
        "(Holm-adjusted p ≤ 0.004 < 0.05)." in text
    )
    assert "Linear probe accuracy: ntxent and tri\\<plet\\> cannot be told apart and lead." in text
    assert "Intervals: a note." in text
    assert "| ntxent | 2 | 0.850 ± 0.071 [0.750, 0.950] |" in text


def test_retrieval_figure_draws_images_with_randbits_channels():
    """RandBits channels (after the image's own) are left out of the pictures, so a grey image
    with 8 bit channels draws as grey."""
    from crl_pipelines.evaluation.figures import retrieval_figure
    from crl_pipelines.images import ImageDataset
    from crl_pipelines.sources.transforms import add_randbits

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(12, 1, 8, 8), dtype=np.uint8)
    dataset = add_randbits(ImageDataset(images, np.arange(12) % 3, ("a", "b", "c")), bits=8)
    assert dataset.images.shape[1] == 9
    figure = retrieval_figure(dataset, rng.normal(size=(12, 4)), True, "bits")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG")


# ---------------------------------------------------------------------------------------------
# what the report shows where: counts, settings, caveats, figures
# ---------------------------------------------------------------------------------------------


def test_counts_and_flags_are_beside_each_run_not_scores():
    """Counts (``tsne_sample``) and flags (``collapsed``) are neither ranked nor columns of
    the score tables; each run's note states them as integers and words."""
    report = small_report()
    assert all(SCORES[name].kind != "score" for name in ("tsne_sample", "collapsed"))
    text, page = report.markdown(), report.html()
    assert "| tsne_sample |" not in text and "| collapsed |" not in text
    assert "<td>collapsed</td>" not in page and "<th>collapsed</th>" not in page
    runs = {**report.runs}
    runs["ntxent_s0"] = {**runs["ntxent_s0"], "scores": {**runs["ntxent_s0"]["scores"]}}
    runs["ntxent_s0"]["scores"].update(
        tsne_sample=60.0, protocol_knn_neighbours=200.0, silhouette_sample=50
    )
    report.runs = runs
    (line,) = [line for line in report.markdown().splitlines() if "tsne_sample 60" in line]
    assert line.startswith("Counts: collapsed: no; tsne_sample 60;")
    assert "; protocol_knn_neighbours 200;" in line and "; silhouette_sample 50" in line
    assert "Counts: collapsed: yes;" in report.markdown()  # tri<plet>
    with pytest.raises(ValueError, match="neither ranked"):
        Score(lambda run: 0.0, needs_labels=False, heading="n", better=1, kind="count")


def test_settings_show_as_tables_of_dotted_keys():
    """Nested parameters become one row per dotted key, a list of plain values one row."""
    rows = flatten({"evaluate": {"knn_k": 5, "probe": {"on": True}}, "seeds": [0, 1], "x": {}})
    assert rows == [
        ["evaluate.knn_k", "5"], ["evaluate.probe.on", "true"], ["seeds", "0, 1"], ["x", "{}"]
    ]  # fmt: skip
    assert flatten({"augment": [{"name": "crop"}]}) == [["augment.0.name", "crop"]]
    report = small_report()
    assert "| evaluate.knn_k | 5 |" in report.markdown()
    rows = Page(report.html()).rows
    assert ["evaluate.knn_k", "5"] in rows and ["class_pairs.epochs", "1"] in rows


def test_caveat_without_intervals_or_with_one_seed():
    """Without intervals the report says the ranking is a plain order on N test images; with
    one seed per experiment it says what the intervals leave out."""
    report = small_report()
    report.dataset = {"test_images": 90}
    lines = report.caveats()
    assert "No intervals" in lines[0] and "90 test images" in lines[0] and "1.1 points" in lines[0]
    report.table = report.table[report.table["experiment"] != "ntxent"]
    report.table = report.table.assign(probe_accuracy_low=0.1, probe_accuracy_high=0.9)
    (line,) = report.caveats()
    assert line.startswith("One seed per experiment: how noisy a single-seed ranking on 90 test")
    assert line in report.html().replace("&#39;", "'")


def test_retrieval_grid_has_one_query_per_class():
    """Every class has its row (ten classes: ten rows), labelled with the class name; each
    neighbour is framed green when it shares the query's class, red when not."""
    from matplotlib.colors import to_hex

    from crl_pipelines.evaluation.figures import RETRIEVAL_NEIGHBOURS, retrieval_figure
    from crl_pipelines.images import ImageDataset

    rng = np.random.default_rng(0)
    labels = np.arange(60) % 10
    names = tuple(f"c{k}" for k in range(10))
    dataset = ImageDataset(rng.integers(0, 255, (60, 1, 8, 8), dtype=np.uint8), labels, names)
    embedding = rng.normal(size=(60, 4))
    embedding[labels == 3] = embedding[3]  # class 3's images are one point: its own neighbours
    figure = retrieval_figure(dataset, embedding, True, "run")
    (ax,) = figure.axes
    assert [label.get_text() for label in ax.get_yticklabels()] == list(names)
    (frames,) = ax.collections  # a frame per picture: the query's black, the neighbours' coloured
    colours = [to_hex(colour) for colour in frames.get_edgecolor()]
    assert len(colours) == 10 * (1 + RETRIEVAL_NEIGHBOURS)
    row = colours[3 * (1 + RETRIEVAL_NEIGHBOURS) :][: 1 + RETRIEVAL_NEIGHBOURS]
    assert row == [to_hex("black")] + [to_hex("tab:green")] * 5 + [to_hex("tab:red")] * 3


def test_training_curves_one_panel_per_run_across_the_page():
    """A panel per run (each loss on its own axis), three to a row, 13 inches wide."""
    histories = {f"run{i}": {"epoch": [1, 2], "loss": [10.0**i, 0.5 * 10.0**i]} for i in range(4)}
    figure = plots.training_curves(histories)
    panels = [ax for ax in figure.axes if ax.get_visible() and ax.get_title()]
    assert [ax.get_title() for ax in panels] == list(histories)
    assert figure.get_size_inches()[0] == 13
    assert panels[0].get_ylim()[1] < 2 < 900 < panels[3].get_ylim()[1]  # each on its own scale


def test_each_runs_note_names_its_worst_classes_from_its_confusion():
    """The three classes the probe gets right least often, with their share and test images;
    classes without test images are left out; a run without a confusion shows no line."""
    report = small_report()
    report.dataset = {"name": "tiny", "class_names": ["zero", "one", "t*o", "three", "four"]}
    confusion = [
        [9, 1, 0, 0, 0],
        [0, 5, 5, 0, 0],
        [0, 0, 0, 0, 0],
        [2, 0, 0, 8, 0],
        [0, 0, 0, 1, 3],
    ]
    report.runs = {**report.runs, "ntxent_s0": {**report.runs["ntxent_s0"], "confusion": confusion}}
    markdown = report.markdown()
    line = "Worst classes (linear probe, right of the class's test images): one 50% of 10, "
    assert line + "four 75% of 4, three 80% of 10." in markdown
    assert markdown.count("Worst classes") == 1
    assert "one 50% of 10, four 75% of 4, three 80% of 10" in report.html()


def test_the_corruption_table_shows_each_experiments_probe_accuracy_per_corruption():
    """One row per experiment with corrupted scores (mean and per corruption, with intervals),
    none without; nothing at all when no run was corrupted."""
    report = small_report()
    table = report.table.copy()
    table.loc[table["experiment"] == FLOOR, "corruption_probe_accuracy"] = float("nan")
    table["corruption_blur_low"], table["corruption_blur_high"] = 0.4, 0.6
    report.table = table
    headings, rows = report._robustness_rows(str)
    assert headings[:3] == ["experiment", "corr. probe acc.", "gaussian noise"]
    assert [row[0] for row in rows] == ["ntxent", "tri<plet>"]
    assert rows[1][headings.index("blur")] == "0.500 [0.400, 0.600]"  # one seed: no ±
    assert "Accuracy under corrupted inputs" in report.markdown()
    report.table = table.drop(columns=[c for c in table if c.startswith("corruption_")])
    assert report._robustness_rows(str)[1] == []
    assert "Accuracy under corrupted inputs" not in report.markdown()


# ---------------------------------------------------------------------------------------------
# a report read in a minute: what comes first, labels, folds, captions, scales, failed runs
# ---------------------------------------------------------------------------------------------


def test_sections_put_the_ranking_intervals_and_comparison_figures_first():
    """After the summary come the ranking, the headline intervals and the comparison figures;
    the runs and the settings come last, each folded."""
    ids = [id_ for id_, _ in SECTIONS]
    assert ids[:4] == ["summary", "ranking", "intervals", "comparison-figures"]
    page = small_report().html()
    order = [page.index(f'<section id="{id_}">') for id_, _ in UNTUNED_SECTIONS]
    assert order == sorted(order)
    for run in small_report().runs:
        assert f'<section id="run-{run}"><details><summary><h3>' in html.unescape(page)
    for id_ in ("dataset", "sampling-plans", "parameters"):
        assert re.search(f'<section id="{id_}">.*?<details>.*?</section>', page, re.S), id_


def test_failed_runs_are_named_once_at_the_top_with_why():
    """``failed`` (run → why) is one notice above the summary in both outputs, each run with
    its reason, names escaped; without failed runs there is no notice."""
    report = small_report()
    assert 'role="alert"' not in report.html() and "failed" not in report.markdown()
    report.failed = {"tri<plet>.seed1": "CUDA out of memory", "ntxent.seed2": "loss was NaN"}
    page, markdown = report.html(), report.markdown()
    top = page.split('<section id="summary">')[0]
    assert top.count('role="alert"') == 1
    assert "2 runs failed and have no rows in this report:" in top
    assert "<li><code>tri&lt;plet&gt;.seed1</code>: CUDA out of memory</li>" in top
    assert "<li><code>ntxent.seed2</code>: loss was NaN</li>" in top
    line = "> 2 runs failed and have no rows in this report: tri\\<plet\\>.seed1 (CUDA out of "
    assert line + "memory); ntxent.seed2 (loss was NaN)." in markdown.split("## Summary")[0]


def test_every_score_has_a_meaning_and_runs_show_labels_not_keys():
    """Every registered score says what it means, and the report says it of every column of the
    comparison table; a run's table names each score by its heading (or its name in words when
    it has none), never by its key."""
    assert [name for name, score in SCORES.items() if not score.meaning] == []
    columns = [score for score in SCORES.values() if score.in_table]
    meanings = [[score.heading, score.meaning] for score in columns]
    assert all(row in Page(small_report().html()).rows for row in meanings)
    report = small_report()
    rows = report._run_rows("ntxent_s0")
    labels = [row[0] for row in rows]
    assert "ARI" in labels and "probe stem" in labels and "kmeans_ari" not in labels
    assert all(row[2] for row in rows)


def test_skipped_scores_are_one_line_grouped_by_why():
    """A run's skipped scores are one line, by label, those skipped for the same reason
    together; they have no rows in its table."""
    report = small_report()
    skipped = {
        "probe_layer3": "not extracted",
        "kmeans_ari": "one class",
        "probe_layer4": "not extracted",
    }
    report.runs["ntxent_s0"] = {**report.runs["ntxent_s0"], "skipped": skipped}
    line = "Not scored: probe layer3, probe layer4 (not extracted); ARI (one class)."
    assert line in report.markdown() and line in report.html()
    labels = [row[0] for row in report._run_rows("ntxent_s0")]
    assert not {"probe layer3", "probe layer4", "ARI"} & set(labels)


def test_only_the_parameters_used_are_listed():
    """Augmentations only when a plan draws augmented views, tune only its switch when off,
    distributed only beyond one process, an experiment's keys only when set; each block left
    out is named with why."""
    parameters = {
        "augment": {"crop": {"scale": [0.6, 1.0]}},
        "tune": {"use": False, "trials": 20},
        "training": {"learning_rate": 0.001, "distributed": {"nproc_per_node": 1, "nnodes": 1}},
        "experiments": {"ntxent": {"loss": "ntxent", "model": None, "training": None}},
    }
    shown, unused = used_parameters(parameters, {"class_pairs": {"epochs": 1}})
    assert shown == {
        "tune": {"use": False},
        "training": {"learning_rate": 0.001},
        "experiments": {"ntxent": {"loss": "ntxent"}},
    }
    assert [line.split(" (")[0] for line in unused] == [
        "augment", "the rest of tune", "training.distributed"
    ]  # fmt: skip
    parameters["tune"]["use"] = True
    parameters["training"]["distributed"]["nnodes"] = 2
    augmented = {"augmented_views": {"augmentations": {"crop": {}}}}
    shown, unused = used_parameters(parameters, augmented)
    assert shown["augment"] == parameters["augment"] and shown["tune"]["trials"] == 20
    assert shown["training"]["distributed"]["nnodes"] == 2 and unused == []
    report = small_report()
    report.parameters = {"tune": {"use": False, "trials": 20}}
    assert "Not used by this run, so not listed: the rest of tune" in report.markdown()
    assert "tune.trials" not in report.html()


def test_interval_plot_places_each_estimate_inside_its_interval_best_first():
    """One panel per headline score the table holds: experiments best first (in the score's
    direction), each estimate inside its bar, every bar inside the axis, the floor marked."""
    report = small_report()
    table = report.table.copy()
    for key in ("probe_accuracy", "alignment"):
        table[f"{key}_low"], table[f"{key}_high"] = table[key] - 0.05, table[key] + 0.1
    report.table = table
    panels = {panel["heading"]: panel for panel in report._intervals(str)}
    assert list(panels) == [
        f"{SCORES[key].heading} {'↓' if SCORES[key].better < 0 else '↑'}" for key in HEADLINE_SCORES
    ]
    probe = panels["probe acc. ↑"]
    assert [row["name"] for row in probe["rows"]] == ["ntxent", FLOOR, "tri<plet>"]
    assert [row["floor"] for row in probe["rows"]] == [False, True, False]
    for row in probe["rows"]:
        assert 0 <= row["low"] <= row["at"] <= row["low"] + row["width"] <= 100
    assert probe["rows"][0]["value"] == "0.850 [0.800, 0.950]"
    assert probe["axis"] == ("0.267", "0.983")  # 0.30 to 0.95, and 5 % of that either side
    assert panels["separation ↑"]["rows"][0]["low"] == panels["separation ↑"]["rows"][0]["at"]
    page = Page(report.html())
    assert "probe acc. ↑" in "".join(page.text)
    assert "| experiment | probe acc. ↑ | kNN acc. ↑ |" in report.markdown()


def test_figures_have_captions_in_words_and_a_readable_narrowest_width():
    """Every figure the runs and the comparison show has a caption in words (its alt text and
    caption in HTML, its alt text in Markdown); a figure is never shown narrower than the
    width at which its smallest text is 9 CSS pixels (72 px per inch at 9 pt)."""
    assert set(plots.CAPTIONS) >= {*plots.RUN_FIGURES, *plots.COMPARISON_FIGURES, "cka"}
    figure = Figure(figsize=(5.0, 1.0), dpi=30)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    report = small_report()
    report.comparison_figures = {"training_curves": FigureFile(buffer.getvalue(), "t.png")}
    caption = plots.CAPTIONS["training_curves"]
    page = report.html()
    image = next(i for i in Page(page).images if i["alt"] == caption)
    assert image["style"] == f"min-width: {5 * 72 * 9 // plots.SMALLEST_TEXT_PT}px"
    assert f"<figcaption>{caption}</figcaption>" in page
    assert f"![{markdown_text(caption)}](t.png)" in report.markdown()


def test_no_figure_draws_text_below_the_smallest_size():
    """Every text of the comparison figures, the CKA heat maps and a run's heat maps is at least
    SMALLEST_TEXT_PT, so the narrowest width the report allows keeps it readable."""
    rng = np.random.default_rng(0)
    names = ["a", "b", "c"]
    matrix = rng.random((3, 3))
    robustness = {n: {"names": ["blur"], "probe": [[0.5] * 5], "clean": 0.9} for n in names}
    drawings = [
        plots.comparison_figures(
            {n: rng.random(3) for n in names},
            {n: {"stem": 0.5, "embedding": 0.6} for n in names},
            {
                n: {"epoch": [1, 2], "loss": [2.0, 1.0], "val_knn_accuracy": [0.5, 0.6]}
                for n in names
            },
            robustness,
        ).values(),
        [plots.cka_heatmaps({"embedding": matrix}, names)],
        [plots.confusion_heatmap(np.eye(3, dtype=int) * 4, names, "run")],
        [plots.class_distance_heatmap(matrix, names, "run")],
    ]
    for figure in (figure for group in drawings for figure in group):
        sizes = [text.get_fontsize() for text in figure.findobj(Text) if text.get_text()]
        assert min(sizes) >= plots.SMALLEST_TEXT_PT


def test_runs_class_distance_maps_share_one_colour_scale():
    """Two runs whose embeddings differ in scale draw their class distances on the same 0 to 1
    scale, as shares of each run's largest distance."""
    small = np.array([[0.1, 1.0], [1.0, 0.2]])
    images = [
        plots.class_distance_heatmap(matrix, ["x", "y"], "run").axes[0].get_images()[0]
        for matrix in (small, 50 * small)
    ]
    assert [image.get_clim() for image in images] == [(0.0, 1.0), (0.0, 1.0)]
    assert np.allclose(images[0].get_array(), images[1].get_array())
    assert images[0].get_array().max() == 1.0
