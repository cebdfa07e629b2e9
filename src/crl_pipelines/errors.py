"""The errors a user can fix: bad parameters, bad data, stale artifacts, missing inputs.

Each is a :class:`UserError`, whose message is the whole story (what is wrong, where, and the
fix), so the command line shows it as one line without a traceback; any other exception is a
bug in the code and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the parameters, the data or the order of runs, not in the code."""
