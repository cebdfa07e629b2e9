"""What the console shows of a run as it goes: one line per node as it starts, naming the run and
its place among the runs (``train ntxent.seed0 (3/5)``), and the progress of long work.

On a terminal, a bar of each epoch's steps (``ntxent.seed0 (3/5) epoch 2/10 ━━━━━━ 14/39
steps``), drawn with rich on the console Kedro's log handler writes to, so log records (the epoch
summary lines) print above it. Elsewhere (CI, DVC, a pipe, a Dask worker, the rank 0 process of a
data-parallel run) no bar: a progress line at least every :data:`PROGRESS_SECONDS` of training
(run, epoch, step, images/s, ETA), a line for a node of another stage that runs that long, and
each record on one line whatever its length (:func:`plain_off_a_terminal`). Neither bar nor
progress lines with ``CRL_PIPELINES_PROGRESS=0``.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from rich import get_console
from rich.console import Console
from rich.logging import RichHandler
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
PROGRESS_SECONDS = 30.0  # off a terminal, long work says where it is at least this often
SECONDS_ENV = "CRL_PIPELINES_PROGRESS_SECONDS"  # another interval (0: after every step)
PLAIN_FORMAT = "%(asctime)s %(levelname)-7s %(message)s"
PLAIN_DATES = "%Y-%m-%d %H:%M:%S"

log = logging.getLogger(__name__)

_places: dict[str, tuple[int, int]] = {}
_announced: set[tuple[str, str]] = set()
_groups: dict[str, str] = {}  # a run trained with its fused group in this process: the group


def set_runs(runs: Sequence[str]) -> None:
    """The runs of the pipeline about to run, in order: each one's place is ``(i/n)``."""
    _places.clear()
    _places.update({run: (index, len(runs)) for index, run in enumerate(runs, start=1)})
    _announced.clear()


def label(run: str) -> str:
    """The run's name and its place among the runs (``ntxent.seed0 (3/5)``), when known."""
    place = _places.get(run)
    return f"{run} ({place[0]}/{place[1]})" if place else run


def node_started(stage: str, node: str, run: str | None) -> None:
    """The console's line for a node that starts: its stage, and its run or, for a node that
    all runs share, its name. A run's stage of several nodes (evaluate: its scores, then its
    results) is announced once."""
    subject = label(run) if run else node
    if (stage, subject) in _announced:
        return
    _announced.add((stage, subject))
    log.info("%s %s", stage, subject)


def pipeline_finished(nodes: int, seconds: float) -> None:
    """The console's last line of a run that succeeded."""
    plural = "" if nodes == 1 else "s"
    log.info("done: %d node%s in %.1f s (the full log: crl_pipelines.log)", nodes, plural, seconds)


def trained_together(runs: Sequence[str], group: str) -> None:
    """``runs`` were trained to their end by the fused ``group`` (its title) in this process:
    their own train nodes say so (:func:`checkpoint_found`), not that they resume."""
    _groups.update(dict.fromkeys(runs, group))


def checkpoint_found(run: str, epoch: int, epochs: int, path: str | os.PathLike) -> None:
    """The line for a run whose checkpoint at ``path`` holds ``epoch`` of its ``epochs``."""
    if epoch < epochs:
        log.info("%s: resuming after epoch %d from %s", run, epoch, path)
    elif run in _groups:
        group = _groups[run]
        log.info("%s: trained with its fused group (%s): complete, %d epochs", run, group, epochs)
    else:
        log.info("%s: already trained: %s holds all %d epochs", run, path, epochs)


