"""The whole flow in Kedro sessions and through the real `kedro` CLI, on tiny settings."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from crl_pipelines.corruptions import CORRUPTIONS
from crl_pipelines.evaluation.scores import SCORES
from crl_pipelines.hooks import MissingInputsError
from crl_pipelines.parameters import ParameterError
from tests.integration.conftest import inside

ENCODERS = ["contrastive", "triplet", "ntxent", "cross_entropy", "random_init"]
FIGURES = ["class_distances", "confusion", "correlation", "vif", "pca", "tsne", "retrieval"]
COMPARISON_FIGURES = [
    "between_class_distances",
    "probe_by_depth",
    "corruption_curves",
    "training_curves",
]

# the tests that share the session's tiny_run fixture run on one worker (pytest-xdist)
pytestmark = pytest.mark.xdist_group("tiny_run")


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
def finished_run(tiny_run, tmp_path_factory):
    """A copy of the shared complete run of the tiny environment, for the tests below."""
    project = tmp_path_factory.mktemp("flow") / "project"
    shutil.copytree(tiny_run, project)
    with inside(project, "test"):
        yield project


@pytest.mark.slow
def test_default_run_writes_every_artifact(finished_run):
    """ingest → pairs → train → embed → evaluate leaves each layer's artifacts on disk."""
    data = finished_run / "data"
    for path in [
        "02_intermediate/dataset.npz",
        "03_primary/train.npz",
        "03_primary/validation.npz",
        "03_primary/test.npz",
        "03_primary/summary.json",
        "04_feature/class_pairs_plan.npz",
        "08_reporting/comparison.csv",
        "08_reporting/report.md",
        "08_reporting/report.html",
        "08_reporting/metrics/ntxent/probe_accuracy.json",
        *(f"08_reporting/{figure}.png" for figure in COMPARISON_FIGURES),
    ]:
        assert (data / path).is_file(), path
    for name in ENCODERS:
        assert (data / "06_models" / name / "seed0" / "model.pt").is_file()
        assert (data / "07_model_output" / name / "seed0" / "embeddings.npz").is_file()
        reporting = data / "08_reporting" / "runs" / name / "seed0"
        assert (reporting / "scores.json").is_file()
        for figure in FIGURES:
            assert (reporting / f"{figure}.png").stat().st_size > 1000
        if name != "random_init":
            history = pd.read_csv(data / "06_models" / name / "seed0" / "history.csv")
            assert history["epoch"].tolist() == [1, 2]
            assert history["loss"].notna().all() and history["val_knn_accuracy"].notna().all()
            assert history["kept"].tolist() == [0, 1]  # keep: last
            steps = pd.read_csv(data / "06_models" / name / "seed0" / "steps.csv")
            assert set(steps["epoch"]) == {1, 2} and steps["grad_norm"].gt(0).all()


@pytest.mark.slow
def test_comparison_lists_every_encoder_and_beats_the_floor(finished_run):
    """The comparison has the four experiments and the floor, every score of the battery, and
    every trained encoder's probe accuracy above the untrained floor's."""
    table = pd.read_csv(finished_run / "data" / "08_reporting" / "comparison.csv")
    assert table["experiment"].tolist() == ENCODERS
    small_cnn_depths = ["stem", "layer1", "layer2", "embedding"]  # the test env's backbone
    digits = {f"probe_digit_{position}" for position in range(4)}  # MultiDigit data only
    shown = [name for name, score in SCORES.items() if score.heading and name not in digits]
    for column in [*shown, *(f"probe_{depth}" for depth in small_cnn_depths)]:
        assert table[column].notna().all(), column
    assert "probe_layer4" not in table  # a stage small_cnn does not have: skipped, left out
    assert table["seeds"].tolist() == [1] * len(ENCODERS)
    scores = table.set_index("experiment")
    floor = scores.loc["random_init", "probe_accuracy"]
    assert (scores.drop("random_init")["probe_accuracy"] > floor).all(), scores["probe_accuracy"]
    metrics = finished_run / "data" / "08_reporting" / "metrics"  # DVC's, per experiment
    assert {folder.name for folder in metrics.iterdir()} == set(ENCODERS)
    probe = json.loads((metrics / "ntxent" / "probe_accuracy.json").read_text())
    assert probe["value"] == pytest.approx(scores.loc["ntxent", "probe_accuracy"])
    markdown = (finished_run / "data" / "08_reporting" / "report.md").read_text()
    assert "random_init (untrained floor)" in markdown and "## ntxent.seed0" in markdown
    for name in (column[: -len("_low")] for column in table if column.endswith("_low")):
        shown = table[f"{name}_low"].notna()
        assert shown.any() or SCORES[name].interval != "percentile", name
        held = (table[f"{name}_low"] <= table[name]) & (table[name] <= table[f"{name}_high"])
        assert held[shown].all(), name  # every shown interval holds its estimate
        if (~shown).any():  # and a withheld one is named in the report, with why
            assert f"No interval for {SCORES[name].heading} of" in markdown, name
    assert "half-samples without replacement and their basic interval" in markdown
    assert re.search(r"the percentile bootstrap for [^;]*probe acc\.", markdown)


