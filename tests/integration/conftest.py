"""A throw-away copy of the project, so pipeline tests never touch the checkout's data/."""

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

PROJECT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def inside(project: Path, kedro_env: str) -> Iterator[Path]:
    """Work in ``project`` with ``KEDRO_ENV`` set (the registry reads both), then restore both."""
    previous_cwd, previous_env = Path.cwd(), os.environ.get("KEDRO_ENV")
    os.chdir(project)
    os.environ["KEDRO_ENV"] = kedro_env
    try:
        yield project
    finally:
        os.chdir(previous_cwd)
        if previous_env is None:
            os.environ.pop("KEDRO_ENV", None)
        else:
            os.environ["KEDRO_ENV"] = previous_env


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


def run_in_process(project: Path, pipelines: list[str] | None = None, env: str = "test", **options):
    """``kedro run`` of ``project`` in this process: a Kedro session over the project's catalog
    with its default (sequential) runner, no subprocess."""
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=env) as session:
        session.run(pipeline_names=pipelines, **options)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One complete run of the tiny `test` environment, shared by every test that needs a
    finished project: copy it (``shutil.copytree``), never change it."""
    with inside(copy_project(tmp_path_factory.mktemp("tiny") / "project"), "test") as project:
        run_in_process(project)
    return project


def tune_in(project: Path, **tune) -> None:
    """Turn tuning on in the project's `test` environment (its tiny budget, changed by
    ``tune``)."""
    path = project / "conf/test/parameters.yml"
    parameters = yaml.safe_load(path.read_text())
    parameters["tune"] = {**parameters["tune"], "use": True, **tune}
    path.write_text(yaml.safe_dump(parameters, sort_keys=False))


@pytest.fixture(scope="session")
def tuned_run(tmp_path_factory) -> Path:
    """One complete run of the tiny `test` environment with tuning on (its tiny budget: three
    trials of one epoch per experiment), shared: copy it, never change it."""
    root = copy_project(tmp_path_factory.mktemp("tuned") / "project")
    tune_in(root)
    with inside(root, "test") as project:
        run_in_process(project)
    return project


@pytest.fixture
def project(tmp_path, monkeypatch):
    """An empty copy of the project, the working directory, with the tiny `test` environment."""
    root = copy_project(tmp_path / "project")
    monkeypatch.chdir(root)
    monkeypatch.setenv("KEDRO_ENV", "test")
    return root


# --- A throw-away git + DVC repository of the project (tests/integration/test_dvc.py,
# test_notebook.py, test_viz.py) ---------------------------------------------------------------

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "crl_pipelines tests",
    "GIT_AUTHOR_EMAIL": "tests@example.invalid",
    "GIT_COMMITTER_NAME": "crl_pipelines tests",
    "GIT_COMMITTER_EMAIL": "tests@example.invalid",
}


def tool_env() -> dict[str, str]:
    """The environment the real tools (git, dvc, kedro, jupyter) run in: the project's virtual
    environment first on PATH, nothing phoning home, and no KEDRO_ENV (the small settings are
    written into conf/base, where DVC reads its parameters)."""
    environment = {
        **os.environ,
        **GIT_IDENTITY,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "KEDRO_DISABLE_TELEMETRY": "1",
        "DO_NOT_TRACK": "1",
        "DVC_NO_ANALYTICS": "1",
        "MPLBACKEND": "Agg",
        "COLUMNS": "250",
    }
    environment.pop("KEDRO_ENV", None)
    return environment


def tool(*args: str | Path, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command line tool; on failure, fail with its whole output."""
    result = subprocess.run(
        [str(arg) for arg in args], cwd=cwd, env=tool_env(), capture_output=True, text=True
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"`{' '.join(map(str, args))}` exited with {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def copy_checkout(target: Path) -> Path:
    """What a fresh clone of the working tree holds: git's tracked files (less the deleted ones)
    and untracked files it does not ignore. Nothing under data/ but the .gitkeep and .dvc files."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = PROJECT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


# The DVC project's experiments: two of conf/base's, one per kind of sampling plan (class pairs,
# augmented views), so a whole `dvc repro` runs 10 stages instead of 16.
DVC_EXPERIMENTS = ("triplet", "ntxent")


def write_small_settings(root: Path) -> None:
    """conf/test's small settings merged over conf/base (top-level keys replace base's, as in
    Kedro), written to conf/base/parameters.yml, with MNIST-layout raw files as the source; for
    speed, only DVC_EXPERIMENTS, one epoch and 20 bootstrap resamples."""
    base = yaml.safe_load((root / "conf/base/parameters.yml").read_text())
    small = yaml.safe_load((root / "conf/test/parameters.yml").read_text())
    merged = {**base, **small}
    merged["ingest"] = {
        **merged["ingest"],
        "source": "mnist",
        "mnist": {"root": "data/01_raw", "splits": ["train"], "download": False},
    }
    merged["experiments"] = {name: base["experiments"][name] for name in DVC_EXPERIMENTS}
    merged["pairs"] = {**merged["pairs"], "epochs": 1}
    merged["evaluate"] = {**merged["evaluate"], "bootstrap_resamples": 20}
    (root / "conf/base/parameters.yml").write_text(yaml.safe_dump(merged, sort_keys=False))


def write_raw_digits(root: Path, part: int) -> None:
    """Raw data a user brings: 600 of scikit-learn's 8×8 digits (``part`` 0, 1 or 2) as real
    MNIST IDX files under data/01_raw/MNIST/raw (replacing any there)."""
    from sklearn.datasets import load_digits

    from tests.unit.test_data import write_mnist

    digits = load_digits()
    chosen = slice(600 * part, 600 * (part + 1))
    images = np.round(digits.images[chosen] * (255 / 16)).astype(np.uint8)
    shutil.rmtree(root / "data/01_raw/MNIST", ignore_errors=True)
    write_mnist(root / "data/01_raw", "train", images, digits.target[chosen].astype(np.uint8))


@dataclass
class DvcProject:
    """A git + DVC repository of the project after one run recorded by DVC (committed and
    pushed)."""

    root: Path
    remote: Path


@pytest.fixture(scope="session")
def dvc_project(tmp_path_factory) -> DvcProject:
    """The checkout in a new git repository with the small settings in conf/base and MNIST-layout
    raw files tracked by `dvc add`, after one run; dvc.lock committed, the cache pushed to the
    default local remote (beside the repository, as in .dvc/config). Read it, don't change it:
    tests that change data or parameters work in a clone (`clone`).

    The run is `make run`'s: one `kedro run` (what the stages' commands run together, in one
    process instead of one per stage: 10 Kedro starts fewer), recorded in dvc.lock by
    scripts/dvc_record.py (`dvc commit`); a whole `dvc repro`, every stage in order, is
    test_dvc.py's replaced-raw-data test."""
    root = copy_checkout(tmp_path_factory.mktemp("dvc") / "origin")
    write_small_settings(root)
    write_raw_digits(root, part=0)
    tool("git", "init", "--quiet", "--initial-branch=main", cwd=root)
    tool("dvc", "add", "--quiet", "data/01_raw/MNIST", cwd=root)
    tool("git", "add", "--all", cwd=root)
    tool("git", "commit", "--quiet", "--message", "project, small settings, raw data", cwd=root)
    tool("kedro", "run", cwd=root)
    tool(sys.executable, "scripts/dvc_record.py", cwd=root)  # as `make run` records it
    tool("git", "add", "dvc.lock", cwd=root)
    tool("git", "commit", "--quiet", "--message", "the run, recorded by dvc commit", cwd=root)
    tool("dvc", "push", "--quiet", cwd=root)
    remote = (root / ".." / "crl_pipelines-dvc-storage").resolve()
    return DvcProject(root=root, remote=remote)


def clone(project: DvcProject, name: str, pull: bool = True) -> Path:
    """A fresh clone of ``project``'s repository, beside it (so the default remote in .dvc/config
    resolves to the same folder), with its data pulled from that remote unless ``pull`` is
    False."""
    target = project.root.parent / name
    tool("git", "clone", "--quiet", project.root, target, cwd=project.root.parent)
    if pull:
        tool("dvc", "pull", "--quiet", cwd=target)
    return target
