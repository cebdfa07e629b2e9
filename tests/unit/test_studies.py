"""Studies (crl_pipelines.studies): the study files, the grid, DVC's -S arguments, the queue's
status, and the study report from synthetic metrics. The real DVC queue runs in
tests/integration/test_studies.py."""

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml
from omegaconf import OmegaConf

from crl_pipelines import studies
from crl_pipelines.errors import UserError
from crl_pipelines.parameters import ParameterError

PROJECT = Path(__file__).resolve().parents[2]
BASE = studies.base_parameters(PROJECT)


def write_study(folder: Path, name: str = "s", **fields) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yml"
    path.write_text(yaml.safe_dump({"name": name, **fields}, sort_keys=False))
    return path


def study(tmp_path: Path, **fields) -> studies.StudySettings:
    fields.setdefault("grid", {"pairs.epochs": [1, 2]})
    return studies.load_study(write_study(tmp_path, **fields))


@pytest.mark.parametrize("name", ["feature_suppression", "multidigit"])
def test_the_shipped_studies_are_valid_runs(name):
    """Each shipped study file parses, and every variant passes the project's parameter check."""
    path = studies.study_file(name, PROJECT)
    chosen = studies.load_study(path)
    studies.check_study(chosen, BASE, name)
    assert chosen.name == name
    assert len(studies.variants(chosen)) >= 4


def test_the_multidigit_study_reports_each_digit_position():
    chosen = studies.load_study(studies.study_file("multidigit", PROJECT))
    assert chosen.scores == ["probe_digit_0", "probe_digit_1"]
    assert chosen.x_axis == "ingest.multidigit.digit_size"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"scors": ["probe_accuracy"]}, "parameter `scors` is unknown; did you mean 'scores'?"),
        ({"name": "other"}, "parameter `name` should be the file's name, 's', got 'other'"),
        ({"grid": {}}, "parameter `grid` should have at least 1 item"),
        ({"grid": {"pairs.epochs": [1, 1]}}, "parameter `grid.pairs.epochs` should not repeat 1"),
        ({"grid": {"pairs.epochs": []}}, "parameter `grid.pairs.epochs` should have at least 1"),
        ({"grid": {"pairs..epochs": [1]}}, "should be a dotted parameter path"),
        (
            {"fixed": {"pairs.epochs": 1}},
            "parameter `grid` varies pairs.epochs, which would undo the fixed pairs.epochs",
        ),
        (
            {"fixed": {"pairs.epochs": 1}, "grid": {"pairs": [{}]}},
            "parameter `grid` varies pairs, which would undo the fixed pairs.epochs",
        ),
        (
            {"grid": {"pairs": [{}], "pairs.epochs": [1]}},
            "varies pairs.epochs inside the varied pairs",
        ),
        ({"x": "pairs.seed"}, "parameter `x` should be one of the grid's parameters"),
        ({"fixed": {"training.learning_rate": math.nan}}, "should be a finite number"),
        ({"fixed": {"checkpoint_dir": "${x}"}}, "should not contain `${`"),
        ({"scores": []}, "parameter `scores` should have at least 1 item"),
    ],
)
def test_a_mistake_in_a_study_file_is_one_line_naming_the_key(tmp_path, fields, message):
    fields = {"grid": {"pairs.epochs": [1, 2]}, **fields}
    path = tmp_path / "s.yml"
    path.write_text(yaml.safe_dump({"name": "s", **fields}, sort_keys=False))
    with pytest.raises(ParameterError) as error:
        studies.load_study(path)
    assert str(error.value).startswith(f"study {path}: ")
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"grid": {"ingest.randbit.bits": [1]}}, "`grid.ingest.randbit.bits`: `randbit` (in "
         "ingest) is unknown; did you mean 'randbits'?"),
        ({"grid": {"pairs.epochs.x": [1]}}, "`grid.pairs.epochs.x`: `pairs.epochs` is a value"),
        ({"fixed": {"training.learing_rate": 0.1}}, "parameter `training.learing_rate` is "
         "unknown; did you mean 'learning_rate'?"),
        ({"grid": {"pairs.epochs": [1, 0]}}, "variant s-1 (pairs.epochs=0): parameter "
         "`pairs.epochs` should be greater than or equal to 1"),
        ({"scores": ["probe_acuracy"]}, "names no known score: 'probe_acuracy'; did you mean "
         "'probe_accuracy'?"),
    ],
)  # fmt: skip
def test_every_variant_is_checked_against_the_parameters(tmp_path, fields, message):
    """A path must lead through blocks of conf/base/parameters.yml (a new key of a block is
    allowed, and then checked by the project's parameter check with the rest of the variant)."""
    chosen = study(tmp_path, **fields)
    with pytest.raises(ParameterError, match=r"^s[:,] ") as error:
        studies.check_study(chosen, BASE, "s")
    assert message in str(error.value)


