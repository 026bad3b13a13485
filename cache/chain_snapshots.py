"""The recorder's snapshot rows (:data:`~cache.schema.CHAIN_SCHEMA`) to and from the chain store.

A snapshot row is what Deribit's ``public/get_book_summary_by_currency`` gives and what the
recorder of ``../shared/data/deribit_chain_snapshots`` keeps: ``harvest_time``,
``best_bid_price``/``best_ask_price`` (0 or null: an empty side), no book amounts, the expiry as
a date and Unix seconds. The store (:data:`~cache.schema.CHAIN_STORE_SCHEMA`) keys on ``time``,
writes an empty side and an IV of 0 as null and keeps the expiry as a UTC datetime.
"""

import polars as pl

from cache.chains import ChainStore, ChainWrite
from cache.deribit.naming import complete_from_names
from cache.schema import CHAIN_KEY, CHAIN_SCHEMA, CHAIN_STORE_SCHEMA, UTC_US, validate_chain
from cache.store import Store

GREEKS = ("greek_delta", "greek_gamma", "greek_theta", "greek_vega")
INDEX_UNDERLYING = "index_price"  # Deribit's underlying_index when an expiry prices on the index
PARTIAL_SHARE = 0.5  # a snapshot below this share of the median size is a partial recording


def index_from_forwards(snapshot: str) -> pl.Expr:
    """Per snapshot (column ``snapshot``), the forward of its expiries that price on the index
    (``underlying_index`` = ``index_price``): the index itself. Null where none does."""
    on_index = pl.col("underlying_index") == INDEX_UNDERLYING
    return pl.col("underlying_price").filter(on_index).median().over(snapshot).cast(pl.Float64)


def _positive_or_null(column: str) -> pl.Expr:
    """The column where it is > 0; null where it is 0, negative or null (an empty side)."""
    return pl.when(pl.col(column) > 0).then(pl.col(column))


def chains_from_snapshots(
    frame: pl.DataFrame,
    underlying: str,
    index_price: float | None = None,
    keep: tuple[str, ...] = (),
) -> pl.DataFrame:
    """Return the ``underlying`` rows of snapshot rows in the chain store's schema.

    ``frame`` is in :data:`~cache.schema.CHAIN_SCHEMA` with its contract fields filled
    (:func:`cache.deribit.naming.complete_from_names`). Rows of other underlyings and of options
    already expired at the snapshot are left out. ``index_price`` (USD) is the index recorded with
    the snapshot; without it, rows whose expiry prices on the index (``underlying_index`` =
    ``index_price``) give it. Columns ``keep`` are passed through. Rows keep their order; nothing
    is validated here.
    """
    rows = frame.filter(pl.col("underlying") == underlying)
    expiry = (pl.col("expiry_timestamp") * 1_000_000).round().cast(pl.Int64).cast(UTC_US)
    if index_price is None:
        index = index_from_forwards("harvest_time")
    else:
        index = pl.lit(float(index_price), dtype=pl.Float64)
    out = rows.select(
        pl.col("harvest_time").alias("time"),
        "instrument_name",
        expiry.alias("expiry"),
        "strike",
        "option_type",
        _positive_or_null("best_bid_price").alias("bid_price"),
        pl.lit(None, dtype=pl.Float64).alias("bid_amount"),
        _positive_or_null("best_ask_price").alias("ask_price"),
        pl.lit(None, dtype=pl.Float64).alias("ask_amount"),
        "mark_price",
        "mark_iv",
        _positive_or_null("bid_iv").alias("bid_iv"),
        _positive_or_null("ask_iv").alias("ask_iv"),
        "underlying_price",
        "underlying_index",
        index.alias("index_price"),
        "open_interest",
        *keep,
    )
    return out.filter(pl.col("expiry") > pl.col("time")).cast(CHAIN_STORE_SCHEMA)


def snapshots_from_chains(frame: pl.DataFrame, underlying: str) -> pl.DataFrame:
    """Return chain-store rows of ``underlying`` as snapshot rows (the calibration's input).

    Amounts and index price have no snapshot column and are dropped; ``volume`` and the greeks,
    which the store does not keep, are null.
    """
    missing = {c: pl.lit(None, dtype=CHAIN_SCHEMA[c]) for c in ("volume", *GREEKS)}
    out = frame.select(
        pl.col("time").alias("harvest_time"),
        "instrument_name",
        pl.lit(underlying).alias("underlying"),
        pl.col("expiry").dt.strftime("%Y-%m-%d").alias("expiry"),
        (pl.col("expiry").dt.epoch("us") / 1_000_000).alias("expiry_timestamp"),
        "option_type",
        "strike",
        "underlying_price",
        "mark_price",
        pl.col("bid_price").alias("best_bid_price"),
        pl.col("ask_price").alias("best_ask_price"),
        "mark_iv",
        "open_interest",
        "underlying_index",
        "bid_iv",
        "ask_iv",
        **{name: expr for name, expr in missing.items()},
    )
    return out.select(list(CHAIN_SCHEMA)).cast(CHAIN_SCHEMA)


def snapshot_sizes(frame: pl.DataFrame, column: str = "harvest_time") -> pl.DataFrame:
    """Rows per snapshot (``column``, ``len``) and ``partial``: fewer than :data:`PARTIAL_SHARE`
    of the median snapshot's rows, a recording cut short (10 rows where the others hold 700)."""
    sizes = frame.group_by(column).len()
    return sizes.with_columns(partial=pl.col("len") < PARTIAL_SHARE * pl.col("len").median())


def write_snapshots(
    store: Store, name: str, frame: pl.DataFrame, index_price: float | None = None
) -> dict[str, ChainWrite]:
    """Record snapshot rows (any underlyings) into source ``name``'s chain store.

    Contract fields missing from a row are read from its name. Deribit's book summary lists an
    instrument once per reply, so a repeated ``(harvest_time, instrument_name)`` is a glitch, not a
    second quote: the first row is kept rather than the whole snapshot refused (the snapshots
    importer, which reads files, refuses them instead).
    """
    frame = complete_from_names(validate_chain(frame, f"snapshots for {name}"))
    written = {}
    for underlying in frame.get_column("underlying").drop_nulls().unique().sort():
        rows = chains_from_snapshots(frame, underlying, index_price=index_price)
        rows = rows.unique(CHAIN_KEY, keep="first", maintain_order=True).sort(CHAIN_KEY)
        written[underlying] = ChainStore(store).write(name, underlying, rows)
    return written
