"""The shape of the library: no two modules import each other (directly or round a circle), and
the modules that only describe settings or scores do not load torch."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "crl_pipelines"


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Each module of the package and the package modules it imports anywhere (at load time, in
    a function, or for type checking only: each is a dependency)."""
    modules = {module_name(path): path for path in (SOURCE / PACKAGE).rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        found = set()
        for statement in ast.walk(ast.parse(path.read_text())):
            if isinstance(statement, ast.ImportFrom) and statement.module:
                base = statement.module
                candidates = [base, *(f"{base}.{alias.name}" for alias in statement.names)]
            elif isinstance(statement, ast.Import):
                candidates = [alias.name for alias in statement.names]
            else:
                continue
            found |= {candidate for candidate in candidates if candidate in modules}
        graph[name] = found - {name}
    return graph


def test_no_module_imports_another_that_imports_it_back():
    graph = imports()
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for child in sorted(graph[node]):
            # a package's __init__ importing its own modules is how its registry fills
            if child.startswith(node + "."):
                continue
            if state.get(child) == "open":
                circle = [*trail[trail.index(child) :], child]
                raise AssertionError("an import circle: " + " → ".join(circle))
            if child not in state:
                visit(child, [*trail, child])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


# The thin Kedro layer (docs/architecture.md, "The Kedro layer"); everything else is the library.
KEDRO_LAYER = (
    "crl_pipelines.__main__",
    "crl_pipelines.cli",
    "crl_pipelines.config_loader",
    "crl_pipelines.dask_runner",
    "crl_pipelines.datasets",
    "crl_pipelines.hooks",
    "crl_pipelines.kedro_viz_offline",
    "crl_pipelines.pipeline_registry",
    "crl_pipelines.pipelines",
    "crl_pipelines.run_failures",
    "crl_pipelines.runner",
    "crl_pipelines.settings",
)


def in_kedro_layer(module: str) -> bool:
    return any(module == top or module.startswith(top + ".") for top in KEDRO_LAYER)


def test_the_library_never_imports_kedro_nor_the_layer_above_it():
    modules = {module_name(path): path for path in (SOURCE / PACKAGE).rglob("*.py")}
    library = sorted(name for name in modules if not in_kedro_layer(name))
    assert "crl_pipelines.training.trainer" in library and "crl_pipelines.spec" in library
    for name in library:
        for statement in ast.walk(ast.parse(modules[name].read_text())):
            if isinstance(statement, ast.ImportFrom) and statement.module:
                names = [statement.module]
            elif isinstance(statement, ast.Import):
                names = [alias.name for alias in statement.names]
            else:
                continue
            for imported in names:
                assert imported.split(".")[0] != "kedro", f"{name} imports {imported}"
                assert not in_kedro_layer(imported), f"{name} imports the Kedro layer's {imported}"


TORCH_FREE = [
    "crl_pipelines.parameters",
    "crl_pipelines.registry",
    "crl_pipelines.encoder_settings",
    "crl_pipelines.training_settings",
    "crl_pipelines.evaluation.settings",
    "crl_pipelines.evaluation.context",
    "crl_pipelines.evaluation.scores",
    "crl_pipelines.evaluation.report",
]


@pytest.mark.processes
def test_settings_and_scores_load_without_torch():
    """A fresh interpreter imports the settings, the scores and the report without torch."""
    code = f"import sys; import {', '.join(TORCH_FREE)}; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_every_folder_of_shipped_files_is_a_package():
    """setuptools (`packages.find`, no namespaces) warns at install of every folder of package
    data that is not a package: each folder holding files the package ships has __init__.py."""
    folders = {
        path.parent
        for path in (SOURCE / PACKAGE).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert sorted(f for f in folders if not (f / "__init__.py").is_file()) == []
