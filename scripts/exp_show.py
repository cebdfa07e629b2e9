"""`dvc exp show` with the columns that matter and short names: a headline score of each
experiment, and the parameters that differ between the experiments shown.

    .venv/bin/python scripts/exp_show.py           # what `make exp-show` runs
    .venv/bin/python scripts/exp_show.py --scores 'probe_accuracy|knn_accuracy' --md

Plain `dvc exp show` has a column per metric (the value and interval of each experiment's
headline scores, a metrics file each: data/08_reporting/metrics/<experiment>/<score>.json), per
parameter and per dependency's hash, each named by its file's path when its key repeats
(`data/08_reporting/metrics/ntxent/probe_accuracy.json:value`), so a terminal elides nearly all
of them. DVC 3.67 can neither rename nor pick columns by more than --keep and --drop, so this
reads `dvc exp show --json` and prints its own table: the value of the scores named by --scores
of the experiments named by --runs (`<experiment>/<score>`, or `<experiment>` for one score),
then each parameter whose value differs between the rows (its dotted path in
conf/base/parameters.yml). --md prints Markdown, --csv CSV; arguments after `--` go to
`dvc exp show --json` (e.g. `-- -A`: every commit).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PARAMETERS = "conf/base/parameters.yml"
METRICS = "data/08_reporting/metrics"  # dvc.yaml's metrics: <experiment>/<score>.json


def _flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys; lists and scalars as they are."""
    flat = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _revisions(show: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each row of ``dvc exp show --json`` (DVC 3.67: baselines, each with its experiments'
    ``revs[0]``): its name and its ``data``."""
    for baseline in show:
        rev = baseline.get("rev", "")
        yield baseline.get("name") or (rev if rev == "workspace" else rev[:7]), baseline["data"]
        for experiment in baseline.get("experiments") or []:
            revision = (experiment.get("revs") or [{}])[0]
            name = experiment.get("name") or revision.get("name") or revision.get("rev", "")[:7]
            yield f"└── {name}", revision.get("data") or {}


def table(show: list[dict[str, Any]], scores: str, runs: str) -> list[dict[str, Any]]:
    """One row per experiment: its name, each kept score's value (``<experiment>/<score>``, or
    ``<experiment>`` when one score is kept, which the first column's heading names) and the
    parameters that differ between the rows."""
    pattern = re.compile(rf"{re.escape(METRICS)}/({runs})/({scores})\.json")
    found, parameters = [], []
    for name, data in _revisions(show):
        values = {}
        for path, metric in sorted((data.get("metrics") or {}).items()):
            if (match := pattern.fullmatch(path)) and "value" in (metric.get("data") or {}):
                values[match[1], match[2]] = metric["data"]["value"]
        found.append((name, values))
        parameters.append(_flat((data.get("params") or {}).get(PARAMETERS, {}).get("data") or {}))
    kept = {score for _, values in found for _, score in values}
    single = kept.pop() if len(kept) == 1 else None
    heading = f"Experiment ({single})" if single else "Experiment"
    keys = sorted({key for values in parameters for key in values})
    changed = [k for k in keys if len({json.dumps(v.get(k)) for v in parameters}) > 1]
    return [
        {
            heading: name,
            **{(run if single else f"{run}/{score}"): v for (run, score), v in values.items()},
            **{key: params.get(key, "-") for key in changed},
        }
        for (name, values), params in zip(found, parameters, strict=True)
    ]


def render(rows: list[dict[str, Any]], style: str = "plain") -> str:
    """The rows as aligned text or Markdown (numbers to five significant digits), or CSV."""
    columns = list(dict.fromkeys(key for row in rows for key in row))

    def cell(value: Any) -> str:
        rounded = isinstance(value, float) and style != "csv"
        return f"{value:.5g}" if rounded else str(value)

    cells = [[cell(row.get(column, "-")) for column in columns] for row in rows]
    if style == "csv":
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows([columns, *cells])
        return out.getvalue()
    if style == "md":
        lines = [columns, ["---"] * len(columns), *cells]
        return "".join(f"| {' | '.join(line)} |\n" for line in lines)
    widths = [max(len(text) for text in column) for column in zip(columns, *cells, strict=True)]
    return "".join(
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        + "\n"
        for line in [columns, *cells]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scores",
        default="probe_accuracy",
        help="regex of the score names to show for every experiment (default: %(default)s)",
    )
    parser.add_argument(
        "--runs", default=r"[^/]+", help="regex of the experiments to show (default: every one)"
    )
    style = parser.add_mutually_exclusive_group()
    style.add_argument("--md", dest="style", action="store_const", const="md", default="plain")
    style.add_argument("--csv", dest="style", action="store_const", const="csv")
    parser.add_argument("dvc_args", nargs="*", help="passed on to `dvc exp show --json`")
    args = parser.parse_args(argv)
    command = ["dvc", "exp", "show", "--json", *args.dvc_args]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        print(result.stderr.strip(), file=sys.stderr)
        return result.returncode
    print(render(table(json.loads(result.stdout), args.scores, args.runs), args.style), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
