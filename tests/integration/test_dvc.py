"""DVC: dvc.yaml against the Kedro pipelines, and the real `dvc` in a throw-away git repository.

The fast tests read dvc.yaml, the catalog and the registered pipelines; the slow ones run
`dvc repro` on the small settings, two experiments (tests/integration/conftest.py: dvc_project,
clone, DVC_EXPERIMENTS).
"""

import difflib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from kedro.config import OmegaConfigLoader
from kedro.framework.startup import bootstrap_project
from kedro.io.catalog_config_resolver import CatalogConfigResolver
from kedro.pipeline import Pipeline

from crl_pipelines.evaluation.metrics_file import HEADLINE
from crl_pipelines.runs import FLOOR
from tests.integration.conftest import (
    DVC_EXPERIMENTS,
    PROJECT,
    DvcProject,
    clone,
    inside,
    tool,
    tool_env,
    write_raw_digits,
)

GROUPS = ["ingest", "pairs", "tune", "train", "embed", "evaluate", "floor", "compare"]
EXPERIMENTS = ["contrastive", "triplet", "ntxent", "cross_entropy"]  # conf/base's
PER_EXPERIMENT = ("tune", "train", "embed", "evaluate")

# the tests that share the session's dvc_project fixture run on one worker (pytest-xdist)
pytestmark = pytest.mark.xdist_group("dvc_project")


def stage_names(experiments) -> list[str]:
    """The stages of dvc.yaml, in DVC's order, for these experiments."""
    return [
        "ingest", "pairs",
        *(f"{group}@{experiment}" for group in PER_EXPERIMENT for experiment in experiments),
        "floor", "compare",
    ]  # fmt: skip


STAGES = stage_names(EXPERIMENTS)
RUN_STAGES = stage_names(DVC_EXPERIMENTS)  # the small DVC project's (conftest.py: dvc_project)
PARAMETERS = "conf/base/parameters.yml"
METRICS = "data/08_reporting/metrics"  # DVC's metrics: <experiment>/<score>.json
LIVE = "data/08_reporting/live/plots/metrics"  # DVCLive's traces: <experiment>/<seed>/...
# Which runs a stage's namespaces hold is decided by `seeds` (and its experiment's entry) and by
# `tune.use` (a tuned experiment has untuned twins): the stages that train declare them, and the
# later ones follow through the trained models.
STRUCTURE = {"seeds", "tune.use"}
STRUCTURE_KEYS = {"train": {"seeds", "tune.use"}, "floor": {"seeds"}, "tune": {"seeds", "tune.use"}}
SCRIPTS = PROJECT / "scripts"


def dvc_yaml() -> dict:
    return yaml.safe_load((PROJECT / "dvc.yaml").read_text())


