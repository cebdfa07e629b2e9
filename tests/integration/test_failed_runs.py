"""One run's failure never stops the others (the default runner): the rest train, embed and
score, the comparison and report are written naming the failed run and why, and the command
ends with one line and exit status 1. The hint names what is extreme."""

from __future__ import annotations

import pytest

from tests.integration.conftest import copy_project
from tests.integration.test_cli_errors import kedro

pytestmark = pytest.mark.slow
EXTREME = "experiments.ntxent.loss_params.temperature"


def test_a_diverging_run_leaves_the_others_scored_and_compared(tmp_path):
    project = copy_project(tmp_path)
    status, stdout, stderr = kedro(project, f"--params={EXTREME}=1e-40")

    output = stdout + stderr
    assert status == 1, output
    assert "Traceback" not in output, output
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: 1 step failed: ntxent.seed0.train_encoder: "), last
    assert f"`{EXTREME}` is 1e-40 (default 0.5)" in last, last
    reporting = project / "data/08_reporting"
    metrics = {folder.name for folder in (reporting / "metrics").iterdir()}  # DVC's, per experiment
    assert "ntxent" not in metrics and {"contrastive", "triplet", "cross_entropy"} <= metrics
    report = (reporting / "report.md").read_text()
    assert "ntxent.seed0" in report and "became nan" in report
    assert not (reporting / "runs/ntxent/seed0/results.json").exists()
    assert (reporting / "runs/triplet/seed0/results.json").is_file()
