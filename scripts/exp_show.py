"""`dvc exp show` with the columns that matter: headline scores of each experiment, and the
parameters that differ between the experiments shown.

    .venv/bin/python scripts/exp_show.py           # what `make exp-show` runs
    .venv/bin/python scripts/exp_show.py --scores 'probe_accuracy|knn_accuracy' -- --md

Plain `dvc exp show` prints the value and interval of each experiment's headline scores (a
metrics file each, data/08_reporting/metrics/<experiment>/<score>.json), every parameter and
every dependency's hash (over a hundred columns). DVC 3.67 has no setting for its columns, only
--only-changed, --keep and --drop, so this builds them: --keep the value of the scores named by
--scores of the experiments named by --runs (the columns `<metrics>/<run>/<score>.json:value`,
shown even when equal everywhere); --drop the Created column, every other metric and every
dependency, that is every column that is not a parameter (the top-level keys of
conf/base/parameters.yml); --only-changed, so a parameter shows only where the experiments
differ. A terminal narrower than the table elides its last columns (…):
`-- --md` or `-- --csv` prints them all.
Arguments after `--` go to `dvc exp show` as they are.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PARAMETERS = "conf/base/parameters.yml"
METRICS = "data/08_reporting/metrics"  # dvc.yaml's metrics: <experiment>/<score>.json
# The table's own columns kept (State and Executor appear while experiments are queued or run);
# Created is left out, for width.
OWN_COLUMNS = ("Experiment", "State", "Executor")


def exp_show_args(root: Path, scores: str, runs: str = r"[^./]+") -> list[str]:
    """The `dvc exp show` arguments that keep the value of ``scores`` of ``runs`` (regexes of
    names) and the parameters that changed, and drop every other column."""
    sections = yaml.safe_load((root / PARAMETERS).read_text())
    parameters = "|".join(map(re.escape, sections))
    own = "|".join(OWN_COLUMNS)
    return [
        "--only-changed",
        "--keep",
        rf"^Experiment$|^{re.escape(METRICS)}/(?:{runs})/(?:{scores})\.json:value$",
        "--drop",
        rf"^(?!(?:{own}|{parameters})(?:\.|$))",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scores",
        default="probe_accuracy",
        help="regex of the score names to show for every run (default: %(default)s)",
    )
    parser.add_argument(
        "--runs", default=r"[^./]+", help="regex of the experiments to show (default: every one)"
    )
    parser.add_argument("dvc_args", nargs="*", help="passed on to `dvc exp show`")
    args = parser.parse_args(argv)
    command = ["dvc", "exp", "show", "--no-pager", *exp_show_args(ROOT, args.scores, args.runs)]
    return subprocess.run([*command, *args.dvc_args], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
