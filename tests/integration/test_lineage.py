"""Lineage: artifacts made from other inputs are refused, naming the stale one and its fix, and
nothing is written; unchanged inputs give byte-identical artifacts."""

import shutil
from pathlib import Path

import pytest
import yaml

from crl_pipelines.lineage import StaleArtifactError
from tests.integration.conftest import inside, run_in_process

# the tests that share the session's tiny_run fixture run on one worker (pytest-xdist)
pytestmark = pytest.mark.xdist_group("tiny_run")


def run(project: Path, pipelines: list[str] | None = None, **options) -> None:
    run_in_process(project, pipelines, **options)


def snapshot(folder: Path) -> dict[Path, bytes]:
    """Every file under ``folder`` (hidden ones too), with its bytes."""
    return {path: path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def override(project: Path, block: str, values: dict) -> None:
    """Change ``values`` of ``block`` in the test environment's parameters."""
    path = project / "conf/test/parameters.yml"
    parameters = yaml.safe_load(path.read_text())
    parameters[block] = {**parameters.get(block, {}), **values}
    path.write_text(yaml.safe_dump(parameters, sort_keys=False))


@pytest.fixture
def project(tiny_run, tmp_path) -> Path:
    """A copy of the shared finished tiny run, which a test may change."""
    copy = tmp_path / "project"
    shutil.copytree(tiny_run, copy)
    with inside(copy, "test"):
        yield copy


def reingest(project: Path) -> None:
    """Another split: a different subset of the digits."""
    override(project, "ingest", {"subset_size": 250})
    run(project, ["ingest"])


CASES = [
    # (after re-ingesting?, what changed otherwise, pipelines run, message, folder that must stay)
    pytest.param(
        True, None, ["embed"],
        r"the encoder of contrastive\.seed0 is stale: made from another train/test split .*"
        r"`kedro run --pipelines=train --namespaces=contrastive`",
        "07_model_output", id="embed-an-encoder-of-another-split",
    ),
    pytest.param(
        True, None, ["evaluate"],
        r"the embeddings file of contrastive\.seed0 is stale: made from another train/test split .*"
        r"--pipelines=train,embed --namespaces=contrastive",
        "08_reporting", id="score-embeddings-of-another-split",
    ),
    pytest.param(
        True, None, ["train"],
        r"the class_pairs plan is stale: made from another train/test split .*"
        r"`kedro run --pipelines=pairs`",
        "06_models", id="train-on-a-plan-of-another-split",
    ),
    pytest.param(
        True, None, ["compare"],
        r"the evaluation of contrastive\.seed0 is stale: made from another train/test split .*"
        r"--pipelines=train,embed,evaluate --namespaces=contrastive",
        "08_reporting", id="compare-scores-of-another-split",
    ),
    pytest.param(
        False, ("pairs", {"seed": 5}), ["compare"],
        r"the evaluation of contrastive\.seed0 is stale: made from another sampling plan",
        "08_reporting", id="compare-encoders-of-another-plan",
    ),
    pytest.param(
        False, ("training", {"learning_rate": 0.01}), ["compare"],
        r"the evaluation of contrastive\.seed0 is stale: made from other settings than the "
        r"parameters",
        "08_reporting", id="compare-encoders-of-other-settings",
    ),
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("again", "change", "pipelines", "message", "kept"), CASES)
def test_stale_input_is_refused_and_nothing_is_written(
    project, again, change, pipelines, message, kept
):
    if again:
        reingest(project)
    if change:
        block, values = change
        override(project, block, values)
        if block == "pairs":
            run(project, ["pairs"])
    before = snapshot(project / "data" / kept)
    with pytest.raises(StaleArtifactError, match=message):
        run(project, pipelines)
    assert snapshot(project / "data" / kept) == before


@pytest.mark.slow
def test_retraining_with_unchanged_inputs_writes_byte_identical_models(project):
    """Train again from scratch (no checkpoints) and again from the finished checkpoints: the
    model files and histories are the same bytes, so nothing downstream re-runs for nothing."""
    models = project / "data" / "06_models"
    before = snapshot(models)
    shutil.rmtree(models)
    shutil.rmtree(project / "data" / "checkpoints")
    run(project, ["train"])
    assert snapshot(models) == before
    shutil.rmtree(models)
    run(project, ["train"])  # resumes from the last epoch's checkpoints
    assert snapshot(models) == before


def test_a_stale_dataset_summary_is_named_and_its_advice_works(project):
    """An ingest killed between its split files and its summary: the runs rebuilt on the new
    split are refused by the comparison, which names the summary and `--pipelines=ingest`;
    doing exactly that makes the comparison succeed."""
    summary = project / "data/03_primary/summary.json"
    old_summary = summary.read_bytes()
    reingest(project)
    summary.write_bytes(old_summary)  # the kill: split files new, summary old
    run(project, ["pairs", "train", "embed"])
    with pytest.raises(StaleArtifactError) as refused:
        run(project, ["evaluate"])
    message = str(refused.value)
    assert "data/03_primary/summary.json" in message, message
    advice = message.rsplit("`", 2)[-2]
    assert advice == "kedro run --pipelines=ingest", message
    run(project, [advice.split("=")[1]])  # literally the advice
    run(project, ["compare"])
    assert summary.read_bytes() != old_summary
