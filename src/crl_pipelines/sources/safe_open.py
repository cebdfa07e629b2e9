"""Opening a data file safely, for every reader: only a regular file is ever opened (opening a
named pipe blocks until something writes to it, and a device or socket is no data file), and
every way that fails (a folder, a broken or looping link, no permission, a file deleted
meanwhile) becomes one :class:`UnreadableFile` whose one-line message names the file."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from crl_pipelines.images import DataError

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class UnreadableFile(DataError):
    """A data file that cannot be opened or read (the message names it)."""


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (line breaks included) made one space."""
    return " ".join(text.split())


def shown(path: str | Path) -> str:
    """``path`` as message text: as it is, or quoted with escapes (``'a\\nb.png'``) when it
    holds a line break or another unprintable character, so a message stays one line."""
    text = str(path)
    return text if text.isprintable() else repr(text)


def describe(error: BaseException) -> str:
    """A library's exception as one line of a message: its type and its text."""
    return f"{type(error).__name__}: {one_line(str(error))}"


def open_regular(path: Path, fix: str = "") -> BinaryIO:
    """``path`` opened for binary reading, but only if it is a regular file (links followed):
    its type is checked before it is opened and again, through the open handle, after (in case
    it was swapped meanwhile). Anything else raises UnreadableFile naming it, ending in
    ``; <fix>`` when a fix is given."""
    try:
        _check_regular(path, os.stat(path).st_mode)
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise _unreadable(path, _os_problem(path, error), fix) from error
    handle = os.fdopen(descriptor, "rb")
    try:
        _check_regular(path, os.fstat(descriptor).st_mode)
    except OSError as error:
        handle.close()
        raise _unreadable(path, _os_problem(path, error), fix) from error
    return handle


class _NotRegular(OSError):
    """Raised by :func:`_check_regular`; its text is the problem, completed by the caller."""


def _check_regular(path: Path, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "a special file")
    if stat.S_ISDIR(mode) and path.is_symlink():
        target, parent = path.resolve(), path.parent.resolve()
        if target == parent or target in parent.parents:
            raise _NotRegular(f"is a symbolic link to {shown(target)}, a folder it is in (a loop)")
    raise _NotRegular(f"is {kind}, not a regular file")


def _os_problem(path: Path, error: OSError) -> str:
    """What ``error`` (from stat or open) says about ``path``, as the rest of a sentence."""
    if isinstance(error, _NotRegular):
        return str(error)
    if error.errno == errno.ELOOP:
        return "is a symbolic link loop (it leads back to itself)"
    if isinstance(error, FileNotFoundError):
        if path.is_symlink():
            return f"is a broken symbolic link (to {_target(path)}, which does not exist)"
        return "disappeared before it could be read (moved or deleted meanwhile)"
    if isinstance(error, PermissionError):
        return "cannot be read (permission denied)"
    return f"cannot be read ({one_line(error.strerror or str(error))})"


def _target(link: Path) -> str:
    try:
        return shown(os.readlink(link))
    except OSError:  # the link itself was removed meanwhile
        return "a file"


def _unreadable(path: Path, problem: str, fix: str) -> UnreadableFile:
    return UnreadableFile(f"{shown(path)} {problem}" + (f"; {fix}" if fix else ""))
