"""Whole-folder moves, read errors that name their file, and the data directory's write check.

Runs and prepared results are folders that appear and disappear whole: a folder is written beside
its place and renamed into it (:func:`replace_dir`), and removed by renaming it away first
(:func:`discard_path`), so a reader sees the old folder, the new one or none, never a part.
A file that cannot be read raises :class:`CorruptFileError` naming it (:func:`reading`), and a
data directory that cannot be written to says so before work is done (:func:`writable_problem`).
"""

import errno
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import polars as pl

from cache.schema import DataValidationError

log = logging.getLogger(__name__)

REPAIR_HINT = "`thetadesk cache --verify` lists damaged files and `--repair` rebuilds what it can"
# errors a write gets from a read-only or locked-down data directory (EPERM: e.g. chattr +i)
NOT_WRITABLE = frozenset({errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.ENOSPC})


class CorruptFileError(DataValidationError):
    """A data file cannot be read (truncated, not Parquet, gone); the message names it."""

    def __init__(self, path: Path, reason: object) -> None:
        self.path = Path(path)
        super().__init__(str(path), f"cannot be read ({first_line(reason)}); {REPAIR_HINT}")


class DataDirNotWritableError(OSError):
    """The data directory refuses writes (read-only file system, permissions, full disk)."""


def first_line(reason: object) -> str:
    """The first line of an error's message (its type's name when it has none)."""
    text = str(reason).strip()
    return text.splitlines()[0] if text else type(reason).__name__


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn a polars or OS error raised while reading ``path`` into :class:`CorruptFileError`."""
    try:
        yield
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise CorruptFileError(path, exc) from exc


def sibling(path: Path, tag: str) -> Path:
    """A hidden, unique name beside ``path`` (``.<name>.<tag>-<hex>``) that listings skip."""
    return path.with_name(f".{path.name}.{tag}-{uuid.uuid4().hex[:8]}")


def discard_path(path: Path) -> bool:
    """Remove a folder (or a link to one, never its target) by renaming it away first.

    Return False when there was nothing to remove. Readers that already opened a file keep
    reading it whole (POSIX keeps an unlinked file's data while it is open); new readers find
    nothing. A folder that cannot be fully removed after the rename is logged, not raised: it
    has already left its place.
    """
    doomed = sibling(path, "deleting")
    try:
        path.rename(doomed)
    except FileNotFoundError:
        return False
    remove_path(doomed)
    return True


def remove_path(path: Path) -> None:
    """Remove a file, a link (never its target) or a folder and what it holds, now."""
    if path.is_symlink() or not path.is_dir():
        with suppress(FileNotFoundError, NotADirectoryError):  # nothing there
            path.unlink()
        return
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():
        log.warning("could not remove all of %s", path)


def replace_dir(tmp: Path, final: Path) -> None:
    """Move the finished folder ``tmp`` into ``final``, replacing what is there."""
    old = sibling(final, "old")
    try:
        final.rename(old)
    except FileNotFoundError:
        old = None
    tmp.rename(final)
    if old is not None:
        remove_path(old)


def writable_problem(folder: Path) -> str | None:
    """Why files cannot be created in ``folder``, or None when they can.

    It creates and removes a small file in ``folder``, or in its nearest existing parent when
    ``folder`` is not there yet (nothing else is created): permission bits do not stop root, and
    only a real write meets a read-only mount, a full disk or an immutable folder.
    """
    probe = folder
    while not probe.exists() and not probe.is_symlink() and probe.parent != probe:
        probe = probe.parent
    try:
        if not probe.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(probe))
        fd, name = tempfile.mkstemp(prefix=".thetadesk-write-check-", dir=probe)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        return f"cannot write to {folder}: {exc.strerror or exc}"
    return None


def is_not_writable(exc: OSError) -> bool:
    """Whether ``exc`` is what a write into a read-only or locked data directory raises."""
    return isinstance(exc, DataDirNotWritableError) or exc.errno in NOT_WRITABLE
