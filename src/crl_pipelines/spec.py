"""The run specification: every parameter, typed and resolved once, and checked together before
anything runs.

:func:`build_spec` turns the parameters (``conf/<env>/parameters.yml``, with any ``--params``)
into a :class:`RunSpec`. Each block is parsed by the settings model of the room that uses it
(``ingest`` → sources, ``pairs`` → sampling, ``augment`` → augmentations, ``model`` → encoder
settings, ``training`` → training, ``embed``, ``evaluate`` → evaluation, ``tune`` → tuning), so
a value is checked by its types once, with one message format (:mod:`crl_pipelines.parameters`).
Then each experiment is resolved once (:func:`crl_pipelines.experiments.resolve_experiment`),
its search space built (:func:`crl_pipelines.tuning.space.search_space`), and what only the
whole can tell is checked: experiment names, whether each loss, its sampling and the data go
together, warm-up against the plan's length, ``keep: best`` and tuning against the validation
split, the trials' epochs against the plan's. The pipeline registry hands each node the typed
block it needs; nothing is parsed again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from crl_pipelines.augment import AugmentSettings
from crl_pipelines.embed import EmbedSettings
from crl_pipelines.encoder_settings import ModelSettings
from crl_pipelines.evaluation.settings import ScoringSettings
from crl_pipelines.experiments import (
    Experiment,
    ExperimentSettings,
    check_compatible,
    check_name,
    check_warmup,
    resolve_experiment,
    settings_fingerprint,
)
from crl_pipelines.parameters import NonNegativeInt, ParameterError, Settings, Text, parse
from crl_pipelines.runs import Run, plan_runs
from crl_pipelines.sampling import PairsSettings
from crl_pipelines.sources import IngestSettings
from crl_pipelines.training_settings import TrainingSettings, check_keep
from crl_pipelines.tuning.settings import TuneSettings
from crl_pipelines.tuning.space import SearchSpace, search_space


def _distinct(seeds: list[int]) -> list[int]:
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"should list distinct seeds, got {seeds}")
    return seeds


Seeds = Annotated[list[NonNegativeInt], Field(min_length=1), AfterValidator(_distinct)]


class RunParameters(Settings):
    """Every parameter of a run as written, each block validated by its own settings model."""

    ingest: IngestSettings = IngestSettings()
    pairs: PairsSettings = PairsSettings()
    augment: AugmentSettings | None = None  # None: the default augmentations for the channels
    model: ModelSettings = ModelSettings()
    training: TrainingSettings = TrainingSettings()
    checkpoint_dir: Text = "data/checkpoints"
    seeds: Seeds = Field(default_factory=lambda: [0])
    experiments: dict[str, ExperimentSettings]
    embed: EmbedSettings = EmbedSettings()
    evaluate: ScoringSettings = ScoringSettings()
    tune: TuneSettings = TuneSettings()


@dataclass(frozen=True)
class RunSpec:
    """The parameters, typed; every experiment resolved (in the order they are declared) and
    its search space."""

    parameters: RunParameters
    experiments: Mapping[str, Experiment]
    spaces: Mapping[str, SearchSpace]

    def runs(self) -> list[Run]:
        """Every experiment, once per seed; when they are tuned, each one's untuned twins; then
        the floor."""
        samplings = {name: experiment.sampling for name, experiment in self.experiments.items()}
        return plan_runs(samplings, self.parameters.seeds, untuned=self.parameters.tune.use)

    def tuned(self, run: Run) -> bool:
        """Whether the run trains at its experiment's tuned parameters."""
        return run.trained and not run.untuned and self.parameters.tune.use

    def settings_fingerprint(self, run: Run) -> str | None:
        """What the run's encoder is made from besides its data (its lineage's ``settings``);
        None for a tuned run, whose parameters its tuning record holds."""
        if self.tuned(run):
            return None
        experiment = self.experiments[run.experiment] if run.trained else None
        return settings_fingerprint(experiment, self.parameters.model, run.seed)

    def tuning_lineage(self, experiment: str) -> dict[str, str]:
        """What an experiment's study is made from besides the split and the plan: its settings
        and the trials' seed, its space, and the budget."""
        space, parameters = self.spaces[experiment], self.parameters
        return {
            "settings": settings_fingerprint(
                space.experiment, parameters.model, parameters.seeds[0]
            ),
            "space": space.fingerprint(),
            "budget": parameters.tune.budget_fingerprint(),
        }


def build_spec(parameters: Mapping[str, Any]) -> RunSpec:
    """The parameters as a :class:`RunSpec`; a :class:`ParameterError` naming the parameter at
    fault (with the value it got and what it should be) if they cannot make a run."""
    typed = parse(RunParameters, parameters, "")
    if not typed.experiments:
        raise ParameterError("the parameters declare no experiments: add one under `experiments:`")
    epochs, has_validation = typed.pairs.epochs, typed.ingest.validation_fraction > 0
    check_warmup(typed.training, epochs, "training")
    if typed.tune.use:
        check_tuning(typed.tune, epochs, has_validation)
    resolved, spaces = {}, {}
    for name, entry in typed.experiments.items():
        check_name(name)
        experiment = resolve_experiment(name, entry, typed.model, typed.training)
        where = f"experiments.{name}"
        check_compatible(experiment.loss, experiment.sampling, typed.ingest.labelled, where)
        check_warmup(experiment.training, epochs, f"{where}.training")
        check_keep(experiment.training.keep, has_validation, f"{where}.training")
        resolved[name], spaces[name] = experiment, search_space(experiment, entry.search)
    return RunSpec(typed, resolved, spaces)


def check_tuning(tune: TuneSettings, epochs: int, has_validation: bool) -> None:
    """A study scores its trials on the validation split, over the plan's first epochs."""
    if not has_validation:
        raise ParameterError(
            "parameter `tune.use` is true, which tunes on the validation split, and "
            "ingest.validation_fraction is 0; set it above 0 (e.g. 0.1)"
        )
    if tune.epochs > epochs:
        raise ParameterError(
            f"parameter `tune.epochs` is {tune.epochs}, longer than the plan (pairs.epochs = "
            f"{epochs}): a trial trains the plan's first epochs"
        )
