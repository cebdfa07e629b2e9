"""Keep dvc.yaml's code dependencies equal to what each stage's Kedro pipeline imports.

    .venv/bin/python scripts/dvc_code_deps.py           # show the differences (exit 1 if any)
    .venv/bin/python scripts/dvc_code_deps.py --write   # rewrite the src/ lines of dvc.yaml

A stage depends on its pipeline folder, on every project module that folder imports (directly or
through other project modules: read from the source, nothing is imported), and on
src/crl_pipelines/datasets.py (the catalog's dataset classes). A module inside a sub-package
(losses/, sources/, pipelines/<name>/) is covered by its folder. The package markers
src/crl_pipelines/__init__.py and pipelines/__init__.py are left out: they hold the version
string, and a release should not retrain every encoder. tests/integration/test_dvc.py fails when
dvc.yaml and the imports disagree.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src"
PACKAGE = "crl_pipelines"
DATASETS = f"src/{PACKAGE}/datasets.py"
NOT_CODE = {f"src/{PACKAGE}/__init__.py", f"src/{PACKAGE}/pipelines/__init__.py"}


def _module_file(name: str) -> Path | None:
    path = SOURCE / Path(*name.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> Iterator[str]:
    for statement in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(statement, ast.ImportFrom) and statement.level == 0 and statement.module:
            yield statement.module
            yield from (f"{statement.module}.{alias.name}" for alias in statement.names)
        elif isinstance(statement, ast.Import):
            yield from (alias.name for alias in statement.names)


def imported_files(stage: str) -> set[str]:
    """The project's source files (relative to the root) the stage's pipeline package imports."""
    files: set[str] = set()
    package = f"{PACKAGE}.pipelines.{stage}"
    todo = [package, f"{package}.pipeline", f"{package}.nodes"]
    while todo:
        name = todo.pop()
        if name.split(".")[0] != PACKAGE or (path := _module_file(name)) is None:
            continue
        relative = path.relative_to(ROOT).as_posix()
        if relative in files:
            continue
        files.add(relative)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages run too
        todo += list(_imports(path))
    return files - NOT_CODE


def code_deps(stage: str) -> list[str]:
    """The src/ dependencies the stage should declare: files, or the folder of a sub-package."""
    deps = {DATASETS}
    for relative in imported_files(stage):
        parts = relative.split("/")
        if parts[2] == "pipelines" and len(parts) > 4:
            deps.add("/".join(parts[:4]))  # src/crl_pipelines/pipelines/<name>
        elif len(parts) > 3:
            deps.add("/".join(parts[:3]))  # src/crl_pipelines/<sub-package>
        else:
            deps.add(relative)
    pipelines = sorted(dep for dep in deps if "/pipelines/" in dep)
    return sorted(deps - set(pipelines)) + pipelines


def declared_code_deps(text: str) -> dict[str, list[str]]:
    import yaml

    stages = yaml.safe_load(text)["stages"]
    return {
        name: [dep for dep in stage.get("deps", []) if dep.startswith("src/")]
        for name, stage in stages.items()
    }


def rewrite(text: str) -> str:
    """dvc.yaml with each stage's src/ dependency lines replaced by ``code_deps`` (the rest of
    the file, comments included, unchanged)."""
    lines, out, stage = text.splitlines(keepends=True), [], None
    index = 0
    while index < len(lines):
        line = lines[index]
        if match := re.match(r"^  ([A-Za-z_][\w-]*):\s*$", line):
            stage = match.group(1)
        if stage and re.match(r"^      - src/", line):
            indent = line[: len(line) - len(line.lstrip())]
            while index < len(lines) and re.match(r"^      - src/", lines[index]):
                index += 1
            out += [f"{indent}- {dep}\n" for dep in code_deps(stage)]
            continue
        out.append(line)
        index += 1
    return "".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite dvc.yaml in place")
    arguments = parser.parse_args()
    dvc_yaml = ROOT / "dvc.yaml"
    text = dvc_yaml.read_text()
    declared = declared_code_deps(text)
    differences = {}
    for stage, deps in declared.items():
        wanted = set(code_deps(stage))
        if set(deps) != wanted:
            differences[stage] = (sorted(wanted - set(deps)), sorted(set(deps) - wanted))
    for stage, (missing, extra) in differences.items():
        print(f"{stage}: missing {missing or '-'}; not imported {extra or '-'}")
    if arguments.write and differences:
        dvc_yaml.write_text(rewrite(text))
        print("rewrote dvc.yaml")
        return 0
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
