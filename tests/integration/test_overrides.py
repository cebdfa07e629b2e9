"""Overrides change exactly the keys they name (`--params`, `conf/local`), on top of the effective
parameters of every environment; a parameters file that is not a mapping or not YAML stops in
one line naming it. Kedro's own session reads them through the project's loader."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from crl_pipelines.config_loader import ProjectConfigLoader
from crl_pipelines.parameters import ParameterError
from tests.integration.conftest import PROJECT, copy_project
from tests.unit.test_spec import with_key

ENVIRONMENTS = [None, *sorted(p.parent.name for p in (PROJECT / "conf").glob("*/parameters.yml"))]
ENVIRONMENTS.remove("base")


def load(conf: Path, env: str | None, runtime: dict[str, Any] | None = None) -> dict[str, Any]:
    loader = ProjectConfigLoader(
        str(conf), env=env, runtime_params=runtime, base_env="base", default_run_env="local"
    )
    return loader["parameters"]


def nested(dotted: str, value: Any) -> dict[str, Any]:
    *path, last = dotted.split(".")
    result: dict[str, Any] = {last: value}
    for key in reversed(path):
        result = {key: result}
    return result


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    shutil.copytree(PROJECT / "conf", tmp_path / "conf", ignore=shutil.ignore_patterns("local"))
    (tmp_path / "conf" / "local").mkdir()
    return tmp_path / "conf"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_params_change_only_the_keys_they_name(conf, env):
    effective = load(conf, env)
    experiment = next(iter(effective["experiments"]))
    for dotted, value in [
        ("augment.blur.p", 0.1),
        (f"experiments.{experiment}.loss_params.temperature", 0.1),
        ("training.learning_rate", 0.02),
    ]:
        assert load(conf, env, nested(dotted, value)) == with_key(effective, dotted, value), dotted


def test_local_changes_only_the_keys_it_names(conf):
    effective = load(conf, None)
    (conf / "local" / "parameters.yml").write_text("augment:\n  blur:\n    p: 0.3\n")
    assert load(conf, None) == with_key(effective, "augment.blur.p", 0.3)


def test_a_named_environment_still_replaces_whole_blocks(conf):
    base, full = load(conf, None), load(conf, "full")
    written = yaml.safe_load((conf / "full" / "parameters.yml").read_text())
    assert set(full["experiments"]) == set(written["experiments"]) != set(base["experiments"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- 1\n- 2\n", "holds a list or a value, not a mapping"),
        ("a: [1, 2\n", "is not valid YAML: expected .* at line 2, column 1; fix the file"),
    ],
)
def test_a_parameters_file_that_is_not_a_mapping_is_named(conf, text, expected):
    (conf / "local" / "parameters.yml").write_text(text)
    with pytest.raises(ParameterError, match=expected) as raised:
        load(conf, None)
    assert "local/parameters.yml" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_kedros_session_reads_the_merged_parameters(tmp_path):
    project = copy_project(tmp_path)
    bootstrap_project(project)
    runtime = nested("augment.blur.p", 0.1)
    with KedroSession.create(project_path=project, env="test", runtime_params=runtime) as session:
        params = session.load_context().params
    assert params == with_key(load(project / "conf", "test"), "augment.blur.p", 0.1)
