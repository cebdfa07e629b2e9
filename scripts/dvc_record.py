"""Record in dvc.lock what `make run` made, when that is honest, so that `dvc status` is clean.

    .venv/bin/python scripts/dvc_record.py     # what `make run` runs after its `kedro run`

`make run` is one `kedro run` (every plan's runs in one fused training step), not `dvc repro`
(one Kedro start per stage), so nothing tells DVC what it made: `dvc status` would mark every
stage changed and `dvc repro` would run everything again. `dvc commit --force` records, for
every stage, the hashes of its code, parameters and data as they are and of the outputs the run
wrote (about 3 s), which is what `dvc repro` would have recorded, provided the outputs came from
those inputs. DVC's stages read conf/base/parameters.yml only, so that holds when the run was
the whole default pipeline (`make run` passes no --params or --pipelines) on conf/base: no
KEDRO_ENV other than Kedro's default (local) or base, and no parameters or catalog file in
conf/local overriding conf/base. Otherwise nothing is recorded and one line says why.
Exit status: 0 when recorded, 1 otherwise.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the files of an environment that change what a run makes (Kedro's patterns: parameters*,
# parameters*/**, **/parameters*, and the same for catalog); credentials change nothing
OVERRIDING = ("parameters", "catalog")


def overrides(root: Path, environ: Mapping[str, str]) -> str:
    """Why the run's outputs are not those of DVC's stages (which read conf/base), or ""."""
    env = environ.get("KEDRO_ENV") or "local"
    if env not in ("local", "base"):
        return f"KEDRO_ENV={env} (DVC's stages read conf/base only)"
    local = root / "conf" / "local"
    if env == "local" and local.is_dir():
        for path in sorted(local.rglob("*")):
            parts = path.relative_to(local).parts
            if path.is_file() and any(part.startswith(OVERRIDING) for part in parts):
                return f"{path.relative_to(root)} overrides conf/base, which DVC's stages read"
    return ""


def record(root: Path, environ: Mapping[str, str]) -> tuple[bool, str]:
    """``dvc commit --force`` of every stage when :func:`overrides` finds nothing; whether it
    recorded, and one line."""
    if why := overrides(root, environ):
        return False, f"nothing recorded in dvc.lock: {why}"
    result = subprocess.run(
        ["dvc", "commit", "--force", "--quiet"], cwd=root, capture_output=True, text=True
    )
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
        return False, f"nothing recorded in dvc.lock: `dvc commit` failed: {lines[-1]}"
    return True, "recorded the run in dvc.lock: `dvc status` is clean, `dvc push` shares it"


def main() -> int:
    recorded, message = record(ROOT, os.environ)
    print(message, file=sys.stdout if recorded else sys.stderr)
    return 0 if recorded else 1


if __name__ == "__main__":
    sys.exit(main())
