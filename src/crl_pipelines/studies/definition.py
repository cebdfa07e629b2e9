"""A study's definition: the YAML file, its variants, and the -S arguments each becomes."""

from __future__ import annotations

import copy
import io
import itertools
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from omegaconf import OmegaConf
from pydantic import AfterValidator, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from crl_pipelines.errors import UserError
from crl_pipelines.parameters import (
    ParameterError,
    Settings,
    Text,
    parse,
    unknown_key_hint,
    unknown_value,
)

PARAMETERS = "conf/base/parameters.yml"
COMPARISON = "data/08_reporting/comparison.csv"  # every score of every experiment, with intervals
STUDIES = "conf/studies"
REPORTS = "data/09_studies"
FLOOR = "random_init"  # the untrained encoder's row of the comparison

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]*")
_PATH = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*")


def _plain(value: Any) -> Any:
    """A value ``-S`` can carry: null, a bool, a number, a string, or lists and mappings of them
    (mapping keys are identifiers; no NaN or infinity; no ``${`` in strings, which DVC's
    override parser would take for an interpolation)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError(
            "plain", "should be a finite number, got {value}", {"value": value}
        )
    if isinstance(value, str) and "${" in value:
        message = "should not contain `${` (DVC would interpolate it), got {value}"
        raise PydanticCustomError("plain", message, {"value": repr(value)})
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        for key in value:
            if not (isinstance(key, str) and _KEY.fullmatch(key)):
                message = "should have identifiers as keys, got {key}"
                raise PydanticCustomError("plain", message, {"key": repr(key)})
        return {key: _plain(item) for key, item in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise PydanticCustomError(
        "plain", "should be a YAML value, got {value}", {"value": repr(value)}
    )


def _dotted(path: str) -> str:
    if not _PATH.fullmatch(path):
        message = "should be a dotted parameter path like `pairs.epochs`, got {value}"
        raise PydanticCustomError("dotted", message, {"value": repr(path)})
    return path


def _distinct(values: list[Any]) -> list[Any]:
    repeated = [value for index, value in enumerate(values) if value in values[:index]]
    if repeated:
        raise PydanticCustomError("distinct", "should not repeat {value}", {"value": repeated[0]})
    return values


Value = Annotated[Any, AfterValidator(_plain)]
DottedPath = Annotated[str, AfterValidator(_dotted)]
Values = Annotated[list[Value], Field(min_length=1), AfterValidator(_distinct)]


class StudySettings(Settings):
    """One study file (see the module docstring)."""

    name: Text
    description: str = ""
    fixed: dict[DottedPath, Value] = Field(default_factory=dict)
    grid: Annotated[dict[DottedPath, Values], Field(min_length=1)]
    scores: Annotated[list[Text], Field(min_length=1), AfterValidator(_distinct)] = Field(
        default_factory=lambda: ["probe_accuracy"]
    )
    x: DottedPath | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not _NAME.fullmatch(name):
            message = (
                "should be letters, digits and underscores (it names DVC experiments), got {value}"
            )
            raise PydanticCustomError("name", message, {"value": repr(name)})
        return name

    @field_validator("grid")
    @classmethod
    def _apart(cls, grid: dict[str, list[Any]], info: ValidationInfo) -> dict[str, list[Any]]:
        """No grid parameter is also fixed, holds a fixed one, or lies inside another grid
        parameter (one would undo the other)."""
        fixed = info.data.get("fixed", {})
        for path in grid:
            undone = [other for other in fixed if f"{other}.".startswith(f"{path}.")]
            if undone:
                message = "varies {value}, which would undo the fixed {other}: fix it or vary it"
                raise PydanticCustomError("apart", message, {"value": path, "other": undone[0]})
            inside = [other for other in grid if path.startswith(f"{other}.")]
            if inside:
                message = "varies {value} inside the varied {other}: vary one of them"
                raise PydanticCustomError("apart", message, {"value": path, "other": inside[0]})
        return grid

    @field_validator("x")
    @classmethod
    def _varied(cls, x: str | None, info: ValidationInfo) -> str | None:
        grid = info.data.get("grid") or {}
        if x is not None and grid and x not in grid:
            message = "should be one of the grid's parameters ({known}), got {value}"
            raise PydanticCustomError("varied", message, {"known": ", ".join(grid), "value": x})
        return x

    @property
    def x_axis(self) -> str:
        """The figures' x axis: ``x``, else the first grid parameter."""
        return self.x or next(iter(self.grid))


@dataclass(frozen=True)
class Variant:
    """One point of the grid: its DVC experiment name and the values of the grid's parameters."""

    index: int
    name: str
    values: dict[str, Any]

    def describe(self) -> str:
        """``ingest.randbits.bits=2, pairs.epochs=3``"""
        return ", ".join(f"{path}={hydra_value(value)}" for path, value in self.values.items())


def study_file(study: str | Path, root: Path) -> Path:
    """A study given by its file, or by its name (``conf/studies/<name>.yml`` under ``root``)."""
    text = str(study)
    if text.endswith((".yml", ".yaml")) or "/" in text or os.sep in text:
        return Path(study) if Path(study).is_absolute() else root / study
    return root / STUDIES / f"{text}.yml"


