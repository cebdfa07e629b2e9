"""How the DaskRunner cuts a pipeline into tasks, and how `kedro run --dask` picks it; the real
cluster runs are in tests/integration/test_dask_runner.py."""

import logging
import time
from pathlib import Path

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node
from kedro_datasets.json import JSONDataset

from crl_pipelines.cli import DASK_RUNNER, ISOLATING_RUNNER, use_dask
from crl_pipelines.dask_runner import (
    SCHEDULER_ENV,
    InMemoryCrossingError,
    check_persisted,
    plan_units,
)


def identity(value):
    return value


def branch(run: str) -> Pipeline:
    return Pipeline(
        [
            node(identity, "plan", "model", name="train"),
            node(identity, "model", "scores", name="score"),
        ],
        namespace=run,
        inputs={"plan"},
    )


PIPELINE = (
    Pipeline([node(identity, "params:pairs", "plan", name="make_plan")])
    + branch("a.seed0")
    + branch("b.seed0")
    + Pipeline(
        [node(lambda *scores: 0, ["a.seed0.scores", "b.seed0.scores"], "table", name="compare")]
    )
)


def test_each_run_is_one_unit_between_the_shared_stages():
    units = plan_units(PIPELINE)

    assert list(units) == ["make_plan", "a.seed0", "b.seed0", "compare"]
    assert [node.name for node in units["a.seed0"].nodes] == ["a.seed0.train", "a.seed0.score"]
    assert [units[name].remote for name in units] == [False, True, True, False]
    assert units["a.seed0"].needs == {"make_plan"}
    assert units["compare"].needs == {"a.seed0", "b.seed0"}


def test_what_crosses_between_processes_must_be_saved(tmp_path):
    saved = {name: JSONDataset(filepath=str(tmp_path / f"{name}.json")) for name in
             ["plan", "a.seed0.scores", "b.seed0.scores"]}  # fmt: skip
    catalog = DataCatalog(datasets={**saved, "params:pairs": MemoryDataset(1)})
    check_persisted(plan_units(PIPELINE), catalog)  # the model stays inside its branch

    in_memory = DataCatalog(datasets={**saved, "plan": MemoryDataset()})
    with pytest.raises(InMemoryCrossingError, match=r"dataset 'plan' passes between 'a\.seed0'"):
        check_persisted(plan_units(PIPELINE), in_memory)


OPTIONS = {"runner": None, "runner_params": {}}


@pytest.mark.parametrize(
    ("dask", "scheduler", "expected"),
    [
        (None, None, {"runner": ISOLATING_RUNNER, "runner_params": {}}),
        ("local", None, {"runner": DASK_RUNNER, "runner_params": {}}),
        (
            "tcp://h:8786",
            None,
            {"runner": DASK_RUNNER, "runner_params": {"address": "tcp://h:8786"}},
        ),
        (None, "tcp://s:1", {"runner": DASK_RUNNER, "runner_params": {"address": "tcp://s:1"}}),
        (
            "tcp://h:8786",
            "tcp://s:1",
            {"runner": DASK_RUNNER, "runner_params": {"address": "tcp://h:8786"}},
        ),
    ],
)
def test_dask_option_and_environment_variable_pick_the_runner(
    monkeypatch, dask, scheduler, expected
):
    if scheduler:
        monkeypatch.setenv(SCHEDULER_ENV, scheduler)
    else:
        monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    assert use_dask(OPTIONS, dask) == expected


def test_an_explicit_runner_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv(SCHEDULER_ENV, "tcp://s:1")
    chosen = {"runner": "ThreadRunner", "runner_params": {}}
    assert use_dask(chosen, None) == chosen


@pytest.mark.processes
def test_runs_ask_for_a_gpu_only_where_a_worker_has_one():
    from distributed import Client, LocalCluster

    from crl_pipelines.dask_runner import _has_gpus

    for resources, expected in [(None, False), ({"GPU": 1}, True)]:
        with LocalCluster(n_workers=1, processes=False, dashboard_address=None,
                          resources=resources) as cluster, Client(cluster) as client:  # fmt: skip
            assert _has_gpus(client) is expected


def placed(marker: str) -> dict:
    """A branch's result; run again (its marker there), it takes long enough to be seen lost."""
    if Path(marker).exists():
        time.sleep(3)
    Path(marker).touch()
    return {"host": "here", "pid": 1, "seconds": 0.0}


@pytest.mark.processes
def test_a_run_whose_worker_is_lost_after_it_finished_is_done_not_failed(caplog, tmp_path):
    """A branch finished, then its worker left the cluster with the (small) result: Dask would
    run it again; the runner counts it done and cancels that second run."""
    from distributed import Client, LocalCluster, wait

    from crl_pipelines.dask_runner import DaskRunner, Unit

    with LocalCluster(n_workers=2, processes=False, dashboard_address=None,
                      threads_per_worker=1) as cluster, Client(cluster) as client:  # fmt: skip
        future = client.submit(placed, str(tmp_path / "ran"), pure=False)
        wait([future])
        (address,) = client.who_has([future])[future.key]
        cluster.sync(next(w for w in cluster.workers.values() if w.address == address).close)
        deadline = time.monotonic() + 10
        while future.status == "finished" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert future.status == "lost"
        lost: dict[str, str] = {}
        with caplog.at_level(logging.INFO):
            done = DaskRunner()._settle(future, Unit("a.seed0", [], True), "[1/2]", lost)
        assert done and lost == {}
        assert future.cancelled()
        assert "[1/2] a.seed0 finished (on a worker since lost)" in caplog.text
