"""What the console says as a run goes (crl_pipelines.progress), without a run: the progress
lines of long training off a terminal, the heartbeat of a long node, one line per stage of a run,
the line of a run found trained, and plain one-line records where there is no terminal."""

from __future__ import annotations

import io
import logging
import threading

import pytest
from rich.console import Console
from rich.logging import RichHandler

from crl_pipelines import progress

LOGGER = progress.__name__


class Clock:
    """A clock that each step moves on by ``step`` seconds."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        return self.now

    def tick(self) -> None:
        self.now += self.step


def messages(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == LOGGER]


def step_lines(caplog, run: str, shape: tuple[int, int, int], seconds: float, trained: range):
    """The progress lines of ``run`` (``shape``: epochs, steps per epoch, images per step)
    training the epochs ``trained``, ``seconds`` a step."""
    epochs, steps, images = shape
    clock = Clock(seconds)
    caplog.set_level(logging.INFO, LOGGER)
    lines = progress.StepLines(run, epochs, steps, images, clock)
    for epoch in trained:
        for step in range(1, steps + 1):
            clock.tick()
            lines(epoch, step)
    return messages(caplog)


def test_long_training_says_where_it_is_every_interval(monkeypatch, caplog):
    """Off a terminal, a line at least every 30 s (at the step after which the next would be
    later): the run and its place, epoch, step, images per second and the time left; an epoch
    counts from the end of the one before (its summary line is a line). Three epochs of 100
    steps of 256 images, 1 s a step: 256 images/s."""
    monkeypatch.delenv(progress.SECONDS_ENV, raising=False)
    progress.set_runs(["floor.seed0", "ntxent.seed0"])
    assert step_lines(caplog, "ntxent.seed0", (3, 100, 256), 1.0, range(1, 3)) == [
        "ntxent.seed0 (2/2): epoch 1/3, step 29/100, 256 images/s, ETA 4 min 31 s",
        "ntxent.seed0 (2/2): epoch 1/3, step 58/100, 256 images/s, ETA 4 min 02 s",
        "ntxent.seed0 (2/2): epoch 1/3, step 87/100, 256 images/s, ETA 3 min 33 s",
        "ntxent.seed0 (2/2): epoch 2/3, step 29/100, 256 images/s, ETA 2 min 51 s",
        "ntxent.seed0 (2/2): epoch 2/3, step 58/100, 256 images/s, ETA 2 min 22 s",
        "ntxent.seed0 (2/2): epoch 2/3, step 87/100, 256 images/s, ETA 1 min 53 s",
    ]


def test_a_resumed_run_counts_its_rate_from_where_it_resumed(monkeypatch, caplog):
    """Epochs trained before (resumed from a checkpoint) are not in the rate: 4 s a step of 32
    images is 8 images/s; the lowered interval (the setting) gives a line every step."""
    monkeypatch.setenv(progress.SECONDS_ENV, "0")
    progress.set_runs([])
    assert step_lines(caplog, "a.seed0", (3, 2, 32), 4.0, range(3, 4)) == [
        "a.seed0: epoch 3/3, step 1/2, 8.0 images/s, ETA 4 s",
        "a.seed0: epoch 3/3, step 2/2, 8.0 images/s, ETA 0 s",
    ]


def test_no_progress_lines_when_progress_is_off(monkeypatch):
    monkeypatch.setenv(progress.PROGRESS_ENV, "0")
    with progress.epoch_bars("a.seed0", 2, 10, 32) as on_step:
        assert on_step is None


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.4, "0 s"), (59.6, "1 min 00 s"), (3599, "59 min 59 s"), (7500, "2 h 05 min")],
)
def test_durations(seconds, shown):
    assert progress.duration(seconds) == shown


def test_a_long_node_says_it_still_runs(caplog):
    """The heartbeat logs ``<what>: still running (<time>)`` until it is stopped, then nothing."""
    beat = threading.Event()

    class Listen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            beat.set()

    listener = Listen()
    logging.getLogger(LOGGER).addHandler(listener)
    caplog.set_level(logging.INFO, LOGGER)
    try:
        heartbeat = progress.Heartbeat("embed ntxent.seed0 (2/2) embed_splits", every=0.01)
        assert beat.wait(60), "no heartbeat"
        heartbeat.stop()
        said = messages(caplog)
        assert said and all(
            line.startswith("embed ntxent.seed0 (2/2) embed_splits: still running (")
            for line in said
        ), said
        assert not heartbeat._thread.is_alive()
    finally:
        logging.getLogger(LOGGER).removeHandler(listener)


def test_a_stage_of_a_run_is_announced_once(caplog):
    """A run's stage of two nodes (evaluate: score_run, collect_results) has one line; a node
    that all runs share is named."""
    progress.set_runs(["floor.seed0", "ntxent.seed0"])
    caplog.set_level(logging.INFO, LOGGER)
    for stage, node, run in [
        ("evaluate", "score_run", "ntxent.seed0"),
        ("evaluate", "score_run", "floor.seed0"),
        ("evaluate", "collect_results", "ntxent.seed0"),
        ("compare", "compare_runs", None),
    ]:
        progress.node_started(stage, node, run)
    assert messages(caplog) == [
        "evaluate ntxent.seed0 (2/2)",
        "evaluate floor.seed0 (1/2)",
        "compare compare_runs",
    ]


def test_a_run_found_trained_says_how(caplog):
    """A checkpoint short of the last epoch is resumed from; a complete one was trained by the
    run's fused group in this process, or earlier."""
    progress.set_runs([])
    progress.trained_together(["b.seed0", "c.seed0"], "b.seed0 +1")
    caplog.set_level(logging.INFO, LOGGER)
    progress.checkpoint_found("b.seed0", 1, 3, "b.pt")
    progress.checkpoint_found("c.seed0", 3, 3, "c.pt")
    progress.checkpoint_found("d.seed0", 3, 3, "d.pt")
    assert messages(caplog) == [
        "b.seed0: resuming after epoch 1 from b.pt",
        "c.seed0: trained with its fused group (b.seed0 +1): complete, 3 epochs",
        "d.seed0: already trained: d.pt holds all 3 epochs",
    ]


def test_off_a_terminal_a_record_is_one_line_whatever_its_length(monkeypatch):
    """Rich wraps at its console's width (80 columns off a terminal); the plain handler put in
    its place writes each record on one line, and keeps the rich handler's level and filters.
    A rich handler on a terminal stays."""
    piped = Console(file=io.StringIO(), force_terminal=False, width=80)
    terminal = Console(file=io.StringIO(), force_terminal=True, width=80)
    logger = logging.getLogger("tests.progress.plain")
    quiet = logging.Filter("nothing")  # lets no record of this logger through
    handlers = [RichHandler(console=piped, level=logging.WARNING), RichHandler(console=terminal)]
    handlers[0].addFilter(quiet)
    monkeypatch.setattr(logger, "handlers", list(handlers))
    monkeypatch.setattr(logger, "propagate", False)

    progress.plain_off_a_terminal()

    kept, plain = logger.handlers
    assert kept is handlers[1]
    assert isinstance(plain, logging.StreamHandler) and plain.stream is piped.file
    assert plain.level == logging.WARNING and plain.filters == [quiet]
    plain.filters.clear()
    long = "a value (16.9 s) " * 20
    logger.warning("%s\nand its second line", long)
    written = piped.file.getvalue()
    assert written.count("\n") == 1, written
    assert written.rstrip("\n").endswith(f"WARNING {long.strip()} and its second line"), written
