"""What the console shows of a run as it goes: one line per node as it starts, naming the run and
its place among the runs (``train ntxent.seed0 (3/5)``), and, on a terminal, a progress bar of
each epoch's steps (``ntxent.seed0 (3/5) epoch 2/10 ━━━━━━ 14/39 steps``).

The bar is drawn with rich on the console Kedro's log handler writes to, so log records (the
epoch summary lines) print above it. It is drawn only where someone watches: on a terminal (not
in CI, under DVC or into a pipe, where the epoch summary lines are the progress), in the process
that owns the console (not in a Dask worker, nor in the processes of a data-parallel run, whose
rank 0 logs the epoch lines), and unless ``CRL_PIPELINES_PROGRESS=0``.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from rich import get_console
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

PROGRESS_ENV = "CRL_PIPELINES_PROGRESS"
PROGRESS_TOPIC = "crl_pipelines.progress"  # a Dask worker's records, sent to the client

log = logging.getLogger(__name__)

_places: dict[str, tuple[int, int]] = {}


def set_runs(runs: Sequence[str]) -> None:
    """The runs of the pipeline about to run, in order: each one's place is ``(i/n)``."""
    _places.clear()
    _places.update({run: (index, len(runs)) for index, run in enumerate(runs, start=1)})


def label(run: str) -> str:
    """The run's name and its place among the runs (``ntxent.seed0 (3/5)``), when known."""
    place = _places.get(run)
    return f"{run} ({place[0]}/{place[1]})" if place else run


def node_started(stage: str, node: str, run: str | None) -> None:
    """The console's line for a node that starts: its stage, and its run or, for a node that
    all runs share, its name."""
    log.info("%s %s", stage, label(run) if run else node)


def pipeline_finished(nodes: int, seconds: float) -> None:
    """The console's last line of a run that succeeded."""
    plural = "" if nodes == 1 else "s"
    log.info("done: %d node%s in %.1f s (the full log: crl_pipelines.log)", nodes, plural, seconds)


def can_draw(console: Console) -> bool:
    """Whether a bar may be drawn here: a terminal watched by a person, in the main process."""
    if os.environ.get(PROGRESS_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    if multiprocessing.parent_process() is not None or in_dask_worker():
        return False
    return console.is_terminal and not console.is_dumb_terminal and not console.is_jupyter


def in_dask_worker() -> bool:
    """Whether this code runs inside a Dask worker's task (where no bar is drawn)."""
    if "distributed" not in sys.modules:
        return False
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True


@contextmanager
def epoch_bars(run: str, epochs: int, steps: int) -> Iterator[Callable[[int, int], None] | None]:
    """A callback for :func:`crl_pipelines.training.loop.train` that draws the steps of each
    epoch of ``run`` as a bar (removed when training ends), or None where no bar is drawn."""
    console = get_console()
    if not can_draw(console):
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("steps"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bars:
        task = bars.add_task(label(run), total=steps, visible=False)

        def on_step(epoch: int, step: int) -> None:
            if step == 1:
                described = f"{label(run)} epoch {epoch}/{epochs}"
                bars.reset(task, completed=1, description=described, visible=True)
            else:
                bars.update(task, completed=step)

        yield on_step


_forwarding: dict = {"tasks": 0}  # this worker process's forwarding: tasks, handler, saved levels
_forwarding_lock = threading.Lock()


@contextmanager
def forward_logs() -> Iterator[None]:
    """In a Dask worker: send the project's log records to the client (per-epoch and per-trial
    progress) while the task runs; the records go to the client only (not twice on a shared
    terminal), and Kedro's per-dataset records stay on the worker, below warnings. Tasks of
    one worker that forward at once share one handler, so no record is sent twice."""
    from distributed import get_worker

    worker = get_worker()
    logger, kedro = logging.getLogger("crl_pipelines"), logging.getLogger("kedro")

    class Forward(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            worker.log_event(PROGRESS_TOPIC, {"level": record.levelno, "msg": self.format(record)})

    with _forwarding_lock:
        _forwarding["tasks"] += 1
        if _forwarding["tasks"] == 1:
            _forwarding["saved"] = logger.level, logger.propagate, kedro.level
            _forwarding["handler"] = Forward()
            logger.setLevel(logging.INFO)
            logger.propagate = False
            kedro.setLevel(logging.WARNING)
            logger.addHandler(_forwarding["handler"])
    try:
        yield
    finally:
        with _forwarding_lock:
            _forwarding["tasks"] -= 1
            if _forwarding["tasks"] == 0:
                logger.removeHandler(_forwarding["handler"])
                logger.level, logger.propagate, kedro.level = _forwarding["saved"]
