"""One fixed schema per kind of cached data, and the checks every write and import passes.

The schemas are documented column by column, with units, in ``docs/data.md``.
"""

from dataclasses import dataclass
from datetime import time, timedelta

import polars as pl

from cache.timeutil import EXPIRY_HOUR_UTC, TIMEFRAMES

SCHEMA_VERSION = 1
UTC_US = pl.Datetime("us", "UTC")

CANDLES_SCHEMA: dict[str, pl.DataType] = {
    "time": UTC_US,  # bar open time
    "open": pl.Float64(),  # USD
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Float64(),  # USD notional traded in the bar
}

IV_SCHEMA: dict[str, pl.DataType] = {
    "time": UTC_US,
    "iv": pl.Float64(),  # annualised implied vol in percent (DVOL-like: 55.0 = 55 %)
    "iv_is_real": pl.Boolean(),  # True: a real Deribit DVOL print; False: anything else
}
IV_PERCENT_RANGE = (1.0, 1000.0)  # an iv outside is not in percent (a fraction) or not real

DELIVERY_SCHEMA: dict[str, pl.DataType] = {
    "time": UTC_US,  # the 08:00 UTC settlement instant
    "delivery_price": pl.Float64(),  # USD, Deribit's index settlement price
}

# The recorder's snapshot format (``../shared/data/deribit_chain_snapshots``, Deribit's book
# summary): what the snapshots importer and the calibration read; the store keeps
# CHAIN_STORE_SCHEMA.
CHAIN_SCHEMA: dict[str, pl.DataType] = {
    "harvest_time": UTC_US,
    "instrument_name": pl.String(),
    "underlying": pl.String(),
    "expiry": pl.String(),  # YYYY-MM-DD, expiring 08:00 UTC
    "expiry_timestamp": pl.Float64(),  # Unix seconds
    "option_type": pl.String(),  # C / P
    "strike": pl.Float64(),  # USD
    "underlying_price": pl.Float64(),  # forward of the expiry, USD
    "mark_price": pl.Float64(),  # coin
    "best_bid_price": pl.Float64(),  # coin
    "best_ask_price": pl.Float64(),  # coin
    "mark_iv": pl.Float64(),  # percent
    "open_interest": pl.Float64(),
    "volume": pl.Float64(),
    "underlying_index": pl.String(),
    "bid_iv": pl.Float64(),
    "ask_iv": pl.Float64(),
    "greek_delta": pl.Float64(),
    "greek_gamma": pl.Float64(),
    "greek_theta": pl.Float64(),
    "greek_vega": pl.Float64(),
}

# The chain store: one row per instrument per snapshot, keyed by (time, instrument_name).
CHAIN_STORE_SCHEMA: dict[str, pl.DataType] = {
    "time": UTC_US,  # the snapshot's instant (a sampling boundary for sampled tick data)
    "instrument_name": pl.String(),  # e.g. BTC-26DEC25-100000-C
    "expiry": UTC_US,  # 08:00 UTC of the expiry day
    "strike": pl.Float64(),  # USD
    "option_type": pl.String(),  # C / P
    "bid_price": pl.Float64(),  # coin per 1-coin contract; null: no bid
    "bid_amount": pl.Float64(),  # contracts at the best bid; null: no bid or not recorded
    "ask_price": pl.Float64(),  # coin per contract; null: no ask
    "ask_amount": pl.Float64(),  # contracts at the best ask
    "mark_price": pl.Float64(),  # coin per contract; 0 = worthless (Deribit prints 0)
    "mark_iv": pl.Float64(),  # percent (55.0 = 55 %)
    "bid_iv": pl.Float64(),  # percent; null: no bid or not recorded
    "ask_iv": pl.Float64(),  # percent
    "underlying_price": pl.Float64(),  # USD, the forward this expiry prices on
    "underlying_index": pl.String(),  # the future or SYN. forward priced on, or "index_price"
    "index_price": pl.Float64(),  # USD, Deribit's index at the snapshot; null: not recorded
    "open_interest": pl.Float64(),  # contracts
}
CHAIN_KEY = ["time", "instrument_name"]
CHAIN_OPTIONAL = (  # may be null; every other column of the chain store may not
    "bid_price", "bid_amount", "ask_price", "ask_amount", "bid_iv", "ask_iv", "underlying_index",
    "index_price", "open_interest",
)  # fmt: skip

