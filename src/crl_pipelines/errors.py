"""The errors a user can fix: bad parameters, bad data, stale artifacts, missing inputs.

Each is a :class:`UserError`, whose message is the whole story (what is wrong, where, and the
fix), so the command line shows it as one line without a traceback; any other exception is a
bug in the code and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the parameters, the data or the order of runs, not in the code."""


def user_error(error: BaseException) -> UserError | None:
    """The :class:`UserError` behind ``error``, following its chain as a traceback does (Kedro
    may wrap a node's error), or None when the failure is not the user's to fix."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, UserError):
            return current
        seen.add(id(current))
        suppressed = current.__suppress_context__
        current = current.__cause__ or (None if suppressed else current.__context__)
    return None
