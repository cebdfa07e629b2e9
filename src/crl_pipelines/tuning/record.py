"""An experiment's tuning record as training and the comparison use it: the experiment a run
trains (tuned or as written), checked against what the record was made from, and what a tuned
run's lineage records of it. (The record itself is made by :mod:`.summary`.)"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crl_pipelines.experiments import Experiment
from crl_pipelines.lineage import StaleArtifactError, fingerprint, require
from crl_pipelines.tuning.space import SearchSpace


def tuned_experiment(
    record: Mapping[str, Any], space: SearchSpace, lineage: Mapping[str, str], use: bool
) -> Experiment:
    """The experiment a run trains: at the record's best parameters when the experiments are
    tuned (``use``), as written otherwise; a record made from other inputs (another split,
    plan, space or budget, or the other ``tune.use``) is refused as stale, in one line."""
    name = space.experiment.name
    fix = f"`kedro run --pipelines=tune --namespaces={name}`"
    if bool(record.get("tuned")) != use:
        made = "tune.use true" if record.get("tuned") else "tune.use false"
        raise StaleArtifactError(
            f"the tuning record of {name} is stale: made with {made}; rebuild with {fix}"
        )
    if not use:
        return space.experiment
    require(record.get("lineage", {}), lineage, f"the tuning record of {name}", fix)
    return space.apply(record["best"]["params"])


def tuning_fingerprint(record: Mapping[str, Any]) -> str:
    """What a tuned run's lineage records of its tuning record: what the study was made from and
    the parameters it chose."""
    return fingerprint({"lineage": record["lineage"], "best": record["best"]["params"]})


def untuned_record(experiment: str) -> dict[str, Any]:
    """The record of an experiment that is not tuned (``tune.use`` is false): it trains at the
    parameters as written."""
    return {"experiment": experiment, "tuned": False}