def test_every_run_is_scored_on_corrupted_test_images(finished_run):
    """The test env corrupts 30 of the 90 test images under every corruption at every severity:
    each run's embeddings hold them, its results the probe's accuracy per corruption and
    severity (the untrained floor's too), and the comparison the mean corruption accuracy."""
    data = finished_run / "data"
    embeddings = np.load(data / "07_model_output" / "ntxent" / "seed0" / "embeddings.npz")
    rows = embeddings["corruption_rows"]
    assert len(rows) == 30 and (np.diff(rows) > 0).all()
    corrupted = [key for key in embeddings.files if key.startswith("corrupt__")]
    assert len(corrupted) == len(CORRUPTIONS) * 5
    assert embeddings["corrupt__blur__5"].shape == (30, embeddings["test_embedding"].shape[1])
    for name in ENCODERS:
        results = json.loads((data / "08_reporting" / "runs" / name / "seed0" / "results.json")
                             .read_text())  # fmt: skip
        assert results["corruption_names"] == list(CORRUPTIONS)
        assert np.array(results["corruption_probe"]).shape == (len(CORRUPTIONS), 5)
    table = pd.read_csv(data / "08_reporting" / "comparison.csv").set_index("experiment")
    assert table["corruption_probe_accuracy"].between(0, 1).all()
    assert (table["corruption_probe_accuracy"] < table["probe_accuracy"] + 0.05).all()


def test_every_two_runs_representations_are_compared_by_cka(finished_run):
    """cka.json holds a runs × runs matrix per depth the small CNN has, symmetric with ones on
    its diagonal, the floor among the runs; the report shows the heat maps and says which
    experiments are most and least alike."""
    record = json.loads((finished_run / "data" / "08_reporting" / "cka.json").read_text())
    assert record["experiments"] == ENCODERS and record["test_images"] == 90
    assert set(record["cka"]) == {"stem", "layer1", "layer2", "embedding"}
    for depth, rows in record["cka"].items():
        matrix = np.array(rows, dtype=float)
        assert np.allclose(matrix, matrix.T) and np.allclose(np.diag(matrix), 1.0), depth
        assert (matrix < 1.0 + 1e-9).all(), depth
    markdown = (finished_run / "data" / "08_reporting" / "report.md").read_text()
    assert "](cka.png)" in markdown
    assert "the most alike are" in markdown and "debiased linear CKA" in markdown
    assert "Training: the weights of epoch 2 of 2 are kept (training.keep: last)" in markdown
    for name in ENCODERS:
        for figure in FIGURES:
            assert f"](runs/{name}/seed0/{figure}.png)" in markdown


