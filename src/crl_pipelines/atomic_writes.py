"""Writing files so that a failure never leaves a half-written one, and the same content always
gives the same bytes.

:func:`write_atomically` is the one write path of every artifact (the catalog's datasets and the
training checkpoints): the data goes to a hidden temporary file beside the target, is synced to
disk and renamed onto the target. :func:`save_npz` writes an ``.npz`` whose bytes depend on the
arrays only (numpy's own stamps each member with the time of writing), so an unchanged input
gives an unchanged artifact and DVC re-runs nothing downstream for nothing.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import secrets
import shutil
import time
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

import numpy as np

from crl_pipelines.errors import UserError

# Test hook (tests/integration/test_atomic_writes.py): set to a target's file name, e.g.
# `metrics.json`, to pause that target's save between its synced temporary file and the rename.
PAUSE_BEFORE_RENAME = "CRL_PIPELINES_PAUSE_BEFORE_RENAME"
PAUSE_SECONDS = 60


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Make ``path`` by ``write(temporary)``, all or nothing.

    ``write`` fills the given temporary file (hidden, beside ``path``, already created with a new
    file's normal mode) and closes it, which flushes it. The file is then fsynced, renamed onto
    ``path`` (atomic on one file system), and the folder fsynced so the rename survives a power
    cut. On any failure, KeyboardInterrupt included, the temporary file is removed and ``path``
    is untouched. Its name carries the writer's process id, so that a later save of ``path``
    can remove what a killed writer left (:func:`_remove_orphans`).
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_orphans(path)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        os.close(descriptor)
        write(temporary)
        _fsync(temporary)
        _pause_before_rename(path)
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        fault = storage_fault(path, error)
        if fault is None:
            raise
        raise fault from error
    with contextlib.suppress(OSError):  # best effort: not every file system syncs folders
        _fsync(path.parent)


class StorageError(UserError, OSError):
    """The machine cannot write an artifact: no space, a read-only or unwritable folder, a file
    where a folder should be. The message names the path, the cause and the fix; ``errno`` is
    the operating system's code of the cause."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.errno = code


# errno → (the cause, the fix), for a write of a file
_CAUSES = {
    errno.ENOSPC: ("no space is left on its disk", "free space there, or write elsewhere"),
    errno.EDQUOT: ("the disk quota is used up", "free space there, or write elsewhere"),
    errno.EROFS: ("its file system is read-only", "run from a writable copy of the project"),
    errno.EACCES: ("permission is denied", "make the folder writable (chmod u+w)"),
    errno.EPERM: ("permission is denied", "make the folder writable (chmod u+w)"),
    errno.ENOTDIR: ("a file stands where a folder of its path should be", "move that file"),
    errno.EEXIST: ("a file stands where a folder of its path should be", "move that file"),
    errno.EISDIR: ("a folder stands at its path", "move that folder"),
}


def storage_fault(path: Path, error: BaseException) -> StorageError | None:
    """``error``, raised writing ``path``, as a :class:`StorageError` when the machine is the
    cause (an OSError of :data:`_CAUSES`, or torch's zip writer failing on a full disk); None
    for anything else."""
    if isinstance(error, OSError) and error.errno in _CAUSES:
        code = error.errno
        cause, fix = _CAUSES[code]
    elif isinstance(error, RuntimeError) and "unexpected pos" in str(error):
        code = errno.ENOSPC
        free = _free_bytes(path)
        cause = f"its disk took only part of it ({free / 2**20:.0f} MiB free)"
        fix = "free space there, or write elsewhere"
    else:
        return None
    return StorageError(f"cannot write {path}: {cause}; {fix}", code)


def check_writable_folder(folder: Path, setting: str) -> None:
    """That files can be made under ``folder`` (the value of parameter ``setting``): its
    nearest existing part is a writable folder, before anything is trained into it."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise StorageError(
            f"parameter `{setting}` is {folder}, but {existing} is a file, not a folder; "
            f"move that file or set `{setting}` to a folder"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise StorageError(
            f"parameter `{setting}` is {folder}, but {existing} is not writable (read-only or "
            f"another user's); make it writable or set `{setting}` to a writable folder"
        )


def _free_bytes(path: Path) -> int:
    """The free bytes of the disk that holds ``path`` (of its nearest existing folder)."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def _fsync(path: Path) -> None:
    """Sync a file's (or folder's) data and metadata to disk; fsync acts on the file itself, so
    a fresh read-only descriptor syncs what another descriptor wrote."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _remove_orphans(path: Path) -> None:
    """Remove the temporary files of ``path`` whose writer process is gone (killed mid-save).
    A running writer's file is kept, so concurrent saves of one target on this machine never
    delete each other's (a writer on another machine sharing the folder would see its rename
    fail, never a truncated target)."""
    for orphan in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = orphan.name[len(path.name) + 2 :].split(".")[0]
        if pid.isdigit() and not _is_running(int(pid)):
            orphan.unlink(missing_ok=True)


def _is_running(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (signal 0 checks without signalling; on
    Windows os.kill would terminate the process, so there every writer counts as running)."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        pass
    return True


def _pause_before_rename(path: Path) -> None:
    """The kill test's hook: when ``CRL_PIPELINES_PAUSE_BEFORE_RENAME`` is ``path``'s file name,
    create ``<path>.paused`` and sleep, so the test can SIGKILL the process between the finished
    temporary file and the rename. Unset (always, outside that test), it does nothing."""
    if os.environ.get(PAUSE_BEFORE_RENAME) == path.name:
        path.with_name(f"{path.name}.paused").touch()
        time.sleep(PAUSE_SECONDS)


def save_npz(file: IO[bytes], arrays: Mapping[str, np.ndarray]) -> None:
    """``np.savez(file, **arrays)``, with every member dated 1980-01-01 (the zip format's
    earliest date) instead of now: loads with ``np.load`` exactly like numpy's own."""
    with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for key, value in arrays.items():
            member = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(member, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.asanyarray(value), allow_pickle=False)
