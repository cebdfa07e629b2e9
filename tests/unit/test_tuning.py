"""Tuning: the search space and its checks, the budget (exactly tune.trials finished trials,
sequentially, after an abandoned run, and with several claimers at once), the expected best of n
trials against a direct computation, and the record a tuned run trains from."""

import copy
import itertools
import math
import threading
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml
from optuna.trial import TrialState

from crl_pipelines.experiments import ExperimentSettings, resolve_experiment
from crl_pipelines.lineage import StaleArtifactError
from crl_pipelines.parameters import ParameterError
from crl_pipelines.spec import build_spec
from crl_pipelines.training_settings import TrainingSettings
from crl_pipelines.tuning import budget
from crl_pipelines.tuning.record import tuned_experiment, untuned_record
from crl_pipelines.tuning.settings import TuneSettings
from crl_pipelines.tuning.space import search_space
from crl_pipelines.tuning.summary import expected_best, summarize
from crl_pipelines.tuning.trials import TrialInputs, first_epochs
from crl_pipelines.tuning.tuner import tune
from tests.unit.test_train import MODEL, small_data

BASE = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "conf/base/parameters.yml").read_text()
)


def resolved(loss="ntxent", **entry):
    settings = ExperimentSettings(loss=loss, **entry)
    return resolve_experiment(loss, settings, MODEL, TrainingSettings())


def with_search(search, **tune):
    parameters = copy.deepcopy(BASE)
    parameters["experiments"] = {"ntxent": {"loss": "ntxent", "search": search}}
    parameters["tune"] = {**parameters["tune"], **tune}
    return parameters


def test_the_default_space_is_the_losss_parameters_the_learning_rate_and_weight_decay():
    space = search_space(resolved("ntxent"), None)
    dimensions = {d.path: d for d in space.dimensions}
    assert list(dimensions) == [
        "loss_params.temperature", "training.learning_rate", "training.weight_decay"
    ]  # fmt: skip
    temperature = dimensions["loss_params.temperature"]
    assert (temperature.low, temperature.high, temperature.log) == (0.005, 5.0, True)
    rate = dimensions["training.learning_rate"]
    assert (rate.low, rate.high, rate.log) == pytest.approx((1e-4, 1e-2, True))
    assert dimensions["training.weight_decay"].choices == (0.0, 1e-5, 1e-4, 1e-3, 1e-2)
    # a loss without parameters searches the optimizer alone; align_uniform keeps its α
    assert [d.path for d in search_space(resolved("cross_entropy"), None).dimensions] == [
        "training.learning_rate", "training.weight_decay"
    ]  # fmt: skip
    paths = [d.path for d in search_space(resolved("align_uniform"), None).dimensions]
    assert "loss_params.alpha" not in paths and "loss_params.t" in paths


def test_a_search_block_narrows_widens_fixes_and_drops_dimensions():
    space = search_space(
        resolved("ntxent"),
        {
            "loss_params": {"temperature": [0.01, 0.2]},
            "training": {"learning_rate": {"low": 1e-4, "high": 3e-3, "log": False},
                         "weight_decay": None, "optimizer": {"choices": ["adam", "adamw"]}},
            "model": {"embedding_dim": 16},
        },
    )  # fmt: skip
    dimensions = {d.path: d for d in space.dimensions}
    assert set(dimensions) == {
        "loss_params.temperature", "training.learning_rate", "training.optimizer"
    }  # fmt: skip
    assert (
        dimensions["loss_params.temperature"].log and not dimensions["training.learning_rate"].log
    )
    assert space.fixed == {"model.embedding_dim": 16}
    experiment = space.apply({"loss_params.temperature": 0.05, "training.optimizer": "adamw"})
    assert experiment.loss_params == {"temperature": 0.05}
    assert experiment.training.optimizer == "adamw" and experiment.model.embedding_dim == 8
    assert space.defaults()["loss_params.temperature"] == 0.5


BAD = [
    (
        {"loss_params": {"temprature": [0.1, 1]}},
        "parameter `experiments.ntxent.search.loss_params.temprature` is unknown; did you mean "
        "'temperature'?",
    ),
    ({"trainig": {}}, "parameter `experiments.ntxent.search.trainig` is unknown; did you mean"),
    (
        {"training": {"learning_rate": ["a", "b"]}},
        "parameter `experiments.ntxent.search.training.learning_rate` should range over numbers",
    ),
    (
        {"training": {"learning_rate": [0.01, 0.001]}},
        "parameter `experiments.ntxent.search.training.learning_rate` should have low < high (an "
        "empty or inverted range), got [0.01, 0.001]",
    ),
    ({"training": {"learning_rate": [0.01, 0.01]}}, "should have low < high"),
    (
        {"training": {"learning_rate": [-0.01, 0.01]}},
        "parameter `experiments.ntxent.search.training.learning_rate` should be greater than 0",
    ),
    (
        {"training": {"learning_rate": {"low": 0, "high": 1, "log": True}}},
        "should be true only for a range above 0",
    ),
    ({"training": {"optimizer": {"choices": []}}}, "should be a non-empty list"),
    (
        {"training": {"optimizer": {"choices": ["adam", "lion"]}}},
        "parameter `experiments.ntxent.search.training.optimizer` should be 'adam', 'adamw' or "
        "'sgd', got 'lion'",
    ),
    (
        {"model": {"embedding_dim": [8.5, 32]}},
        "parameter `experiments.ntxent.search.model.embedding_dim` should be a valid integer",
    ),
    ({"loss_params": "temperature"}, "should be a mapping of settings to ranges"),
]


