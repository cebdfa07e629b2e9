"""Replay the loss-spike rule on recorded step traces: flags per run, and injected jumps.

    .venv/bin/python scripts/replay_spikes.py data/06_models            # every steps.csv below
    .venv/bin/python scripts/replay_spikes.py data/06_models --inject   # and injected jumps

Each run's ``steps.csv`` (``data/06_models/<experiment>/<seed>/``) is judged epoch by epoch, as
the training loop judges it (:mod:`crl_pipelines.training.instability`), at the defaults of
``training.spike_factor`` and ``spike_window`` unless given. The table shows the steps the rule
flags per run (epoch:step of the first few) beside the ``spike`` column the run recorded (the
rule it was trained with), and the epochs whose validation score fell (0: a healthy run).

``--inject`` checks the two cases the rule must tell apart, at five places of each run (30 % to
90 % of its steps), one at a time, each a jump from the level there back to the untrained
model's loss (the median of the run's first 5 steps): a jump that moves the model (that excess
decays by 10 % a step after it) should be flagged within ``AFTER`` steps; one hard batch (the
same excess at that one step, the run as recorded after it) should not.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from crl_pipelines.training import instability
from crl_pipelines.training_settings import TrainingSettings

PLACES = (0.3, 0.45, 0.6, 0.75, 0.9)  # where the jumps are injected, as shares of the run
DECAY = 0.9  # the injected excess left after each further step of a jump that moves the model


def replay(losses: np.ndarray, epochs: np.ndarray, factor: float, window: int) -> np.ndarray:
    """The rule's flags for a run's step losses, judged epoch by epoch as the loop does."""
    flags, done = [], torch.zeros(0, dtype=torch.float64)
    for epoch in np.unique(epochs):
        loss = torch.tensor(losses[epochs == epoch], dtype=torch.float64)
        start = instability.starting_level((done if len(done) else loss)[:window])
        judgement = instability.spike_flags(done[-window:], loss, factor, window, start)
        flags.append(judgement.flags.numpy())
        done = torch.cat([done, loss])
    return np.concatenate(flags)


def injected(losses: np.ndarray, at: int, window: int, moves: bool) -> np.ndarray:
    """``losses`` with a jump at step ``at`` from the level (the median of the ``window`` steps
    before) back to the untrained model's loss (the median of the run's first steps): the
    excess decaying over the steps after it (``moves``), or at that one step only (a hard
    batch)."""
    start = instability.starting_level(torch.tensor(losses))
    level = np.median(losses[max(0, at - window) : at])
    height = max(start - level, 0.0)
    steps = np.arange(len(losses) - at)
    excess = height * DECAY**steps if moves else np.where(steps == 0, height, 0.0)
    return np.concatenate([losses[:at], losses[at:] + excess])


def caught(steps: pd.DataFrame, factor: float, window: int, moves: bool) -> int:
    """At how many of the ``PLACES`` an injected jump is flagged within ``AFTER`` steps of it
    (a flag the recorded run does not have there already)."""
    losses, epochs = steps["loss"].to_numpy(), steps["epoch"].to_numpy()
    plain = replay(losses, epochs, factor, window)
    count = 0
    for share in PLACES:
        at = int(share * len(losses))
        flags = replay(injected(losses, at, window, moves), epochs, factor, window)
        near = slice(at, at + instability.AFTER + 1)
        count += bool((flags[near] & ~plain[near]).any())
    return count


def validation_falls(history: Path) -> str:
    """How many epochs of the run the validation-fall rule flagged (its history beside the
    trace): 0 for a healthy run; "?" without a history or a validation split."""
    if not history.is_file():
        return "?"
    rows = pd.read_csv(history)
    return str(int(rows["degraded"].sum())) if "degraded" in rows else "?"


def main() -> None:
    """Print each run's flags: steps, recorded (the old rule), replayed (this rule)."""
    defaults = TrainingSettings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="+", type=Path, help="steps.csv files or folders")
    parser.add_argument("--factor", type=float, default=defaults.spike_factor)
    parser.add_argument("--window", type=int, default=defaults.spike_window)
    parser.add_argument("--inject", action="store_true", help="check injected jumps too")
    args = parser.parse_args()
    files = [f for r in args.roots for f in ([r] if r.is_file() else sorted(r.rglob("steps.csv")))]
    print("run | validation falls | steps | recorded flags | replayed flags | replayed steps"
          + (" | moving jumps caught | hard batches flagged" if args.inject else ""))  # fmt: skip
    for path in files:
        steps = pd.read_csv(path)
        flags = replay(
            steps["loss"].to_numpy(), steps["epoch"].to_numpy(), args.factor, args.window
        )
        where = " ".join(f"{e}:{s}" for e, s in steps[flags][["epoch", "step"]].to_numpy()[:8])
        row = [
            f"{path.parent.parent.name}/{path.parent.name}",
            validation_falls(path.with_name("history.csv")),
            str(len(steps)),
            f"{int(steps['spike'].sum())} ({steps['spike'].mean():.2%})",
            f"{int(flags.sum())} ({flags.mean():.2%})",
            where + (" …" if flags.sum() > 8 else ""),
        ]
        if args.inject:
            for moves in (True, False):
                row.append(f"{caught(steps, args.factor, args.window, moves)}/{len(PLACES)}")
        print(" | ".join(row))


if __name__ == "__main__":
    main()
