"""Runs: one training of one experiment with one seed, or the untrained floor.

A run is a Kedro namespace, ``<experiment>.seed<seed>``, nested in its experiment's, and a
folder, ``<experiment>/seed<seed>``, under each layer folder of ``data/``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

FLOOR = "random_init"  # the untrained encoder every experiment is scored against


@dataclass(frozen=True)
class Run:
    """One training of one experiment (or of the floor) with one seed."""

    experiment: str
    seed: int
    sampling: str | None  # the plan it trains on; None for the floor

    @property
    def name(self) -> str:
        """The run's Kedro namespace, ``<experiment>.seed<seed>``."""
        return f"{self.experiment}.seed{self.seed}"

    @property
    def folder(self) -> PurePosixPath:
        """Where its files go under a layer folder: ``<experiment>/seed<seed>``."""
        return PurePosixPath(self.experiment, f"seed{self.seed}")

    @property
    def trained(self) -> bool:
        return self.experiment != FLOOR


def plan_runs(samplings: dict[str, str], seeds: Iterable[int]) -> list[Run]:
    """The runs of the experiments (name → sampling) and seeds, the floor last."""
    seeds = list(seeds)
    return [Run(name, seed, samplings.get(name)) for name in [*samplings, FLOOR] for seed in seeds]
