"""The one registry style: every loss, source, sampling, augmentation and score is registered by
name beside its definition, with a decorator.

Each room has one :class:`Registry` (``LOSSES`` in ``losses/base.py``, ``SOURCES`` in
``sources/base.py``, ``SAMPLINGS`` in ``sampling/base.py``, ``AUGMENTATIONS`` in
``augment/base.py``, ``SCORES`` in ``evaluation/scores/base.py``, ``CORRUPTIONS`` in
``corruptions/base.py``), and its package imports its
modules in one list, in the registry's order (the order augmentations are applied in, scores
are written in)::

    @LOSSES.register("ntxent")
    class NTXentLoss(Loss): ...

    @SCORES.register("uniformity", needs_labels=False, heading="uniformity", better=-1)
    def _uniformity(run: RunContext) -> float: ...

The decorator keeps what it decorates as it is and stores its entry, made by the registry's
``entry`` function from the definition and the traits given (for scores, a ``Score`` record;
for losses, the class itself). Adding one = its module, with the decorator, and one line in its
package's module list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, TypeVar

from crl_pipelines.parameters import unknown_value

Entry = TypeVar("Entry")
Defined = TypeVar("Defined")


def _as_is(definition: Any) -> Any:
    return definition


class Registry(MutableMapping[str, Entry]):
    """Named entries of one kind, in the order they were registered: a mapping from name to
    entry (so a test can add one for a while, with ``monkeypatch.setitem``).

    Args:
        kind: what an entry is, for messages (``"loss"``).
        entry: makes the stored entry from a definition and the traits given to
            :meth:`register` (default: the definition itself, with no traits).
    """

    def __init__(self, kind: str, entry: Callable[..., Entry] = _as_is) -> None:
        self.kind = kind
        self._entry = entry
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, **traits: Any) -> Callable[[Defined], Defined]:
        """Decorator: register the definition below as ``name`` (a name is registered once)."""

        def add(definition: Defined) -> Defined:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = self._entry(definition, **traits)
            return definition

        return add

    def lookup(self, name: str, where: str) -> Entry:
        """The entry ``name``; a :class:`~crl_pipelines.parameters.ParameterError` naming the
        parameter ``where``, the nearest known name and all of them, if there is none."""
        if name not in self._entries:
            raise unknown_value(where, self.kind, name, list(self._entries))
        return self._entries[name]

    def __getitem__(self, name: str) -> Entry:
        return self._entries[name]

    def __setitem__(self, name: str, entry: Entry) -> None:
        self._entries[name] = entry

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
