"""An experiment's search space, and how a trial's parameters become a resolved experiment.

The default space of an experiment: every parameter of its loss with a positive float default
(its ``temperature``, its ``margin``, a generalized loss's ``weight``; a loss lists what it
leaves out in ``not_tuned``) from a hundredth to ten times that default (the temperatures that
"A Metric Learning Reality Check" found best for NT-Xent lie far below the usual 0.5), the
learning rate from a tenth to ten times the experiment's own, both on a log scale, and the
weight decay among 0 and 1e-5 … 1e-2 (a log scale has no 0, the usual default). An
experiment's ``search:`` block changes any dimension, by block::

    experiments:
      ntxent:
        loss: ntxent
        search:
          loss_params: {temperature: [0.01, 1.0]}      # a range: log scale when low > 0
          training:
            learning_rate: {low: 1.0e-4, high: 3.0e-3, log: true}
            weight_decay: 0.0                          # a value: fixed, not searched
          model: {embedding_dim: {choices: [16, 32, 64]}}

``null`` leaves a dimension out (the experiment's own value). Every dimension is checked when the
run is specified: its block and name exist, its range is not empty or inverted, and both of its
ends (every choice, a fixed value) are valid settings, so no trial can ask for an invalid one.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crl_pipelines.experiments import Experiment
from crl_pipelines.lineage import fingerprint
from crl_pipelines.losses import LOSSES, check_loss_params, loss_settings
from crl_pipelines.parameters import ParameterError, override, unknown_key_hint

BLOCKS = ("loss_params", "training", "model")
WEIGHT_DECAY = (0.0, 1e-5, 1e-4, 1e-3, 1e-2)


@dataclass(frozen=True)
class Dimension:
    """One searched setting (``block.name``): a range of numbers, or a list of choices."""

    path: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] | None = None

    def suggest(self, trial: Any) -> Any:
        """The value an Optuna trial asks for."""
        if self.choices is not None:
            return trial.suggest_categorical(self.path, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.path, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.path, self.low, self.high, log=self.log)

    def describe(self) -> dict[str, Any]:
        if self.choices is not None:
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high, "log": self.log, "integer": self.integer}


@dataclass(frozen=True)
class SearchSpace:
    """The dimensions a study searches and the settings it fixes, for one experiment."""

    experiment: Experiment
    dimensions: tuple[Dimension, ...]
    fixed: Mapping[str, Any]

    def suggest(self, trial: Any) -> dict[str, Any]:
        """A trial's parameters: the fixed ones and a value of every dimension."""
        return {**self.fixed, **{d.path: d.suggest(trial) for d in self.dimensions}}

    def defaults(self) -> dict[str, Any]:
        """The experiment's own value of every dimension and fixed setting."""
        return {path: current(self.experiment, path) for path in [*self.fixed, *self.paths]}

    @property
    def paths(self) -> list[str]:
        return [dimension.path for dimension in self.dimensions]

    def describe(self) -> dict[str, Any]:
        """The space as data (for the record, the report and its fingerprint)."""
        return {
            "dimensions": {d.path: d.describe() for d in self.dimensions},
            "fixed": dict(self.fixed),
        }

    def fingerprint(self) -> str:
        return fingerprint(self.describe())

    def apply(self, parameters: Mapping[str, Any]) -> Experiment:
        """The experiment at ``parameters`` (dotted ``block.name`` → value)."""
        return apply(self.experiment, parameters, f"experiments.{self.experiment.name}.search")


def current(experiment: Experiment, path: str) -> Any:
    """An experiment's own value of ``block.name``."""
    block, name = path.split(".", 1)
    if block == "loss_params":
        return experiment.loss_params[name]
    return getattr(getattr(experiment, block), name)


def apply(experiment: Experiment, parameters: Mapping[str, Any], where: str) -> Experiment:
    """``experiment`` with ``parameters`` (dotted ``block.name`` → value) applied through the
    same typed override as an experiment's own settings; errors name ``where.block.name``."""
    blocks: dict[str, dict[str, Any]] = {}
    for path, value in parameters.items():
        block, name = path.split(".", 1)
        blocks.setdefault(block, {})[name] = value
    changes = {}
    if "loss_params" in blocks:
        merged = {**experiment.loss_params, **blocks["loss_params"]}
        changes["loss_params"] = check_loss_params(experiment.loss, merged, f"{where}.loss_params")
    for block in ("training", "model"):
        if block in blocks:
            changes[block] = override(getattr(experiment, block), blocks[block], f"{where}.{block}")
    return dataclasses.replace(experiment, **changes)


