"""Lineage: every artifact records fingerprints of exactly what it was made from.

The chain is split → plan → encoder → embeddings → scores → comparison. Each artifact carries a
small record (``{"split": …, "plan": …, "settings": …, "encoder": …}``, hex digests) under the
key :data:`KEY`: an ``.npz`` holds it as a JSON string, a model file and ``scores.json`` as a
dict. A node checks that its inputs chain (:func:`require`) and otherwise refuses with
:class:`StaleArtifactError`, naming the stale artifact and the command that rebuilds it, so a
run never scores embeddings of another split or an encoder of other settings. Fingerprints
depend only on content (bytes of arrays, JSON of settings), so an unchanged input gives an
unchanged record and unchanged artifact bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from crl_pipelines.errors import UserError

KEY = "lineage"
Record = dict[str, str]


class StaleArtifactError(UserError):
    """An input artifact was made from other inputs than the ones it is used with."""


def fingerprint(*parts: Any) -> str:
    """A short digest of arrays (their dtype, shape and bytes) and JSON-able values."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(f"{part.dtype.str}{part.shape}".encode())
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:20]


def of_arrays(arrays: Mapping[str, np.ndarray]) -> Record:
    """The record stored in an ``.npz`` artifact (empty when it has none: made before lineage)."""
    return json.loads(str(arrays[KEY])) if KEY in arrays else {}


def split_of(arrays: Mapping[str, np.ndarray], name: str) -> str:
    """The split fingerprint a train or test split records; stops when it records none."""
    split = of_arrays(arrays).get("split")
    if not split:
        raise StaleArtifactError(
            f"the {name} split was made by an older version, without lineage; rebuild it: "
            "`kedro run --pipelines=ingest`"
        )
    return split


def as_array(record: Record) -> np.ndarray:
    """The record as an ``.npz`` entry."""
    return np.asarray(json.dumps(record, sort_keys=True))


WHAT = {
    "split": "another train/test split than the current one",
    "plan": "another sampling plan than the current one",
    "settings": "other settings than the parameters give now",
    "encoder": "another encoder than the current one",
    "scoring": "other scoring settings than the parameters give now",
    "space": "another search space than the parameters give now",
    "budget": "another tuning budget than the parameters give now",
}


def require(found: Mapping[str, str], expected: Mapping[str, str], stale: str, fix: str) -> None:
    """Stop unless ``found`` agrees with ``expected`` on every key of ``expected``.

    Args:
        found: the record of the input being checked.
        expected: what it must have been made from (e.g. the current split's fingerprint).
        stale: which artifact would be stale, for the message (e.g. "the class_pairs plan").
        fix: the command that rebuilds it.
    """
    differing = [key for key in expected if found.get(key) != expected[key]]
    if differing:
        made = (
            WHAT.get(differing[0], f"another {differing[0]}")
            if found
            else ("an older version of this project, without lineage")
        )
        raise StaleArtifactError(f"{stale} is stale: made from {made}; rebuild with {fix}")
