"""A throw-away copy of the project, so pipeline tests never touch the checkout's data/."""

import shutil
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]


def copy_project(target: Path) -> Path:
    """The project's configuration and metadata in ``target``; the code is the installed package."""
    shutil.copytree(PROJECT / "conf", target / "conf", ignore=shutil.ignore_patterns("local"))
    (target / "conf" / "local").mkdir()
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(PROJECT / name, target / name)
    (target / "src").mkdir()  # Kedro checks it exists; the code is the installed package
    for layer in (
        "01_raw",
        "02_intermediate",
        "03_primary",
        "04_feature",
        "06_models",
        "07_model_output",
        "08_reporting",
    ):
        (target / "data" / layer).mkdir(parents=True)
    return target


@pytest.fixture
def project(tmp_path, monkeypatch):
    """An empty copy of the project, the working directory, with the tiny `test` environment."""
    root = copy_project(tmp_path / "project")
    monkeypatch.chdir(root)
    monkeypatch.setenv("KEDRO_ENV", "test")
    return root
