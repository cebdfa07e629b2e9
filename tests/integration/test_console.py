"""The console of `kedro run` on a copy of the project: one line per node with the run's place,
a progress bar per epoch on a terminal and none in a pipe, Kedro's own records in the log file
(and on the console with --verbose), and `--env` choosing which runs exist.

Two real runs of `kedro run --env solo --pipelines=ingest,pairs,tune,train` (the tiny settings with
one experiment, so two runs: the untrained floor and ntxent.seed0), one on a pseudo-terminal and
one into a pipe, each in its own copy of the project.
"""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from crl_pipelines import progress
from tests.integration.conftest import copy_project, tool_env

KEDRO = str(Path(sys.executable).parent / "kedro")
# KEDRO_ENV names another environment (the tiny settings, four experiments): --env must win
RUN = ("run", "--env", "solo", "--pipelines=ingest,pairs,tune,train")
KEDRO_CHATTER = ("Loading data from", "Saving data to", "Running node:", "Completed node:")
BAR = re.compile(r"ntxent\.seed0 \(2/2\) epoch [12]/2 .*\d+/\d+ steps")


def solo_project(target: Path) -> Path:
    """A copy of the project with the environment `solo`: the tiny settings with one experiment
    (base has four)."""
    root = copy_project(target)
    solo = yaml.safe_load((root / "conf/test/parameters.yml").read_text())
    solo["experiments"] = {"ntxent": {"loss": "ntxent", "loss_params": {"temperature": 0.5}}}
    (root / "conf/solo").mkdir()
    (root / "conf/solo/parameters.yml").write_text(yaml.safe_dump(solo, sort_keys=False))
    return root


def environment() -> dict[str, str]:
    return {**tool_env(), "KEDRO_ENV": "test", "TERM": "xterm-256color", "COLUMNS": "160"}


def on_a_terminal(project: Path, *args: str) -> tuple[int, str]:
    """``kedro <args>`` with a pseudo-terminal as its stdin, stdout and stderr: status, output."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [KEDRO, *args], cwd=project, env=environment(), stdin=follower, stdout=follower,
        stderr=follower, close_fds=True,
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes when the command ends
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return process.wait(timeout=600), b"".join(chunks).decode("utf8", "replace")


@pytest.mark.parametrize("terminal", [True, False])
def test_a_bar_shows_the_run_its_place_the_epoch_and_the_steps(monkeypatch, terminal):
    """On a terminal, the bar of an epoch names the run, its place among the runs, the epoch
    and the steps done; elsewhere there is no bar (and no callback to call)."""
    console = Console(file=io.StringIO(), force_terminal=terminal, width=120)
    monkeypatch.setattr(progress, "get_console", lambda: console)
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    progress.set_runs(["a.seed0", "b.seed0", "ntxent.seed0", *(f"x{i}.seed0" for i in range(5))])
    with progress.epoch_bars("ntxent.seed0", 10, 39) as on_step:
        if not terminal:
            assert on_step is None
            return
        for step in range(1, 15):
            on_step(2, step)
    frames = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", console.file.getvalue())
    assert re.search(r"ntxent\.seed0 \(3/8\) epoch 2/10 ━+.* 14/39 steps", frames), frames


@pytest.fixture(scope="module")
def terminal_run(tmp_path_factory) -> tuple[Path, int, str]:
    project = solo_project(tmp_path_factory.mktemp("console") / "terminal")
    status, output = on_a_terminal(project, *RUN)
    return project, status, output


@pytest.fixture(scope="module")
def piped_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    project = solo_project(tmp_path_factory.mktemp("console") / "piped")
    result = subprocess.run(
        [KEDRO, *RUN, "--verbose"], cwd=project, env=environment(), capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip
    return project, result


@pytest.mark.slow
def test_env_chooses_the_runs(terminal_run):
    """`--env solo` builds the pipelines from solo's one experiment, though KEDRO_ENV is `test`
    (four experiments): the run trains the floor and ntxent.seed0 only."""
    project, status, output = terminal_run
    assert status == 0, output
    trained = sorted(path.parent.name for path in (project / "data/06_models").glob("*/seed0"))
    assert trained == ["ntxent", "random_init"], (trained, output)


@pytest.mark.slow
def test_the_terminal_shows_stages_bars_and_epochs_not_kedro(terminal_run):
    """On a terminal: a line per node with the run's place, a bar of steps per epoch with the
    run's place, the epoch summary lines, and none of Kedro's per-dataset or per-node records
    (which the log file keeps)."""
    project, _, output = terminal_run
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output)
    assert "train random_init.seed0 (1/2)" in text and "train ntxent.seed0 (2/2)" in text, text
    assert "ingest load_source" in text and "pairs make_class_pairs_plan" in text, text
    assert BAR.search(text), text
    assert "ntxent.seed0: epoch 1/2" in text and "ntxent.seed0: epoch 2/2" in text, text
    assert not any(chatter in text for chatter in KEDRO_CHATTER), text
    assert "done: " in text, text
    log = (project / "crl_pipelines.log").read_text()
    assert all(chatter in log for chatter in KEDRO_CHATTER), log
    assert "train ntxent.seed0 (2/2)" in log and "ntxent.seed0: epoch 2/2" in log, log


@pytest.mark.slow
def test_a_pipe_gets_plain_lines_and_verbose_shows_kedro(piped_run):
    """Into a pipe (CI, DVC): no bar and no carriage-return animation, the epoch summary lines
    as the progress; --verbose adds Kedro's own records."""
    _, result = piped_run
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "\r" not in output and "━" not in output and not BAR.search(output), output
    assert "ntxent.seed0: epoch 1/2" in output and "ntxent.seed0: epoch 2/2" in output, output
    assert all(chatter in output for chatter in KEDRO_CHATTER), output
