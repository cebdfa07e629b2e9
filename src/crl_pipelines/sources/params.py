"""Checks of the ``ingest`` parameters: every message names the parameter at fault."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from crl_pipelines.data import DataError


def block(params: Mapping[str, Any], name: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``ingest.<name>`` merged over ``defaults``; a key the block does not know is an error (a
    typo would otherwise be silently ignored)."""
    given = params.get(name) or {}
    if not isinstance(given, Mapping):
        raise DataError(f"ingest.{name} must be a mapping of settings, got {given!r}")
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise DataError(f"unknown key(s) {unknown} in ingest.{name}; known: {sorted(defaults)}")
    return {**defaults, **given}


def integer(value: Any, where: str, minimum: int = 1, optional: bool = False) -> int | None:
    """``value`` as an int ≥ ``minimum`` (``None`` allowed when ``optional``)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        allowed = " or null" if optional else ""
        raise DataError(f"{where} must be an integer ≥ {minimum}{allowed}, got {value!r}")
    return int(value)


def choice(value: Any, where: str, options: Iterable[Any]) -> Any:
    options = list(options)
    if value not in options:
        raise DataError(f"{where} must be one of {options}, got {value!r}")
    return value


def flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise DataError(f"{where} must be true or false, got {value!r}")
    return value


def splits(value: Any, where: str, known: Iterable[str]) -> tuple[str, ...]:
    known = sorted(known)
    if isinstance(value, str):
        value = [value]
    if not value or not all(isinstance(v, str) for v in value) or set(value) - set(known):
        raise DataError(f"{where} must name some of {known}, got {value!r}")
    return tuple(value)
