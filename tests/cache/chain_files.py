"""Option-chain input files made in the tests: Tardis CSV from recorded snapshots, and small ones.

Nothing here is data: the Tardis files are converted from ``../shared`` snapshots at test time.
"""

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from cache.deribit.naming import complete_from_names
from cache.schema import validate_chain

_FIVE_MIN = timedelta(minutes=5)

TARDIS_HEADER = [
    "exchange", "symbol", "timestamp", "local_timestamp", "type", "strike_price", "expiration",
    "open_interest", "last_price", "bid_price", "bid_amount", "bid_iv", "ask_price", "ask_amount",
    "ask_iv", "mark_price", "mark_iv", "underlying_index", "underlying_price", "delta", "gamma",
    "vega", "theta", "rho",
]  # fmt: skip


def tardis_from_snapshots(snapshots: pl.DataFrame) -> pl.DataFrame:
    """Recorded snapshot rows as Tardis ``options_chain`` rows (arrival = harvest time).

    Book amounts, which snapshots lack, are 1.0 where a side is quoted; greeks and last price
    are empty, as Tardis leaves absent fields.
    """
    rows = complete_from_names(validate_chain(snapshots, "snapshots")).filter(
        pl.col("underlying").is_not_null()
    )
    t = pl.col("harvest_time").dt.epoch("us")
    side = {"bid": "best_bid_price", "ask": "best_ask_price"}
    empty = pl.lit(None, dtype=pl.Float64)
    return rows.select(
        exchange=pl.lit("deribit"),
        symbol="instrument_name",
        timestamp=t - 1_000,
        local_timestamp=t,
        type=pl.when(pl.col("option_type") == "C").then(pl.lit("call")).otherwise(pl.lit("put")),
        strike_price="strike",
        expiration=(pl.col("expiry_timestamp") * 1_000_000).cast(pl.Int64),
        open_interest="open_interest",
        last_price=empty,
        bid_price=pl.when(pl.col(side["bid"]) > 0).then(pl.col(side["bid"])),
        bid_amount=pl.when(pl.col(side["bid"]) > 0).then(pl.lit(1.0)),
        bid_iv="bid_iv",
        ask_price=pl.when(pl.col(side["ask"]) > 0).then(pl.col(side["ask"])),
        ask_amount=pl.when(pl.col(side["ask"]) > 0).then(pl.lit(1.0)),
        ask_iv="ask_iv",
        mark_price="mark_price",
        mark_iv="mark_iv",
        underlying_index="underlying_index",
        underlying_price="underlying_price",
        delta=empty,
        gamma=empty,
        vega=empty,
        theta=empty,
        rho=empty,
    ).sort("local_timestamp", maintain_order=True)


def write_tardis(frame: pl.DataFrame, path: Path) -> Path:
    """Write Tardis rows as CSV (gzip when ``path`` ends in ``.gz``); empty fields for nulls."""
    text = frame.select(TARDIS_HEADER).write_csv()
    if path.suffix == ".gz":
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def csv_text(rows: list[str]) -> str:
    """A hand-written Tardis file: the header and ``rows`` (comma-separated, 24 fields)."""
    return "\n".join([",".join(TARDIS_HEADER), *rows]) + "\n"


DAY = datetime(2025, 12, 8, tzinfo=UTC)
EXPIRY = datetime(2025, 12, 26, 8, tzinfo=UTC)


def us(t: datetime) -> int:
    return int(t.timestamp()) * 1_000_000 + t.microsecond


def row(name: str, at: timedelta, bid: str = "0.05", ask: str = "0.052", kind: str = "call") -> str:
    """A Tardis row of ``name`` arriving ``at`` after midnight; ``bid``/``ask`` '' = empty side."""
    t = us(DAY + at)
    fields = [
        "deribit", name, str(t - 900), str(t), kind, name.split("-")[2], str(us(EXPIRY)), "12.5",
        "", bid, "2.0" if bid else "", "44.1" if bid else "", ask, "3.0" if ask else "",
        "46.2" if ask else "", "0.051", "45.0", "SYN.BTC-26DEC25", "91000.5", "", "", "", "", "",
    ]  # fmt: skip
    return ",".join(fields)


CALL, PUT = "BTC-26DEC25-90000-C", "BTC-26DEC25-90000-P"


def small_tardis(path: Path) -> Path:
    """Quotes around the 00:05 and 00:10 boundaries of ``DAY``, with empty and zero sides."""
    path.write_text(
        csv_text(
            [
                row(CALL, timedelta(seconds=0.5)),
                row(CALL, _FIVE_MIN - timedelta(microseconds=1), bid=""),
                row(CALL, _FIVE_MIN, bid="0.07"),  # exactly on the boundary: still 00:05
                row(CALL, _FIVE_MIN + timedelta(microseconds=1), bid="0.08"),
                row(PUT, timedelta(minutes=6), bid="", ask="0", kind="put"),
                row("ETH-26DEC25-3000-C", timedelta(minutes=7)),
                row("SOL_USDC-26DEC25-130-C", timedelta(minutes=8)),
                row(CALL, timedelta(minutes=10, seconds=0.5), bid="0.09"),  # 00:15 not covered
            ]
        )
    )
    return path
