"""Per-epoch checkpoints: what a run needs to resume exactly where it stopped.

A checkpoint holds the weights, the optimizer, the schedule, the random state and the history,
and the fingerprint of everything that made the run (settings, plan, images): a checkpoint of
other settings or data is never resumed from (:func:`crl_pipelines.lineage.fingerprint`). Writes
go to a temporary file renamed into place.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from crl_pipelines.atomic_writes import write_atomically

log = logging.getLogger(__name__)


def save(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically
    (:func:`crl_pipelines.atomic_writes.write_atomically`)."""

    def write(temporary: Path) -> None:
        with open(temporary, "wb") as handle:  # a file object: no temporary name in the archive
            torch.save(state, handle)

    write_atomically(path, write)


def load(path: Path | None, device: torch.device, expected: str) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it was made by the run with fingerprint ``expected``.

    A file torch cannot read safely (truncated, corrupt, or a pickle that would run code) is
    moved aside to ``<name>.unreadable`` with a warning, and the run starts from the beginning.
    """
    if path is None or not path.is_file():
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # a truncated or foreign file: torch raises many kinds
        aside = path.with_name(f"{path.name}.unreadable")
        os.replace(path, aside)
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        log.warning(
            "%s is not a readable checkpoint (%s: %s); moved it to %s and training this run "
            "from the start", path, type(error).__name__, reason, aside.name,
        )  # fmt: skip
        return None
    if not isinstance(state, dict) or state.get("fingerprint") != expected:
        return None
    return state
