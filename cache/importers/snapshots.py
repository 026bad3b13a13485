"""Recorded snapshot files (the Parquet format of ``../shared/data/deribit_chain_snapshots``).

Real recordings are dirty, and the import copes as that recording's README asks:

- rows with ``underlying``, ``expiry``, ``expiry_timestamp``, ``option_type`` or ``strike`` null
  (the early recorder) get them from ``instrument_name``; a name that is not a BTC/ETH option
  cannot be completed and its row is skipped;
- rows without a mark price, mark IV or forward are skipped (and counted);
- a snapshot smaller than half the median snapshot of its file and underlying (a partial
  recording, e.g. 10 rows where the others hold 700) is left out whole (and counted);
- an empty side (bid or ask 0 or null) and an IV of 0 are stored as null.

A value that is present but wrong (a negative or NaN price, an IV as a fraction, a duplicate
``(harvest_time, instrument_name)``) is refused, naming the file, the data row and the rule.
"""

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from cache.chain_snapshots import chains_from_snapshots, snapshot_sizes
from cache.deribit.naming import complete_from_names
from cache.schema import (
    CHAIN_KEY,
    CHAIN_SCHEMA,
    DataValidationError,
    chain_row_rules,
    check_rules,
    conform,
)

REQUIRED = ("mark_price", "mark_iv", "underlying_price")


@dataclass
class SnapshotRead:
    """The rows a file gave per underlying, and what was skipped."""

    frames: dict[str, pl.DataFrame] = field(default_factory=dict)
    rows: int = 0
    skipped_names: int = 0  # not a BTC/ETH option name
    skipped_missing: int = 0  # no mark, mark IV or forward
    partial_snapshots: int = 0
    partial_rows: int = 0


def read_snapshot_file(path: Path, underlyings: list[str]) -> SnapshotRead:
    """Read one snapshot file; return its rows of ``underlyings`` in the store's schema, sorted."""
    where = str(path)
    if not path.is_file():
        raise DataValidationError(where, "file not found")
    try:
        raw = pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise DataValidationError(where, f"not a readable Parquet file ({exc})") from exc
    out = SnapshotRead(rows=raw.height)
    if "harvest_time" not in raw.columns or "instrument_name" not in raw.columns:
        raise DataValidationError(
            where, "missing harvest_time or instrument_name: not a snapshot file"
        )
    frame = complete_from_names(_conform(raw, where))
    named = frame.filter(pl.col("underlying").is_not_null())
    out.skipped_names = frame.height - named.height
    complete = named.filter(pl.all_horizontal(pl.col(c).is_not_null() for c in REQUIRED))
    out.skipped_missing = named.height - complete.height
    for u in underlyings:
        rows = _whole_snapshots(complete.filter(pl.col("underlying") == u), out)
        chains = chains_from_snapshots(rows, u, keep=("_row",))
        check_rules(chains, chain_row_rules(u), where, chains.get_column("_row"))
        out.frames[u] = _sorted_unique(chains, where)
    return out


def _conform(raw: pl.DataFrame, where: str) -> pl.DataFrame:
    """``raw`` in the snapshot schema (absent columns null) in file order, with ``_row``."""
    absent = [
        pl.lit(None, dtype=t).alias(c) for c, t in CHAIN_SCHEMA.items() if c not in raw.columns
    ]
    frame = raw.with_columns(absent)
    return conform(frame, CHAIN_SCHEMA, where).with_row_index("_row")


def _whole_snapshots(rows: pl.DataFrame, out: SnapshotRead) -> pl.DataFrame:
    """``rows`` without their partial snapshots (:func:`~cache.chain_snapshots.snapshot_sizes`)."""
    if rows.is_empty():
        return rows
    small = snapshot_sizes(rows).filter("partial")
    out.partial_snapshots += small.height
    out.partial_rows += int(small.get_column("len").sum())
    return rows.filter(~pl.col("harvest_time").is_in(small.get_column("harvest_time").implode()))


def _sorted_unique(chains: pl.DataFrame, where: str) -> pl.DataFrame:
    """Sort by key; refuse a key given twice, naming its second row."""
    ordered = chains.sort([*CHAIN_KEY, "_row"])
    same = pl.all_horizontal(pl.col(c) == pl.col(c).shift(1) for c in CHAIN_KEY)
    repeats = ordered.select(same.fill_null(False)).to_series().arg_true()
    if len(repeats):
        i = int(repeats[0])
        first, second = ordered.row(i - 1, named=True), ordered.row(i, named=True)
        raise DataValidationError(
            where,
            f"(harvest_time, instrument_name) repeated: {second['instrument_name']} at "
            f"{second['time'].isoformat()} is also data row {first['_row'] + 1}",
            second["_row"],
        )
    return ordered.drop("_row")