def test_a_study_file_is_read_as_kedro_reads_parameters(tmp_path):
    """OmegaConf's YAML, as Kedro's: `1e-3` is a number; a file of one value is refused."""
    path = tmp_path / "s.yml"
    path.write_text("name: s\ngrid: {training.learning_rate: [1e-3]}\n")
    assert studies.load_study(path).grid == {"training.learning_rate": [0.001]}
    path.write_text("5\n")
    with pytest.raises(UserError, match=r"s\.yml should hold a mapping of settings"):
        studies.load_study(path)
    path.write_text("grid: [\n")
    with pytest.raises(UserError, match=r"s\.yml is not valid YAML: while parsing"):
        studies.load_study(path)


def test_a_study_is_found_by_name_or_by_file(tmp_path):
    assert studies.study_file("x", tmp_path) == tmp_path / "conf/studies/x.yml"
    assert studies.study_file("other/x.yml", tmp_path) == tmp_path / "other/x.yml"
    assert studies.study_file(tmp_path / "y.yaml", Path("/")) == tmp_path / "y.yaml"


def test_the_grid_is_the_cartesian_product_first_parameter_slowest(tmp_path):
    chosen = study(tmp_path, grid={"pairs.epochs": [1, 2], "model.embedding_dim": [4, 8, 16]})
    found = studies.variants(chosen)
    assert [variant.name for variant in found] == [f"s-{index}" for index in range(6)]
    assert [tuple(variant.values.values()) for variant in found] == [
        (1, 4), (1, 8), (1, 16), (2, 4), (2, 8), (2, 16)
    ]  # fmt: skip
    assert found[2].describe() == "pairs.epochs=1, model.embedding_dim=16"
    assert chosen.x_axis == "pairs.epochs"
    assert chosen.scores == ["probe_accuracy"]


def test_the_set_param_arguments(tmp_path):
    """A parameter there: `path=value`; a new key: `+path=value`; a block replaced whole:
    `~path` then `+path=value` (DVC's `path=` would merge into it)."""
    chosen = study(
        tmp_path,
        fixed={
            "experiments": {"only": {"loss": "ntxent", "loss_params": {"temperature": 0.5}}},
            "model.arch": "small_cnn",
        },
        grid={"experiments.only.loss_params.temperature": [0.1], "ingest.image_size": [16]},
    )
    parameters, arguments = studies.variant_parameters(chosen, studies.variants(chosen)[0], BASE)
    file = studies.PARAMETERS
    entry = "{temperature: 0.5}"
    assert arguments == [
        "-S", f"{file}:~experiments",
        "-S", f"{file}:+experiments={{only: {{loss: 'ntxent', loss_params: {entry}}}}}",
        "-S", f"{file}:model.arch='small_cnn'",
        "-S", f"{file}:experiments.only.loss_params.temperature=0.1",
        "-S", f"{file}:ingest.image_size=16",
    ]  # fmt: skip
    assert parameters["experiments"] == {
        "only": {"loss": "ntxent", "loss_params": {"temperature": 0.1}}
    }
    assert BASE["model"]["arch"] == "resnet18"  # the base is not changed