def default_dimensions(experiment: Experiment) -> dict[str, Dimension]:
    """The default space (module docstring)."""
    loss = LOSSES[experiment.loss]
    dimensions = {}
    for name, value in experiment.loss_params.items():
        positive_float = isinstance(value, float) and value > 0
        if positive_float and name not in loss.not_tuned:
            path = f"loss_params.{name}"
            dimensions[path] = Dimension(path, value / 100, value * 10, log=True)
    rate = experiment.training.learning_rate
    dimensions["training.learning_rate"] = Dimension(
        "training.learning_rate", rate / 10, rate * 10, log=True
    )
    dimensions["training.weight_decay"] = Dimension("training.weight_decay", choices=WEIGHT_DECAY)
    return dimensions


def search_space(experiment: Experiment, search: Mapping[str, Any] | None) -> SearchSpace:
    """The experiment's space: the default with its ``search:`` block's changes, every one
    checked (module docstring); a :class:`ParameterError` naming the dimension if not."""
    where = f"experiments.{experiment.name}.search"
    dimensions, fixed = default_dimensions(experiment), {}
    for block, entries in (search or {}).items():
        if block not in BLOCKS:
            raise ParameterError(
                f"parameter `{where}.{block}` {unknown_key_hint(block, list(BLOCKS))}"
            )
        if not isinstance(entries, Mapping):
            raise ParameterError(
                f"parameter `{where}.{block}` should be a mapping of settings to ranges, choices "
                f"or values, got {entries!r}"
            )
        known = _names(experiment, block)
        for name, spec in entries.items():
            path = f"{block}.{name}"
            if name not in known:
                raise ParameterError(f"parameter `{where}.{path}` {unknown_key_hint(name, known)}")
            dimensions.pop(path, None)
            if spec is None:
                continue
            whole = isinstance(current(experiment, path), int) and not isinstance(
                current(experiment, path), bool
            )
            entry = _dimension(path, spec, f"{where}.{path}", whole)
            for value in _ends(entry):
                apply(experiment, {path: value}, where)
            if isinstance(entry, Dimension):
                dimensions[path] = entry
            else:
                fixed[path] = entry
    return SearchSpace(experiment, tuple(dimensions.values()), fixed)


def _names(experiment: Experiment, block: str) -> list[str]:
    if block == "loss_params":
        return list(loss_settings(LOSSES[experiment.loss]).model_fields)
    return list(type(getattr(experiment, block)).model_fields)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _dimension(path: str, spec: Any, where: str, whole: bool) -> Dimension | Any:
    """A dimension from its spec: ``[low, high]``, ``{low, high, log}``, ``{choices: [...]}``;
    anything else is a fixed value. ``whole``: the setting is an integer (a range of integers
    is then searched over integers)."""
    if isinstance(spec, Mapping) and set(spec) == {"choices"}:
        choices = spec["choices"]
        if not isinstance(choices, list | tuple) or not choices:
            raise ParameterError(
                f"parameter `{where}.choices` should be a non-empty list, got {choices!r}"
            )
        return Dimension(path, choices=tuple(choices))
    if isinstance(spec, Mapping):
        unknown = set(spec) - {"low", "high", "log"}
        if unknown or not {"low", "high"} <= set(spec):
            raise ParameterError(
                f"parameter `{where}` should be [low, high], {{low: …, high: …, log: …}}, "
                f"{{choices: [...]}} or a value, got {dict(spec)!r}"
            )
        low, high, log = spec["low"], spec["high"], spec.get("log")
    elif isinstance(spec, list | tuple):
        if len(spec) != 2:
            raise ParameterError(
                f"parameter `{where}` should be a range [low, high], got {list(spec)}"
            )
        (low, high), log = spec, None
    else:
        return spec
    if not (_is_number(low) and _is_number(high)):
        raise ParameterError(
            f"parameter `{where}` should range over numbers, got [{low!r}, {high!r}]"
        )
    if not low < high:
        raise ParameterError(
            f"parameter `{where}` should have low < high (an empty or inverted range), got "
            f"[{low}, {high}]"
        )
    log = low > 0 if log is None else log
    if not isinstance(log, bool) or (log and low <= 0):
        raise ParameterError(
            f"parameter `{where}.log` should be true only for a range above 0, got {log!r}"
        )
    integer = whole and isinstance(low, int) and isinstance(high, int)
    if not integer:
        low, high = float(low), float(high)
    return Dimension(path, low, high, log=log, integer=integer)


def _ends(entry: Dimension | Any) -> list[Any]:
    """The values that must be valid settings: a range's ends, every choice, a fixed value."""
    if not isinstance(entry, Dimension):
        return [entry]
    if entry.choices is not None:
        return list(entry.choices)
    return [entry.low, entry.high]
