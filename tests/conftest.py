"""Shared test settings: no telemetry, no network, a headless matplotlib; and, when the suite
runs on two workers (`make test`: pytest-xdist), one torch thread for each worker and each
process it starts, so that they do not fight over the two cores."""

import os

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# scikit-learn's k-means asks joblib for the physical cores, which runs `lscpu`: say it here
os.environ.setdefault("LOKY_MAX_CPU_COUNT", str(os.cpu_count() or 1))


def pytest_configure(config: pytest.Config) -> None:
    """Refuse `--dist loadgroup` under a pytest whose node ids pytest-xdist 3.8 cannot tag with
    their `xdist_group`: the tests that share a session's run would build it on each worker."""
    major, minor = (int(part) for part in pytest.__version__.split(".")[:2])
    if config.getoption("dist", "no") == "loadgroup" and (major, minor) >= (9, 2):
        raise pytest.UsageError(
            f"pytest {pytest.__version__} cannot group tests for pytest-xdist: install the "
            "pytest pyproject.toml names (`make install`)"
        )
