"""The one way parameters are checked: typed settings models, their error messages, and typed
overrides of a block.

Every block of the parameters (a source's settings, an augmentation, a loss's parameters, the
training settings, ...) is a :class:`Settings` model built from the types below, so a value is
checked once, in one place, the same way everywhere:

- numbers are strict: ``true`` is not 1, ``"0.1"`` is not 0.1, ``2.5`` is not an integer, and
  NaN or infinity is never a valid setting;
- a key a block does not know is an error that suggests the nearest known one;
- :func:`parse` turns pydantic's report into :class:`ParameterError`, one line per problem that
  names the parameter by its dotted path (``training.learning_rate``) and the value it got;
- :func:`override` applies a partial block (an experiment's own ``training:``, a tuned value) to
  an already typed one: only the keys it names are validated, nothing is dumped and re-parsed.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from crl_pipelines.errors import UserError

Integer = Annotated[int, Strict()]
PositiveInt = Annotated[int, Strict(), Field(ge=1)]
NonNegativeInt = Annotated[int, Strict(), Field(ge=0)]
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Positive = Annotated[float, Strict(), Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]
Probability = Annotated[float, Strict(), Field(ge=0, le=1, allow_inf_nan=False)]
OpenFraction = Annotated[float, Strict(), Field(gt=0, lt=1, allow_inf_nan=False)]
Fraction = Annotated[float, Strict(), Field(ge=0, lt=1, allow_inf_nan=False)]  # [0, 1)
Flag = Annotated[bool, Strict()]
Text = Annotated[str, Strict(), Field(min_length=1)]


class ParameterError(UserError, ValueError):
    """A parameter that cannot be used; the message names it and says what it should be."""


class Settings(BaseModel):
    """A block of parameters: immutable, strict, and closed (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _known_keys_only(cls, data: Any) -> Any:
        if data is None:
            return {}
        if not isinstance(data, Mapping):
            raise PydanticCustomError(
                "not_a_block", "should be a mapping of settings, got {value}", {"value": repr(data)}
            )
        known = list(cls.model_fields)
        for key in data:
            if key not in cls.model_fields:
                raise PydanticCustomError(
                    "unknown_key", "{hint}", {"key": str(key), "hint": unknown_key_hint(key, known)}
                )
        return data


def unknown_value(where: str, what: str, value: Any, known: list[str]) -> ParameterError:
    """``parameter `experiments.x.loss` names no known loss: 'ntxnet'; did you mean 'ntxent'?``"""
    close = difflib.get_close_matches(str(value), known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ParameterError(
        f"parameter `{where}` names no known {what}: {value!r}{hint} (known: {', '.join(known)})"
    )


def unknown_key_hint(key: Any, known: list[str]) -> str:
    """``is unknown; did you mean 'learning_rate'? (known here: ...)``: the nearest known key."""
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"is unknown{hint} (known here: {', '.join(known) or 'none'})"


def _pair(value: Any, symmetric: bool) -> Any:
    if symmetric and isinstance(value, int | float) and not isinstance(value, bool):
        if not value >= 0:
            raise PydanticCustomError(
                "range", "as a single number d (meaning [−d, d]) must be ≥ 0, got {value}",
                {"value": value},
            )  # fmt: skip
        return (-float(value), float(value))
    if isinstance(value, str | bytes) or not hasattr(value, "__len__") or len(value) != 2:
        shorthand = " or a number d for [−d, d]" if symmetric else ""
        raise PydanticCustomError(
            "range", "should be a pair [low, high]{shorthand}, got {value}",
            {"shorthand": shorthand, "value": repr(value)},
        )  # fmt: skip
    return tuple(value)


def _ordered(low: float, high: float, open_low: bool):
    def check(pair: tuple[float, float]) -> tuple[float, float]:
        lo, hi = pair
        if lo > hi:
            raise PydanticCustomError("range", "should have low ≤ high, got {pair}", {"pair": pair})
        if lo < low or (open_low and lo <= low) or hi > high:
            bracket = "(" if open_low else "["
            raise PydanticCustomError(
                "range", "should lie in {bracket}{low}, {high}], got {pair}",
                {"bracket": bracket, "low": low, "high": high, "pair": list(pair)},
            )  # fmt: skip
        return (lo, hi)

    return check


def interval(
    low: float = -math.inf,
    high: float = math.inf,
    *,
    open_low: bool = False,
    symmetric: bool = False,
) -> Any:
    """The type of a ``[low, high]`` range setting within the bounds; with ``symmetric`` a number
    d ≥ 0 stands for [−d, d]. Validated values are tuples of two floats."""
    return Annotated[
        tuple[Number, Number],
        BeforeValidator(lambda value: _pair(value, symmetric)),
        AfterValidator(_ordered(low, high, open_low)),
    ]


Model = TypeVar("Model", bound=BaseModel)


def parse(model: type[Model], data: Any, where: str) -> Model:
    """``data`` validated as ``model``; a :class:`ParameterError` naming ``where.<key>`` if not."""
    try:
        return model.model_validate({} if data is None else data)
    except ValidationError as error:
        raise ParameterError(describe(error, where)) from None


def override(settings: Model, changes: Mapping[str, Any] | None, where: str) -> Model:
    """``settings`` with the keys of ``changes`` replaced, each validated by the model's own field
    (a nested block is replaced whole); a :class:`ParameterError` naming ``where.<key>`` if one
    is wrong. The other values are ``settings``' own, already typed: only what changes is
    parsed. Every field of the model must have a default (a block's fields do)."""
    if not changes:
        return settings
    if not isinstance(changes, Mapping):
        raise ParameterError(
            f"parameter `{where}` should be a mapping of settings, got {changes!r}"
        )
    parsed = parse(type(settings), changes, where)
    return settings.model_copy(update={key: getattr(parsed, key) for key in changes})


def describe(error: ValidationError, where: str) -> str:
    """One line per problem: ``<where>.<path> <what it should be>, got <value>``."""
    lines = []
    for problem in error.errors(include_url=False):
        parts = [where, *(str(part) for part in problem["loc"])]
        if problem["type"] == "unknown_key":
            parts.append(problem["ctx"]["key"])
        path = ".".join(part for part in parts if part)
        lines.append(f"parameter `{path}` {_reason(problem)}" if path else _reason(problem))
    return "\n".join(dict.fromkeys(lines))


def _reason(problem: dict[str, Any]) -> str:
    message = problem["msg"]
    if problem["type"] == "unknown_key":
        return message
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    message = re.sub(r"^(Input|List|String|Dictionary|Tuple|Value) should", "should", message)
    if problem["type"] == "missing":
        return "is required (missing)"
    if problem["type"] in {"range", "not_a_block"} or ", got " in message:
        return message
    return f"{message}, got {problem.get('input')!r}"


def check(kind: Any, value: Any, where: str) -> Any:
    """``value`` validated as the type ``kind`` (e.g. :data:`Positive`); a
    :class:`ParameterError` naming ``where`` if it is not one."""
    try:
        return _adapter(kind).validate_python(value)
    except ValidationError as error:
        raise ParameterError(describe(error, where)) from None


@functools.cache
def _adapter(kind: Any) -> TypeAdapter:
    return TypeAdapter(kind)