def test_dvc_makes_the_same_parameters_from_the_arguments(tmp_path):
    """DVC's own -S code, applied to a copy of conf/base/parameters.yml, gives the parameters the
    study computed: replacing, adding and setting keys, lists, nulls, strings, numbers and
    mappings."""
    from dvc.utils.hydra import apply_overrides

    chosen = study(
        tmp_path,
        fixed={
            "experiments": {"a": {"loss": "ntxent", "loss_params": {"temperature": 0.5}}},
            "ingest.multidigit.digit_size": [10, 14],
            "ingest.randbits.spatial": "per_pixel",
            "ingest.subset_size": None,
            "model.head_layers": 2,
            "checkpoint_dir": "it's a \\ path\\",
            "augment.flip": {"p": 0.5},
            "augment.blur": 1e-05,
        },
        grid={"experiments.a.training": [{"learning_rate": 0.003}], "pairs.epochs": [True]},
    )
    expected, arguments = studies.variant_parameters(chosen, studies.variants(chosen)[0], BASE)
    copy = tmp_path / "parameters.yml"
    shutil.copy(PROJECT / studies.PARAMETERS, copy)
    apply_overrides(copy, [argument.split(":", 1)[1] for argument in arguments[1::2]])
    # read as Kedro reads it (OmegaConf's YAML loader takes DVC's `1e-05` for a float)
    assert OmegaConf.to_container(OmegaConf.load(copy)) == expected


@pytest.mark.parametrize(
    "value", ["plain", "it's", "back\\slash", "ends\\", "quote\\'d", "a: b, {c}", "", "[1]"]
)
def test_strings_survive_the_override_grammar(value):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides([f"a={studies.hydra_value(value)}"])
    assert parsed[0].value() == value


QUEUE_STATUS = """\
Task     Name       Created       Status
1a2b3c4  s-1        12:04 AM      Running
5d6e7f8  s-2        12:04 AM      Queued
01b7193  None       Dec 03, 2026  Failed
95970c7  s-0        12:04 AM      Success

Worker status: 1 active, 1 idle
"""


def test_the_queue_status_is_read_from_dvcs_table():
    tasks, workers = studies.parse_queue_status(QUEUE_STATUS)
    assert [(t.task, t.name, t.status) for t in tasks] == [
        ("1a2b3c4", "s-1", "Running"),
        ("5d6e7f8", "s-2", "Queued"),
        ("01b7193", "None", "Failed"),
        ("95970c7", "s-0", "Success"),
    ]
    assert workers == 2
    assert studies.parse_queue_status("Task Name Created Status\n")[1] == 0


def test_waiting_shows_each_finished_variant_and_a_failures_log(tmp_path, monkeypatch):
    chosen = study(tmp_path, grid={"pairs.epochs": [1, 2]})
    first, second = studies.variants(chosen)
    workers = "\nWorker status: 1 active, 0 idle"
    answers = iter(
        [
            f"aaaaaaa  s-0  1 AM  Running\nbbbbbbb  s-1  1 AM  Queued{workers}",
            f"aaaaaaa  s-0  1 AM  Failed\nbbbbbbb  s-1  1 AM  Running{workers}",
            f"aaaaaaa  s-0  1 AM  Failed\nbbbbbbb  s-1  1 AM  Success{workers}",
        ]
    )
    calls = []

    def fake_tool(root, *args, **options):
        calls.append(args)
        return "line 1\nERROR: boom\n" if args[:3] == ("dvc", "queue", "logs") else next(answers)

    monkeypatch.setattr(studies.queue, "tool", fake_tool)
    lines: list[str] = []
    failed = studies.wait_for(tmp_path, {"aaaaaaa": first, "bbbbbbb": second}, lines.append, 0)
    assert failed == [first]
    assert lines[0].startswith("[1/2] s-0 (pairs.epochs=1) FAILED after ")
    assert lines[1:4] == [
        "    line 1",
        "    ERROR: boom",
        "    (the whole log: dvc queue logs aaaaaaa)",
    ]
    assert lines[4].startswith("[2/2] s-1 (pairs.epochs=2) done after ")
    assert ("dvc", "queue", "logs", "aaaaaaa") in calls


