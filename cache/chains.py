"""The chain store: option-chain snapshots of a source, one Parquet file per underlying and UTC day.

Layout (documented with the columns and units in ``docs/data.md``)::

    sources/<source>/chains/<UNDERLYING>/<YYYY-MM-DD>.parquet

A day file holds every snapshot whose ``time`` falls on that UTC day, in the fixed schema
:data:`~cache.schema.CHAIN_STORE_SCHEMA`, sorted by ``(time, instrument_name)`` without duplicates.
A write validates, merges with the day file already there (rows already stored win, so writing the
same rows twice changes nothing), replaces the day file atomically and records its hash and the
coverage in the source's metadata. Reads are ``pl.scan_parquet`` over the day files of the range
with a filter on ``time``, so only the rows asked for are loaded.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from cache.schema import CHAIN_KEY, CHAIN_STORE_SCHEMA, validate_chain_store
from cache.store import Store, UnderlyingCoverage, check_underlying, write_parquet_atomic
from cache.timeutil import as_utc

ROW_GROUP_ROWS = 65_536  # small row groups let a read of a few snapshots skip most of a day


@dataclass
class ChainWrite:
    """What one write added: rows and snapshots new to the store, and the day files rewritten."""

    rows: int = 0
    snapshots: int = 0
    days: list[date] = field(default_factory=list)


def empty_chains() -> pl.DataFrame:
    """A frame of the chain store's schema without rows."""
    return pl.DataFrame(schema=CHAIN_STORE_SCHEMA)


class ChainStore:
    """Read and write the option chains of the sources of one :class:`~cache.store.Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- paths ---------------------------------------------------------------------------------
    def partition_path(self, name: str, underlying: str, day: date) -> Path:
        """The day file of one underlying: ``chains/<UNDERLYING>/<YYYY-MM-DD>.parquet``."""
        folder = self.store.chain_dir(name, check_underlying(underlying))
        return folder / f"{day.isoformat()}.parquet"

    def days(self, name: str, underlying: str) -> list[date]:
        """The UTC days the source holds chains of ``underlying`` for, oldest first."""
        folder = self.store.chain_dir(name, check_underlying(underlying))
        if not folder.is_dir():
            return []
        return sorted(date.fromisoformat(p.stem) for p in folder.glob("????-??-??.parquet"))

    # -- writes --------------------------------------------------------------------------------
    def write(self, name: str, underlying: str, frame: pl.DataFrame) -> ChainWrite:
        """Validate ``frame`` and merge it into the day files of ``underlying``.

        ``frame`` must be in :data:`~cache.schema.CHAIN_STORE_SCHEMA` (absent nullable columns
        become null), sorted by ``(time, instrument_name)`` without duplicates; an error names the
        first bad row and the rule. Keys already stored keep their stored row.
        """
        u = check_underlying(underlying)
        frame = validate_chain_store(frame, f"chains for {name}/{u}", u)
        result = ChainWrite()
        if frame.is_empty():
            return result
        with self.store.lock:
            self.store.read_meta(name)  # the source must exist
            written, firsts, lasts = [], [], []
            by_day = frame.with_columns(_day=pl.col("time").dt.date())
            for (day,), part in by_day.partition_by("_day", as_dict=True).items():
                path = self.partition_path(name, u, day)
                old = pl.read_parquet(path) if path.is_file() else empty_chains()
                new = part.drop("_day")
                if old.is_empty() or new.item(0, "time") > old.item(-1, "time"):
                    merged, added = pl.concat([old, new]), _snapshots(new)  # a later snapshot
                else:
                    merged = (
                        pl.concat([old, new])
                        .unique(CHAIN_KEY, keep="first", maintain_order=True)
                        .sort(CHAIN_KEY)
                    )
                    added = _snapshots(merged) - _snapshots(old)
                if merged.height == old.height:
                    continue
                write_parquet_atomic(merged, path, row_group_size=ROW_GROUP_ROWS)
                written.append(path)
                result.rows += merged.height - old.height
                result.snapshots += added
                result.days.append(day)
                firsts.append(merged.get_column("time")[0])
                lasts.append(merged.get_column("time")[-1])
            if not written:
                return result

            def edit(cov: UnderlyingCoverage) -> None:
                cov.chain_snapshots += result.snapshots
                cov.chain_rows += result.rows
                lo, hi = min(firsts), max(lasts)
                cov.chain_start = lo if cov.chain_start is None else min(cov.chain_start, lo)
                cov.chain_end = hi if cov.chain_end is None else max(cov.chain_end, hi)

            self.store.record_files(name, u, written, edit)
        result.days.sort()
        return result

    # -- reads ---------------------------------------------------------------------------------
    def scan(self, name: str, underlying: str, start, end) -> pl.LazyFrame:
        """The rows with ``time`` in ``[start, end)`` as a lazy frame (filters push down)."""
        u = check_underlying(underlying)
        lo, hi = as_utc(start, "start"), as_utc(end, "end")
        if hi <= lo:
            return empty_chains().lazy()
        last = (hi - timedelta(microseconds=1)).date()
        days = (lo.date() + timedelta(days=i) for i in range((last - lo.date()).days + 1))
        files = [p for d in days if (p := self.partition_path(name, u, d)).is_file()]
        if not files:
            return empty_chains().lazy()
        time = pl.col("time")
        return pl.scan_parquet(files).filter((time >= lo) & (time < hi))

    def read(self, name: str, underlying: str, start, end) -> pl.DataFrame:
        """The rows with ``time`` in ``[start, end)``, sorted by ``(time, instrument_name)``."""
        return self.scan(name, underlying, start, end).collect()

    def snapshot_times(self, name: str, underlying: str, start, end) -> pl.Series:
        """The distinct snapshot times in ``[start, end)``, oldest first."""
        frame = self.scan(name, underlying, start, end).select("time").unique().sort("time")
        return frame.collect().get_column("time")

    def latest(
        self, name: str, underlying: str, at, max_age: timedelta | None = None
    ) -> pl.DataFrame:
        """The latest snapshot at or before ``at`` (empty if none, or older than ``max_age``)."""
        u = check_underlying(underlying)
        at = as_utc(at, "at")
        oldest = None if max_age is None else (at - max_age).date()
        for day in reversed([d for d in self.days(name, u) if d <= at.date()]):
            if oldest is not None and day < oldest:
                break
            scan = pl.scan_parquet(self.partition_path(name, u, day))
            found = scan.filter(pl.col("time") <= at).select(pl.col("time").max()).collect().item()
            if found is None:
                continue
            if max_age is not None and at - found > max_age:
                break
            return scan.filter(pl.col("time") == found).collect()
        return empty_chains()


def _snapshots(frame: pl.DataFrame) -> int:
    return frame.get_column("time").n_unique() if frame.height else 0
