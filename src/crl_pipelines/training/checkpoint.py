"""Per-epoch checkpoints: what a run needs to resume exactly where it stopped.

A checkpoint holds the weights, the optimizer, the schedule, the random state and the history,
and the fingerprint of everything that made the run (settings, plan, images): a checkpoint of
other settings or data is never resumed from. Writes go to a temporary file renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read; the message names it and the fix."""


def fingerprint(*parts: Any) -> str:
    """A short digest of arrays (their bytes) and JSON-able settings."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:20]


def save(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".checkpoint.", suffix=".tmp")
    os.close(handle)
    try:
        torch.save(state, temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load(path: Path | None, device: torch.device, expected: str) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it was made by the run with fingerprint ``expected``."""
    if path is None or not path.is_file():
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # a truncated or foreign file: torch raises many kinds
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({type(error).__name__}); delete it to "
            "train this run from the start"
        ) from None
    return state if state.get("fingerprint") == expected else None
