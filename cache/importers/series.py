"""The spot candles, IV index and settlement prices a chain source needs besides its chains.

A backtest reads spot candles (context, equity, settlement) and an IV index next to the chains.
A chain source gets them one of three ways, chosen at its first import and kept for life:

- **derived** (no ``--candles-from``): hourly candles of each snapshot's spot, the index price where
  the snapshot has one, else the forward of its nearest expiry (within hours of expiry the two
  agree to a few dollars); volume 0 (chains say nothing of spot volume). The IV index is the
  chains' own DVOL-style 30-day index (:func:`cache.ivindex.iv_index`, percent,
  ``iv_is_real = false``: it is not a Deribit DVOL print): the hour opening at ``t`` holds the index
  of the last snapshot in ``[t, t + 1 h)`` that has one, as its candle holds that hour's last spot,
  so a reader taking the value as known at ``t + 1 h`` never sees a later snapshot. An hour where no
  snapshot has an index (no expiries bracketing 30 days, a partial recording) has no row: the
  realized-vol fallback of :mod:`cache.iv_fallback` is not mixed in, because it is another quantity
  (realized vol plus a premium) whose level would jump against the chains' implied vol, and it
  would only start 30 days after the first candle anyway. No delivery prices are written, so
  expiries settle by the engine's documented rule: the close of the last hourly bar by 08:00 UTC,
  i.e. the last snapshot's spot before 08:00.
- **joined** (``--candles-from NAME``): the candles, IV index (real DVOL where NAME has it) and
  delivery prices of the cached source ``NAME`` up to the last day of the chains.
- **own**: chains imported into a source that already holds candles (e.g. ``deribit``, downloaded
  by ``thetadesk warm``) leave its series alone.
"""

from datetime import date, datetime, timedelta

import polars as pl

from cache.chain_snapshots import snapshots_from_chains
from cache.chains import ChainStore
from cache.datasource import DeribitDataSource
from cache.ivindex import iv_index
from cache.schema import CANDLES_SCHEMA, IV_SCHEMA
from cache.store import Store

OWN = ":own"  # the source's candles, IV and settlements are its own (not a source name)
IV_DERIVED = (
    "derived from the chains, not real DVOL: the DVOL-style 30-day index (VIX strip of the "
    "out-of-the-money marks, total variance interpolated between the expiries bracketing 30 days) "
    "of the last snapshot in each UTC hour that has one; hours without one are gaps (no fallback)"
)


def describe(candles_from: str | None) -> dict[str, str | None]:
    """The metadata block that says where the source's spot, IV and settlements come from."""
    if candles_from == OWN:
        own = "the source's own (the chains were added to a source that has them)"
        return {"candles_from": OWN, "candles": own, "iv": own, "settlement": own}
    if candles_from is None:
        return {
            "candles_from": None,
            "candles": "derived from the chains: hourly OHLC of each snapshot's index price, "
            "else the forward of its nearest expiry; volume 0",
            "iv": IV_DERIVED,
            "settlement": "index rule: the close of the last hourly bar by 08:00 UTC (the last "
            "snapshot's spot before 08:00); no delivery prices",
        }
    return {
        "candles_from": candles_from,
        "candles": f"joined from source {candles_from!r}",
        "iv": f"joined from source {candles_from!r} (real DVOL where it has it)",
        "settlement": f"delivery prices joined from source {candles_from!r}, else the index rule",
    }


def spot_per_snapshot(chains: pl.DataFrame) -> pl.DataFrame:
    """Each snapshot's spot (USD): its index price, else the forward of its nearest expiry."""
    nearest = pl.col("expiry") == pl.col("expiry").min()  # per snapshot (the group)
    per = chains.group_by("time").agg(
        pl.col("index_price").drop_nulls().median().alias("index"),
        pl.col("underlying_price").filter(nearest).median().alias("forward"),
    )
    return per.select("time", pl.coalesce("index", "forward").alias("spot")).sort("time")