UNDERLYINGS = ("BTC", "ETH")


class DataValidationError(ValueError):
    """A data file or frame breaks a schema rule; the message names file, row and rule."""

    def __init__(self, where: str, rule: str, row: int | None = None) -> None:
        self.where, self.rule, self.row = where, rule, row
        at = f", data row {row + 1}" if row is not None else ""  # 1-based, header not counted
        super().__init__(f"{where}{at}: {rule}")


@dataclass(frozen=True)
class Gap:
    """Missing bars: ``start`` is the first missing bar, ``end`` the next present one."""

    start: str
    end: str
    missing_bars: int


def conform(df: pl.DataFrame, schema: dict[str, pl.DataType], where: str) -> pl.DataFrame:
    """Select and cast ``df`` to ``schema``, naming the first missing or uncastable column."""
    missing = [c for c in schema if c not in df.columns]
    if missing:
        raise DataValidationError(where, f"missing column(s) {missing}; expected {list(schema)}")
    out = []
    for name, dtype in schema.items():
        col = df.get_column(name)
        if isinstance(dtype, pl.Datetime):
            col = _as_utc(col, where)
        else:
            try:
                col = col.cast(dtype, strict=True)
            except pl.exceptions.PolarsError as exc:
                raise DataValidationError(where, f"column {name!r} is not {dtype}") from exc
        out.append(col.alias(name))
    return pl.DataFrame(out)


def _as_utc(col: pl.Series, where: str) -> pl.Series:
    if isinstance(col.dtype, pl.Datetime):
        if col.dtype.time_zone is None:
            raise DataValidationError(where, f"column {col.name!r} is naive; use UTC timestamps")
        return col.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    raise DataValidationError(where, f"column {col.name!r} is {col.dtype}, expected a UTC datetime")


def _first_bad_row(mask: pl.Series) -> int | None:
    idx = mask.arg_true()
    return int(idx[0]) if len(idx) else None


def check_time_column(df: pl.DataFrame, where: str, column: str = "time") -> None:
    """Require strictly increasing (sorted, unique), non-null timestamps."""
    t = df.get_column(column)
    row = _first_bad_row(t.is_null())
    if row is not None:
        raise DataValidationError(where, f"{column} is null", row)
    if len(t) > 1:
        row = _first_bad_row(t.diff().slice(1) <= timedelta(0))
        if row is not None:
            raise DataValidationError(
                where, f"{column} not strictly increasing (duplicate or unsorted)", row + 1
            )


def check_positive_finite(df: pl.DataFrame, columns: list[str], where: str) -> None:
    """Require finite, strictly positive values in ``columns``."""
    for name in columns:
        col = df.get_column(name)
        bad = col.is_null() | ~col.is_finite() | (col <= 0)
        row = _first_bad_row(bad)
        if row is not None:
            raise DataValidationError(
                where, f"{name} must be a positive finite number, got {col[row]}", row
            )


def validate_candles(df: pl.DataFrame, where: str) -> pl.DataFrame:
    """Conform and check candles; return the frame in the fixed schema."""
    df = conform(df, CANDLES_SCHEMA, where)
    check_time_column(df, where)
    check_positive_finite(df, ["open", "high", "low", "close"], where)
    vol = df.get_column("volume")
    row = _first_bad_row(vol.is_null() | ~vol.is_finite() | (vol < 0))
    if row is not None:
        raise DataValidationError(where, "volume must be a finite number ≥ 0", row)
    rules = [
        (pl.col("high") < pl.col("low"), "high < low"),
        (pl.col("high") < pl.max_horizontal("open", "close"), "high below open/close"),
        (pl.col("low") > pl.min_horizontal("open", "close"), "low above open/close"),
    ]
    for expr, rule in rules:
        row = _first_bad_row(df.select(expr).to_series())
        if row is not None:
            raise DataValidationError(where, rule, row)
    return df