def shown() -> bool:
    """Whether progress is shown at all (``CRL_PIPELINES_PROGRESS`` is not 0)."""
    return os.environ.get(PROGRESS_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def progress_seconds() -> float:
    """How often long work says where it is off a terminal (``CRL_PIPELINES_PROGRESS_SECONDS``,
    else :data:`PROGRESS_SECONDS`)."""
    return float(os.environ.get(SECONDS_ENV, PROGRESS_SECONDS))


def can_draw(console: Console) -> bool:
    """Whether a bar may be drawn here: a terminal watched by a person, in the main process."""
    if not shown() or multiprocessing.parent_process() is not None or in_dask_worker():
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


class OneLine(logging.Formatter):
    """A record as one plain line: time, level, message (a message's own line breaks become
    spaces; a traceback still follows on its own lines)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = " ".join(part.strip() for part in record.message.splitlines())
        return super().formatMessage(record)


def plain_off_a_terminal() -> None:
    """Off a terminal (a pipe, CI, DVC), put a plain handler of one line per record in place of
    each rich handler of the logging configuration: rich wraps a record at its console's width
    (80 columns where there is no terminal), so one record would span several lines."""
    replaced: dict[logging.Handler, logging.Handler] = {}
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in list(getattr(logger, "handlers", ())):
            if not isinstance(handler, RichHandler) or _watched(handler.console):
                continue
            if handler not in replaced:
                plain = logging.StreamHandler(handler.console.file)
                plain.setLevel(handler.level)
                plain.setFormatter(OneLine(PLAIN_FORMAT, PLAIN_DATES))
                for check in handler.filters:
                    plain.addFilter(check)
                replaced[handler] = plain
            logger.removeHandler(handler)
            logger.addHandler(replaced[handler])


def _watched(console: Console) -> bool:
    return console.is_terminal or console.is_jupyter


def duration(seconds: float) -> str:
    """``45 s``, ``3 min 20 s``, ``2 h 05 min``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class StepLines:
    """Off a terminal: told of each step, a line of where training is (the run, epoch, step,
    images per second and the time left) when the next step would end more than
    :func:`progress_seconds` after the last line, so that none is further apart; an epoch counts
    from the end of the one before, whose summary line came after it. The rate is the steps
    trained since this was made (a resumed run's earlier epochs not counted).
    """

    def __init__(
        self,
        run: str,
        epochs: int,
        steps: int,
        batch: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.run, self.epochs, self.steps, self.batch = run, epochs, steps, batch
        self.clock, self.every = clock, progress_seconds()
        self.started = self.last = self.previous = clock()
        self.before: int | None = None  # steps trained before this was made

    def __call__(self, epoch: int, step: int) -> None:
        now, done = self.clock(), (epoch - 1) * self.steps + step
        if self.before is None:
            self.before = done - 1
        elif step == 1:
            self.last = self.previous
        step_time, self.previous = now - self.previous, now
        if now + step_time - self.last < self.every:
            return
        self.last = now
        rate = (done - self.before) / max(now - self.started, 1e-9)  # steps per second
        images = rate * self.batch
        log.info(
            "%s: epoch %d/%d, step %d/%d, %s images/s, ETA %s", label(self.run), epoch,
            self.epochs, step, self.steps, f"{images:,.0f}" if images >= 10 else f"{images:.1f}",
            duration((self.epochs * self.steps - done) / rate),
        )  # fmt: skip


@contextmanager
def epoch_bars(
    run: str, epochs: int, steps: int, batch: int
) -> Iterator[Callable[[int, int], None] | None]:
    """A callback for :func:`crl_pipelines.training.loop.train` that follows the steps of
    ``run``'s epochs of ``batch`` images: a bar on a terminal (removed when training ends),
    :class:`StepLines` elsewhere, None with ``CRL_PIPELINES_PROGRESS=0``."""
    console = get_console()
    if not can_draw(console):
        yield StepLines(run, epochs, steps, batch) if shown() else None
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


class Heartbeat:
    """While a node of a stage without a progress display runs (tuning, embedding, scoring), a
    line ``<what>: still running (<time>)`` every :func:`progress_seconds` (at least a second
    apart), so that long work is never silent; :meth:`stop` when the node ends."""

    def __init__(self, what: str, every: float | None = None) -> None:
        every = max(progress_seconds(), 1.0) if every is None else every
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, args=(what, every, time.monotonic()), name="heartbeat", daemon=True
        )
        self._thread.start()

    def _beat(self, what: str, every: float, started: float) -> None:
        while not self._stopped.wait(every):
            log.info("%s: still running (%s)", what, duration(time.monotonic() - started))

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()


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
