"""Entries of the prepared cache (``<data_dir>/prepared/<key>/``), checked before they are used.

An entry holds Parquet tables and a ``meta.json`` with its key, the prepare version and each
table's size and SHA-256. It is written beside its place and renamed in whole. A reader checks
every table against its recorded size and hash before parsing it; an entry that fails any check
(truncated, changed, unparseable, written before hashes were recorded) raises
:class:`DamagedEntryError`, and the caller discards it and computes it again, so a damaged entry
costs one recomputation, never every run of its configuration.
"""

import hashlib
import io
import json
import logging
from pathlib import Path

import polars as pl

from cache.files import discard_path, remove_path, replace_dir, sibling

log = logging.getLogger(__name__)


class DamagedEntryError(Exception):
    """A cache entry that is there but cannot be trusted; the message says why."""


def _fingerprint(raw: bytes) -> dict:
    return {"size": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}


def save_entry(folder: Path, key: str, version: int, tables: dict[str, pl.DataFrame]) -> None:
    """Write the tables (``name`` -> frame) as the entry ``folder``, replacing any there.

    A cache that cannot be written is logged, not raised: the run has its result already.
    """
    tmp = sibling(folder, "tmp")
    try:
        tmp.mkdir(parents=True)
        files = {}
        for name, frame in tables.items():
            buffer = io.BytesIO()
            frame.write_parquet(buffer, compression="lz4", statistics=True)  # fast to write
            raw = buffer.getvalue()
            (tmp / f"{name}.parquet").write_bytes(raw)
            files[f"{name}.parquet"] = _fingerprint(raw)
        meta = {"key": key, "version": version, "files": files}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
        replace_dir(tmp, folder)
    except OSError as exc:
        log.warning("prepared cache entry %s not written: %s", folder, exc)
        remove_path(tmp)


def load_entry(
    folder: Path, key: str, version: int, names: tuple[str, ...]
) -> dict[str, pl.DataFrame] | None:
    """The tables ``names`` of the entry ``folder``; None when there is no entry.

    Raises
    ------
    DamagedEntryError
        When the entry is there but any check fails.
    """
    if not folder.exists():
        return None
    try:
        meta = json.loads((folder / "meta.json").read_bytes())
    except FileNotFoundError as exc:
        raise DamagedEntryError("meta.json is missing") from exc
    except (OSError, ValueError) as exc:
        raise DamagedEntryError(f"meta.json is unreadable ({exc})") from exc
    if not isinstance(meta, dict) or (meta.get("key"), meta.get("version")) != (key, version):
        raise DamagedEntryError("meta.json does not name this entry's key and version")
    files = meta.get("files")
    if not isinstance(files, dict):
        raise DamagedEntryError("meta.json records no sizes and hashes (an older entry)")
    return {name: _table(folder, f"{name}.parquet", files.get(f"{name}.parquet")) for name in names}


def _table(folder: Path, name: str, recorded: object) -> pl.DataFrame:
    try:
        raw = (folder / name).read_bytes()
    except OSError as exc:
        raise DamagedEntryError(f"{name} cannot be read ({exc.strerror or exc})") from exc
    found = _fingerprint(raw)
    if recorded != found:
        raise DamagedEntryError(
            f"{name} is {found['size']} bytes with SHA-256 {found['sha256'][:12]}…, "
            f"meta.json records {recorded}"
        )
    try:
        return pl.read_parquet(io.BytesIO(raw))
    except pl.exceptions.PolarsError as exc:
        raise DamagedEntryError(f"{name} is not readable Parquet ({exc})") from exc


def discard_entry(folder: Path, reason: str) -> None:
    """Log why the entry ``folder`` is damaged and remove it (it is rebuilt by the caller)."""
    log.warning("prepared cache entry %s is damaged (%s): discarded and rebuilt", folder, reason)
    try:
        discard_path(folder)
    except OSError as exc:
        log.warning("could not remove the damaged entry %s: %s", folder, exc)