def validate_iv(df: pl.DataFrame, where: str) -> pl.DataFrame:
    """Conform and check an implied-vol index; ``iv`` is in percent."""
    if "iv_is_real" not in df.columns:
        df = df.with_columns(pl.lit(False).alias("iv_is_real"))
    df = conform(df, IV_SCHEMA, where)
    check_time_column(df, where)
    check_positive_finite(df, ["iv"], where)
    iv, (low, high) = df.get_column("iv"), IV_PERCENT_RANGE
    row = _first_bad_row((iv < low) | (iv > high))
    if row is not None:
        raise DataValidationError(
            where,
            f"iv {iv[row]} is outside {low:g}..{high:g}: iv must be in percent (55.0 = 55 %)",
            row,
        )
    return df


def validate_delivery(df: pl.DataFrame, where: str) -> pl.DataFrame:
    """Conform and check settlement prices."""
    df = conform(df, DELIVERY_SCHEMA, where)
    check_time_column(df, where)
    check_positive_finite(df, ["delivery_price"], where)
    return df


def validate_chain(df: pl.DataFrame, where: str) -> pl.DataFrame:
    """Conform chain snapshots (columns absent from a recording become null)."""
    for name, dtype in CHAIN_SCHEMA.items():
        if name not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=dtype).alias(name))
    df = conform(df, CHAIN_SCHEMA, where)
    for name in ("harvest_time", "instrument_name"):
        row = _first_bad_row(df.get_column(name).is_null())
        if row is not None:
            raise DataValidationError(where, f"{name} is null", row)
    mark = df.get_column("mark_price")
    row = _first_bad_row(mark.is_not_null() & (~mark.is_finite() | (mark < 0)))
    if row is not None:
        raise DataValidationError(where, "mark_price must be finite and ≥ 0", row)
    return df.sort("harvest_time", "instrument_name", maintain_order=True)


def find_gaps(times: pl.Series, step: timedelta) -> list[Gap]:
    """List the stretches where consecutive timestamps are more than ``step`` apart."""
    if len(times) < 2:
        return []
    df = pl.DataFrame({"t": times}).with_columns(prev=pl.col("t").shift(1))
    holes = df.filter((pl.col("t") - pl.col("prev")) > step)
    return [
        Gap(
            start=(prev + step).isoformat(),
            end=t.isoformat(),
            missing_bars=int((t - prev) / step) - 1,
        )
        for t, prev in holes.select("t", "prev").iter_rows()
    ]


def detect_timeframe(times: pl.Series, where: str) -> str:
    """Name the resolution of a series (1h, 4h or 1d) from its most common step."""
    if len(times) < 2:
        raise DataValidationError(where, "need at least 2 rows to detect the timeframe")
    step = times.diff().slice(1).mode().sort()[0]
    for name, delta in TIMEFRAMES.items():
        if step == delta:
            return name
    raise DataValidationError(
        where, f"resolution {step} is not supported; use 1h, 4h or 1d bars aligned to UTC"
    )


def validate_chain_store(df: pl.DataFrame, where: str, underlying: str) -> pl.DataFrame:
    """Conform and check rows of the chain store of ``underlying``; return them in its schema.

    Absent nullable columns become null. Keys ``(time, instrument_name)`` must be strictly
    increasing, and every row must pass :func:`chain_row_rules`.
    """
    for name in CHAIN_OPTIONAL:
        if name not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=CHAIN_STORE_SCHEMA[name]).alias(name))
    df = conform(df, CHAIN_STORE_SCHEMA, where)
    check_rules(df, chain_row_rules(underlying), where)
    _check_chain_keys(df, where)
    return df


