"""What a corruption is and the registry :data:`CORRUPTIONS`.

A corruption is a function ``(images, severity, rng) -> images`` on float images N×C×H×W in
0..1, ``severity`` 1 (mild) to 5 (severe), ``rng`` the only source of randomness: the same seed
gives the same corrupted images. Each module holds one, registered beside it with the
``severities`` it uses (its parameter at severity 1..5)."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from crl_pipelines.registry import Registry

SEVERITIES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Corruption:
    """One registered corruption: its function and its parameter at each severity."""

    apply: Callable[[np.ndarray, float, np.random.Generator], np.ndarray]
    severities: Sequence[float]  # the parameter at severity 1..5
    unit: str = ""  # what the parameter is, for the report

    def __post_init__(self) -> None:
        if len(self.severities) != len(SEVERITIES):
            raise ValueError(f"a corruption gives its parameter at {len(SEVERITIES)} severities")


CORRUPTIONS: Registry[Corruption] = Registry("corruption", Corruption)
"""Every corruption by name: ``@CORRUPTIONS.register("<name>", severities=(...), unit=...)`` on
a function ``(images 0..1, parameter, rng) -> images``."""


def corrupt(images: np.ndarray, name: str, severity: int, seed: int) -> np.ndarray:
    """uint8 images N×C×H×W with corruption ``name`` at ``severity`` (1..5), deterministic in
    ``seed``; grayscale and colour alike."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity}")
    corruption = CORRUPTIONS.lookup(name, "embed.corruptions")
    rng = np.random.default_rng([seed, zlib.crc32(name.encode()), severity])
    x = np.asarray(images, dtype=np.float64) / 255.0
    out = corruption.apply(x, corruption.severities[severity - 1], rng)
    return np.round(np.clip(out, 0.0, 1.0) * 255.0).astype(np.uint8)