@pytest.mark.parametrize(("search", "message"), BAD)
def test_a_bad_dimension_is_one_line_at_registration(search, message):
    with pytest.raises(ParameterError) as raised:
        build_spec(with_search(search))
    text = str(raised.value)
    assert text.startswith("parameter `experiments.ntxent.search.") and message in text, text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("tune", "message"),
    [
        ({"trials": 0}, "parameter `tune.trials` should be greater than or equal to 1, got 0"),
        ({"pruner": "asha"}, "parameter `tune.pruner` should be 'median', 'hyperband' or 'none'"),
        ({"sampler": "cmaes"}, "parameter `tune.sampler` should be 'tpe' or 'random'"),
        ({"storage": "not a url"}, "parameter `tune.storage` should be a database URL"),
        ({"use": True, "epochs": 11}, "parameter `tune.epochs` is 11, longer than the plan"),
    ],
)
def test_a_bad_budget_sampler_pruner_or_storage_is_one_line(tune, message):
    with pytest.raises(ParameterError) as raised:
        build_spec(with_search(None, **tune))
    assert str(raised.value).startswith(message), raised.value


def test_an_unreachable_storage_is_one_line_before_any_trial():
    with pytest.raises(budget.StorageError) as raised:
        budget.rdb_storage("postgresql://nobody@127.0.0.1:9/nothing")
    assert str(raised.value).startswith(
        "parameter `tune.storage`: cannot open the study storage postgresql://"
    )
    assert "\n" not in str(raised.value)


def small_inputs(epochs=1):
    train, validation, plan = small_data(epochs=2)
    space = search_space(resolved("contrastive"), {"training": {"weight_decay": 0.0}})
    return TrialInputs(train, validation, first_epochs(plan, epochs), space, 0, 0.1)


def finished(study) -> int:
    return sum(t.state in budget.FINISHED for t in study.get_trials(deepcopy=False))


