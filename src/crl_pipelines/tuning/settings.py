"""The ``tune:`` parameter block: the one budget, sampler and pruner every experiment is searched
with, and where the studies are stored."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import field_validator

from crl_pipelines.lineage import fingerprint
from crl_pipelines.parameters import Flag, NonNegativeInt, PositiveInt, Settings, Text


class TuneSettings(Settings):
    """How every experiment is tuned (``tune`` in the parameters).

    ``use``: tune each experiment, then train it at its best parameters (and, for the report's
    before/after, an untuned run beside it). ``trials``: the finished trials (complete or
    pruned) of each study; ``epochs``: the epochs of the plan a trial trains (its first ones);
    ``batch``: trials asked together and trained in one step (1: one at a time). ``sampler``:
    ``tpe`` (seeded) or ``random``; ``pruner``: ``median``, ``hyperband`` or ``none``, on the
    per-epoch validation score. ``storage``: a database URL (``postgresql://…``) that every
    worker reaches; none: a SQLite file per experiment, ``data/05_model_input/<experiment>/
    study.db``.
    """

    use: Flag = False
    trials: PositiveInt = 20
    epochs: PositiveInt = 3
    batch: PositiveInt = 4
    sampler: Literal["tpe", "random"] = "tpe"
    pruner: Literal["median", "hyperband", "none"] = "median"
    seed: NonNegativeInt = 0
    storage: Text | None = None

    @field_validator("storage")
    @classmethod
    def _a_database_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(url)
        except ArgumentError:
            raise ValueError(
                "should be a database URL such as sqlite:///data/studies.db or "
                f"postgresql://user@host/db, got {url!r}"
            ) from None
        return url

    def storage_url(self, experiment: str) -> str:
        """The study's storage: ``storage``, or the experiment's SQLite file (an absolute path,
        so that a Dask scheduler started elsewhere opens the same file)."""
        if self.storage is not None:
            return self.storage
        path = Path("data/05_model_input", experiment, "study.db").absolute()
        return f"sqlite:///{path}"

    def budget_fingerprint(self) -> str:
        """What a study's results depend on besides the data, the plan and the space: the budget
        and how it is spent (not ``use`` or where the study is stored)."""
        return fingerprint(self.model_dump(mode="json", exclude={"use", "storage"}))
