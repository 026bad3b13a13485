"""The spot candles, IV index and settlement prices a chain source needs besides its chains.

A backtest reads spot candles (context, equity, settlement) and an IV index next to the chains.
A chain source gets them one of three ways, chosen at its first import and kept for life:

- **derived** (no ``--candles-from``): hourly candles of each snapshot's spot, the index price where
  the snapshot has one, else the forward of its nearest expiry (within hours of expiry the two
  agree to a few dollars); volume 0 (chains say nothing of spot volume). The IV index is the cache's
  realized-vol fallback (:mod:`cache.iv_fallback`, ``iv_is_real = false``) once 30 days of candles
  exist: a DVOL-style index of the chains needs the calibration's method, which lives in the
  engine, and the cache does not import the engine. No delivery prices are written, so expiries
  settle by the engine's documented rule: the close of the last hourly bar by 08:00 UTC, i.e. the
  last snapshot's spot before 08:00.
- **joined** (``--candles-from NAME``): the candles, IV index (real DVOL where NAME has it) and
  delivery prices of the cached source ``NAME`` up to the last day of the chains.
- **own**: chains imported into a source that already holds candles (e.g. ``deribit``, downloaded
  by ``thetadesk warm``) leave its series alone.
"""

from datetime import date, datetime, timedelta

import polars as pl

from cache.chains import ChainStore
from cache.datasource import DeribitDataSource
from cache.iv_fallback import DEFAULT_FALLBACK, fallback_iv
from cache.schema import CANDLES_SCHEMA
from cache.store import Store

OWN = ":own"  # the source's candles, IV and settlements are its own (not a source name)


def describe(candles_from: str | None) -> dict[str, str | None]:
    """The metadata block that says where the source's spot, IV and settlements come from."""
    if candles_from == OWN:
        own = "the source's own (the chains were added to a source that has them)"
        return {"candles_from": OWN, "candles": own, "iv": own, "settlement": own}
    if candles_from is None:
        rule = DEFAULT_FALLBACK
        return {
            "candles_from": None,
            "candles": "derived from the chains: hourly OHLC of each snapshot's index price, "
            "else the forward of its nearest expiry; volume 0",
            "iv": f"fallback, not real: realized vol + {rule.premium_points:g} points (floor "
            f"{rule.floor_percent:g} %) over {rule.window_days} days of the derived candles; no "
            "DVOL-style index of the chains (that method is the engine's calibration, not in "
            "cache/)",
            "settlement": "index rule: the close of the last hourly bar by 08:00 UTC (the last "
            "snapshot's spot before 08:00); no delivery prices",
        }
    return {
        "candles_from": candles_from,
        "candles": f"joined from source {candles_from!r}",
        "iv": f"joined from source {candles_from!r} (real DVOL where it has it)",
        "settlement": f"delivery prices joined from source {candles_from!r}, else the index rule",
    }


def spot_per_snapshot(chains: pl.LazyFrame) -> pl.DataFrame:
    """Each snapshot's spot (USD): its index price, else the forward of its nearest expiry."""
    nearest = pl.col("expiry") == pl.col("expiry").min()  # per snapshot (the group)
    per = chains.group_by("time").agg(
        pl.col("index_price").drop_nulls().median().alias("index"),
        pl.col("underlying_price").filter(nearest).median().alias("forward"),
    )
    return per.select("time", pl.coalesce("index", "forward").alias("spot")).sort("time").collect()


def hourly_candles(spots: pl.DataFrame) -> pl.DataFrame:
    """Hourly OHLC bars (UTC-aligned, volume 0) of a spot series; hours without a spot are gaps."""
    if spots.is_empty():
        return pl.DataFrame(schema=CANDLES_SCHEMA)
    bars = spots.group_by_dynamic("time", every="1h", closed="left", label="left").agg(
        pl.col("spot").first().alias("open"),
        pl.col("spot").max().alias("high"),
        pl.col("spot").min().alias("low"),
        pl.col("spot").last().alias("close"),
    )
    return bars.with_columns(volume=pl.lit(0.0)).select(list(CANDLES_SCHEMA))


def derive(store: Store, name: str, underlying: str, days: list[date]) -> None:
    """Write the candles of ``days`` from the stored chains, then the fallback IV index."""
    chains = ChainStore(store)
    spots = [
        spot_per_snapshot(chains.scan(name, underlying, day, day + timedelta(days=1)))
        for day in days
    ]
    candles = hourly_candles(pl.concat(spots))
    if candles.is_empty():
        return
    store.write_candles(name, underlying, candles, "1h", replace=True)
    all_candles = pl.read_parquet(store.candles_path(name, underlying, "1h"))
    iv = fallback_iv(all_candles)
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