def test_a_study_ends_with_exactly_its_budget_and_goes_on_where_it_stopped(tmp_path):
    """Sequentially, in batches that do not divide the budget; then a run that stopped with a
    trial still running (its process gone) is resumed: the abandoned trial is failed and
    replaced, and the study still ends with exactly the budget."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    settings = TuneSettings(use=True, trials=5, epochs=1, batch=2, pruner="none")
    inputs = small_inputs()
    study = tune(inputs, settings, url, "probe")
    assert finished(study) == 5 and len(study.trials) == 5
    assert study.trials[0].user_attrs.get("defaults")  # the parameters as written come first

    # a killed run: a trial claimed by a process that no longer exists
    abandoned = study.ask()
    abandoned.set_user_attr("host", budget.socket.gethostname())
    abandoned.set_user_attr("pid", 2**22 + 7)  # above Linux's largest process id
    more = settings.model_copy(update={"trials": 7})
    resumed = tune(inputs, more, url, "probe")
    states = [trial.state for trial in resumed.get_trials(deepcopy=False)]
    assert finished(resumed) == 7
    assert states[abandoned.number] == TrialState.FAIL
    assert tune(inputs, more, url, "probe").trials == resumed.trials  # nothing left to train


def test_processes_opening_a_new_database_at_once_all_reach_one_study(tmp_path):
    """Four threads (each its own connection, as processes would) open a database that does not
    exist yet, at the same moment, and create the same study: the ones that lose the race to
    make its tables try again, and all of them work on one study."""
    url = f"sqlite:///{tmp_path / 'new.db'}"
    start, errors, names = threading.Barrier(4), [], []

    def open_one() -> None:
        start.wait()
        try:
            names.append(
                budget.open_study("one", budget.rdb_storage(url), TuneSettings()).study_name
            )
        except Exception as error:  # collected for the assertion below, with its message
            errors.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and names == ["one"] * 4
    assert [s.study_name for s in optuna.get_all_study_summaries(url)] == ["one"]


def test_claimers_at_once_never_exceed_the_budget(tmp_path):
    """Four threads claim and finish trials of one study at the same time (each with its own
    connection, as processes would): the study ends with exactly the budget, and every trial
    over it is failed, never finished."""
    url = f"sqlite:///{tmp_path / 'race.db'}"
    settings = TuneSettings(trials=9)
    budget.open_study("race", budget.rdb_storage(url), settings)

    def work() -> None:
        study = budget.open_study("race", budget.rdb_storage(url), settings)
        while (trial := budget.claim(study, settings.trials)) is not None:
            study.tell(trial, float(trial.number))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    study = optuna.load_study(study_name="race", storage=url)
    assert finished(study) == 9
    extra = [t for t in study.trials if t.state not in budget.FINISHED]
    assert all(t.state == TrialState.FAIL and t.user_attrs.get("over_budget") for t in extra)


def test_the_expected_best_of_n_trials_is_the_mean_best_of_every_draw():
    """Dodge et al.'s formula against the direct computation: the mean of the maximum over
    every one of the N^n equally likely draws of n trial values with replacement."""
    values = [0.61, 0.7, 0.7, 0.52, 0.9]
    curve = expected_best(values)
    for n in range(1, len(values) + 1):
        draws = itertools.product(values, repeat=n)
        assert curve[n - 1] == pytest.approx(float(np.mean([max(draw) for draw in draws])))
    assert curve == sorted(curve) and curve[-1] < max(values)


def test_the_record_names_the_best_parameters_and_a_stale_one_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    settings = TuneSettings(use=True, trials=3, epochs=1, batch=3, pruner="none")
    inputs = small_inputs()
    study = tune(inputs, settings, url, "record")
    made_from = {"split": "s", "plan": "p", "settings": "x", "space": "y", "budget": "z"}
    record = summarize(
        study, inputs.space, settings, (len(inputs.validation.labels), True), made_from
    )
    best = max((t for t in study.trials if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    assert record["best"]["trial"] == best.number
    assert record["best"]["params"] == {"training.weight_decay": 0.0, **best.params}
    assert record["counts"] == {"complete": 3, "pruned": 0, "failed": 0}
    error = record["best"]["standard_error"]
    assert error == pytest.approx(
        math.sqrt(best.value * (1 - best.value) / len(inputs.validation.labels))
    )
    assert [row["number"] for row in record["trials"]] == [0, 1, 2]

    experiment = tuned_experiment(record, inputs.space, made_from, use=True)
    assert experiment.loss_params["margin"] == best.params["loss_params.margin"]
    with pytest.raises(StaleArtifactError, match="made from another search space"):
        tuned_experiment(record, inputs.space, {**made_from, "space": "other"}, use=True)
    with pytest.raises(StaleArtifactError, match=r"made with tune\.use true"):
        tuned_experiment(record, inputs.space, made_from, use=False)
    untuned = untuned_record("contrastive")
    assert tuned_experiment(untuned, inputs.space, made_from, use=False) == inputs.space.experiment
    with pytest.raises(StaleArtifactError, match=r"made with tune\.use false"):
        tuned_experiment(untuned, inputs.space, made_from, use=True)


def test_a_loss_whose_step_cannot_be_shared_is_tuned_one_trial_at_a_time(tmp_path):
    """LOOC's step runs every head: its trials train alone, each from its own step, and its
    study still ends with exactly its budget."""
    from crl_pipelines.augment import default_params
    from crl_pipelines.sampling.views import view_plan

    train, validation, _ = small_data(epochs=1)
    plan = view_plan(len(train.labels), 1, 32, 0, "looc_views", default_params(1))
    experiment = resolved("looc", sampling="looc_views")
    space = search_space(experiment, {"training": {"weight_decay": 0.0}})
    inputs = TrialInputs(train, validation, plan, space, 0, 0.1)
    settings = TuneSettings(use=True, trials=3, epochs=1, batch=3, pruner="none")
    study = tune(inputs, settings, f"sqlite:///{tmp_path / 'looc.db'}", "looc")
    assert finished(study) == 3


def test_a_trial_killed_before_it_recorded_its_process_is_abandoned(monkeypatch):
    """Killed between asking for a trial and recording its host and process: once older than
    budget.UNCLAIMED_SECONDS it is failed, so its place in the budget is taken again; a trial
    still being claimed (younger), or run by a live process, keeps its place."""
    study = optuna.create_study()
    unclaimed = study.ask()
    live = budget.claim(study, budget=3)
    assert budget.fail_abandoned(study) == 0  # too young to be judged unclaimed
    monkeypatch.setattr(budget, "UNCLAIMED_SECONDS", -1.0)
    assert budget.fail_abandoned(study) == 1
    states = {trial.number: trial.state for trial in study.get_trials()}
    assert states == {unclaimed.number: TrialState.FAIL, live.number: TrialState.RUNNING}
