"""Get this commit's artifacts from the DVC remote, or say in one line how to make them.

    .venv/bin/python scripts/dvc_pull.py     # what `make pull` runs

`dvc pull` alone, from a fresh clone, fails with a screen of "No file hash info" warnings and
"Missing cache files" when there is no dvc.lock or the remote (.dvc/config: a folder beside the
repository) does not hold this commit's outputs. Here it runs quietly, and when it cannot pull
the whole run, one line says why and that `make repro` (`dvc repro`) makes the artifacts.
Exit status: 0 when everything was pulled, 1 otherwise.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The default run's time, measured: its `kedro run` took 213 s on a 2-core CPU (README.md);
# `dvc repro` runs the same nodes, with one Kedro start (about 4 s) per stage on top.
REPRO_TIME = "the default run's kedro run takes about 3.5 min on a 2-core CPU"


def remote_url(root: Path) -> str:
    """The default remote's URL as DVC resolves it (`dvc config` makes relative ones absolute)."""

    def config(key: str) -> str:
        result = subprocess.run(["dvc", "config", key], cwd=root, capture_output=True, text=True)
        return result.stdout.strip()

    name = config("core.remote")
    return (config(f"remote.{name}.url") if name else "") or "no default remote"


def pull(root: Path) -> tuple[bool, str]:
    """Run `dvc pull`; True and its output when every artifact came, else False and one line."""
    hint = f"run `make repro` (dvc repro; {REPRO_TIME}) to make them"
    if not (root / "dvc.lock").is_file():
        return False, f"no dvc.lock in this commit, so there is nothing to pull: {hint}"
    result = subprocess.run(["dvc", "pull"], cwd=root, capture_output=True, text=True)
    if result.returncode == 0:
        return True, result.stdout.strip()
    return False, f"the DVC remote ({remote_url(root)}) lacks this commit's artifacts: {hint}"


def main() -> int:
    pulled, message = pull(ROOT)
    print(message, file=sys.stdout if pulled else sys.stderr)
    return 0 if pulled else 1


if __name__ == "__main__":
    sys.exit(main())
