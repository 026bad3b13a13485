"""Deribit replies as polars frames in the cache's schemas (:mod:`cache.schema`).

Each function takes replies as :class:`~cache.deribit.client.DeribitClient` returns them (checked
and coerced by :mod:`cache.deribit.parse`) and returns a frame with the columns and dtypes of the
cache: times are ``Datetime("us", "UTC")``, sorted. The history downloader and the live agent's
feed both build their frames here, so one set of rules holds for both:

- a candle counts once its bar has closed (a forming bar has no final close yet);
- a DVOL print outside the cache's IV range (1..1000 %) is no print;
- a delivery price is the settlement at 08:00 UTC of its date;
- a book summary row whose name is not a BTC/ETH option is skipped.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime, time
from typing import Any

import polars as pl

from cache.deribit.naming import parse_instrument
from cache.deribit.paging import chart_resolution, dvol_resolution
from cache.schema import CHAIN_SCHEMA, IV_PERCENT_RANGE, UTC_US
from cache.timeutil import EXPIRY_HOUR_UTC

_CHART_COLUMNS = {
    "ticks": pl.Int64(),
    **dict.fromkeys(("open", "high", "low", "close", "cost"), pl.Float64()),
}


def candles_from_chart(
    chunks: Iterable[dict[str, Any]], resolution: int | str, until_ms: int
) -> pl.DataFrame:
    """Return the bars of ``public/get_tradingview_chart_data`` replies that closed by ``until_ms``.

    Parameters
    ----------
    chunks : iterable of dict
        Replies (parallel lists ``ticks, open, high, low, close, cost``), e.g. the chunks of
        :meth:`~cache.deribit.client.DeribitClient.iter_chart_windows`.
    resolution : int or str
        The resolution the candles were asked for: minutes or ``"1D"``.
    until_ms : int
        Milliseconds since the epoch; a bar is kept only when ``open + resolution <= until_ms``.

    Returns
    -------
    polars.DataFrame
        :data:`~cache.schema.CANDLES_SCHEMA`: ``time`` (bar open, UTC), ``open, high, low,
        close`` (USD, the perpetual's quote currency) and ``volume`` (USD notional: Deribit's
        ``cost``; its ``volume`` is in coin and is dropped). One row per bar, the first seen.
    """
    data: dict[str, list] = {column: [] for column in _CHART_COLUMNS}
    for chunk in chunks:
        for column, values in data.items():
            values.extend(chunk[column])
    _, bar_ms = chart_resolution(resolution)
    bars = pl.DataFrame(data, schema=_CHART_COLUMNS).filter(pl.col("ticks") + bar_ms <= until_ms)
    return _by_time(bars.select(_time("ticks"), "open", "high", "low", "close", volume="cost"))


def iv_from_dvol(
    chunks: Iterable[Sequence[Sequence[float]]], resolution: int | str, until_ms: int
) -> pl.DataFrame:
    """Return the DVOL closes of ``public/get_volatility_index_data`` rows as real IV rows.

    Parameters
    ----------
    chunks : iterable of list
        Lists of rows ``[ts_ms, open, high, low, close]``: the ``data`` of replies, or the chunks
        of :meth:`~cache.deribit.client.DeribitClient.iter_volatility_index`.
    resolution : int or str
        The resolution the DVOL was asked for: seconds or ``"1D"``.
    until_ms : int
        Milliseconds since the epoch; a print is kept only when its bar closed by then.

    Returns
    -------
    polars.DataFrame
        :data:`~cache.schema.IV_SCHEMA`: ``time`` (the DVOL bar's open, UTC), ``iv`` (its close,
        percent: 55.0 = 55 %), ``iv_is_real`` (True). A close outside 1..1000 % is not a usable
        percentage and counts as no print. One row per time, the first valid print seen.
    """
    rows = [row for chunk in chunks for row in chunk]
    _, bar_ms = dvol_resolution(resolution)
    low, high = IV_PERCENT_RANGE
    prints = pl.DataFrame(
        {"ts": [row[0] for row in rows], "iv": [row[4] for row in rows]},
        schema={"ts": pl.Int64(), "iv": pl.Float64()},
    ).filter((pl.col("ts") + bar_ms <= until_ms) & pl.col("iv").is_between(low, high))
    return _by_time(prints.select(_time("ts"), "iv", iv_is_real=pl.lit(True)))


def settlements_from_delivery_prices(reply: dict[str, Any]) -> pl.DataFrame:
    """Return the settlement prices of a ``public/get_delivery_prices`` reply.

    Parameters
    ----------
    reply : dict
        ``{"data": [{"date": "YYYY-MM-DD", "delivery_price": float}], "records_total": int}``.

    Returns
    -------
    polars.DataFrame
        :data:`~cache.schema.DELIVERY_SCHEMA`: ``time`` (08:00 UTC of ``date``, when Deribit
        settles) and ``delivery_price`` (USD), oldest first.
    """
    rows = reply["data"]
    days = pl.DataFrame(
        {"date": [r["date"] for r in rows], "delivery_price": [r["delivery_price"] for r in rows]},
        schema={"date": pl.String(), "delivery_price": pl.Float64()},
    )
    at = pl.col("date").str.to_date().dt.combine(time(EXPIRY_HOUR_UTC), "us")
    settled = days.select(at.dt.replace_time_zone("UTC").alias("time"), "delivery_price")
    return settled.sort("time")


def chain_from_book_summary(rows: Iterable[dict[str, Any]], harvest_time: datetime) -> pl.DataFrame:
    """Return ``public/get_book_summary_by_currency`` rows as one chain snapshot.

    Parameters
    ----------
    rows : iterable of dict
        Book summary rows as :func:`~cache.deribit.parse.parse_book_summary` returns them
        (optional fields present, None when Deribit left them out).
    harvest_time : datetime
        UTC-aware instant the snapshot was taken.

    Returns
    -------
    polars.DataFrame
        :data:`~cache.schema.CHAIN_SCHEMA`, one row per BTC/ETH option (other names are
        skipped), in the reply's order: ``underlying``, ``expiry`` (``YYYY-MM-DD``, expiring at
        08:00 UTC), ``expiry_timestamp`` (Unix seconds), ``option_type`` and ``strike`` (USD) read
        from the name; ``underlying_price`` (the expiry's forward, USD), ``mark_price``,
        ``best_bid_price``, ``best_ask_price`` (coin), ``mark_iv`` (percent), ``open_interest``
        and ``volume`` (contracts) and ``underlying_index`` from the row. Bid, ask and IV may be
        null; the ticker-only columns (``bid_iv``, ``ask_iv``, greeks) are null.
    """
    out = []
    for row in rows:
        try:
            option = parse_instrument(row["instrument_name"])
        except ValueError:
            continue  # a future, a linear USDC option: not a BTC/ETH option name
        out.append(
            {
                "harvest_time": harvest_time,
                "instrument_name": row["instrument_name"],
                "underlying": option.underlying,
                "expiry": option.expiry.date().isoformat(),
                "expiry_timestamp": option.expiry.timestamp(),
                "option_type": option.option_type,
                "strike": option.strike,
                "underlying_price": row["underlying_price"],
                "mark_price": row["mark_price"],
                "best_bid_price": row["bid_price"],
                "best_ask_price": row["ask_price"],
                "mark_iv": row["mark_iv"],
                "open_interest": row["open_interest"],
                "volume": row["volume"],
                "underlying_index": row["underlying_index"],
            }
        )
    return pl.DataFrame(out, schema=CHAIN_SCHEMA)


def _time(ms_column: str) -> pl.Expr:
    """UTC time (microseconds) of a column of milliseconds since the epoch."""
    return (
        pl.from_epoch(ms_column, time_unit="ms")
        .dt.replace_time_zone("UTC")
        .cast(UTC_US)
        .alias("time")
    )


def _by_time(frame: pl.DataFrame) -> pl.DataFrame:
    """Keep the first row of each ``time`` and sort by it."""
    return frame.unique("time", keep="first", maintain_order=True).sort("time")
