"""The study command line: ``run`` queues, runs and gathers a study; ``report`` gathers."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from crl_pipelines.errors import UserError
from crl_pipelines.studies.definition import (
    REPORTS,
    StudySettings,
    Variant,
    check_study,
    load_study,
    study_file,
)
from crl_pipelines.studies.queue import (
    base_parameters,
    check_repository,
    queue_variants,
    say,
    tool,
    wait_for,
)
from crl_pipelines.studies.report import write_report
from crl_pipelines.studies.results import (
    comparison_at,
    experiment_records,
    lookup,
    study_results,
)


def gather(study: StudySettings, root: Path, out: Callable[[str], None] = say) -> Path:
    """The study report from the current commit's DVC experiments; its folder."""
    show = json.loads(tool(root, "dvc", "exp", "show", "--json"))
    records = experiment_records(show, lambda rev: comparison_at(root, rev))
    results, missing = study_results(study, records)
    if results.empty:
        reasons = "; ".join(f"{name}: {why}" for name, why in missing.items())
        raise UserError(
            f"no variant of study {study.name} has scores on this commit ({reasons}); "
            "`dvc exp list --all-commits` shows the commits that have experiments"
        )
    found = next(records[name] for name in results["variant"])
    confidence = lookup(found.params, "evaluate.confidence")
    folder = root / REPORTS / study.name
    write_report(study, results, missing, folder, confidence)
    for name, why in missing.items():
        out(f"{name} is missing from the report: {why}")
    out(f"study report: {folder / 'report.md'}")
    return folder


def run_study(
    path: Path,
    root: Path,
    jobs: int,
    replace: bool = False,
    poll: float = 5.0,
    out: Callable[[str], None] = say,
) -> tuple[Path, list[Variant]]:
    """Check, queue, run and gather the study in ``path``; the report's folder and the failed
    variants."""
    check_repository(root)
    study = load_study(path)
    check_study(study, base_parameters(root), f"study {path}")
    tasks = queue_variants(study, root, replace, out)
    out(f"queued {len(tasks)} variants of study {study.name}; starting {jobs} queue worker(s)")
    tool(root, "dvc", "queue", "start", "-j", str(jobs), jobs=jobs)
    failed = wait_for(root, tasks, out, poll)
    return gather(study, root, out), failed


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"should be a positive integer, got {text!r}")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m crl_pipelines.studies",
        description="Run a study (a grid of DVC experiments) and gather its report.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="queue every variant, run the queue, gather")
    run.add_argument("study", help="conf/studies/<name>.yml, or the study's name")
    run.add_argument("-j", "--jobs", type=_positive, default=1, help="parallel queue workers")
    run.add_argument("--replace", action="store_true", help="remove earlier runs of the study")
    run.add_argument("--poll", type=float, default=5.0, help="seconds between status checks")
    report = commands.add_parser("report", help="gather the study's experiments only")
    report.add_argument("study", help="conf/studies/<name>.yml, or the study's name")
    for command in (run, report):
        command.add_argument("--root", type=Path, default=Path("."), help="the project root")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: 0 when every variant is in the report, 1 on a user error or when a
    variant failed (the report then shows the others)."""
    arguments = _parser().parse_args(argv)
    root = arguments.root.resolve()
    path = study_file(arguments.study, root)
    try:
        if arguments.command == "run":
            _, failed = run_study(path, root, arguments.jobs, arguments.replace, arguments.poll)
            return 1 if failed else 0
        gather(load_study(path), root)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
