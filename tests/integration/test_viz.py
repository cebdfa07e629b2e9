"""kedro-viz: its own static build and its server draw the project's pipeline, offline.

Both run against the small-settings DVC run (conftest.py: dvc_project), so previews have data.
"""

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kedro.framework.startup import bootstrap_project

from crl_pipelines.pipeline_registry import run_parameters
from crl_pipelines.runs import FLOOR
from crl_pipelines.spec import build_spec
from tests.integration.conftest import (
    DVC_EXPERIMENTS,
    PROJECT,
    DvcProject,
    inside,
    tool,
    tool_env,
)

PIPELINES = ["ingest", "pairs", "tune", "train", "embed", "evaluate", "compare", "__default__"]
EXPERIMENTS = {*DVC_EXPERIMENTS, FLOOR}  # the DVC project's experiments and the untrained floor

# the tests that share the session's dvc_project fixture run on one worker (pytest-xdist)
pytestmark = pytest.mark.xdist_group("dvc_project")


@contextlib.contextmanager
def project_pipelines(root: Path) -> Iterator[dict]:
    """The registered pipelines as Kedro builds them in ``root`` from conf/base (KEDRO_ENV=base:
    a developer's conf/local does not count)."""
    previous_cwd, previous_env = Path.cwd(), os.environ.get("KEDRO_ENV")
    os.chdir(root)  # the registry reads the experiments of the working directory's project
    os.environ["KEDRO_ENV"] = "base"
    try:
        bootstrap_project(root)
        from kedro.framework.project import pipelines

        yield pipelines
    finally:
        os.chdir(previous_cwd)
        if previous_env is None:
            os.environ.pop("KEDRO_ENV", None)
        else:
            os.environ["KEDRO_ENV"] = previous_env


def registered_pipelines(root: Path) -> dict[str, list[tuple[str | None, str]]]:
    """Each registered pipeline's nodes as (namespace, name)."""
    with project_pipelines(root) as pipelines:
        return {
            name: sorted(
                ((node.namespace, node.name.rsplit(".", 1)[-1]) for node in pipelines[name].nodes),
                key=_order,
            )
            for name in PIPELINES
        }


def ungrouped_datasets(root: Path) -> list[str]:
    """The default pipeline's datasets that kedro-viz draws outside every group: a dataset is
    inside an experiment's group only when a node of that group makes it and only nodes of that
    group read it (kedro-viz's modular pipelines: a group's free inputs and outputs sit outside)."""
    with project_pipelines(root) as pipelines:
        nodes = pipelines["__default__"].nodes
    makers, readers = {}, {}
    for node in nodes:
        group = node.namespace.split(".")[0] if node.namespace else None
        for name in node.outputs:
            makers[name] = group
        for name in node.inputs:
            readers.setdefault(name, set()).add(group)
    return sorted(
        name
        for name in {*makers, *readers}
        if not name.startswith("params:")
        and name != "parameters"
        and not (makers.get(name) and readers.get(name) == {makers[name]})
    )


def _order(node: tuple[str | None, str]) -> tuple[str, str]:
    return node[0] or "", node[1]


def catalog_layers(root: Path) -> set[str]:
    catalog = yaml.safe_load((root / "conf/base/catalog.yml").read_text())
    return {
        entry["metadata"]["kedro-viz"]["layer"]
        for entry in catalog.values()
        if isinstance(entry, dict) and "layer" in entry.get("metadata", {}).get("kedro-viz", {})
    }


def shown(graph: dict) -> list[tuple[str | None, str]]:
    """A kedro-viz graph's task nodes as (namespace, name)."""
    return sorted(
        (
            (node["modular_pipelines"][0] if node["modular_pipelines"] else None, node["name"])
            for node in graph["nodes"]
            if node["type"] == "task"
        ),
        key=_order,
    )


