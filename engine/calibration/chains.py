"""Option-chain snapshots as the calibration reads them: from Parquet files or a cached source.

The frames are in the snapshot schema of ``../shared/data/deribit_chain_snapshots`` (the cache's
:data:`~cache.schema.CHAIN_SCHEMA`). Recordings may leave ``underlying``, ``expiry``,
``expiry_timestamp``, ``option_type`` and ``strike`` null (the early recorder of 2025-12-07 did):
:func:`complete_from_names` derives them from ``instrument_name`` so those snapshots count too.
Rows whose name is not a BTC/ETH option name keep the nulls, and every fit skips them.
"""

from datetime import timedelta
from pathlib import Path

import polars as pl

from cache.datasource import DeribitDataSource
from cache.deribit.naming import SUPPORTED_UNDERLYINGS, complete_from_names
from cache.schema import validate_chain

# What a fit cannot do without; the contract fields can come from the instrument name.
REQUIRED_COLUMNS = (
    "harvest_time",
    "instrument_name",
    "underlying_price",
    "mark_price",
    "mark_iv",
    "best_bid_price",
    "best_ask_price",
)


USABLE = (
    pl.col("underlying").is_not_null()
    & pl.col("strike").is_not_null()
    & pl.col("expiry_timestamp").is_not_null()
    & (pl.col("mark_price") > 0)
    & (pl.col("mark_iv") > 0)
    & (pl.col("underlying_price") > 0)
)


def conform_chain(frame: pl.DataFrame, where: str) -> pl.DataFrame:
    """Check and cast a snapshot frame, then fill its contract fields from the names.

    Raises ``ValueError`` naming ``where`` and the missing or uncastable column, an unsupported
    underlying, or a frame without a single usable row (contract, mark, mark IV and forward).
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{where}: missing column(s) {missing}; expected {list(REQUIRED_COLUMNS)}")
    out = complete_from_names(validate_chain(frame, where))
    other = out.get_column("underlying").drop_nulls().unique().sort()
    other = [u for u in other if u not in SUPPORTED_UNDERLYINGS]
    if other:
        raise ValueError(
            f"{where}: underlying {other} not supported; expected {SUPPORTED_UNDERLYINGS}"
        )
    if out.filter(USABLE).is_empty():
        raise ValueError(
            f"{where}: no usable rows (an option with strike, expiry, positive mark_price, "
            "mark_iv and underlying_price)"
        )
    return out


def read_chain_file(path: Path) -> pl.DataFrame:
    """Read a Parquet file of snapshots; errors name the file."""
    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a Parquet file" if path.is_dir() else "no such file"
        raise ValueError(f"{path}: {what}")
    try:
        frame = pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ValueError(f"{path}: not a readable Parquet file ({exc})") from exc
    return conform_chain(frame, str(path))


def read_chain_source(data_dir: Path, source: str) -> dict[str, pl.DataFrame]:
    """Every chain snapshot a cached source holds, one frame per underlying.

    Keys are ``<source>:<UNDERLYING>``. Raises ``ValueError`` when the source holds none.
    """
    ds = DeribitDataSource(data_dir, source)
    frames = {}
    for underlying, cov in sorted(ds.meta.coverage.items()):
        if not cov.chain_snapshots or cov.chain_start is None or cov.chain_end is None:
            continue
        end = cov.chain_end + timedelta(microseconds=1)  # the range is half-open
        frame = ds.get_chain_snapshots(underlying, cov.chain_start, end)
        frames[f"{source}:{underlying}"] = conform_chain(frame, f"source {source!r} {underlying}")
    if not frames:
        raise ValueError(
            f"source {source!r} holds no option-chain snapshots (the live agent's deribit feed "
            "records them)"
        )
    return frames