def read_yaml(path: Path, what: str) -> Any:
    """``path`` read as Kedro reads parameters (OmegaConf's YAML, where ``1e-3`` is a number);
    a :class:`UserError` naming ``what`` when it cannot be read or is not YAML."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"cannot read {what} {path}: {error.strerror or error}") from None
    try:
        return OmegaConf.to_container(OmegaConf.load(io.StringIO(text)))
    except yaml.YAMLError as error:
        raise UserError(
            f"{what} {path} is not valid YAML: {' '.join(str(error).split())}"
        ) from None
    except OSError:  # OmegaConf's word for a file that holds one value
        raise UserError(f"{what} {path} should hold a mapping of settings") from None


def load_study(path: Path) -> StudySettings:
    """The study file ``path``, validated; a :class:`ParameterError` prefixed with the file."""
    data = read_yaml(path, "the study file")
    try:
        study = parse(StudySettings, data, "")
    except ParameterError as error:
        raise _within(f"study {path}", error) from None
    if study.name != path.stem:
        message = f"parameter `name` should be the file's name, {path.stem!r}, got {study.name!r}"
        raise ParameterError(f"study {path}: {message}")
    return study


def _within(where: str, error: ParameterError) -> ParameterError:
    """``error`` with ``where: `` before each of its lines."""
    return ParameterError("\n".join(f"{where}: {line}" for line in str(error).splitlines()))


def variants(study: StudySettings) -> list[Variant]:
    """The grid's cartesian product, the first parameter varying slowest, named
    ``<study>-<index>``."""
    paths = list(study.grid)
    product = itertools.product(*study.grid.values())
    return [
        Variant(index, f"{study.name}-{index}", dict(zip(paths, values, strict=True)))
        for index, values in enumerate(product)
    ]


# --- From a variant to DVC's -S arguments ---------------------------------------------------


def hydra_value(value: Any) -> str:
    """``value`` in the override grammar of ``dvc exp run -S`` (Hydra's): strings quoted, lists
    ``[a,b]``, mappings ``{key: value}``, null, true and false."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # Hydra unescapes a backslash only before a quote or at the end of the string
        escaped = re.sub(r"(\\*)('|\Z)", lambda m: m[1] * 2 + ("\\'" if m[2] else ""), value)
        return f"'{escaped}'"
    if isinstance(value, list | tuple):
        return "[" + ",".join(hydra_value(item) for item in value) + "]"
    return "{" + ", ".join(f"{key}: {hydra_value(item)}" for key, item in value.items()) + "}"


def _set(parameters: dict[str, Any], path: str, value: Any, where: str) -> list[str]:
    """Set ``path`` to ``value`` in ``parameters`` as DVC's ``-S`` does, and return the overrides
    that do it: ``path=value`` for a parameter there, ``+path=value`` for a new key of a block,
    ``~path`` then ``+path=value`` to replace a block whole (``path=`` would merge into it)."""
    *parents, key = path.split(".")
    block = parameters
    for depth, part in enumerate(parents):
        if part not in block:
            hint = unknown_key_hint(part, list(block))
            inside = ".".join(parents[:depth]) or "the top level"
            raise ParameterError(f"parameter `{where}`: `{part}` (in {inside}) {hint}")
        if not isinstance(block[part], dict):
            at = ".".join(parents[: depth + 1])
            raise ParameterError(f"parameter `{where}`: `{at}` is a value, not a block")
        block = block[part]
    value = copy.deepcopy(value)
    if key not in block:
        block[key] = value
        return [f"+{path}={hydra_value(value)}"]
    replaces_block = isinstance(block[key], dict) and isinstance(value, dict)
    block[key] = value
    if replaces_block:
        return [f"~{path}", f"+{path}={hydra_value(value)}"]
    return [f"{path}={hydra_value(value)}"]


def variant_parameters(
    study: StudySettings, variant: Variant, base: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """The parameters of ``variant`` (``base`` with ``fixed``, then the variant's grid values)
    and the ``-S`` arguments that make them from ``conf/base/parameters.yml``."""
    parameters = copy.deepcopy(dict(base))
    overrides = []
    for path, value in study.fixed.items():
        overrides += _set(parameters, path, value, f"fixed.{path}")
    for path, value in variant.values.items():
        overrides += _set(parameters, path, value, f"grid.{path}")
    arguments = [argument for item in overrides for argument in ("-S", f"{PARAMETERS}:{item}")]
    return parameters, arguments


def check_study(study: StudySettings, base: Mapping[str, Any], where: str) -> None:
    """Every score known and every variant a valid run (the project's parameter check), before
    anything is queued; a :class:`ParameterError` naming the key, prefixed with ``where``."""
    from crl_pipelines.evaluation.scores import SCORES  # on use: they load torch
    from crl_pipelines.spec import build_spec

    for score in study.scores:
        if score not in SCORES:
            raise _within(where, unknown_value("scores", "score", score, sorted(SCORES)))
    for variant in variants(study):
        try:
            parameters, _ = variant_parameters(study, variant, base)
            build_spec(parameters)
        except ParameterError as error:
            raise _within(
                f"{where}, variant {variant.name} ({variant.describe()})", error
            ) from None