def check_graph(main: dict, pipeline_graphs: dict[str, dict], root: Path) -> None:
    expected = registered_pipelines(root)
    assert [pipeline["id"] for pipeline in main["pipelines"]] == PIPELINES
    for name in PIPELINES:
        assert shown(pipeline_graphs[name]) == expected[name], name
    runs = {namespace for namespace, _ in expected["__default__"] if namespace and "." in namespace}
    assert runs == {f"{experiment}.seed0" for experiment in EXPERIMENTS}
    # one collapsible group per experiment, with one group per seed nested in it
    assert set(main["modular_pipelines"]) == runs | EXPERIMENTS | {"__root__"}
    top = main["modular_pipelines"]["__root__"]["children"]
    assert {child["id"] for child in top if child["type"] == "modularPipeline"} == EXPERIMENTS
    # kedro-viz draws outside the groups what other nodes read (or nothing reads): of a run, its
    # results and its embeddings, which the comparison reads (the scores, and the CKA between
    # runs), and a trained run's placement and traces, which nothing reads (run metadata, and
    # DVCLive's files for DVC); of an experiment its tuning record, which its runs and the
    # comparison read; every other dataset of a run sits inside its group
    names = {node["id"]: (node["type"], node["name"]) for node in main["nodes"]}
    outside = sorted(names[child["id"]][1] for child in top if names[child["id"]][0] == "data")
    assert outside == ungrouped_datasets(root)
    read_by_the_comparison = [f"{run}.{name}" for run in runs for name in ("results", "embeddings")]
    trained = [run for run in runs if not run.startswith(f"{FLOOR}.")]
    unread = [f"{run}.{name}" for run in trained for name in ("placement", "traces")]
    assert [name for name in outside if name.split(".")[0] in EXPERIMENTS] == sorted(
        [*read_by_the_comparison, *unread, *(f"{e}.tuning" for e in EXPERIMENTS - {FLOOR})]
    )
    # the shared stages' datasets, four per run and one per experiment
    assert len(outside) <= 20 + 4 * len(runs) + len(EXPERIMENTS)
    for run in runs:
        group = {names[child["id"]][1] for child in main["modular_pipelines"][run]["children"]}
        own = {"model", "scores", "pca_png"}
        own |= {"history", "steps"} if run in trained else set()
        assert {f"{run}.{dataset}" for dataset in own} <= group, run
    assert set(main["layers"]) == catalog_layers(root)
    assert main["layers"][:3] == ["intermediate", "primary", "feature"]


@pytest.fixture(scope="module")
def viz_build(dvc_project: DvcProject) -> Path:
    """`kedro viz build --include-previews` in the project that `dvc repro` ran."""
    site = dvc_project.root / "build"
    started = time.monotonic()
    result = tool("kedro", "viz", "build", "--include-previews", cwd=dvc_project.root)
    assert time.monotonic() - started < 120
    assert "Success!" in result.stdout, result.stdout + result.stderr
    return site


@pytest.mark.slow
def test_build_draws_every_pipeline_with_one_group_per_experiment(viz_build, dvc_project):
    """The static site holds every registered pipeline with all its nodes, one modular pipeline
    (collapsible group) per experiment and the floor, and the catalog's data layers in order."""
    api = viz_build / "api"
    main = json.loads((api / "main").read_text())
    graphs = {name: json.loads((api / "pipelines" / name).read_text()) for name in PIPELINES}
    check_graph(main, graphs, dvc_project.root)
    assert (viz_build / "index.html").is_file()
    version = json.loads((api / "version").read_text())
    assert version["is_outdated"] is False


@pytest.mark.slow
def test_build_previews_figures_as_images_and_metrics_as_json(viz_build):
    main = json.loads((viz_build / "api" / "main").read_text())
    ids = {node["name"]: node["id"] for node in main["nodes"] if node["type"] == "data"}

    def preview(name: str) -> dict:
        return json.loads((viz_build / "api" / "nodes" / ids[name]).read_text())

    figures = [name for name in ids if name.endswith("_png")]
    assert figures
    for name in figures:
        assert preview(name)["preview_type"] == "ImagePreview", name
    metrics = preview("metrics")
    assert metrics["preview_type"] == "JSONPreview"
    assert "value" in json.loads(json.loads(metrics["preview"])["ntxent/probe_accuracy.json"])
    table = preview("comparison_table")
    assert table["preview_type"] == "TablePreview"
    assert {row[0] for row in table["preview"]["data"]} == EXPERIMENTS  # all, not the first 5


