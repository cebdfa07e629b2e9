"""The run specification: every bad parameter is refused, before anything runs, with one
message that names it (its dotted path), the value it got and what it should be."""

import copy
from pathlib import Path

import pytest
import yaml

from crl_pipelines.parameters import ParameterError
from crl_pipelines.runs import Run
from crl_pipelines.spec import RunSpec, build_spec

CONF = Path(__file__).resolve().parents[2] / "conf"
BASE = yaml.safe_load((CONF / "base" / "parameters.yml").read_text())


def with_key(parameters: dict, path: str, value) -> dict:
    """A copy of ``parameters`` with ``path`` (dotted) set to ``value``, and nothing else."""
    parameters = copy.deepcopy(parameters)
    *parents, last = path.split(".")
    node = parameters
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return parameters


def changed(path: str, value) -> dict:
    """The base parameters with ``path`` (dotted) set to ``value``."""
    return with_key(BASE, path, value)


# (parameter, value, the message or, ending in "…", its beginning)
BAD = [
    ("trainig", {"learning_rate": 0.1},
     "parameter `trainig` is unknown; did you mean 'training'? …"),
    ("training.learing_rate", 0.1,
     "parameter `training.learing_rate` is unknown; did you mean 'learning_rate'? (known here: "
     "optimizer, learning_rate, weight_decay, scheduler, warmup_epochs, precision, device, "
     "clip_grad_norm, keep, spike_factor, spike_window, degrade_tolerance, distributed, fuse)"),
    ("training.learning_rate", -1,
     "parameter `training.learning_rate` should be greater than 0, got -1"),
    ("training.learning_rate", float("nan"),
     "parameter `training.learning_rate` should be a finite number, got nan"),
    ("training.learning_rate", "0.1",
     "parameter `training.learning_rate` should be a valid number, got '0.1'"),
    ("training.optimizer", "adamm",
     "parameter `training.optimizer` should be 'adam', 'adamw' or 'sgd', got 'adamm'"),
    ("training.warmup_epochs", 11,
     "parameter `training.warmup_epochs` is 11.0, longer than the run (pairs.epochs = 10): the "
     "learning rate would never be reached"),
    ("training.seed", 3, "parameter `training.seed` is unknown (known here: …"),
    ("training.keep", "first", "parameter `training.keep` should be 'last' or 'best', got 'first'"),
    ("training.clip_grad_norm", 0,
     "parameter `training.clip_grad_norm` should be greater than 0, got 0"),
    ("training.spike_window", 0,
     "parameter `training.spike_window` should be greater than or equal to 1, got 0"),
    ("ingest.validation_fraction", 1.0,
     "parameter `ingest.validation_fraction` should be less than 1, got 1.0"),
    ("pairs.epochs", 2.5, "parameter `pairs.epochs` should be a valid integer, got 2.5"),
    ("pairs.epochs", True, "parameter `pairs.epochs` should be a valid integer, got True"),
    ("pairs.pairs_per_class", 0,
     "parameter `pairs.pairs_per_class` should be greater than or equal to 1, got 0"),
    ("seeds", [0, 0], "parameter `seeds` should list distinct seeds, got [0, 0]"),
    ("seeds", [0, 0.0], "parameter `seeds.1` should be a valid integer, got 0.0"),
    ("seeds", [], "parameter `seeds` should have at least 1 item after validation, not 0, got []"),
    ("seeds", [-1], "parameter `seeds.0` should be greater than or equal to 0, got -1"),
    ("model.head_layers", 5,
     "parameter `model.head_layers` should be less than or equal to 4, got 5"),
    ("model.extra_heads", 2, "parameter `model.extra_heads` is unknown (known here: …"),
    ("embed.device", "gpu",
     "parameter `embed.device` should be 'auto' or a torch device such as 'cpu' or 'cuda:0', "
     "got 'gpu'"),
    ("evaluate.knn_k", 0, "parameter `evaluate.knn_k` should be greater than or equal to 1, got 0"),
    ("evaluate.uniformity_t", float("inf"),
     "parameter `evaluate.uniformity_t` should be a finite number, got inf"),
    ("augment.crop.scale", [0, 1],
     "parameter `augment.crop.scale` should lie in (0.0, 1.0], got [0.0, 1.0]"),
    ("augment.blurr", {}, "parameter `augment.blurr` is unknown; did you mean 'blur'? …"),
    ("ingest.sourse", "digits", "parameter `ingest.sourse` is unknown; did you mean 'source'? …"),
    ("ingest.test_fraction", 1.0,
     "parameter `ingest.test_fraction` should be less than 1, got 1.0"),
    ("ingest.mnist.splits", ["val"],
     "parameter `ingest.mnist.splits` should name some of ['train', 'test'], got ['val']"),
    ("ingest.mnist.dowload", True,
     "parameter `ingest.mnist.dowload` is unknown; did you mean 'download'? …"),
    ("checkpoint_dir", 3, "parameter `checkpoint_dir` should be a valid string, got 3"),
    ("experiments", {}, "the parameters declare no experiments: add one under `experiments:`"),
    ("experiments.ntxent", "ntxent",
     "parameter `experiments.ntxent` should be a mapping of settings, got 'ntxent'"),
    ("experiments.ntxent.lr", 0.1,
     "parameter `experiments.ntxent.lr` is unknown (known here: loss, loss_params, sampling, "
     "model, training, search)"),
    ("experiments.ntxent.loss", "ntxnet",
     "parameter `experiments.ntxent.loss` names no known loss: 'ntxnet'; did you mean 'ntxent'? …"),
    ("experiments.ntxent.sampling", "augmented_view",
     "parameter `experiments.ntxent.sampling` names no known sampling: 'augmented_view'; did you "
     "mean 'augmented_views'? (known: class_pairs, augmented_views, looc_views)"),
    ("experiments.ntxent.loss_params", {"temprature": 0.1},
     "parameter `experiments.ntxent.loss_params.temprature` is unknown; did you mean "
     "'temperature'? (known here: temperature)"),
    ("experiments.ntxent.loss_params", {"temperature": 0},
     "parameter `experiments.ntxent.loss_params.temperature` should be greater than 0, got 0"),
    ("experiments.cross_entropy.loss_params", {"num_classes": 3},
     "parameter `experiments.cross_entropy.loss_params.num_classes` is unknown (known here: none)"),
    ("experiments.ntxent.training", {"learning_rate": float("nan")},
     "parameter `experiments.ntxent.training.learning_rate` should be a finite number, got nan"),
    ("experiments.ntxent.training", {"warmup_epochs": 12},
     "parameter `experiments.ntxent.training.warmup_epochs` is 12.0, longer than the run "
     "(pairs.epochs = 10): the learning rate would never be reached"),
    ("experiments.ntxent.model", {"embeding_dim": 8},
     "parameter `experiments.ntxent.model.embeding_dim` is unknown; did you mean "
     "'embedding_dim'? (known here: arch, stem, embedding_dim, head_layers, representation)"),
    ("experiments.looc", {"loss": "looc"},
     "parameter `experiments.looc.sampling`: the looc loss trains on `sampling:` looc_views, "
     "not class_pairs"),
    ("experiments.ntxent.sampling", "looc_views",
     "parameter `experiments.ntxent.sampling`: the ntxent loss trains on `sampling:` "
     "class_pairs or augmented_views, not looc_views"),
    ("experiments.a-b", {"loss": "ntxent"},
     "experiment name 'a-b' (under `experiments:`) must start with a letter and use only "
     "letters, digits and _"),
    ("experiments.random_init", {"loss": "ntxent"},
     "experiment name 'random_init' is reserved for the untrained floor encoder; rename it"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "value", "message"), BAD, ids=[f"{p}={v!r}" for p, v, _ in BAD])
