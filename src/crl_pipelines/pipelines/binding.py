"""How a node gets its settings: bound when the pipeline is built, from the run specification
(:mod:`crl_pipelines.spec`), so a node's inputs are datasets only and its settings arrive typed
and resolved, never as parameters to parse again."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, update_wrapper
from typing import Any


def bind(function: Callable[..., Any], **settings: Any) -> Callable[..., Any]:
    """``function`` with its keyword-only ``settings`` fixed, keeping its name and docstring
    (Kedro names the node after it; kedro-viz shows both)."""
    return update_wrapper(partial(function, **settings), function)
