"""The whole flow in Kedro sessions and through the real `kedro` CLI, on tiny settings."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from crl_pipelines.hooks import MissingInputsError
from tests.integration.conftest import copy_project

ENCODERS = ["contrastive", "triplet", "ntxent", "cross_entropy", "random_init"]
FIGURES = ["class_distances", "between_class_histogram", "correlation", "vif", "pca"]


def run(project: Path, pipelines: list[str] | None = None, env: str = "test") -> None:
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=env) as session:
        session.run(pipeline_names=pipelines)


def kedro_cli(project: Path, *args: str) -> subprocess.CompletedProcess:
    kedro = Path(sys.executable).with_name("kedro")
    environment = {**os.environ, "KEDRO_ENV": "test", "COLUMNS": "200"}
    return subprocess.run(
        [str(kedro), *args], cwd=project, env=environment, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One complete default run of the tiny environment, shared by the tests below."""
    previous_cwd, previous_env = Path.cwd(), os.environ.get("KEDRO_ENV")
    project = copy_project(tmp_path_factory.mktemp("flow") / "project")
    os.chdir(project)
    os.environ["KEDRO_ENV"] = "test"
    try:
        run(project)
        yield project
    finally:
        os.chdir(previous_cwd)
        if previous_env is None:
            os.environ.pop("KEDRO_ENV", None)
        else:
            os.environ["KEDRO_ENV"] = previous_env


@pytest.mark.slow
def test_default_run_writes_every_artifact(finished_run):
    """ingest → pairs → train → embed → evaluate leaves each layer's artifacts on disk."""
    data = finished_run / "data"
    for path in [
        "02_intermediate/dataset.npz",
        "03_primary/train.npz",
        "03_primary/test.npz",
        "04_feature/pair_plan.npz",
        "08_reporting/comparison.csv",
        "08_reporting/comparison.md",
        "08_reporting/metrics.json",
    ]:
        assert (data / path).is_file(), path
    for name in ENCODERS:
        assert (data / "06_models" / name / "model.pt").is_file()
        assert (data / "07_model_output" / name / "embeddings.npz").is_file()
        assert (data / "08_reporting" / name / "scores.json").is_file()
        for figure in FIGURES:
            assert (data / "08_reporting" / name / f"{figure}.png").stat().st_size > 1000
        if name != "random_init":
            history = pd.read_csv(data / "06_models" / name / "history.csv")
            assert history["epoch"].tolist() == [1, 2]
            assert history["loss"].notna().all()


@pytest.mark.slow
def test_comparison_lists_every_encoder_and_beats_the_floor(finished_run):
    """The comparison has the four experiments and the floor, the four scores the issue asks
    for, and every trained encoder's probe accuracy above the untrained floor's."""
    table = pd.read_csv(finished_run / "data" / "08_reporting" / "comparison.csv")
    assert table["experiment"].tolist() == ENCODERS
    for column in ["probe_accuracy", "pca2_variance", "class_separation", "mean_vif"]:
        assert table[column].notna().all(), column
    scores = table.set_index("experiment")
    floor = scores.loc["random_init", "probe_accuracy"]
    assert (scores.drop("random_init")["probe_accuracy"] > floor).all(), scores["probe_accuracy"]
    metrics = json.loads((finished_run / "data" / "08_reporting" / "metrics.json").read_text())
    assert set(metrics) == set(ENCODERS)
    assert metrics["ntxent"]["probe_accuracy"] == pytest.approx(
        scores.loc["ntxent", "probe_accuracy"]
    )
    markdown = (finished_run / "data" / "08_reporting" / "comparison.md").read_text()
    assert "random_init (random init)" in markdown and "| ntxent |" in markdown


@pytest.mark.slow
@pytest.mark.parametrize("flag", ["--pipeline=evaluate", "--pipelines=evaluate"])
def test_cli_evaluate_rescores_without_training(finished_run, flag):
    """`kedro run --pipeline=evaluate` (deprecated spelling) and `--pipelines=evaluate` rewrite
    the report from the models on disk and leave the models untouched."""
    models = {
        path: path.read_bytes() for path in (finished_run / "data" / "06_models").rglob("*.pt")
    }
    comparison = finished_run / "data" / "08_reporting" / "comparison.csv"
    expected = comparison.read_text()
    shutil.rmtree(finished_run / "data" / "08_reporting")
    result = kedro_cli(finished_run, "run", flag)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "train_encoder" not in result.stdout + result.stderr
    assert comparison.read_text() == expected
    assert {path: path.read_bytes() for path in models} == models


@pytest.mark.slow
def test_evaluate_before_anything_exists_says_what_to_run(project):
    """On an empty project, evaluate stops before doing anything and names the pipeline to run."""
    with pytest.raises(MissingInputsError, match=r"kedro run --pipelines=embed"):
        run(project, ["evaluate"])
    assert not any((project / "data" / "08_reporting").iterdir())


@pytest.mark.slow
def test_experiments_are_namespaces(project):
    """Each experiment is one Kedro namespace holding its own training node."""
    bootstrap_project(project)
    from kedro.framework.project import pipelines

    namespaces = {node.namespace for node in pipelines["train"].nodes}
    assert namespaces == set(ENCODERS)
    assert {node.name for node in pipelines["evaluate"].nodes if node.namespace is None} == {
        "compare_encoders"
    }


@pytest.mark.slow
def test_env_that_changes_experiments_needs_kedro_env(project, monkeypatch):
    """Selecting an environment that declares other experiments with --env only is refused."""
    other = project / "conf" / "other"
    other.mkdir()
    (other / "parameters.yml").write_text("experiments:\n  ntxent:\n    loss: ntxent\n")
    monkeypatch.delenv("KEDRO_ENV")
    with pytest.raises(RuntimeError, match="KEDRO_ENV"):
        run(project, ["ingest"], env="other")