def chain_row_rules(underlying: str) -> list[tuple[pl.Expr, str]]:
    """The row rules of the chain store, as ``(expression true on a bad row, rule)`` pairs.

    Required columns are not null; names are ``underlying`` options; the expiry is at 08:00 UTC
    after ``time``; strike, forward and any bid/ask price, amount and index price are positive and
    finite; ``mark_price`` is finite and ≥ 0 (Deribit marks a worthless option at 0);
    ``mark_iv`` is in percent (1..1000), bid/ask IVs in (0, 1000]; ``option_type`` is C or P.
    """
    low, high = IV_PERCENT_RANGE
    required = [c for c in CHAIN_STORE_SCHEMA if c not in CHAIN_OPTIONAL]
    optional_positive = ["bid_price", "bid_amount", "ask_price", "ask_amount", "index_price"]
    return [
        *((pl.col(c).is_null(), f"{c} is missing") for c in required),
        (~pl.col("instrument_name").str.starts_with(f"{underlying}-"), f"not an {underlying} name"),
        (pl.col("expiry").dt.time() != time(EXPIRY_HOUR_UTC), "expiry is not at 08:00 UTC"),
        (pl.col("expiry") <= pl.col("time"), "expiry is not after time (an expired option)"),
        (~pl.col("option_type").is_in(["C", "P"]), "option_type is not C or P"),
        *(
            (~_positive(c), f"{c} must be a positive finite number")
            for c in ("strike", "underlying_price")
        ),
        *(
            (pl.col(c).is_not_null() & ~_positive(c), f"{c} must be positive and finite or empty")
            for c in optional_positive
        ),
        (~pl.col("mark_price").is_finite() | (pl.col("mark_price") < 0), "mark_price must be ≥ 0"),
        (~pl.col("mark_iv").is_between(low, high), "mark_iv is not in percent (1..1000)"),
        *(
            (
                pl.col(c).is_not_null() & ~pl.col(c).is_between(0, high, closed="right"),
                f"{c} is not in percent (0..1000]",
            )
            for c in ("bid_iv", "ask_iv")
        ),
        (
            pl.col("open_interest").is_not_null() & ~(pl.col("open_interest") >= 0),
            "open_interest must be ≥ 0",
        ),
    ]


def check_rules(
    df: pl.DataFrame, rules: list[tuple[pl.Expr, str]], where: str, rows: pl.Series | None = None
) -> None:
    """Raise naming the first row (``rows[i]`` if given, else ``i``) on which a rule is broken."""
    if df.is_empty():
        return
    bad = df.select(expr.fill_null(True).alias(str(i)) for i, (expr, _) in enumerate(rules))
    flags = bad.select(pl.all().any()).row(0)
    for (_, rule), column, broken in zip(rules, bad.columns, flags, strict=True):
        if broken:
            row = _first_bad_row(bad.get_column(column))
            raise DataValidationError(where, rule, row if rows is None else int(rows[row]))


def _positive(column: str) -> pl.Expr:
    return pl.col(column).is_finite() & (pl.col(column) > 0)


def _check_chain_keys(df: pl.DataFrame, where: str) -> None:
    """Require ``(time, instrument_name)`` strictly increasing: sorted, no duplicate."""
    if df.height < 2:
        return
    t, name = pl.col("time"), pl.col("instrument_name")
    later = (t > t.shift(1)) | ((t == t.shift(1)) & (name > name.shift(1)))
    row = _first_bad_row(df.select(~later).to_series().slice(1))
    row = None if row is None else row + 1
    if row is not None:
        raise DataValidationError(
            where, "(time, instrument_name) not strictly increasing (duplicate or unsorted)", row
        )
