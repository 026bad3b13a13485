"""Option-chain input files made in the tests: Tardis CSV from recorded snapshots, and small ones.

Nothing here is data: the Tardis files are converted from ``../shared`` snapshots at test time.
"""

import gzip
from pathlib import Path

import polars as pl

from cache.deribit.naming import complete_from_names
from cache.schema import validate_chain

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
