"""Driving git and DVC: queue the variants as experiments, start the queue, wait for it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crl_pipelines.errors import UserError
from crl_pipelines.studies.definition import (
    PARAMETERS,
    StudySettings,
    Variant,
    read_yaml,
    variant_parameters,
    variants,
)


def environment(jobs: int = 1) -> dict[str, str]:
    """The environment of ``dvc`` and its queue workers: this interpreter's scripts first on
    PATH (``dvc``, ``kedro``), no telemetry, no ``KEDRO_ENV`` (DVC reads ``conf/base`` only),
    and the CPU shared between ``jobs`` parallel variants unless ``OMP_NUM_THREADS`` says."""
    scripts = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.update(KEDRO_DISABLE_TELEMETRY="1", DO_NOT_TRACK="1", DVC_NO_ANALYTICS="1")
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // max(1, jobs))))
    env.pop("KEDRO_ENV", None)
    return env


def tool(root: Path, *args: str, jobs: int = 1, check: bool = True) -> str:
    """Run ``git`` or ``dvc`` in ``root``; its output, or a :class:`UserError` with it. The
    output goes through files, not pipes: ``dvc queue start`` leaves workers behind that inherit
    them, and a pipe would keep this call waiting until the last worker exits."""
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        code = subprocess.run(
            list(args), cwd=root, env=environment(jobs), stdout=stdout, stderr=stderr, check=False
        ).returncode
        stdout.seek(0)
        stderr.seek(0)
        output, errors = stdout.read(), stderr.read()
    if check and code != 0:
        lines = (errors.strip() or output.strip()).splitlines()[-20:]
        raise UserError(f"`{' '.join(args[:3])} …` failed in {root}:\n" + "\n".join(lines))
    return output


def check_repository(root: Path) -> None:
    """``root`` is a DVC project in a git repository with a commit, or a :class:`UserError`."""
    if not (root / "dvc.yaml").is_file() or not (root / ".dvc").is_dir():
        raise UserError(f"{root} is no DVC project (dvc.yaml and .dvc/): run studies in its root")
    if subprocess.run(
        ["git", "rev-parse", "--verify", "HEAD"], cwd=root, capture_output=True
    ).returncode:
        raise UserError(f"{root} has no git commit: commit the project first (git add, git commit)")


@dataclass(frozen=True)
class QueueTask:
    """One row of ``dvc queue status``."""

    task: str
    name: str
    status: str  # Queued, Running, Success or Failed


_STATES = ("Queued", "Running", "Success", "Failed")


def parse_queue_status(text: str) -> tuple[list[QueueTask], int]:
    """``dvc queue status``'s rows and its count of workers (active and idle)."""
    tasks = []
    for line in text.splitlines():
        cells = line.split()
        if len(cells) >= 4 and cells[-1] in _STATES and re.fullmatch(r"[0-9a-f]{7,}", cells[0]):
            tasks.append(QueueTask(cells[0], cells[1], cells[-1]))
    workers = re.search(r"Worker status:\s*(\d+) active,\s*(\d+) idle", text)
    return tasks, (int(workers[1]) + int(workers[2]) if workers else 0)


def base_parameters(root: Path) -> dict[str, Any]:
    """``conf/base/parameters.yml`` of the project in ``root``."""
    return read_yaml(root / PARAMETERS, "the parameters")


def queue_variants(
    study: StudySettings, root: Path, replace: bool, out: Callable[[str], None]
) -> dict[str, Variant]:
    """Queue one DVC experiment per variant; the queue's task ids of the variants. Refused while
    a variant of the same name is queued or running, or (without ``replace``) exists already."""
    chosen = variants(study)
    names = {variant.name for variant in chosen}
    tasks, _ = parse_queue_status(tool(root, "dvc", "queue", "status"))
    busy = sorted({t.name for t in tasks if t.name in names and t.status in _STATES[:2]})
    if busy:
        raise UserError(
            f"{', '.join(busy)} of study {study.name} are queued or running already: wait for "
            "them (`dvc queue status`), or drop them (`dvc queue kill`, `dvc queue remove`)"
        )
    done = sorted(names & set(tool(root, "dvc", "exp", "list", "--name-only").split()))
    if done and not replace:
        raise UserError(
            f"study {study.name} has experiments on this commit already ({', '.join(done)}): "
            f"`python -m crl_pipelines.studies report {study.name}` gathers them, "
            "`run --replace` runs the study again"
        )
    if done:
        tool(root, "dvc", "exp", "remove", *done)
        out(f"removed the earlier experiments {', '.join(done)}")
    base, before = base_parameters(root), {task.task for task in tasks}
    queued: list[str] = []
    try:
        for variant in chosen:
            _, arguments = variant_parameters(study, variant, base)
            tool(root, "dvc", "exp", "run", "--queue", "--name", variant.name, *arguments)
            queued.append(variant.name)
    except UserError:
        tool(root, "dvc", "queue", "remove", *queued, check=False)
        raise
    by_name = {variant.name: variant for variant in chosen}
    tasks, _ = parse_queue_status(tool(root, "dvc", "queue", "status"))
    return {t.task: by_name[t.name] for t in tasks if t.task not in before and t.name in by_name}


def say(line: str) -> None:
    """A line of progress, flushed at once (the output may be a file or a pipe)."""
    print(line, flush=True)


def _elapsed(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def _show_failure(root: Path, task: str, out: Callable[[str], None], lines: int = 30) -> None:
    """The last ``lines`` of a failed task's log, indented, and how to see all of it."""
    log = tool(root, "dvc", "queue", "logs", task, check=False).rstrip().splitlines()
    for line in log[-lines:]:
        out(f"    {line}")
    out(f"    (the whole log: dvc queue logs {task})")


def wait_for(
    root: Path,
    tasks: Mapping[str, Variant],
    out: Callable[[str], None],
    poll: float = 5.0,
    stall_polls: int = 3,
) -> list[Variant]:
    """Poll ``dvc queue status`` until every task has finished, one line per finished variant
    (a failed one with its log tail, while the others go on); the failed variants. A
    :class:`UserError` when the queue has no worker left for ``stall_polls`` polls while
    variants wait (the workers were stopped or died)."""
    pending, failed, start, stalled = dict(tasks), [], time.monotonic(), 0
    while pending:
        time.sleep(poll)
        rows, workers = parse_queue_status(tool(root, "dvc", "queue", "status"))
        states = {row.task: row.status for row in rows}
        for task, variant in list(pending.items()):
            state = states.get(task, "Failed")  # a task gone from the queue will not finish
            if state in _STATES[:2]:
                continue
            del pending[task]
            count = f"[{len(tasks) - len(pending)}/{len(tasks)}]"
            verdict = "done" if state == "Success" else "FAILED"
            elapsed = _elapsed(time.monotonic() - start)
            out(f"{count} {variant.name} ({variant.describe()}) {verdict} after {elapsed}")
            if state != "Success":
                failed.append(variant)
                _show_failure(root, task, out)
        stalled = stalled + 1 if pending and workers == 0 else 0
        if stalled >= stall_polls:
            names = ", ".join(variant.name for variant in pending.values())
            raise UserError(
                f"the DVC queue has no worker left while {names} wait: `dvc queue start -j N` "
                "resumes them; then gather with `python -m crl_pipelines.studies report <study>`"
            )
    return failed