def test_waiting_stops_when_the_queue_has_no_worker(tmp_path, monkeypatch):
    chosen = study(tmp_path)
    status = "aaaaaaa  s-0  1 AM  Queued\nWorker status: 0 active, 0 idle"
    monkeypatch.setattr(studies.queue, "tool", lambda root, *args, **options: status)
    tasks = {"aaaaaaa": studies.variants(chosen)[0]}
    with pytest.raises(UserError, match="no worker left while s-0 wait: `dvc queue start"):
        studies.wait_for(tmp_path, tasks, print, 0, stall_polls=2)


def metrics(probe: float) -> dict:
    row = {"probe_accuracy": probe, "probe_accuracy_low": probe - 0.05}
    return {
        "ntxent": {**row, "probe_accuracy_high": probe + 0.05, "knn_accuracy": "nan"},
        "random_init": {**row, "probe_accuracy_high": probe + 0.05},
    }


def exp_show(records: dict[str, tuple[dict, dict | None]]) -> tuple[list[dict], Callable]:
    """`dvc exp show --json` as DVC 3.67 writes it (the parts the study reads), and what the
    study reads at each experiment's commit (its comparison table's rows)."""
    scores = {}

    def experiment(name: str, params: dict, found: dict | None) -> dict:
        data = {"params": {studies.PARAMETERS: {"data": params}}}
        state = "success" if found else "failed"
        error = None if found else {"msg": "Experiment run failed", "type": ""}
        rev = name.encode().hex().ljust(40, "0")
        scores[rev] = found
        revision = {"rev": rev, "name": name, "data": data, "error": error}
        return {"revs": [revision], "executor": {"state": state}, "name": name}

    experiments = [experiment(name, *record) for name, record in records.items()]
    show = [
        {"rev": "workspace", "name": None, "data": {}, "error": None, "experiments": None},
        {"rev": "1" * 40, "name": "main", "data": {}, "error": None, "experiments": experiments},
    ]
    return show, scores.__getitem__


