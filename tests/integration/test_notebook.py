"""notebooks/compare_experiments.ipynb runs top to bottom on the small-settings run."""

import json
import re

import nbformat
import pytest
from nbclient import NotebookClient

from crl_pipelines.runs import FLOOR
from tests.integration.conftest import DVC_EXPERIMENTS, PROJECT, DvcProject, tool_env

NOTEBOOK = PROJECT / "notebooks" / "compare_experiments.ipynb"

# the tests that share the session's dvc_project fixture run on one worker (pytest-xdist)
pytestmark = pytest.mark.xdist_group("dvc_project")


@pytest.mark.slow
def test_notebook_compares_the_runs_from_the_catalog(dvc_project: DvcProject):
    """Executed in the project `dvc repro` ran (from its notebooks/ folder, as Jupyter would):
    no cell fails, no catalog load logs a line, the comparison (with intervals) and every run's
    scores list every run, and the figures (intervals, embeddings, the pipelines') are images."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(dvc_project.root / "notebooks")}},
    )
    client.execute(env=tool_env())  # raises CellExecutionError, naming the cell, on any error

    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    errors = [output for output in outputs if output["output_type"] == "error"]
    assert errors == []
    assert not [output for output in outputs if "Loading data from" in json.dumps(output)]
    tables = [
        output["data"]["text/html"]
        for output in outputs
        if "text/html" in output.get("data", {}) and "<table" in output["data"]["text/html"]
    ]
    assert len(tables) == 2  # the comparison with intervals, and every run's scores
    assert re.search(r"0\.\d{3} \[0\.\d{3}, 0\.\d{3}\]", tables[0])  # value [low, high]
    for run in [*DVC_EXPERIMENTS, FLOOR]:
        assert all(run in table for table in tables), run
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    # the intervals, the embeddings (one figure), each run's figure, the comparison's figures
    assert len(images) >= 2 + len(DVC_EXPERIMENTS) + 1 + 1