def test_bad_parameter_gets_one_message_naming_it(path, value, message):
    with pytest.raises(ParameterError) as error:
        build_spec(changed(path, value))
    if message.endswith("…"):
        assert str(error.value).startswith(message[:-1]), str(error.value)
    else:
        assert str(error.value) == message


@pytest.mark.parametrize(
    ("experiment", "message"),
    [
        ({"loss": "triplet"}, "parameter `experiments.bad.loss`: the triplet loss needs class "
         "labels and the data has none; …"),
        ({"loss": "ntxent"}, "parameter `experiments.bad.sampling`: the class_pairs sampling "
         "needs class labels and the data has none; …"),
    ],
)  # fmt: skip
def test_label_losses_and_samplings_are_refused_on_a_source_without_labels(experiment, message):
    """An unlabelled folder has no classes: known at registration, so refused there."""
    parameters = changed("ingest.source", "unlabelled_folder")
    parameters["experiments"] = {"bad": experiment}
    with pytest.raises(ParameterError) as error:
        build_spec(parameters)
    assert str(error.value).startswith(message[:-1])
    parameters["experiments"] = {"good": {"loss": "ntxent", "sampling": "augmented_views"}}
    assert list(build_spec(parameters).experiments) == ["good"]


@pytest.mark.parametrize("env", ["base", "test", "full", "guide_mnist"])
def test_every_shipped_environment_is_a_valid_spec(env):
    """conf/base, and each environment's top-level blocks over it, make a valid specification."""
    parameters = {**BASE, **yaml.safe_load((CONF / env / "parameters.yml").read_text())}
    assert isinstance(build_spec(parameters), RunSpec)