def test_the_study_report(tmp_path):
    """results.csv (a row per variant × experiment × score), report.md (a table per score, a
    column per experiment, cells `value [low, high]`, the failed variant named) and a figure."""
    chosen = study(tmp_path, grid={"model.embedding_dim": [4, 8, 16]}, fixed={"pairs.epochs": 2})
    params = [{"pairs": {"epochs": 2}, "model": {"embedding_dim": d}} for d in (4, 8, 16)]
    show = exp_show(
        {
            "s-0": (params[0], metrics(0.5)),
            "s-1": (params[1], metrics(0.75)),
            "s-2": (params[2], None),
        }
    )
    records = studies.experiment_records(*show)
    assert records["s-2"].metrics is None and records["s-2"].problem == "Experiment run failed"
    results, missing = studies.study_results(chosen, records)
    assert missing == {"s-2": "Experiment run failed"}
    studies.write_report(chosen, results, missing, tmp_path / "report")

    table = pd.read_csv(tmp_path / "report/results.csv")
    assert list(table.columns) == [
        "variant", "model.embedding_dim", "experiment", "score", "value", "low", "high"
    ]  # fmt: skip
    assert table.shape == (4, 7)
    assert table.loc[1].tolist() == ["s-0", 4, "random_init", "probe_accuracy", 0.5, 0.45, 0.55]
    report = (tmp_path / "report/report.md").read_text()
    shown = (
        "| `model.embedding_dim` | ntxent | random_init |",  # a column per experiment and floor
        "| `8` | 0.750 [0.700, 0.800] | 0.750 [0.700, 0.800] |",  # value [interval]
        "| `16` | – | – |",  # the failed variant: no values
        "| `s-2` | `16` | missing: Experiment run failed |",  # ... and why
        "![probe_accuracy](probe_accuracy.png)",
        "Fixed in every variant:\n\n- `pairs.epochs`: `2`\n",
    )
    assert [text for text in shown if text not in report] == []
    assert (tmp_path / "report/probe_accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_variant_whose_scores_cannot_be_read_is_missing_and_says_why():
    show, _ = exp_show({"s-0": ({"pairs": {"epochs": 1}}, metrics(0.5))})

    def unreadable(rev: str) -> dict:
        raise FileNotFoundError(f"{studies.COMPARISON} is not in the cache")

    (record,) = studies.experiment_records(show, unreadable).values()
    assert record.metrics is None
    assert record.problem == f"no {studies.COMPARISON}: {studies.COMPARISON} is not in the cache"


def test_a_study_changed_since_it_ran_is_refused(tmp_path):
    """The values an experiment ran with are compared with the study's, the grid's applied over
    the fixed block it lies in."""
    chosen = study(
        tmp_path,
        fixed={"experiments": {"a": {"loss": "ntxent", "loss_params": {"temperature": 0.5}}}},
        grid={"pairs.epochs": [1], "experiments.a.loss_params.temperature": [0.2]},
    )
    ran = {"loss": "ntxent", "loss_params": {"temperature": 0.2}}
    good = exp_show({"s-0": ({"pairs": {"epochs": 1}, "experiments": {"a": ran}}, metrics(0.5))})
    assert len(studies.study_results(chosen, studies.experiment_records(*good))[0]) == 2
    bad = exp_show({"s-0": ({"pairs": {"epochs": 3}, "experiments": {"a": ran}}, metrics(0.5))})
    with pytest.raises(UserError, match=r"s-0 ran with `pairs.epochs` = `3`, but study s sets `1`"):
        studies.study_results(chosen, studies.experiment_records(*bad))
    other = exp_show({"s-0": ({"pairs": {"epochs": 1}}, metrics(0.5))})
    with pytest.raises(UserError, match=r"ran with `experiments` = nothing, but study s sets"):
        studies.study_results(chosen, studies.experiment_records(*other))


def test_a_figure_of_two_grid_parameters_and_list_values(tmp_path):
    """x values that are lists are categories; each value of another grid parameter is a line."""
    chosen = study(
        tmp_path,
        grid={"ingest.multidigit.digit_size": [[10, 10], [10, 14]], "pairs.epochs": [1, 2]},
    )
    show = {}
    for variant in studies.variants(chosen):
        size, epochs = variant.values.values()
        params = {"ingest": {"multidigit": {"digit_size": size}}, "pairs": {"epochs": epochs}}
        show[variant.name] = (params, metrics(0.5 + variant.index / 10))
    show = exp_show(show)
    results, missing = studies.study_results(chosen, studies.experiment_records(*show))
    assert not missing
    figure = studies.score_figure(chosen, results, "probe_accuracy")
    axes = figure.axes[0]
    assert [text.get_text() for text in axes.get_xticklabels()] == ["[10,10]", "[10,14]"]
    assert len(axes.get_lines()) == 4  # 2 experiments × 2 values of pairs.epochs
    assert axes.get_legend_handles_labels()[1][0] == "ntxent, pairs.epochs=1"


def test_the_command_line_says_a_users_mistake_in_one_line(tmp_path, capsys):
    assert studies.main(["report", "missing", "--root", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: cannot read the study file ")
    assert error.count("\n") == 1
    write_study(tmp_path / "conf/studies", "x", grid={"pairs.epochs": [1]})
    assert studies.main(["run", "x", "--root", str(tmp_path)]) == 1
    assert "is no DVC project" in capsys.readouterr().err


def test_scores_are_numbers():
    assert math.isnan(studies.number("nan"))
    assert studies.number("inf") == math.inf
    assert math.isnan(studies.number(None))
    assert studies.label([1, 2]) == json.dumps([1, 2])
