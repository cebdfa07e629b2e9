"""The DaskRunner on a real cluster: a `dask scheduler` and two `dask worker` processes on
127.0.0.1, three tiny experiments sent through `kedro run --dask <address>`."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import copy_project

BIN = Path(sys.executable).parent
EXPERIMENTS = {
    "contrastive": {"loss": "contrastive", "loss_params": {"margin": 1.0}},
    "ntxent": {"loss": "ntxent", "loss_params": {"temperature": 0.5}},
    "triplet": {"loss": "triplet", "loss_params": {"margin": 1.0}},
}
RUNS = [f"{name}.seed0" for name in EXPERIMENTS]
# one worker of the suite runs these tests, in order, on one cluster (the last one kills a worker)
pytestmark = pytest.mark.xdist_group("dask_cluster")
# what the comparison writes that must not depend on where the runs trained
RESULTS = [
    "08_reporting/metrics/ntxent/probe_accuracy.json",
    "08_reporting/comparison.csv",
    "08_reporting/report.md",
]
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # the same sums everywhere


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment() -> dict[str, str]:
    return {
        **os.environ, **ONE_THREAD, "KEDRO_ENV": "dask", "KEDRO_DISABLE_TELEMETRY": "1",
        "DO_NOT_TRACK": "1", "MPLBACKEND": "Agg", "COLUMNS": "200",
    }  # fmt: skip


def kedro(project: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "kedro"), "run", *args], cwd=project, env=environment(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def finish(process: subprocess.Popen) -> tuple[int, str]:
    output, _ = process.communicate(timeout=300)
    return process.returncode, output


class Cluster:
    """A scheduler and two workers (no nanny, so a killed worker stays dead), one thread each."""

    def __init__(self, directory: Path) -> None:
        self.address = f"tcp://127.0.0.1:{free_port()}"
        port = self.address.rsplit(":", 1)[1]
        self.processes = {
            "scheduler": self._start(directory, "scheduler", "--host", "127.0.0.1", "--port", port)
        }
        for name in ("w1", "w2"):
            self.processes[name] = self._start(
                directory, "worker", self.address, "--name", name, "--nthreads", "1",
                "--no-nanny", "--host", "127.0.0.1",
            )  # fmt: skip
        self.wait_for_workers(2)

    @staticmethod
    def _start(directory: Path, *args: str) -> subprocess.Popen:
        log = open(directory / f"{args[0]}-{os.getpid()}-{time.monotonic_ns()}.log", "w")  # noqa: SIM115
        return subprocess.Popen(
            [str(BIN / "dask"), *args, "--no-dashboard"], cwd=directory, env=environment(),
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def client(self):
        from distributed import Client

        return Client(self.address, timeout="30s")

    def wait_for_workers(self, count: int) -> None:
        with self.client() as client:
            client.wait_for_workers(count, timeout=60)

    def stop(self) -> None:
        for process in self.processes.values():
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    started = Cluster(tmp_path_factory.mktemp("cluster"))
    yield started
    started.stop()


def dask_project(root: Path) -> Path:
    """The tiny settings with three experiments, as the `dask` environment."""
    copy_project(root)
    settings = yaml.safe_load((root / "conf/test/parameters.yml").read_text())
    (root / "conf/dask").mkdir()
    (root / "conf/dask/parameters.yml").write_text(
        yaml.safe_dump({**settings, "experiments": EXPERIMENTS}, sort_keys=False)
    )
    return root


def placements(project: Path, runs: list[str] = RUNS) -> dict[str, dict]:
    folders = {run: run.replace(".", "/") for run in runs}
    return {
        run: json.loads((project / "data/09_tracking" / folder / "placement.json").read_text())
        for run, folder in folders.items()
    }


@pytest.mark.slow
def test_runs_on_the_workers_give_the_sequential_report(cluster, tmp_path):
    project = dask_project(tmp_path / "project")
    code, output = finish(kedro(project))
    assert code == 0, output
    sequential = {name: (project / "data" / name).read_bytes() for name in RESULTS}
    shutil.rmtree(project / "data")
    copy_project(tmp_path / "fresh")  # empty data folders, as the first run had them
    shutil.move(tmp_path / "fresh/data", project / "data")

    code, output = finish(kedro(project, "--dask", cluster.address))

    assert code == 0, output
    for name in RESULTS:
        assert (project / "data" / name).read_bytes() == sequential[name], name
    with cluster.client() as client:
        workers = {info["name"]: info for info in client.scheduler_info()["workers"].values()}
    worker_pids = {cluster.processes[name].pid for name in workers}
    for run, placement in placements(project).items():
        assert placement["pid"] in worker_pids, run  # trained in a worker, not in `kedro run`
        assert placement["host"] == socket.gethostname()
        assert f"{run} finished on" in output
    assert "ntxent.seed0: epoch 2/2" in output  # per-epoch progress relayed from the workers


@pytest.mark.slow
def test_one_experiments_trials_spread_over_the_workers_to_exactly_its_budget(cluster, tmp_path):
    """`kedro run --pipelines=tune --dask`: the study's trials run on both workers at once
    (the scheduler holds the study) and it still ends with exactly tune.trials finished."""
    import optuna
    from optuna.trial import TrialState

    project = dask_project(tmp_path / "project")
    path = project / "conf/dask/parameters.yml"
    settings = yaml.safe_load(path.read_text())
    settings["tune"] = {**settings["tune"], "use": True, "trials": 6, "batch": 1, "pruner": "none"}
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    code, output = finish(kedro(project, "--pipelines=ingest,pairs"))
    assert code == 0, output

    code, output = finish(
        kedro(project, "--pipelines=tune", "--namespaces=ntxent", "--dask", cluster.address)
    )

    assert code == 0, output
    url = f"sqlite:///{project / 'data/05_model_input/ntxent/study.db'}"
    (summary,) = optuna.get_all_study_summaries(url)
    trials = optuna.load_study(study_name=summary.study_name, storage=url).trials
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == 6
    pids = {t.user_attrs["pid"] for t in trials if t.state == TrialState.COMPLETE}
    assert pids == {cluster.processes[name].pid for name in ("w1", "w2")}
    assert "ntxent: trial 6/6" in output  # every worker's trials told on the console


@pytest.mark.slow
def test_a_failed_run_is_named_and_a_lost_worker_is_replaced(cluster, tmp_path):
    """One run cannot write its checkpoint (the path is a folder): it fails by name while the
    others finish and are compared, the report naming it. A worker killed mid-run: its run is
    retried on the other worker."""
    project = dask_project(tmp_path / "project")
    (project / "data/checkpoints/ntxent/seed0/checkpoint.pt").mkdir(parents=True)
    running = kedro(project, "--dask", cluster.address)
    victim = kill_a_busy_worker(cluster)

    code, output = finish(running)

    assert code == 1, output
    last = output.strip().splitlines()[-1]
    assert last.startswith("error: 1 step failed: ntxent.seed0: "), last
    assert "checkpoint.pt" in last and "not run, since" not in last, last
    survivor = cluster.processes["w2" if victim == "w1" else "w1"].pid
    assert placements(project, ["contrastive.seed0"])["contrastive.seed0"]["pid"] == survivor
    for run in ("contrastive.seed0", "triplet.seed0"):
        assert (
            project / "data/08_reporting/runs" / run.replace(".", "/") / "scores.json"
        ).is_file()
    report = (project / "data/08_reporting/report.md").read_text()
    assert "ntxent.seed0" in report and "checkpoint.pt" in report
    leftovers = [path for path in (project / "data").rglob("*") if path.name.startswith(".")]
    assert leftovers == []  # nothing half-written (atomic writes leave hidden temporaries)


def kill_a_busy_worker(cluster: Cluster) -> str:
    """Kill the worker that runs contrastive.seed0's branch as soon as it does; its name."""
    with cluster.client() as client:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for address, keys in client.processing().items():
                if any(str(key).startswith("contrastive.seed0") for key in keys):
                    name = client.scheduler_info()["workers"][address]["name"]
                    cluster.processes[name].kill()
                    cluster.processes[name].wait()
                    return name
            time.sleep(0.05)
    raise AssertionError("contrastive.seed0 never started on a worker")
