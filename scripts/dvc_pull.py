"""Get this commit's artifacts from the DVC remote, or say in one line the cheapest way to them.

    .venv/bin/python scripts/dvc_pull.py     # what `make pull` runs

`dvc pull` alone, from a fresh clone, fails with a screen of "No file hash info" warnings and
"Missing cache files" when there is no dvc.lock or the remote (.dvc/config: a folder beside the
repository) does not hold this commit's outputs. Here it runs quietly; when there is nothing to
pull, one line says which of these is cheapest:

- the workspace already holds what dvc.lock records (a `make run` here recorded it): nothing to
  do;
- the workspace holds every stage's outputs but dvc.lock does not record them (a `kedro run`
  made them): `make record` records them in seconds, when they came from conf/base;
- otherwise `make run`: one `kedro run` of the whole flow (every plan's runs in one fused
  training step), recorded in dvc.lock.

Exit status: 0 when the workspace holds this commit's artifacts, 1 otherwise.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The default run's time, measured: its `kedro run` took 213 s on a 2-core CPU (README.md).
RUN_TIME = "the default run takes about 3.5 min on a 2-core CPU"


def _dvc(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["dvc", *args], cwd=root, capture_output=True, text=True)


def remote_url(root: Path) -> str:
    """The default remote's URL as DVC resolves it (`dvc config` makes relative ones absolute)."""
    name = _dvc(root, "config", "core.remote").stdout.strip()
    url = _dvc(root, "config", f"remote.{name}.url").stdout.strip() if name else ""
    return url or "no default remote"


def up_to_date(root: Path) -> bool:
    """Whether dvc.lock records exactly what the workspace holds (`dvc status` is clean)."""
    result = _dvc(root, "status", "--json")
    return result.returncode == 0 and json.loads(result.stdout or "{}") == {}


def outputs_present(root: Path) -> bool:
    """Whether every output of every stage of dvc.yaml is in the workspace."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return all(Path(out.fs_path).exists() for out in repo.index.outs)


def cheapest(root: Path, why: str) -> str:
    """One line: why nothing was pulled, and the cheapest way to the artifacts."""
    if outputs_present(root):
        return (
            f"{why}; the workspace holds every stage's outputs: `make record` records them in "
            "dvc.lock in seconds (if a `kedro run` on conf/base made them), else `make run`"
        )
    return f"{why}: `make run` makes them and records them in dvc.lock ({RUN_TIME})"


def pull(root: Path) -> tuple[bool, str]:
    """Run `dvc pull`; True and its output when the workspace then holds every artifact, else
    False and one line."""
    if not (root / "dvc.lock").is_file():
        return False, cheapest(root, "no dvc.lock in this commit, so there is nothing to pull")
    result = _dvc(root, "pull")
    if result.returncode == 0:
        return True, result.stdout.strip()
    if up_to_date(root):
        return True, "the workspace already holds what dvc.lock records: nothing to pull"
    lacks = f"the DVC remote ({remote_url(root)}) lacks this commit's artifacts"
    return False, cheapest(root, lacks)


def main() -> int:
    pulled, message = pull(ROOT)
    print(message, file=sys.stdout if pulled else sys.stderr)
    return 0 if pulled else 1


if __name__ == "__main__":
    sys.exit(main())
