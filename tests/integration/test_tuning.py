"""The tune pipeline in Kedro sessions on the tiny settings with tuning on: every study ends with
exactly its budget, the final runs train at the best parameters beside untuned twins, the report
has its Tuning section, tuning reads the train and validation images only, a record made from
another space is refused, and a killed `tune` resumes to exactly its budget."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml
from kedro.framework.hooks import hook_impl
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from optuna.trial import TrialState

from crl_pipelines.lineage import StaleArtifactError
from crl_pipelines.tuning import budget
from tests.integration.conftest import inside, tool_env, tune_in

EXPERIMENTS = ["contrastive", "triplet", "ntxent", "cross_entropy"]

# the tests that share the session's tuned_run fixture run on one worker (pytest-xdist)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("tuned_run")]


def record(project: Path, experiment: str) -> dict:
    return json.loads((project / f"data/05_model_input/{experiment}/tuning.json").read_text())


def study(project: Path, experiment: str) -> optuna.Study:
    url = f"sqlite:///{project / f'data/05_model_input/{experiment}/study.db'}"
    (summary,) = optuna.get_all_study_summaries(url)
    return optuna.load_study(study_name=summary.study_name, storage=url)


def test_every_study_ends_with_its_budget_and_the_report_compares_before_and_after(tuned_run):
    data = tuned_run / "data"
    trials = pd.read_csv(data / "08_reporting/tuning.csv")
    for experiment in EXPERIMENTS:
        tuned = record(tuned_run, experiment)
        assert tuned["counts"]["complete"] + tuned["counts"]["pruned"] == 3, experiment
        finished = [t for t in study(tuned_run, experiment).trials if t.state in budget.FINISHED]
        assert len(finished) == 3
        assert len(trials[trials["experiment"] == experiment]) == len(tuned["trials"])
        # the final run trained at the best parameters, its untuned twin at the defaults
        assert (data / f"06_models/{experiment}/seed0/model.pt").is_file()
        assert (data / f"06_models/{experiment}/untuned_seed0/model.pt").is_file()
        best = tuned["best"]["params"]["training.learning_rate"]
        history = pd.read_csv(data / f"06_models/{experiment}/seed0/history.csv")
        assert history["learning_rate"].iloc[0] == pytest.approx(best)
        twin = pd.read_csv(data / f"06_models/{experiment}/untuned_seed0/history.csv")
        assert twin["learning_rate"].iloc[0] == pytest.approx(0.001)
    table = pd.read_csv(data / "08_reporting/comparison.csv")
    assert table["experiment"].tolist() == [*EXPERIMENTS, "random_init"]  # the final runs only
    report = (data / "08_reporting/report.md").read_text()
    tuning = report[report.index("## Tuning") : report.index("## Runs")]
    assert "Every experiment was tuned with the same budget: 3 finished trials of 1 epoch" in tuning
    assert "the ranking on probe acc.: before " in tuning
    assert all(f"| {experiment} | " in tuning for experiment in EXPERIMENTS)
    assert "![expected best validation score](expected_best.png)" in tuning
    assert (data / "08_reporting/expected_best.png").stat().st_size > 10_000


class Spy:
    """Every dataset a session loads."""

    def __init__(self) -> None:
        self.loaded: list[str] = []

    @hook_impl
    def before_dataset_loaded(self, dataset_name: str) -> None:
        self.loaded.append(dataset_name)


def test_tuning_reads_the_train_and_validation_images_only(tuned_run, tmp_path):
    """A spy on the session's loads: tuning (one more trial each) reads the train and
    validation splits and the plans, never the test split."""
    project = shutil.copytree(tuned_run, tmp_path / "project")
    tune_in(project, trials=4)
    spy = Spy()
    with inside(project, "test"):
        bootstrap_project(project)
        with KedroSession.create(project_path=project, env="test") as session:
            session._hook_manager.register(spy)
            session.run(pipeline_names=["tune"])
    assert set(spy.loaded) == {"train_set", "validation_set", "class_pairs_plan"}
    assert all(record(project, name)["counts"]["complete"] >= 1 for name in EXPERIMENTS)


def test_a_record_made_from_another_space_is_refused_in_one_line(tuned_run, tmp_path):
    project = shutil.copytree(tuned_run, tmp_path / "project")
    path = project / "conf/test/parameters.yml"
    parameters = yaml.safe_load(path.read_text())
    base = yaml.safe_load((project / "conf/base/parameters.yml").read_text())
    narrowed = {
        **base["experiments"]["ntxent"],
        "search": {"loss_params": {"temperature": [0.1, 1.0]}},
    }
    parameters["experiments"] = {**base["experiments"], "ntxent": narrowed}
    path.write_text(yaml.safe_dump(parameters, sort_keys=False))
    with inside(project, "test"):
        bootstrap_project(project)
        with (
            pytest.raises(StaleArtifactError) as raised,
            KedroSession.create(project_path=project, env="test") as session,
        ):
            session.run(pipeline_names=["train"], namespaces=["ntxent"])
    assert str(raised.value) == (
        "the tuning record of ntxent is stale: made from another search space than the "
        "parameters give now; rebuild with `kedro run --pipelines=tune --namespaces=ntxent`"
    )


def killable(url: str) -> bool:
    """Whether the study at ``url`` has two trials finished and one running: the moment to kill
    its process (between two trials none runs). False while the storage cannot be read."""
    try:
        summaries = optuna.get_all_study_summaries(budget.rdb_storage(url))
        if not summaries:
            return False
        trials = optuna.load_study(study_name=summaries[0].study_name, storage=url).get_trials()
    except Exception:  # locked or being created: look again later
        return False
    finished = sum(trial.state in budget.FINISHED for trial in trials)
    return finished >= 2 and any(trial.state == TrialState.RUNNING for trial in trials)


def frozen_killable(process: subprocess.Popen, url: str) -> bool:
    """:func:`killable`, and still so once the process is stopped (SIGSTOP), so that the kill
    that follows cannot land after the running trial finished; the process goes on otherwise."""
    if not killable(url):
        return False
    os.killpg(process.pid, signal.SIGSTOP)
    if killable(url):
        return True
    os.killpg(process.pid, signal.SIGCONT)
    return False


@pytest.mark.processes
def test_a_killed_tune_resumes_to_exactly_its_budget(tuned_run, tmp_path):
    """`kedro run --pipelines=tune` killed once its study has trials finished (and one
    running), then run again: the abandoned trial is failed and the study ends with exactly
    its budget."""
    project = shutil.copytree(tuned_run, tmp_path / "project")
    shutil.rmtree(project / "data/05_model_input")
    budget_of = 12  # far more than the 3 it is killed at: a loaded machine still kills it midway
    tune_in(project, trials=budget_of, batch=1, pruner="none")
    command = [str(Path(sys.executable).with_name("kedro")), "run", "--pipelines=tune",
               "--namespaces=ntxent"]  # fmt: skip
    environment = {**tool_env(), "KEDRO_ENV": "test"}
    url = f"sqlite:///{project / 'data/05_model_input/ntxent/study.db'}"
    process = subprocess.Popen(
        command, cwd=project, env=environment, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if (project / "data/05_model_input/ntxent/study.db").exists() and frozen_killable(
                process, url
            ):
                break
            assert process.poll() is None, "tune ended before it could be killed"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    killed = study(project, "ntxent")
    assert sum(t.state in budget.FINISHED for t in killed.trials) < budget_of
    assert any(t.state == TrialState.RUNNING for t in killed.trials)

    result = subprocess.run(command, cwd=project, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    resumed = study(project, "ntxent").trials
    assert sum(t.state in budget.FINISHED for t in resumed) == budget_of
    assert not any(t.state == TrialState.RUNNING for t in resumed)
    assert "abandoned by a stopped run" in result.stdout + result.stderr
    assert record(project, "ntxent")["counts"]["complete"] == budget_of


@pytest.mark.processes
def test_optuna_dashboard_opens_a_study_in_headless_chromium(tuned_run, tmp_path):
    """`optuna-dashboard` (docs/tuning.md) serves a study's database: its API lists the study
    with every trial, and its page, rendered in headless Chromium, names the study."""
    import socket
    import urllib.request

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"sqlite:///{tuned_run / 'data/05_model_input/ntxent/study.db'}"
    dashboard = Path(sys.executable).with_name("optuna-dashboard")
    server = subprocess.Popen(
        [str(dashboard), url, "--port", str(port), "--host", "127.0.0.1", "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline, studies = time.monotonic() + 60, None
        while studies is None:
            assert server.poll() is None and time.monotonic() < deadline, (
                "the dashboard did not start"
            )
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/studies", timeout=2
                ) as answer:
                    studies = json.loads(answer.read())["study_summaries"]
            except OSError:
                time.sleep(0.2)
        (summary,) = studies
        assert summary["study_name"].startswith("ntxent-")
        page = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
             "--virtual-time-budget=15000", "--dump-dom", f"http://127.0.0.1:{port}/dashboard"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert summary["study_name"] in page.stdout, page.stdout[-2000:]
    finally:
        server.kill()
        server.wait()