def covered(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


@dataclass(frozen=True)
class Stage:
    """One stage as DVC resolves it (a `foreach` expanded per experiment)."""

    name: str
    group: str
    cmd: str
    deps: list[str]
    params: list[str] | None  # None: the whole parameters file
    outs: list[str]


def resolved_stages() -> dict[str, Stage]:
    """dvc.yaml's stages as DVC's own API expands them."""
    from dvc.repo import Repo

    stages = {}
    with Repo(str(PROJECT)) as repo:
        for stage in repo.index.stages:
            params = [dep for dep in stage.deps if hasattr(dep, "params")]
            ((param,),) = [params]
            stages[stage.addressing] = Stage(
                name=stage.addressing,
                group=stage.addressing.split("@")[0],
                cmd=stage.cmd,
                deps=[str(dep.def_path) for dep in stage.deps if not hasattr(dep, "params")],
                params=list(param.params) or None,
                outs=[str(out.def_path) for out in stage.outs],
            )
    return stages


def stage_pipeline(stage: Stage, pipelines: dict) -> Pipeline:
    """The Kedro pipeline a stage's command runs: its pipelines, filtered to its namespace."""
    match = re.fullmatch(r"kedro run --pipelines=([\w,]+)(?: --namespaces=(\w+))?", stage.cmd)
    assert match, stage.cmd
    pipeline = sum((pipelines[name] for name in match.group(1).split(",")), Pipeline([]))
    if match.group(2):
        pipeline = pipeline.only_nodes_with_namespaces([match.group(2)])
    return pipeline


@pytest.fixture(scope="module")
def kedro_project():
    """The checkout's pipelines and catalog as DVC sees them: conf/base alone (KEDRO_ENV=base,
    so a developer's conf/local does not count), and a resolver for the catalog's file paths."""
    # the registry reads the experiments of the working directory's project
    with inside(PROJECT, "base"):
        bootstrap_project(PROJECT)
        from kedro.framework.project import pipelines, settings

        loader = OmegaConfigLoader(
            conf_source=str(PROJECT / settings.CONF_SOURCE),
            env="base",
            **settings.CONFIG_LOADER_ARGS,
        )
        resolver = CatalogConfigResolver(config=loader["catalog"])
        names = ["ingest", "pairs", "tune", "train", "embed", "evaluate", "compare", "__default__"]
        yield {name: pipelines[name] for name in names}, resolver, loader


def filepath(resolver: CatalogConfigResolver, name: str) -> str | None:
    config = resolver.config.get(name) or resolver.resolve_pattern(name)
    return config.get("filepath")


def test_stages_are_the_shared_ones_then_one_branch_per_experiment():
    """ingest and pairs, then train, embed and evaluate once per experiment of conf/base (each
    running its pipeline in the experiment's namespace), the floor, and the comparison."""
    stages = resolved_stages()
    assert list(stages) == STAGES
    assert list(dvc_yaml()["stages"]) == GROUPS
    for name, stage in stages.items():
        group, _, experiment = name.partition("@")
        namespace = f" --namespaces={experiment}" if experiment else ""
        if group in ("ingest", "pairs", "compare"):
            assert stage.cmd == f"kedro run --pipelines={group}"
        elif group == "floor":
            floor = "kedro run --pipelines=train,embed,evaluate --namespaces=random_init"
            assert stage.cmd == floor
        else:
            assert stage.cmd == f"kedro run --pipelines={group}{namespace}"


def test_stages_read_and_write_what_their_pipelines_do(kedro_project):
    """Every dataset a stage's pipeline reads from disk is a dependency of the stage, everything
    it writes lies in the stage's outputs, and no two stages' outputs overlap."""
    pipelines, resolver, _ = kedro_project
    stages = resolved_stages()
    written_by_all = set()
    for name, stage in stages.items():
        pipeline = stage_pipeline(stage, pipelines)
        data_deps = [dep for dep in stage.deps if dep.startswith("data/")]
        read = {
            filepath(resolver, dataset)
            for dataset in pipeline.inputs()
            if not dataset.startswith("params:") and dataset != "parameters"
        }
        assert None not in read, f"{name} reads a dataset that is not on disk"
        for path in read:
            assert covered(path, data_deps), f"stage {name} does not depend on {path}"
        written = {filepath(resolver, dataset) for dataset in pipeline.all_outputs()} - {None}
        assert written, name
        written_by_all |= written
        for path in written:
            assert covered(path, stage.outs), f"stage {name} does not declare {path} as an out"
            others = [out for other in stages.values() if other.name != name for out in other.outs]
            assert not covered(path, others), f"{path} of {name} is another stage's out"
        # no dependency on data the pipeline does not read (the raw folder: the source's files)
        for dep in data_deps:
            assert dep == "data/01_raw" or any(covered(path, [dep]) for path in read), dep
    default = {filepath(resolver, d) for d in pipelines["__default__"].all_outputs()} - {None}
    assert written_by_all == default  # the stages together write what `kedro run` writes
    assert stages["ingest"].deps[0] == "data/01_raw"


# One valid change of each kind of parameter, to see which stages' nodes it reaches.
CHANGES = {
    "ingest.test_fraction": 0.25,
    "pairs.epochs": 11,
    "augment.blur.p": 0.4,
    "model.embedding_dim": 16,
    "training.learning_rate": 0.002,
    "checkpoint_dir": "data/elsewhere",
    "seeds": [0, 1],
    **{f"experiments.{name}.training": {"learning_rate": 0.003} for name in EXPERIMENTS},
    "embed.batch_size": 256,
    "evaluate.collapse_threshold": 0.2,
    "evaluate.knn_k": 10,
    "tune.trials": 5,
    "tune.use": True,
    **{f"experiments.{name}.search": {"training": {"weight_decay": 0.0}} for name in EXPERIMENTS},
}
# Settings a node is given that change where or with whom it runs, not what it makes (a run's
# checkpoint folder, the partners it may train with in one step): they re-run nothing.
NOT_RESULTS_SETTINGS = {"checkpoint_dir", "partners"}


def _changed(parameters: dict, path: str, value) -> dict:
    changed = json.loads(json.dumps(parameters))
    *parents, last = path.split(".")
    node = changed
    for key in parents:
        node = node[key]
    node[last] = value
    return changed


def _bound(pipeline: Pipeline) -> dict[str, dict]:
    """Each node's settings, as the registry bound them, less those that change no result."""
    return {
        node.name: {
            key: value
            for key, value in node.func.keywords.items()
            if key not in NOT_RESULTS_SETTINGS
        }
        for node in pipeline.nodes
    }


def test_stages_depend_on_exactly_the_parameters_they_read():
    """Each stage's parameters are exactly those whose change reaches the settings its nodes are
    given (the registry binds them), key by key (an experiment's stages read its own entry), so
    that changing one re-runs only the stages that read it; a stage that every change reaches
    (the comparison, whose report restates the parameters) depends on the whole file."""
    from crl_pipelines.pipeline_registry import create_pipelines
    from crl_pipelines.spec import build_spec

    base = yaml.safe_load((PROJECT / PARAMETERS).read_text())
    before = create_pipelines(build_spec(base))
    after = {
        key: create_pipelines(build_spec(_changed(base, key, value)))
        for key, value in CHANGES.items()
    }
    for name, stage in resolved_stages().items():
        reached = {
            key
            for key, pipelines in after.items()
            if _bound(stage_pipeline(stage, pipelines)) != _bound(stage_pipeline(stage, before))
        }
        if stage.params is None:
            assert reached == set(CHANGES), name
            continue
        structure = STRUCTURE_KEYS.get(stage.group, set())
        declared = {
            key for key in CHANGES if any(key == p or key.startswith(f"{p}.") for p in stage.params)
        }
        assert reached - STRUCTURE == declared - STRUCTURE, name
        assert declared & STRUCTURE == structure, name
        for key in stage.params:
            node = base
            for part in key.split("."):
                assert part in node, f"{name}: DVC reads conf/base, which lacks {key}"
                node = node[part]


def _code_deps_script():
    spec = importlib.util.spec_from_file_location("dvc_code_deps", SCRIPTS / "dvc_code_deps.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stages_depend_on_the_code_they_run():
    """Each stage depends on its pipelines' folders, every project module they import
    (transitively, read from the source) and the catalog's dataset classes, and on nothing
    else, so a code change re-runs exactly the stages that run it. To fix a failure:
    `.venv/bin/python scripts/dvc_code_deps.py --write`."""
    script = _code_deps_script()
    stages = resolved_stages()
    for name, stage in stages.items():
        code = [dep for dep in stage.deps if dep.startswith("src/")]
        for pipeline in script.STAGE_PIPELINES[stage.group]:
            assert f"src/crl_pipelines/pipelines/{pipeline}" in code, name
        assert "src/crl_pipelines/datasets" in code
        assert sorted(code) == sorted(script.code_deps(stage.group)), name
        for dep in code:
            assert (PROJECT / dep).exists(), dep

    # what each stage runs, and only that: the trainer is in train, not in embed or ingest; the
    # readers are not in the stages that read the canonical form; the report is in compare
    def deps(name):
        return stages[name].deps

    assert covered("src/crl_pipelines/training/loop.py", deps("train@ntxent"))
    for name in ("embed@ntxent", "ingest", "pairs", "evaluate@ntxent"):
        assert not covered("src/crl_pipelines/training/loop.py", deps(name)), name
        assert not covered("src/crl_pipelines/losses/ntxent.py", deps(name)), name
    # (compare checks each run against the whole run specification, readers' settings included)
    for name in ("pairs", "train@ntxent", "embed@ntxent", "evaluate@ntxent"):
        assert not covered("src/crl_pipelines/sources/idx.py", deps(name)), name
    assert covered("src/crl_pipelines/evaluation/report.py", deps("compare"))
    assert not covered("src/crl_pipelines/evaluation/report.py", deps("train@ntxent"))
    assert not covered("src/crl_pipelines/pipelines/pairs", deps("train@ntxent"))


def test_nothing_kedro_writes_for_dvc_is_kedro_versioned(kedro_project):
    _, _, loader = kedro_project
    versioned = [name for name, entry in loader["catalog"].items() if entry.get("versioned")]
    assert versioned == []


def test_metrics_and_plots_name_the_reports(kedro_project):
    """DVC's metrics are the comparison's metrics folder; the first plot is the DVCLive folder of
    every trained run's traces (the traces' catalog pattern, less the run's own folders), so no
    run is listed by hand; the score plots read the comparison table."""
    _, resolver, _ = kedro_project
    config = dvc_yaml()
    assert config["metrics"] == [filepath(resolver, "metrics")]
    (traces, *scores) = config["plots"]
    run_folder = filepath(resolver, "ntxent.seed0.traces")
    assert run_folder.endswith("/ntxent/seed0")
    assert traces == {run_folder.removesuffix("/ntxent/seed0"): {"x": "step"}}
    comparison = filepath(resolver, "comparison_table")
    for entry in scores:
        ((name, spec),) = entry.items()
        assert spec["y"] == {comparison: "experiment"} and spec["x"] == name


def test_plots_page_template_loads_the_vega_scripts_dvc_would_fetch():
    """The page template of .dvc/config (plots.html_template) loads, from the repository, the
    vega, vega-lite and vega-embed versions DVC's own page loads from a CDN."""
    from dvc.repo import Repo
    from dvc_render.vega import VegaRenderer

    with Repo(str(PROJECT)) as repo:
        plots_config = repo.config["plots"]
    template = PROJECT / ".dvc" / plots_config["html_template"]
    html = template.read_text()
    assert "{plot_divs}" in html and "{scripts}" not in html  # DVC would add the CDN's scripts
    cdn = re.findall(r"npm/([\w-]+)@([\d.]+)", VegaRenderer.SCRIPTS)
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert [Path(src).name for src in scripts] == [f"{name}-{ver}.min.js" for name, ver in cdn]
    page = PROJECT / plots_config["out_dir"] / "index.html"  # where `dvc plots show` writes it
    for src in scripts:
        assert (page.parent / src).resolve().is_file(), src


@pytest.mark.parametrize(
    ("override", "key", "value"),
    [
        (
            "experiments.ntxent.loss_params.temperature=0.3",
            "experiments.ntxent.loss_params.temperature",
            0.3,
        ),
        ("evaluate.knn_k=7", "evaluate.knn_k", 7),
        ("ingest.image_size=32", "ingest.image_size", 32),
        ("seeds=[0,1]", "seeds", [0, 1]),
        ("ingest.mnist.splits=[train,test]", "ingest.mnist.splits", ["train", "test"]),
    ],
)
def test_dvc_set_param_changes_only_the_overridden_line(tmp_path, override, key, value):
    """`dvc exp run -S` writes parameters.yml with DVC's own writer (dvc.utils.hydra:
    apply_overrides, ruamel round trip); the file is kept in the form it writes, so an override
    adds or changes only its own line and every comment stays."""
    from dvc.utils.hydra import apply_overrides

    original = (PROJECT / PARAMETERS).read_text()
    path = tmp_path / "parameters.yml"
    path.write_text(original)
    apply_overrides(str(path), [override])
    changed = [
        line
        for line in difflib.ndiff(original.splitlines(), path.read_text().splitlines())
        if line.startswith(("- ", "+ "))
    ]
    added = [line for line in changed if line.startswith("+ ")]
    assert len(added) == 1 and len(changed) <= 2, changed
    expected = yaml.safe_load(original)
    *parents, last = key.split(".")
    section = expected
    for name in parents:
        section = section[name]
    section[last] = value
    assert yaml.safe_load(path.read_text()) == expected


def test_gitignore_shows_dvc_files_and_hides_what_dvc_versions(tmp_path):
    """As DVC sees it (scmrepo, not the git CLI): the .dvc files of raw data are visible, so DVC
    collects and pushes them; the raw folders and the stages' outputs are ignored, so DVC writes
    no .gitignore of its own under data/."""
    from scmrepo.git import Git

    subprocess.run(["git", "init", "--quiet", str(tmp_path)], check=True)
    shutil.copy(PROJECT / ".gitignore", tmp_path / ".gitignore")
    git = Git(str(tmp_path))
    visible = ["data/", "data/01_raw/", "data/01_raw/MNIST.dvc", "data/01_raw/.gitkeep"]
    visible += ["dvc.yaml", "dvc.lock", ".dvc/config", "docs/pipeline.png"]
    ignored = ["data/01_raw/MNIST/", "data/01_raw/MNIST/raw/train-images-idx3-ubyte"]
    outs = [out for stage in resolved_stages().values() for out in stage.outs]
    ignored += [out if Path(out).suffix else f"{out}/" for out in outs]
    ignored += ["data/08_reporting/metrics/ntxent/probe_accuracy.json", "build/", "dvc_plots/"]
    ignored += [".dvc/cache/", "data/08_reporting/live/plots/metrics/ntxent/seed0/step/loss.tsv"]
    ignored += [".dvc/config.local", ".dvc/tmp/", "data/checkpoints/ntxent/seed0/checkpoint.pt"]
    with git:
        assert [path for path in visible if git.is_ignored(path)] == []
        assert [path for path in ignored if not git.is_ignored(path)] == []


def test_dvc_config_is_offline_with_a_local_remote_outside_the_repository():
    config = (PROJECT / ".dvc" / "config").read_text()
    assert re.search(r"analytics\s*=\s*false", config)
    assert re.search(r"check_update\s*=\s*false", config)
    assert re.search(r"\[studio\]\s*offline\s*=\s*true", config)  # DVC's and DVCLive's posts
    assert re.search(r"remote\s*=\s*local", config)
    url = re.search(r"url\s*=\s*(\S+)", config).group(1)
    remote = (PROJECT / ".dvc" / url).resolve()  # relative URLs are relative to .dvc/
    assert not remote.is_relative_to(PROJECT.resolve()), remote


# --- The real tools --------------------------------------------------------------------------


def ran(output: str) -> list[str]:
    """The stages a `dvc repro` ran, in order."""
    return re.findall(r"Running stage '([\w.@-]+)'", output)


def skipped(output: str) -> list[str]:
    return re.findall(r"Stage '([\w.@-]+)' didn't change, skipping", output)


def lock_hashes(root: Path) -> dict[str, str]:
    """Each stage's outputs' hashes recorded in dvc.lock."""
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    return {stage: [out["md5"] for out in entry["outs"]] for stage, entry in lock.items()}


def set_parameter(root: Path, section: str, key: str | None, value) -> None:
    """Set ``section.key`` (or the top-level ``section`` when ``key`` is None)."""
    path = root / PARAMETERS
    parameters = yaml.safe_load(path.read_text())
    if key is None:
        parameters[section] = value
    else:
        parameters[section][key] = value
    path.write_text(yaml.safe_dump(parameters, sort_keys=False))


def status(root: Path) -> dict:
    return json.loads(tool("dvc", "status", "--json", cwd=root).stdout)


@pytest.mark.slow
def test_repro_after_the_recorded_run_runs_nothing(dvc_project: DvcProject):
    """dvc.lock records every stage of the run; `dvc repro` then runs none, and git sees
    nothing new (the outputs are DVC's, dvc.lock is committed). (A `dvc repro` that runs every
    stage, in order: test_replaced_raw_data_reruns_ingest_onward.)"""
    assert set(lock_hashes(dvc_project.root)) == set(RUN_STAGES)
    again = tool("dvc", "repro", cwd=dvc_project.root)
    assert ran(again.stdout) == []
    assert sorted(skipped(again.stdout)) == sorted(RUN_STAGES)
    assert (
        "Data and pipelines are up to date." in tool("dvc", "status", cwd=dvc_project.root).stdout
    )
    assert tool("git", "status", "--porcelain", cwd=dvc_project.root).stdout == ""
    tracked = tool("git", "ls-files", "data", cwd=dvc_project.root).stdout.split()
    assert "data/01_raw/MNIST.dvc" in tracked
    assert not [path for path in tracked if not path.endswith((".dvc", ".gitkeep"))]


@pytest.mark.slow
def test_forced_retraining_to_the_same_model_leaves_evaluate_and_compare_up_to_date(
    dvc_project: DvcProject,
):
    """`dvc repro -f train@ntxent` trains again: its model, history and step trace come out
    byte-identical, and only where and when it trained (placement.json) changed, which no stage
    reads, so every later stage (evaluate, compare) stays up to date."""
    root = clone(dvc_project, "retrain")
    models = root / "data/06_models/ntxent"
    placement = root / "data/09_tracking/ntxent/seed0/placement.json"
    before = {path: path.read_bytes() for path in models.rglob("*") if path.is_file()}
    placed = placement.read_bytes()
    output = tool("dvc", "repro", "--force", "--single-item", "train@ntxent", cwd=root).stdout
    assert ran(output) == ["train@ntxent"]
    assert {path: path.read_bytes() for path in models.rglob("*") if path.is_file()} == before
    assert placement.read_bytes() != placed
    assert status(root) == {}


@pytest.mark.slow
def test_dag_draws_one_branch_per_experiment(dvc_project: DvcProject):
    """`dvc dag`: pairs feeds each experiment's train stage, which feeds its own embed, then its
    evaluate, then the comparison; the floor hangs off ingest."""
    edges = set()
    for line in tool("dvc", "dag", "--dot", cwd=dvc_project.root).stdout.splitlines():
        if match := re.match(r'\s*"?([\w@]+)"?\s*->\s*"?([\w@]+)"?', line):
            edges.add(match.groups())
    for experiment in DVC_EXPERIMENTS:
        assert ("pairs", f"train@{experiment}") in edges
        assert (f"train@{experiment}", f"embed@{experiment}") in edges
        assert (f"embed@{experiment}", f"evaluate@{experiment}") in edges
        assert (f"evaluate@{experiment}", "compare") in edges
        others = [other for other in DVC_EXPERIMENTS if other != experiment]
        assert not [o for o in others if (f"train@{experiment}", f"embed@{o}") in edges]
    assert ("ingest", "floor") in edges and ("floor", "compare") in edges


def metrics(root: Path) -> dict[str, dict]:
    """DVC's metrics files, ``{"<experiment>/<score>": {"value", "low", "high"}}``."""
    folder = root / METRICS
    return {
        path.relative_to(folder).with_suffix("").as_posix(): json.loads(path.read_text())
        for path in sorted(folder.rglob("*.json"))
    }


@pytest.mark.slow
def test_metrics_show_fits_160_columns_with_each_experiments_headline_scores(
    dvc_project: DvcProject,
):
    """`dvc metrics show`: a row per experiment and headline score (its value and interval),
    about a dozen numbers per experiment, every line within 160 columns."""
    found = metrics(dvc_project.root)
    experiments = {name.split("/")[0] for name in found}
    assert experiments == {*DVC_EXPERIMENTS, FLOOR}
    assert {name.split("/")[1] for name in found} == set(HEADLINE)
    assert sum(len(record) for record in found.values()) <= 12 * len(experiments)
    assert all(record["low"] <= record["value"] <= record["high"] for record in found.values())
    shown = tool("dvc", "metrics", "show", cwd=dvc_project.root).stdout
    assert max(len(line) for line in shown.splitlines()) <= 160, shown
    for name, record in found.items():
        (line,) = [line for line in shown.splitlines() if f"{METRICS}/{name}.json" in line]
        assert f"{record['value']:.5g}" in line, (name, shown)


@pytest.mark.slow
def test_plots_draw_each_runs_dvclive_traces_and_the_scores(dvc_project: DvcProject):
    """DVCLive's files exist for every trained run (each epoch's loss, validation fall and kept
    flag; each step's loss and spike flag), and `dvc plots show` draws a plot from each, step
    on x, and the score bars from the comparison table."""
    live = dvc_project.root / LIVE
    for run in DVC_EXPERIMENTS:
        folder = live / run / "seed0"
        files = {path.relative_to(folder).as_posix() for path in folder.rglob("*.tsv")}
        expected = {"epoch/loss.tsv", "epoch/degraded.tsv", "epoch/kept.tsv", "step/spike.tsv"}
        assert expected | {"step/loss.tsv"} <= files, (run, files)
    kept = (live / "ntxent/seed0/epoch/kept.tsv").read_text().splitlines()
    assert kept[0] == "step\tkept" and sum(int(row.split()[1]) for row in kept[1:]) == 1
    shown = json.loads(tool("dvc", "plots", "show", "--json", cwd=dvc_project.root).stdout)
    assert not shown.get("errors"), shown["errors"]
    traces = {name: plot for name, plot in shown["data"].items() if name.startswith(LIVE)}
    assert set(traces) == {p.relative_to(dvc_project.root).as_posix() for p in live.rglob("*.tsv")}
    loss = traces[f"{LIVE}/ntxent/seed0/epoch/loss.tsv"][0]["content"]
    assert loss["encoding"]["x"]["field"] == "step"
    assert len(loss["data"]["values"]) == 1  # one epoch in the small settings
    bars = shown["data"]["probe_accuracy"][0]["content"]["data"]["values"]
    assert {row["experiment"] for row in bars} == {*DVC_EXPERIMENTS, FLOOR}


@pytest.mark.slow
def test_plots_page_renders_offline(dvc_project: DvcProject):
    """The page `dvc plots show` writes loads no script or style from the network: its scripts
    are the repository's vendored vega builds, which exist where the page points; every plot is
    embedded in it."""
    output = tool("dvc", "plots", "show", cwd=dvc_project.root).stdout
    page = dvc_project.root / "dvc_plots" / "index.html"
    assert page.as_uri() in output
    html = page.read_text()
    assert re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html) == []
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert len(scripts) == 3
    for src in scripts:
        assert (page.parent / src).resolve().is_file(), src
    traces = list((dvc_project.root / LIVE).rglob("*.tsv"))
    assert html.count("vegaEmbed(") == len(traces) + len(dvc_yaml()["plots"]) - 1


@pytest.mark.slow
def test_fresh_clone_pulls_every_artifact_from_the_remote(dvc_project: DvcProject):
    """`dvc push` went to the default remote beside the repository; a fresh clone pulls it back,
    and nothing needs re-running."""
    assert dvc_project.remote.is_dir() and any(dvc_project.remote.rglob("*"))
    fresh = clone(dvc_project, "fresh", pull=False)
    tool(sys.executable, "scripts/dvc_pull.py", cwd=fresh)  # `make pull`
    assert status(fresh) == {}
    for name in [f"{METRICS}/ntxent/probe_accuracy.json", "data/06_models/ntxent/seed0/model.pt"]:
        assert (fresh / name).read_bytes() == (dvc_project.root / name).read_bytes()


def record(root: Path, **environment: str) -> subprocess.CompletedProcess:
    """`make run`'s last step (scripts/dvc_record.py), with these environment variables."""
    return subprocess.run(
        [sys.executable, "scripts/dvc_record.py"],
        cwd=root, env={**tool_env(), **environment}, capture_output=True, text=True,
    )  # fmt: skip


@pytest.mark.slow
def test_pull_offers_the_cheapest_way_and_a_run_is_recorded_only_when_honest(
    dvc_project: DvcProject,
):
    """`make pull` (scripts/dvc_pull.py) in a clone whose remote lacks the artifacts: exit status
    1 and one line naming the remote and `make run`. With a run's outputs in the workspace and no
    dvc.lock: one line offering `make record`. `make run`'s recording (scripts/dvc_record.py)
    refuses, in one line and leaving dvc.lock as it was, after a run on other parameters than
    conf/base's (KEDRO_ENV, conf/local); after the run on conf/base it records every stage as
    `dvc repro` would have (the hashes of the run's fixture) and `dvc status` is clean."""
    root = clone(dvc_project, "no_remote", pull=False)
    nowhere = root.parent / "no-such-storage"
    tool("dvc", "remote", "modify", "--local", "local", "url", nowhere, cwd=root)
    pulled = tool(sys.executable, "scripts/dvc_pull.py", cwd=root, check=False)
    assert pulled.returncode == 1 and pulled.stdout == ""
    (line,) = pulled.stderr.splitlines()
    assert str(nowhere) in line and "`make run` makes them" in line, line

    (root / "dvc.lock").unlink()
    shutil.copytree(dvc_project.root / "data", root / "data", dirs_exist_ok=True)
    pulled = tool(sys.executable, "scripts/dvc_pull.py", cwd=root, check=False)
    (line,) = pulled.stderr.splitlines()
    assert pulled.returncode == 1 and "no dvc.lock" in line and "`make record`" in line, line

    for environment, why in [
        ({"KEDRO_ENV": "test"}, "KEDRO_ENV=test"),
        ({}, "conf/local/parameters.yml overrides conf/base"),
    ]:
        if not environment:
            (root / "conf/local/parameters.yml").write_text("seeds: [1]\n")
        refused = record(root, **environment)
        (line,) = refused.stderr.splitlines()
        assert refused.returncode == 1 and line.startswith("nothing recorded in dvc.lock: ")
        assert why in line and not (root / "dvc.lock").exists()
    (root / "conf/local/parameters.yml").unlink()
    recorded = record(root)
    assert recorded.returncode == 0, recorded.stderr
    assert lock_hashes(root) == lock_hashes(dvc_project.root)
    assert status(root) == {}


@pytest.mark.slow
def test_each_parameter_invalidates_only_the_stages_that_read_it(dvc_project: DvcProject):
    """`dvc status` after one edit each: a scoring parameter touches every evaluate stage (the
    floor's included) and the comparison, whose report restates every parameter; a training
    one, every tune and train stage; a pairs one, pairs; the tuning budget, every tune stage;
    where checkpoints go, the comparison alone."""
    root = clone(dvc_project, "parameters")
    original = (root / PARAMETERS).read_text()
    every = {group: {f"{group}@{e}" for e in DVC_EXPERIMENTS} for group in PER_EXPERIMENT}
    for (section, key, value), expected in [
        (("evaluate", "knn_k", 1), every["evaluate"] | {"floor", "compare"}),
        (("training", "weight_decay", 0.01), every["tune"] | every["train"] | {"compare"}),
        (("tune", "trials", 5), every["tune"] | {"compare"}),
        (("pairs", "seed", 1), {"pairs", "compare"}),
        (("embed", "batch_size", 64), every["embed"] | {"floor", "compare"}),
        (("checkpoint_dir", None, "elsewhere/checkpoints"), {"compare"}),
    ]:
        set_parameter(root, section, key, value)
        assert set(status(root)) == expected, (section, key)
        (root / PARAMETERS).write_text(original)


@pytest.mark.slow
def test_one_experiments_space_and_learning_rate_rerun_only_its_branch(dvc_project: DvcProject):
    """Changing one experiment's search space: `dvc status` lists only the stages that read it
    (its tune stage, and its train stage, which is given its space) and the comparison, and
    `dvc repro` runs only that experiment's branch and the comparison; every other stage's
    outputs stay as they were. Changing its learning rate then marks the same stages and no
    others (a changed experiment parameter's repro: the `dvc exp run` test below)."""
    root = clone(dvc_project, "one_experiment")
    path = root / PARAMETERS
    parameters = yaml.safe_load(path.read_text())
    parameters["experiments"]["ntxent"]["search"] = {"loss_params": {"temperature": [0.01, 1]}}
    path.write_text(yaml.safe_dump(parameters, sort_keys=False))
    assert set(status(root)) == {"tune@ntxent", "train@ntxent", "compare"}
    ran_first = ran(tool("dvc", "repro", cwd=root).stdout)
    branch = ["tune@ntxent", "train@ntxent", "embed@ntxent", "evaluate@ntxent", "compare"]
    assert ran_first[:2] == branch[:2] and set(ran_first) <= set(branch), ran_first
    before, after = lock_hashes(dvc_project.root), lock_hashes(root)
    for stage in RUN_STAGES:
        if "ntxent" not in stage and stage != "compare":
            assert after[stage] == before[stage], stage
    parameters["experiments"]["ntxent"]["training"] = {"learning_rate": 0.003}
    path.write_text(yaml.safe_dump(parameters, sort_keys=False))
    assert set(status(root)) == {"tune@ntxent", "train@ntxent", "compare"}


@pytest.mark.slow
def test_experiment_variant_with_dvc_exp_run_reruns_only_its_branch(dvc_project: DvcProject):
    """`dvc exp run -S` with one experiment's parameter (NT-Xent's temperature): its train,
    embed and evaluate and the comparison re-run, every other stage stays cached; `dvc exp
    show` lists the variant and `dvc metrics diff` compares its scores with the committed
    run's."""
    root = clone(dvc_project, "temperature")
    setting = f"{PARAMETERS}:experiments.ntxent.loss_params.temperature=0.3"
    output = tool("dvc", "exp", "run", "--name", "t03", "-S", setting, cwd=root).stdout
    branch = {"tune@ntxent", "train@ntxent", "embed@ntxent", "evaluate@ntxent", "compare"}
    assert set(ran(output)) == branch
    assert sorted(skipped(output)) == sorted(set(RUN_STAGES) - branch)
    before, after = lock_hashes(dvc_project.root), lock_hashes(root)
    assert after["ingest"] == before["ingest"] and after["train@triplet"] == before["train@triplet"]
    assert after["train@ntxent"] != before["train@ntxent"]

    shown = json.loads(tool("dvc", "exp", "show", "--json", cwd=root).stdout)
    (variant,) = [
        experiment
        for commit in shown
        for experiment in commit.get("experiments") or []
        if experiment.get("name") == "t03"
    ]
    assert "0.3" in json.dumps(variant)
    diff = json.loads(tool("dvc", "metrics", "diff", "--json", cwd=root).stdout)
    changed = [path for path, scores in diff.items() if scores]
    assert changed and all(path.startswith(f"{METRICS}/ntxent/") for path in changed), changed

    # `make exp-show`: each experiment's headline score and the one parameter the variant changed
    table = tool(sys.executable, "scripts/exp_show.py", "--csv", cwd=root).stdout
    header, *rows = [line.split(",") for line in table.splitlines()]
    assert header[0] == "Experiment (probe_accuracy)"
    temperature = "experiments.ntxent.loss_params.temperature"
    assert set(header[1:]) == {*DVC_EXPERIMENTS, FLOOR, temperature}
    variant = next(row for row in rows if row[0] == "└── t03")
    assert variant[header.index(temperature)] == "0.3"
    shown = tool(sys.executable, "scripts/exp_show.py", cwd=root).stdout
    assert max(len(line) for line in shown.splitlines()) <= 160, shown


@pytest.mark.slow
def test_replaced_raw_data_reruns_ingest_onward(dvc_project: DvcProject):
    """Other images under data/01_raw (re-added with `dvc add`): every stage re-runs once, the
    shared ones first and the comparison last, and the metrics change."""
    root = clone(dvc_project, "new_raw_data")
    # as in the workspace that made the first run: its training checkpoints (not versioned) too
    checkpoints = yaml.safe_load((root / PARAMETERS).read_text()).get("checkpoint_dir")
    if checkpoints and (dvc_project.root / checkpoints).is_dir():
        shutil.copytree(dvc_project.root / checkpoints, root / checkpoints)
    write_raw_digits(root, part=1)
    tool("dvc", "add", "--quiet", "data/01_raw/MNIST", cwd=root)
    assert "ingest" in status(root)
    output = tool("dvc", "repro", cwd=root).stdout
    assert sorted(ran(output)) == sorted(RUN_STAGES)
    assert ran(output)[:2] == ["ingest", "pairs"] and ran(output)[-1] == "compare"
    assert metrics(root) != metrics(dvc_project.root)
    changed = tool("dvc", "metrics", "diff", cwd=root).stdout
    assert "probe_accuracy" in changed
    assert lock_hashes(root)["train@ntxent"] != lock_hashes(dvc_project.root)["train@ntxent"]
