"""`kedro run` on a copy of the project: a user's mistake (a bad parameter, given in the files or
with --params, missing inputs, bad data, an unknown environment) ends in one line
and exit status 1, its traceback in the log file (and on the console with --traceback); a bug
keeps its traceback.

Each test runs the real `kedro` command (or `python -m crl_pipelines`) in a subprocess, with the
tiny `test` environment.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import tool_env

pytestmark = pytest.mark.slow

BAD_ARCHIVE = "data/01_raw/not_an_archive.npz"
MISSPELLED = "training.learing_rate=0.1"


def kedro(project: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``kedro run <args>`` in ``project`` (``python -m crl_pipelines <args>`` when the first
    argument is ``-m``): its exit status, stdout and stderr."""
    command = (
        [sys.executable, *args]
        if args[:1] == ("-m",)
        else [str(Path(sys.executable).parent / "kedro"), "run", *args]
    )
    result = subprocess.run(
        command,
        cwd=project,
        env={**tool_env(), "KEDRO_ENV": "test", **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )
    return result.returncode, result.stdout, result.stderr


def message(status: int, stdout: str, stderr: str) -> list[str]:
    """The error's lines, after checking that the run failed as a user's mistake should: status
    1, no traceback, a short output, stderr ending in ``error: <message>``."""
    output = stdout + stderr
    assert status == 1, output
    assert "Traceback" not in output, output
    assert len([line for line in output.splitlines() if line.strip()]) < 15, output
    lines = [line for line in stderr.splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.startswith("error: "))
    return lines[start:]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(
            [f"--params={MISSPELLED}"],
            "error: parameter `training.learing_rate` is unknown; did you mean 'learning_rate'?",
            id="misspelled parameter",
        ),
        pytest.param(
            ["--params=training.learning_rate=-1"],
            "error: parameter `training.learning_rate` should be greater than 0, got -1",
            id="bad value",
        ),
        pytest.param(
            [f"--params=ingest.source=npz,ingest.npz.path={BAD_ARCHIVE}"],
            f"error: {BAD_ARCHIVE} is not an .npz archive",
            id="bad data",
        ),
        pytest.param(
            ["--pipelines=trian"],
            "error: there is no pipeline 'trian': did you mean train?",
            id="misspelt pipeline",
        ),
        pytest.param(
            ["--env=nowhere"],
            "error: there is no configuration environment 'nowhere' (no folder ",
            id="unknown environment",
        ),
        pytest.param(
            ["--params=experiments.extra.loss=ntxnet"],
            "error: parameter `experiments.extra.loss` names no known loss: 'ntxnet'; did you "
            "mean 'ntxent'?",
            id="an experiment added by --params",
        ),
        pytest.param(
            ["-m", "crl_pipelines", f"--params={MISSPELLED}"],
            "error: parameter `training.learing_rate` is unknown",
            id="python -m crl_pipelines",
        ),
    ],
)
def test_a_user_error_is_one_line(project, args, expected):
    """Each kind of user error ends the run with its one-line message, exit status 1 and no
    traceback; the log file holds the traceback."""
    (project / BAD_ARCHIVE).write_text("not an archive\n")
    lines = message(*kedro(project, *args))
    assert len(lines) == 1 and lines[0].startswith(expected), lines
    log = (project / "crl_pipelines.log").read_text()
    assert "Traceback" in log and lines[0].removeprefix("error: ") in log


def test_the_missing_inputs_message_names_the_fix(project):
    """Missing inputs are a user error too: one line, saying which pipelines to run first; the
    log file holds the traceback."""
    (line,) = message(*kedro(project, "--pipelines=evaluate"))
    assert line.startswith("error: this run needs ")
    assert "Run `kedro run --pipelines=" in line and "first" in line
    log = (project / "crl_pipelines.log").read_text()
    assert "Traceback" in log and line.removeprefix("error: ") in log


def test_several_bad_parameters_are_one_line_each(project):
    """Two bad parameters: the message's two lines, and still no traceback."""
    lines = message(*kedro(project, f"--params={MISSPELLED},model.embeding_dim=3"))
    assert lines[0].startswith("error: parameter `")
    assert sorted(line.removeprefix("error: ").split("`")[1] for line in lines) == [
        "model.embeding_dim",
        "training.learing_rate",
    ]


@pytest.mark.parametrize(
    ("args", "env"),
    [
        pytest.param(["--traceback"], {}, id="--traceback"),
        pytest.param([], {"CRL_PIPELINES_TRACEBACK": "1"}, id="CRL_PIPELINES_TRACEBACK=1"),
    ],
)
def test_traceback_on_request(project, args, env):
    """With --traceback (or CRL_PIPELINES_TRACEBACK=1) a user error shows Kedro's traceback."""
    status, _, stderr = kedro(project, f"--params={MISSPELLED}", *args, env=env)
    assert status == 1
    assert "Traceback" in stderr and "ParameterError" in stderr
    assert not any(line.startswith("error: ") for line in stderr.splitlines())


def test_a_bug_keeps_its_traceback(project):
    """An error that is not the user's (here the dataset saved as JSON, which cannot hold
    arrays: a TypeError wrapped by Kedro) keeps Kedro's traceback."""
    (project / "conf/test/catalog.yml").write_text(
        "dataset:\n  type: json.JSONDataset\n  filepath: data/02_intermediate/dataset.json\n"
    )
    status, _, stderr = kedro(project, "--pipelines=ingest")
    assert status == 1
    assert "Traceback" in stderr and "not JSON serializable" in stderr
    assert not any(line.startswith("error: ") for line in stderr.splitlines())
    assert "Traceback" in (project / "crl_pipelines.log").read_text()