def index_per_snapshot(chains: pl.DataFrame, underlying: str) -> pl.DataFrame:
    """Each snapshot's DVOL-style index (``time``, ``iv`` in percent); snapshots without one
    (no expiries bracketing 30 days, too few strikes) are left out."""
    index = iv_index(snapshots_from_chains(chains, underlying))
    return index.select(pl.col("harvest_time").alias("time"), pl.col("index").alias("iv"))


def _hourly(frame: pl.DataFrame, **aggs: pl.Expr) -> pl.DataFrame:
    """``aggs`` over the rows of each UTC hour ``[t, t + 1 h)`` (``time`` sorted), labelled ``t``;
    hours without rows are left out."""
    return frame.group_by_dynamic("time", every="1h", closed="left", label="left").agg(**aggs)


def hourly_candles(spots: pl.DataFrame) -> pl.DataFrame:
    """Hourly OHLC bars (UTC-aligned, volume 0) of a spot series; hours without a spot are gaps."""
    if spots.is_empty():
        return pl.DataFrame(schema=CANDLES_SCHEMA)
    spot = pl.col("spot")
    bars = _hourly(spots, open=spot.first(), high=spot.max(), low=spot.min(), close=spot.last())
    return bars.with_columns(volume=pl.lit(0.0)).select(list(CANDLES_SCHEMA))


def hourly_iv(indexes: pl.DataFrame) -> pl.DataFrame:
    """The IV index rows (``iv_is_real`` false) of per-snapshot indexes: at hour ``t`` the last
    index in ``[t, t + 1 h)``, the hour's close; hours without an index are gaps."""
    if indexes.is_empty():
        return pl.DataFrame(schema=IV_SCHEMA)
    hours = _hourly(indexes.sort("time"), iv=pl.col("iv").last())
    return hours.with_columns(iv_is_real=pl.lit(False)).select(list(IV_SCHEMA))


def derive(store: Store, name: str, underlying: str, days: list[date]) -> None:
    """Write the hourly candles and IV index of the UTC ``days`` from the stored chains.

    Each day is read whole, with the snapshots stored before this import, so every hour is
    computed from all of its snapshots; the rows replace those stored at the same hours.
    """
    chains = ChainStore(store)
    spots, indexes = [], []
    for day in days:
        rows = chains.read(name, underlying, day, day + timedelta(days=1))
        spots.append(spot_per_snapshot(rows))
        indexes.append(index_per_snapshot(rows, underlying))
    candles = hourly_candles(pl.concat(spots))
    if candles.is_empty():
        return
    store.write_candles(name, underlying, candles, "1h", replace=True)
    iv = hourly_iv(pl.concat(indexes))
    if iv.height:
        store.write_iv(name, underlying, iv, replace=True)


def join(store: Store, name: str, underlying: str, live: Store, candles_from: str) -> None:
    """Copy the candles, IV and delivery prices of source ``candles_from`` up to the chains' end."""
    ds = DeribitDataSource(live.data_dir, candles_from)
    cov = ds.coverage(underlying)
    chain_end = store.read_meta(name).coverage[underlying].chain_end
    if cov.candles.start is None or chain_end is None or cov.candles.start > chain_end:
        raise ValueError(
            f"--candles-from {candles_from}: it holds no {underlying} candles before the chains end"
        )
    until = min(cov.candles.end, _next_day(chain_end))
    tf = ds.base_timeframe(underlying)
    candles = ds.get_candles(underlying, cov.candles.start, until, tf)
    store.write_candles(name, underlying, candles, tf, replace=True)
    if cov.iv.start is not None and cov.iv.start < until:
        iv = ds.get_iv_index(underlying, cov.iv.start, min(cov.iv.end, until))
        store.write_iv(name, underlying, iv, replace=True)
    delivery = ds.get_delivery_prices(underlying, cov.candles.start, until)
    if delivery.height:
        store.write_delivery(name, underlying, delivery)


def _next_day(t: datetime) -> datetime:
    return (t + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
