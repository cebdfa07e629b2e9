"""Keep dvc.yaml's code dependencies equal to what each stage's Kedro nodes import.

    .venv/bin/python scripts/dvc_code_deps.py           # show the differences (exit 1 if any)
    .venv/bin/python scripts/dvc_code_deps.py --write   # rewrite the src/ lines of dvc.yaml

A stage depends on the folders of the Kedro pipelines it runs, on every project module those
import (directly or through other project modules, parent packages included: read from the
source, nothing is imported), and on src/crl_pipelines/datasets/ (the catalog's dataset classes)
with their imports. A sub-package (losses/, sources/, ...) whose every module is imported
is listed as its folder, otherwise module by module, so a stage never depends on code it does not
run. The package markers src/crl_pipelines/__init__.py and pipelines/__init__.py are left out
(they hold the version string: a release should not retrain every encoder), and so are the
registry, hooks and settings, which check the parameters for every stage but compute nothing.
The report's templates (data the report module reads) count as code of the stages that run it.
tests/integration/test_dvc.py fails when dvc.yaml and the imports disagree.
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
PACKAGE_DIR = SOURCE / PACKAGE
NOT_CODE = {f"src/{PACKAGE}/__init__.py", f"src/{PACKAGE}/pipelines/__init__.py"}
# Data a module reads at run time (not an import): a stage that runs the module depends on it too.
DATA_OF = {f"src/{PACKAGE}/evaluation/report.py": f"src/{PACKAGE}/evaluation/templates"}
# The Kedro pipelines each stage of dvc.yaml runs (a foreach stage runs them for one experiment).
STAGE_PIPELINES = {
    "ingest": ["ingest"],
    "pairs": ["pairs"],
    "tune": ["tune"],
    "train": ["train"],
    "embed": ["embed"],
    "evaluate": ["evaluate"],
    "floor": ["train", "embed", "evaluate"],
    "compare": ["compare"],
}


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


def imported_files(modules: list[str]) -> set[str]:
    """The project's source files (relative to the root) that importing ``modules`` runs."""
    files: set[str] = set()
    todo = list(modules)
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


def _folders(files: set[str]) -> set[str]:
    """Sub-package folders all of whose modules are in ``files``."""
    folders = set()
    for init in PACKAGE_DIR.rglob("__init__.py"):
        folder = init.parent
        modules = {p.relative_to(ROOT).as_posix() for p in folder.rglob("*.py")} - NOT_CODE
        if folder != PACKAGE_DIR and modules and modules <= files:
            folders.add(folder.relative_to(ROOT).as_posix())
    # keep the outermost folders only
    return {f for f in folders if not any(f.startswith(g + "/") for g in folders)}


def code_deps(stage: str) -> list[str]:
    """The src/ dependencies the stage should declare: folders and files, sorted."""
    pipelines = [f"{PACKAGE}.pipelines.{name}" for name in STAGE_PIPELINES[stage]]
    modules = [f"{p}.{part}" for p in pipelines for part in ("pipeline", "nodes")]
    datasets = [  # the catalog's dataset classes, each in its own module
        f"{PACKAGE}.datasets.{path.stem}" for path in (PACKAGE_DIR / "datasets").glob("*.py")
    ]
    files = imported_files([*modules, *datasets])
    files |= {
        p.relative_to(ROOT).as_posix()
        for name in STAGE_PIPELINES[stage]
        for p in (PACKAGE_DIR / "pipelines" / name).rglob("*.py")
    }
    folders = _folders(files)
    loose = {f for f in files if not any(f.startswith(folder + "/") for folder in folders)}
    data = {folder for module, folder in DATA_OF.items() if module in files}
    return sorted(folders | loose | data)


def _stage_deps(stage: dict) -> list[str]:
    return (stage.get("do") or stage).get("deps", [])


def declared_code_deps(text: str) -> dict[str, list[str]]:
    import yaml

    stages = yaml.safe_load(text)["stages"]
    return {
        name: [dep for dep in _stage_deps(stage) if dep.startswith("src/")]
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
        if stage and re.match(r"^\s+- src/", line):
            indent = line[: len(line) - len(line.lstrip())]
            while index < len(lines) and re.match(r"^\s+- src/", lines[index]):
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
    differences = {}
    for stage, deps in declared_code_deps(text).items():
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
