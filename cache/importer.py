"""Import user files (CSV or Parquet) of candles and of an IV series as a named source.

Files are read and fully validated before anything is written, so a bad file changes nothing.
Timestamps may be ISO-8601 strings (a missing offset means UTC), datetimes, or Unix epoch numbers
in seconds, milliseconds or microseconds (told apart by magnitude).
"""

from pathlib import Path

import polars as pl

from cache.schema import (
    UTC_US,
    DataValidationError,
    detect_timeframe,
    validate_candles,
    validate_iv,
)
from cache.store import SourceMeta, Store, check_source_name, check_underlying
from cache.timeutil import TIMEFRAMES

RESERVED_NAMES = {"synthetic", "deribit", "deribit-testnet"}


def read_table(path: Path) -> pl.DataFrame:
    """Read a CSV or Parquet file, naming the file in any error."""
    if not path.is_file():
        raise DataValidationError(str(path), "file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pl.read_csv(path, infer_schema_length=10_000)
        if suffix in (".parquet", ".pq"):
            return pl.read_parquet(path)
    except pl.exceptions.PolarsError as exc:
        raise DataValidationError(str(path), f"cannot be read ({exc})") from exc
    raise DataValidationError(str(path), "unsupported file type; use .csv or .parquet")


def parse_time_column(df: pl.DataFrame, where: str) -> pl.DataFrame:
    """Turn the ``time`` column into UTC microsecond datetimes."""
    if "time" not in df.columns:
        raise DataValidationError(where, f"missing column 'time'; found {df.columns}")
    col = df.get_column("time")
    if col.dtype.is_integer() or col.dtype.is_float():
        col = _epoch_to_datetime(col, where)
    elif col.dtype == pl.String:
        parsed = col.str.to_datetime(time_zone="UTC", time_unit="us", strict=False)
        bad = (parsed.is_null() & col.is_not_null()).arg_true()
        if len(bad):
            row = int(bad[0])
            raise DataValidationError(where, f"time {col[row]!r} is not an ISO-8601 timestamp", row)
        col = parsed
    elif isinstance(col.dtype, pl.Datetime):
        if col.dtype.time_zone is None:
            col = col.dt.replace_time_zone("UTC")
        col = col.dt.convert_time_zone("UTC")
    else:
        raise DataValidationError(where, f"time column has unsupported type {col.dtype}")
    return df.with_columns(col.cast(UTC_US).alias("time"))


def _epoch_to_datetime(col: pl.Series, where: str) -> pl.Series:
    top = col.abs().max()
    if top is None:
        raise DataValidationError(where, "time column is empty")
    if top < 1e11:
        unit, scale = "us", 1_000_000  # seconds
    elif top < 1e14:
        unit, scale = "us", 1_000  # milliseconds
    elif top < 1e17:
        unit, scale = "us", 1  # microseconds
    else:
        raise DataValidationError(where, "epoch times too large to be seconds, ms or µs")
    return (col.cast(pl.Float64) * scale).round().cast(pl.Int64).cast(pl.Datetime(unit, "UTC"))


def load_candles_file(path: Path) -> tuple[pl.DataFrame, str]:
    """Read and validate a candle file; return the frame and its detected timeframe."""
    where = str(path)
    df = parse_time_column(read_table(path), where)
    df = validate_candles(df, where)
    return df, detect_timeframe(df.get_column("time"), where)


def load_iv_file(path: Path) -> pl.DataFrame:
    """Read and validate an IV file (``time, iv`` with ``iv`` in percent)."""
    where = str(path)
    df = parse_time_column(read_table(path), where)
    if "iv" not in df.columns:
        raise DataValidationError(where, f"missing column 'iv' (percent); found {df.columns}")
    df = validate_iv(df.select("time", "iv"), where)
    detect_timeframe(df.get_column("time"), where)
    return df


def import_source(
    store: Store,
    name: str,
    underlying: str,
    candles_file: Path,
    iv_file: Path | None = None,
) -> SourceMeta:
    """Register user files as source ``name``; merging into an earlier import of the same name."""
    check_source_name(name)
    if name in RESERVED_NAMES:
        raise ValueError(f"source name {name!r} is reserved; pick another --name")
    u = check_underlying(underlying)
    candles, timeframe = load_candles_file(Path(candles_file))
    iv = load_iv_file(Path(iv_file)) if iv_file is not None else None
    if TIMEFRAMES[timeframe] > TIMEFRAMES["1d"]:
        raise DataValidationError(str(candles_file), f"timeframe {timeframe} is too coarse")
    files = [str(Path(f).resolve()) for f in (candles_file, iv_file) if f is not None]
    store.ensure_source(
        name, "import", label=f"imported files ({u})", details={"imported_files": files}
    )
    store.write_candles(name, u, candles, timeframe=timeframe)
    if iv is not None:
        store.write_iv(name, u, iv)
    imported = list(store.read_meta(name).details.get("imported_files", []))
    imported += [f for f in files if f not in imported]
    return store.set_details(name, imported_files=imported)