@pytest.mark.slow
def test_cli_evaluate_rescores_without_training(finished_run):
    """`kedro run --pipelines=evaluate` rewrites the report from the models on disk and leaves
    the models untouched."""
    models = {
        path: path.read_bytes() for path in (finished_run / "data" / "06_models").rglob("*.pt")
    }
    comparison = finished_run / "data" / "08_reporting" / "comparison.csv"
    expected = comparison.read_text()
    shutil.rmtree(finished_run / "data" / "08_reporting")
    result = kedro_cli(finished_run, "run", "--pipelines=evaluate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "train_encoder" not in result.stdout + result.stderr
    assert comparison.read_text() == expected
    assert {path: path.read_bytes() for path in models} == models


def test_the_deprecated_pipeline_option_names_a_pipeline_too(project):
    """`--pipeline=evaluate` (Kedro's deprecated spelling) is checked like `--pipelines`."""
    from crl_pipelines.cli import UnknownNameError, check_names, run

    bootstrap_project(project)
    options = run.make_context("run", ["--pipeline=evaluate"]).params
    check_names(options)
    with pytest.raises(UnknownNameError, match="no pipeline 'evalute': did you mean evaluate"):
        check_names({**options, "pipeline": "evalute"})


@pytest.mark.slow
def test_evaluate_before_anything_exists_says_what_to_run(project):
    """On an empty project, evaluate stops before doing anything and names the pipeline to run."""
    with pytest.raises(MissingInputsError, match=r"kedro run --pipelines=embed"):
        run(project, ["evaluate"])
    assert not any((project / "data" / "08_reporting").iterdir())


@pytest.mark.slow
def test_experiments_are_namespaces(project):
    """Each experiment is one Kedro namespace, with one nested namespace per seed holding its
    training node."""
    bootstrap_project(project)
    from kedro.framework.project import pipelines

    namespaces = {node.namespace for node in pipelines["train"].nodes}
    assert namespaces == {f"{name}.seed0" for name in ENCODERS}
    assert {node.name for node in pipelines["evaluate"].nodes if node.namespace is None} == {
        "compare_runs",
        "compare_representations",
        "write_report",
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


@pytest.mark.slow
def test_several_seeds_give_mean_and_std(project):
    """With two seeds every experiment is trained twice (and the floor drawn twice); the
    comparison reports each score as mean ± std over the seeds."""
    (project / "conf" / "test" / "parameters_seeds.yml").write_text(
        "seeds: [0, 1]\nexperiments:\n  ntxent:\n    loss: ntxent\n"
    )
    run(project)
    table = pd.read_csv(project / "data" / "08_reporting" / "comparison.csv")
    assert table["experiment"].tolist() == ["ntxent", "random_init"]
    assert table["seeds"].tolist() == [2, 2]
    for name in ["ntxent", "random_init"]:
        for seed in ["seed0", "seed1"]:
            assert (project / "data" / "06_models" / name / seed / "model.pt").is_file()
    reporting = project / "data" / "08_reporting" / "runs" / "ntxent"
    runs = [
        json.loads((reporting / seed / "scores.json").read_text()) for seed in ("seed0", "seed1")
    ]
    accuracies = [record["scores"]["probe_accuracy"] for record in runs]
    assert runs[0]["scores"]["uniformity"] != runs[1]["scores"]["uniformity"]  # other weights
    row = table.set_index("experiment").loc["ntxent"]
    assert row["probe_accuracy"] == pytest.approx(sum(accuracies) / 2)
    assert row["probe_accuracy_std"] == pytest.approx(abs(accuracies[0] - accuracies[1]) / 2**0.5)
    assert " ± " in (project / "data" / "08_reporting" / "report.md").read_text()


@pytest.mark.slow
def test_self_supervised_and_looc_experiments_run_beside_class_pairs(project):
    """NT-Xent on augmented views (no labels in training) and LOOC on LOOC views train from
    their own saved plans and are scored in the same comparison as a class-pair experiment."""
    (project / "conf" / "test" / "parameters_views.yml").write_text(
        "experiments:\n"
        "  ntxent: {loss: ntxent}\n"
        "  ntxent_views: {loss: ntxent, sampling: augmented_views}\n"
        "  looc: {loss: looc, sampling: looc_views, model: {representation: all_heads}}\n"
    )
    run(project)
    features = project / "data" / "04_feature"
    assert {path.name for path in features.glob("*.npz")} == {
        "class_pairs_plan.npz", "augmented_views_plan.npz", "looc_views_plan.npz",
    }  # fmt: skip
    table = pd.read_csv(project / "data" / "08_reporting" / "comparison.csv")
    assert table["experiment"].tolist() == ["ntxent", "ntxent_views", "looc", "random_init"]
    scores = table.set_index("experiment")["probe_accuracy"]
    assert (scores.drop("random_init") > scores["random_init"]).all(), scores
    report = (project / "data" / "08_reporting" / "report.md").read_text()
    assert '"looc_views"' in report or "looc_views" in report


@pytest.mark.slow
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training:\n  learing_rate: 0.01\n", r"`training\.learing_rate` is unknown; did you mean"),
        ("seeds: [0, 0.5]\n", r"`seeds\.1` should be a valid integer, got 0\.5"),
        ("experiments:\n  ntxent:\n    loss: looc\n", r"looc loss trains on `sampling:` looc"),
    ],
)
def test_bad_parameters_stop_the_session_before_any_node_runs(project, override, message):
    """A wrong parameter is refused when the pipelines are registered: the run stops with the
    message naming it, and nothing is written."""
    (project / "conf" / "test" / "parameters_bad.yml").write_text(override)
    with pytest.raises(ParameterError, match=message):
        run(project)
    assert not any((project / "data" / "02_intermediate").iterdir())


@pytest.mark.slow
def test_the_parameters_are_read_once_and_reach_the_nodes_typed(project, monkeypatch):
    """`kedro run` parses the parameters once, when the pipelines are built (the run reuses
    them), and each node is given its block typed: a --params learning rate is the train node's
    experiment's, a float, with nothing left to parse."""
    from click.testing import CliRunner

    from crl_pipelines import cli, spec
    from crl_pipelines.spec import RunParameters

    parsed = []
    original = spec.parse
    monkeypatch.setattr(
        spec, "parse", lambda model, *a: parsed.append(model) or original(model, *a)
    )
    # `kedro run` sets this for the pipeline registry (one run a process): restored after
    monkeypatch.setenv("CRL_PIPELINES_RUNTIME_PARAMS", "{}")
    bootstrap_project(project)
    result = CliRunner().invoke(
        cli.run, ["--pipelines=ingest", "--params=training.learning_rate=0.002"]
    )
    assert result.exit_code == 0, result.output
    assert parsed == [RunParameters]
    from kedro.framework.project import pipelines

    (node,) = [n for n in pipelines["train"].nodes if n.name == "ntxent.seed0.train_encoder"]
    training = node.func.keywords["space"].experiment.training
    assert training.learning_rate == 0.002 and isinstance(training.learning_rate, float)
    assert node.inputs == ["train_set", "validation_set", "class_pairs_plan", "ntxent.tuning"]
