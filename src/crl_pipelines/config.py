"""Checks shared by every parameter block: one message that names what is wrong."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def reject_unknown(params: Mapping[str, Any], known: Iterable[str], section: str) -> None:
    """Stop on keys of ``params`` that ``section`` does not know, listing the ones it does."""
    known = sorted(known)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"unknown {section} parameter(s) {unknown}; known: {known}")
