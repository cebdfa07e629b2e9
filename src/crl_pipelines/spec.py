"""The run specification: every parameter, typed, and checked together before anything runs.

:func:`build_spec` turns the parameters (``conf/<env>/parameters.yml``) into a :class:`RunSpec`.
Each block is the settings model of the room that uses it (``ingest`` → sources, ``pairs`` →
sampling, ``augment`` → augmentations, ``model`` → models, ``training`` → training, ``embed``,
``evaluate`` → evaluation), so a value is checked by its types once, with one message format
(:mod:`crl_pipelines.validation`). On top of the blocks, the spec checks what only the whole
can tell: experiment names, each experiment's overrides merged over the shared settings, its
loss's parameters, and whether its loss, its sampling and the data go together
(:mod:`crl_pipelines.experiments`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from crl_pipelines.augment import AugmentSettings
from crl_pipelines.embed import EmbedSettings
from crl_pipelines.evaluation.battery import ScoringSettings
from crl_pipelines.experiments import (
    ExperimentSettings,
    check_compatible,
    check_name,
    check_warmup,
    resolve_experiment,
)
from crl_pipelines.models import ModelSettings
from crl_pipelines.runs import Run, plan_runs
from crl_pipelines.sampling import PairsSettings
from crl_pipelines.sources import IngestSettings
from crl_pipelines.training import Experiment, TrainingSettings
from crl_pipelines.validation import NonNegativeInt, ParameterError, Settings, Text, parse


def _distinct(seeds: list[int]) -> list[int]:
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"should list distinct seeds, got {seeds}")
    return seeds


Seeds = Annotated[list[NonNegativeInt], Field(min_length=1), AfterValidator(_distinct)]


class RunSpec(Settings):
    """Every parameter of a run, each block validated by its own settings model."""

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

    def experiment(self, name: str) -> Experiment:
        """The experiment ``name`` with its overrides applied and its loss parameters checked."""
        return resolve_experiment(name, self.experiments[name], self.model, self.training)

    def runs(self) -> list[Run]:
        """Every experiment, then the floor, once per seed."""
        return plan_runs({name: e.sampling for name, e in self.experiments.items()}, self.seeds)


def build_spec(parameters: Mapping[str, Any]) -> RunSpec:
    """The parameters as a :class:`RunSpec`; a :class:`ParameterError` naming the parameter at
    fault (with the value it got and what it should be) if they cannot make a run."""
    spec = parse(RunSpec, parameters, "")
    if not spec.experiments:
        raise ParameterError("the parameters declare no experiments: add one under `experiments:`")
    check_warmup(spec.training, spec.pairs.epochs, "training")
    for name in spec.experiments:
        check_name(name)
        experiment = spec.experiment(name)
        check_compatible(experiment, spec.ingest.labelled, spec.pairs.epochs)
        if experiment.training.keep == "best" and spec.ingest.validation_fraction == 0:
            raise ParameterError(
                f"parameter `experiments.{name}.training.keep` (or `training.keep`) is best, "
                "which chooses by the validation split, and ingest.validation_fraction is 0; "
                "set it above 0 (e.g. 0.1) or keep: last"
            )
    return spec