def _free_port() -> int:
    """A free port below 49152: kedro-viz refuses the ephemeral range the OS would pick from."""
    for port in random.Random().sample(range(20000, 49000), 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 49000")


class SilentProxy:
    """An HTTP(S) proxy that accepts connections and never answers: a request sent through it
    would wait for its timeout. It counts the connections, i.e. the attempts to reach out."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.connections.append(connection)

    def close(self) -> None:
        self.socket.close()
        for connection in self.connections:
            connection.close()


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1, no proxy


def _get(url: str) -> bytes:
    with _DIRECT.open(url, timeout=10) as response:
        return response.read()


@pytest.mark.slow
def test_server_starts_without_waiting_on_the_network(dvc_project: DvcProject, tmp_path):
    """`kedro viz run` on 127.0.0.1, with every outgoing request routed to a proxy that never
    answers: the page and its API answer at once, kedro-viz's PyPI update check never asks
    (the project's settings answer it), and the page carries no telemetry."""
    proxy, port = SilentProxy(), _free_port()
    log = (tmp_path / "kedro-viz.log").open("w")
    environment = {
        **tool_env(),
        "HTTP_PROXY": f"http://127.0.0.1:{proxy.port}",
        "HTTPS_PROXY": f"http://127.0.0.1:{proxy.port}",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    command = [str(Path(sys.executable).with_name("kedro")), "viz", "run", "--no-browser"]
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        cwd=dvc_project.root,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the server it spawns goes with it
    )
    base = f"http://127.0.0.1:{port}"
    try:
        started, main = time.monotonic(), None
        while main is None and time.monotonic() - started < 90:
            assert server.poll() is None, (tmp_path / "kedro-viz.log").read_text()
            try:
                main = json.loads(_get(f"{base}/api/main"))
            except OSError:
                time.sleep(0.5)
        assert main is not None, "kedro viz run did not answer within 90 s"
        graphs = {name: json.loads(_get(f"{base}/api/pipelines/{name}")) for name in PIPELINES}
        check_graph(main, graphs, dvc_project.root)
        asked = time.monotonic()
        version = json.loads(_get(f"{base}/api/version"))
        assert time.monotonic() - asked < 5
        assert version["is_outdated"] is False
        page = _get(f"{base}/").decode()
        assert "<html" in page.lower() and "heap" not in page.lower()
        assert proxy.connections == [], "something tried to reach the network"
    finally:
        with contextlib.suppress(ProcessLookupError):  # the group may be gone already
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
        proxy.close()


def test_update_check_is_answered_without_the_network(monkeypatch):
    """Once Kedro has loaded the project's settings, kedro-viz's "latest version" check answers
    "the installed one" without a request (kedro-viz has no switch for it)."""
    import requests

    def no_network(*args, **kwargs):
        raise AssertionError("kedro-viz asked PyPI")

    monkeypatch.setattr(requests, "get", no_network)
    bootstrap_project(PROJECT)
    from kedro.framework.project import settings

    assert settings.HOOKS  # importing the settings module
    from kedro_viz import __version__
    from kedro_viz.integrations.pypi import get_latest_version, is_running_outdated_version
    from packaging.version import parse

    assert get_latest_version() == parse(__version__)
    assert not is_running_outdated_version(parse(__version__), get_latest_version())


def test_readme_picture_shows_the_current_pipeline():
    """docs/pipeline.png (scripts/render_pipeline.py) shows the default pipeline's top-level nodes,
    one group per experiment and the datasets outside the groups; docs/pipeline.json records
    which. If this fails, re-render: `make pipeline-picture` (needs Debian's chromium)."""
    pipeline = registered_pipelines(PROJECT)["__default__"]
    picture = json.loads((PROJECT / "docs" / "pipeline.json").read_text())
    with inside(PROJECT, "base"):
        experiments = {run.experiment for run in build_spec(run_parameters()).runs()}
    assert picture == {
        "nodes": sorted(name for namespace, name in pipeline if namespace is None),
        "groups": sorted(experiments),
        "datasets": ungrouped_datasets(PROJECT),
    }
    # of each run, only its results and embeddings (which the comparison reads) and, trained, its
    # placement and traces (which nothing reads) are drawn outside its group, and of each
    # experiment its tuning record (which its runs and the comparison read)
    runs = {namespace for namespace, _ in pipeline if namespace and "." in namespace}
    read = {f"{run}.{dataset}" for run in runs for dataset in ("results", "embeddings")}
    trained = {run for run in runs if not run.startswith(f"{FLOOR}.")}
    unread = {f"{run}.{dataset}" for run in trained for dataset in ("placement", "traces")}
    tunings = {f"{name}.tuning" for name in experiments - {FLOOR}}
    per_run = [name for name in picture["datasets"] if name.split(".")[0] in experiments]
    assert per_run == sorted(read | unread | tunings)
    assert (PROJECT / "docs" / "pipeline.png").stat().st_size > 10_000
