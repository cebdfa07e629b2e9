"""The errors of reading an artifact back: unreadable (never loaded unsafely) or stale."""

from __future__ import annotations

from pathlib import Path

from kedro.io import DatasetError

from crl_pipelines.errors import UserError
from crl_pipelines.lineage import StaleArtifactError


class UnreadableArtifactError(UserError, DatasetError):
    """An artifact on disk that cannot be read back (truncated, damaged or foreign); it is
    never loaded unsafely."""

    def __init__(self, path: Path, what: str, error: Exception) -> None:
        reason = (str(error).strip().splitlines() or [""])[0][:160]
        super().__init__(
            f"{path} is not {what} that can be read safely ({type(error).__name__}: {reason}); "
            "delete it and re-run the pipeline that makes it (`kedro run`, or `dvc repro`)"
        )


class StaleFigureError(StaleArtifactError, DatasetError):
    """A figure file that is not the one its run's results record (redrawn or changed since)."""
