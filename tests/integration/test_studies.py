"""A study through the real DVC queue: two variants queued as DVC experiments, run by two queue
workers in a clone of the throw-away repository (tests/integration/conftest.py: dvc_project),
and gathered into the study report."""

import sys

import pandas as pd
import pytest
import yaml

from tests.integration.conftest import clone, tool

STUDY = {
    "name": "tiny",
    "description": "NT-Xent's temperature, one epoch.",
    "fixed": {
        "experiments": {"ntxent": {"loss": "ntxent", "loss_params": {"temperature": 0.5}}},
        "pairs.epochs": 1,
    },
    "grid": {"experiments.ntxent.loss_params.temperature": [0.2, 0.5]},
}

# on the worker of the other DVC tests, which builds dvc_project once (a group of its own built
# it twice, and, started last, left the suite waiting on its queue)
pytestmark = pytest.mark.xdist_group("dvc_project")


@pytest.mark.slow
def test_a_study_runs_in_the_dvc_queue_and_ends_in_its_report(dvc_project):
    """`run` queues both variants, runs them with `-j 2`, says when each finishes and writes the
    report; `report` gathers the same results again; a second `run` is refused, naming the
    experiments there. Only the stages the study's parameters reach run (pairs, the one
    experiment's train, embed and evaluate, compare): the rest come from the DVC cache."""
    root = clone(dvc_project, "study")
    (root / "conf/studies").mkdir(exist_ok=True)  # the shipped studies may be there
    (root / "conf/studies/tiny.yml").write_text(yaml.safe_dump(STUDY, sort_keys=False))
    tool("git", "add", "conf/studies/tiny.yml", cwd=root)
    tool("git", "commit", "--quiet", "--message", "the tiny study", cwd=root)
    command = (sys.executable, "-m", "crl_pipelines.studies")

    run = tool(*command, "run", "conf/studies/tiny.yml", "--jobs", "2", "--poll", "2", cwd=root)
    lines = run.stdout.splitlines()
    finished = sorted(line.split()[1] for line in lines if line.startswith("[") and " done" in line)
    assert finished == ["tiny-0", "tiny-1"], run.stdout
    assert lines[-1] == f"study report: {root / 'data/09_studies/tiny/report.md'}"

    folder = root / "data/09_studies/tiny"
    results = pd.read_csv(folder / "results.csv")
    assert sorted(results["variant"].unique()) == ["tiny-0", "tiny-1"]
    assert set(results["experiment"]) == {"ntxent", "random_init"}
    assert results["value"].between(0, 1).all() and (results["low"] <= results["high"]).all()
    report = (folder / "report.md").read_text()
    assert "| `experiments.ntxent.loss_params.temperature` | ntxent | random_init |" in report
    assert "| `0.2` | 0." in report and "![probe_accuracy](probe_accuracy.png)" in report
    assert (folder / "probe_accuracy.png").stat().st_size > 0

    (folder / "results.csv").unlink()
    tool(*command, "report", "tiny", cwd=root)
    pd.testing.assert_frame_equal(pd.read_csv(folder / "results.csv"), results)

    again = tool(*command, "run", "tiny", cwd=root, check=False)
    assert again.returncode == 1
    assert "study tiny has experiments on this commit already (tiny-0, tiny-1)" in again.stderr
