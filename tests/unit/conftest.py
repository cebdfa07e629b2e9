"""The unit tier (`make test-fast`) starts no process: a test that launches one (a subprocess, a
Dask cluster, a process group) says so with ``@pytest.mark.processes`` and runs with the full
suite only (`make test`). Unmarked, starting a process fails the test, so the tier stays fast."""

import multiprocessing.process
import subprocess

import pytest


class _NoProcesses(RuntimeError):
    pass


def _refuse(*args, **kwargs):
    raise _NoProcesses(
        "this unit test starts a process: mark it @pytest.mark.processes (the full suite runs it)"
    )


@pytest.fixture(autouse=True)
def no_processes(request, monkeypatch):
    if request.node.get_closest_marker("processes") is None:
        monkeypatch.setattr(subprocess.Popen, "__init__", _refuse)
        monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", _refuse)
