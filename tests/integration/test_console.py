"""The console of `kedro run` on a copy of the project: one line per node with the run's place,
a progress bar per epoch on a terminal; in a pipe, one line per record (rich would wrap at 80
columns), each once, and progress lines of long training; Kedro's own records in the log file (and
on the console with --verbose), Dask's too, and `--env` choosing which runs exist.

Three real runs, each in its own copy of the project: `kedro run --env solo
--pipelines=ingest,pairs,tune,train` (the tiny settings with one experiment, so two runs: the
untrained floor and ntxent.seed0) on a pseudo-terminal; the tiny settings with two experiments
that train as one fused group, up to one run's results, into a pipe; and `--dask` into a pipe.
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
RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (INFO|WARNING|ERROR) +(\S.*)")
# two experiments of one plan (trained as one fused group), up to ntxent.seed0's results
PAIR = {
    "ntxent": {"loss": "ntxent", "loss_params": {"temperature": 0.5}},
    "contrastive": {"loss": "contrastive", "loss_params": {"margin": 1.0}},
}
PIPED = (
    "run", "--env", "pair", "--verbose",
    "--to-nodes=contrastive.seed0.train_encoder,ntxent.seed0.collect_results",
)  # fmt: skip
STEP_LINE = re.compile(
    r"contrastive\.seed0 \+1: epoch [12]/2, step \d/9, [\d,.]+ images/s, ETA \d+ (s|min)"
)


def solo_project(target: Path) -> Path:
    """A copy of the project with the environments `solo`: the tiny settings with one experiment
    (base has four), and `pair`: with two experiments of one plan."""
    root = copy_project(target)
    tiny = yaml.safe_load((root / "conf/test/parameters.yml").read_text())
    for env, experiments in (("solo", {"ntxent": PAIR["ntxent"]}), ("pair", PAIR)):
        (root / "conf" / env).mkdir()
        parameters = yaml.safe_dump({**tiny, "experiments": experiments}, sort_keys=False)
        (root / "conf" / env / "parameters.yml").write_text(parameters)
    return root


def environment() -> dict[str, str]:
    return {**tool_env(), "KEDRO_ENV": "test", "TERM": "xterm-256color", "COLUMNS": "160"}


def piped(project: Path, *args: str, **variables: str) -> subprocess.CompletedProcess:
    """``kedro <args>`` into a pipe, as CI or DVC runs it: no COLUMNS (rich's console is then 80
    columns wide)."""
    env = {key: value for key, value in environment().items() if key != "COLUMNS"}
    return subprocess.run(
        [KEDRO, *args], cwd=project, env={**env, **variables}, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip


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
    and the steps done; elsewhere there is no bar: progress lines (tests/unit/test_progress.py)."""
    console = Console(file=io.StringIO(), force_terminal=terminal, width=120)
    monkeypatch.setattr(progress, "get_console", lambda: console)
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    progress.set_runs(["a.seed0", "b.seed0", "ntxent.seed0", *(f"x{i}.seed0" for i in range(5))])
    with progress.epoch_bars("ntxent.seed0", 10, 39, 256) as on_step:
        if not terminal:
            assert isinstance(on_step, progress.StepLines)
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
    """The `pair` run into a pipe, with a progress line after every step (the interval that is
    30 s by default lowered to 0)."""
    project = solo_project(tmp_path_factory.mktemp("console") / "piped")
    return project, piped(project, *PIPED, **{progress.SECONDS_ENV: "0"})


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
    and progress lines as the progress; --verbose adds Kedro's own records."""
    _, result = piped_run
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "\r" not in output and "━" not in output and not BAR.search(output), output
    assert "ntxent.seed0: epoch 1/2" in output and "ntxent.seed0: epoch 2/2" in output, output
    assert all(chatter in output for chatter in KEDRO_CHATTER), output


@pytest.mark.slow
def test_a_pipe_gets_each_record_on_one_line_once(piped_run):
    """Every line of the piped console is a whole record (rich would wrap the longer ones at 80
    columns), and no line of the project appears twice (a run's evaluate stage has two nodes;
    Kedro's own records, shown by --verbose, may repeat: a dataset loaded by two nodes)."""
    _, result = piped_run
    lines = (result.stdout + result.stderr).splitlines()
    assert [line for line in lines if not RECORD.fullmatch(line)] == [], lines
    assert max(map(len, lines)) > 120, lines  # records longer than rich's 80 columns
    ours = [RECORD.fullmatch(line)[2] for line in lines]
    ours = [message for message in ours if not message.startswith(KEDRO_CHATTER)]
    assert [message for message in set(ours) if ours.count(message) > 1] == [], ours
    assert "evaluate ntxent.seed0 (2/2)" in ours, ours


@pytest.mark.slow
def test_a_pipe_shows_where_long_training_is(piped_run):
    """With the interval lowered to 0 s, the fused group's training says where it is after each
    of its 2 × 9 steps: epoch, step, images per second, time left."""
    _, result = piped_run
    output = result.stdout + result.stderr
    assert len(STEP_LINE.findall(output)) == 18, output
    for step in ("epoch 1/2, step 1/9", "epoch 2/2, step 9/9"):
        assert f"contrastive.seed0 +1: {step}, " in output, output


@pytest.mark.slow
def test_a_finished_fused_group_is_not_resumed(piped_run):
    """contrastive.seed0's train node trained ntxent.seed0 with it, to the end: each run's own
    train node says so, and none "resumes"."""
    _, result = piped_run
    output = result.stdout + result.stderr
    for run in ("contrastive.seed0", "ntxent.seed0"):
        line = f"{run}: trained with its fused group (contrastive.seed0 +1): complete, 2 epochs"
        assert line in output, output
    assert "resuming" not in output, output


@pytest.mark.slow
def test_dask_keeps_its_records_in_the_log_file(tmp_path):
    """`kedro run --dask` on a local cluster: Dask's start-up and shut-down records (scheduler,
    nannies, workers) are in the log file only; the console has one line of where the cluster
    and its dashboard are."""
    project = solo_project(tmp_path / "dask")
    result = piped(project, "run", "--env", "solo", "--pipelines=ingest", "--dask")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    log = (project / "crl_pipelines.log").read_text()
    dask = re.findall(r" INFO (distributed\.\w+)[\w.]*: (.+)", log)
    assert {"distributed.scheduler", "distributed.worker"} <= {name for name, _ in dask}, log
    shown = {RECORD.fullmatch(line)[2] for line in output.splitlines() if RECORD.fullmatch(line)}
    assert not shown & {message.strip() for _, message in dask}, output
    cluster = [line for line in output.splitlines() if "Dask cluster" in line]
    assert len(cluster) == 1, output
    assert re.search(r"scheduler tcp://127\.0\.0\.1:\d+, 2 workers, dashboard http://", cluster[0])
