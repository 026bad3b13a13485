"""Stage-then-swap writes of a whole source: an import changes every file it touches, or none.

An import works on a staged copy of the source, ``<data>/.staging/<source>.<token>/sources/
<source>``, whose files are hard links to the live ones (no data is copied; every store write
replaces a file through a temporary one, so the live files are never modified). When the import has
written everything, :meth:`SourceStage.swap` moves the live folder aside and the staged one into
its place: two renames. Interrupted before them, the live source is untouched and the stage is
deleted; killed between them, the next import of the source puts the previous folder back
(:func:`recover`). Imports of one source are serialised by a lock file, which the live recorder
also takes so that none of its snapshots is lost under a swap.
"""

import fcntl
import os
import secrets
import shutil
from pathlib import Path

from cache.store import Store, check_source_name

STAGING_DIR = ".staging"


class SourceBusyError(RuntimeError):
    """Another process is importing into the source."""


class SourceLock:
    """An exclusive lock on one source across processes (``<data>/.staging/<source>.lock``)."""

    def __init__(self, data_dir: Path, name: str, wait: bool = True) -> None:
        self.path = Path(data_dir) / STAGING_DIR / f"{check_source_name(name)}.lock"
        self.name, self.wait = name, wait
        self._fd: int | None = None

    def __enter__(self) -> "SourceLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(self._fd)
            raise SourceBusyError(f"source {self.name!r} is being imported into") from None
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def recover(data_dir: Path, name: str) -> None:
    """Finish what an interrupted import of ``name`` left: restore or drop its stages.

    Call with the source's lock held. A stage whose ``previous`` folder exists while the live
    folder is missing was killed between the two renames of a swap: the previous folder goes back.
    """
    live = Store(data_dir).source_dir(name)
    for stage in sorted((Path(data_dir) / STAGING_DIR).glob(f"{name}.*")):
        if not stage.is_dir():
            continue
        previous = stage / "previous"
        if previous.is_dir() and not live.exists():
            os.rename(previous, live)
        shutil.rmtree(stage)


class SourceStage:
    """A staged copy of one source; ``store`` writes into it and :meth:`swap` publishes it.

    Use as a context manager: entering takes the source's lock, recovers earlier interrupted
    imports and links the live files into the stage; leaving without a swap deletes the stage.
    ``workdir`` is scratch space that goes with the stage.
    """

    def __init__(self, data_dir: Path | str, name: str) -> None:
        self.data_dir = Path(data_dir)
        self.name = check_source_name(name)
        self.root = self.data_dir / STAGING_DIR / f"{name}.{os.getpid()}.{secrets.token_hex(4)}"
        self.store = Store(self.root)
        self.workdir = self.root / "work"
        self._lock = SourceLock(self.data_dir, name)

    def __enter__(self) -> "SourceStage":
        self._lock.__enter__()
        try:
            recover(self.data_dir, self.name)
            live = Store(self.data_dir).source_dir(self.name)
            staged = self.store.source_dir(self.name)
            staged.parent.mkdir(parents=True)
            if live.is_dir():
                shutil.copytree(live, staged, copy_function=os.link)
            self.workdir.mkdir()
        except BaseException:
            self.__exit__()
            raise
        return self

    def swap(self) -> None:
        """Put the staged source in place of the live one (two renames)."""
        live = Store(self.data_dir).source_dir(self.name)
        live.parent.mkdir(parents=True, exist_ok=True)
        if live.exists():
            os.rename(live, self.root / "previous")
        os.rename(self.store.source_dir(self.name), live)

    def __exit__(self, *exc) -> None:
        try:
            recover(self.data_dir, self.name)  # a swap cut between its renames is undone first
        finally:
            self._lock.__exit__()
