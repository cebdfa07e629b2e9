"""Runs: one training of one experiment with one seed, or the untrained floor.

A run is a Kedro namespace, ``<experiment>.seed<seed>``, nested in its experiment's, and a
folder, ``<experiment>/seed<seed>``, under each layer folder of ``data/``. When the experiments
are tuned (``tune.use``), each also has an *untuned* run per seed, trained at the parameters as
written, for the report's before/after: ``<experiment>.untuned_seed<seed>``.

A run that failed leaves a :class:`RunFailure` where its artifacts would be, for the comparison,
which names it and goes on with the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

FLOOR = "random_init"  # the untrained encoder every experiment is scored against


@dataclass(frozen=True)
class RunFailure:
    """What stands in for an artifact a failed run did not make: the step that failed and why,
    in one line (``ntxent.seed0.train_encoder: the ntxent loss became nan at ...``)."""

    why: str


@dataclass(frozen=True)
class Run:
    """One training of one experiment (or of the floor) with one seed."""

    experiment: str
    seed: int
    sampling: str | None  # the plan it trains on; None for the floor
    untuned: bool = False  # the twin of a tuned experiment, at the parameters as written

    @property
    def part(self) -> str:
        """The run's own part of its name: ``seed<seed>`` or ``untuned_seed<seed>``."""
        return f"{'untuned_' if self.untuned else ''}seed{self.seed}"

    @property
    def name(self) -> str:
        """The run's Kedro namespace, ``<experiment>.seed<seed>``."""
        return f"{self.experiment}.{self.part}"

    @property
    def folder(self) -> PurePosixPath:
        """Where its files go under a layer folder: ``<experiment>/seed<seed>``."""
        return PurePosixPath(self.experiment, self.part)

    @property
    def trained(self) -> bool:
        return self.experiment != FLOOR


def plan_runs(samplings: dict[str, str], seeds: Iterable[int], untuned: bool = False) -> list[Run]:
    """The runs of the experiments (name → sampling) and seeds, then (``untuned``: the
    experiments are tuned) each experiment's untuned twins, the floor last."""
    seeds = list(seeds)
    runs = [Run(name, seed, sampling) for name, sampling in samplings.items() for seed in seeds]
    if untuned:
        runs += [
            Run(name, seed, sampling, untuned=True)
            for name, sampling in samplings.items()
            for seed in seeds
        ]
    return runs + [Run(FLOOR, seed, None) for seed in seeds]