def test_spec_resolves_experiments_and_names_runs():
    """An experiment's overrides apply over the shared settings; runs are experiment × seed,
    the floor last, each named <experiment>.seed<seed>."""
    parameters = changed("seeds", [0, 1])
    parameters["experiments"] = {
        "ntxent_t01": {
            "loss": "ntxent",
            "loss_params": {"temperature": 0.1},
            "training": {"learning_rate": 0.0005},
            "model": {"embedding_dim": 16},
        }
    }
    spec = build_spec(parameters)
    experiment = spec.experiments["ntxent_t01"]
    shared = spec.parameters
    assert experiment.loss_params == {"temperature": 0.1}
    assert experiment.training.learning_rate == 0.0005
    assert experiment.training.optimizer == shared.training.optimizer
    assert experiment.model.embedding_dim == 16 and experiment.model.arch == shared.model.arch
    # the shared blocks are typed once; the experiment's own keys are applied, not re-parsed
    assert experiment.training.model_copy(update={"learning_rate": 0.001}) == shared.training
    assert spec.runs() == [
        Run("ntxent_t01", 0, "class_pairs"),
        Run("ntxent_t01", 1, "class_pairs"),
        Run("random_init", 0, None),
        Run("random_init", 1, None),
    ]
    assert [run.name for run in spec.runs()][:2] == ["ntxent_t01.seed0", "ntxent_t01.seed1"]
    assert str(spec.runs()[1].folder) == "ntxent_t01/seed1"


def test_registration_validates_the_active_environment(tmp_path, monkeypatch):
    """The project's pipeline registry builds the spec from the environment's parameters, so a
    misspelled key stops `kedro run` before the pipelines exist."""
    from crl_pipelines.pipeline_registry import register_pipelines

    conf = tmp_path / "conf"
    (conf / "base").mkdir(parents=True)
    (conf / "local").mkdir()
    (conf / "base" / "parameters.yml").write_text(yaml.safe_dump(changed("pairs.epoch", 3)))
    (tmp_path / "pyproject.toml").write_text('[tool.kedro]\npackage_name = "crl_pipelines"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    with pytest.raises(ParameterError, match=r"`pairs\.epoch` is unknown; did you mean 'epochs'"):
        register_pipelines()


def test_keep_best_without_a_validation_split_is_refused_at_registration():
    parameters = changed("training.keep", "best")
    parameters["ingest"]["validation_fraction"] = 0
    with pytest.raises(ParameterError, match=r"training\.keep` is best.*validation_fraction is 0"):
        build_spec(parameters)
    parameters["ingest"]["validation_fraction"] = 0.1
    assert build_spec(parameters).parameters.training.keep == "best"
