"""Each recorded call next to the model's quote of it: one row per call, instant by instant.

The rows come from the market of a run on real chains (:func:`engine.market.load_run_market`):
at every instant whose snapshot is within the staleness limit, each call of that snapshot is
priced twice:

- *recorded*: its mark, mark IV, forward, bid and ask as stored; its delta is Black-76 from the
  recorded mark IV and forward, and its time to expiry ``T`` is from the snapshot's time;
- *model*: what the model chain of a run at that instant would quote for the same strike and
  ``T``: the calibrated surface on the IV index of the instant's market context (the last value
  closed by then) with the model's own forward ``spot · exp(basis_annual · T)`` (``spot``: the
  context's, the close of the last candle closed by the instant), a Black-76 mark in coin on that
  forward, and the spread model's bid and ask around it. The same surface on the *recorded*
  forward isolates the basis' share of the IV error.

The spread model is also applied to the recorded mark and delta, which isolates it from the rest
of the model. Rows are kept when their delta and DTE fall in the buckets (:data:`DELTA_EDGES`,
:data:`DTE_EDGES_DAYS`); a model column is NaN where the instant has no IV index.
"""

from itertools import pairwise

import numpy as np
import polars as pl

from cache.timeutil import DAYS_PER_YEAR, NS_PER_YEAR
from engine.config import VolSurfaceParams
from engine.fills import SpreadModel
from engine.market import RunMarket
from engine.pricing.black76 import delta_usd
from engine.volsurface import quote_calls

DELTA_EDGES = (0.05, 0.15, 0.25, 0.35, 0.5)  # Black-76 call delta, buckets [lo, hi)
DTE_EDGES_DAYS = (0.0, 1.0, 3.0, 7.0, 14.0, 30.0, 90.0)  # days to expiry, buckets [lo, hi)
ALL = "all"  # the bucket label of a table's pooled row


def bucket_labels(edges: tuple[float, ...]) -> list[str]:
    """``["0.05-0.15", …]``: the label of each bucket ``[edges[j], edges[j + 1])``."""
    return [f"{lo:g}-{hi:g}" for lo, hi in pairwise(edges)]


DELTA_BUCKETS = bucket_labels(DELTA_EDGES)
DTE_BUCKETS = bucket_labels(DTE_EDGES_DAYS)


def _bucket(values: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """Index of the bucket ``[lo, hi)`` holding each value; -1 outside every bucket (or NaN)."""
    j = np.searchsorted(np.asarray(edges), values, side="right") - 1
    return np.where((j >= 0) & (j < len(edges) - 1), j, -1)


def _rows_read(market: RunMarket) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(instant, snapshot, row)`` of every call the instants read, instant by instant."""
    ch = market.chains
    instants = np.flatnonzero(ch.instant_snap >= 0)
    snaps = ch.instant_snap[instants]
    counts = ch.offsets[snaps + 1] - ch.offsets[snaps]
    first = np.repeat(ch.offsets[snaps] - np.cumsum(counts) + counts, counts)
    rows = first + np.arange(counts.sum())
    return np.repeat(instants, counts), np.repeat(snaps, counts), rows


def compared_calls(
    market: RunMarket, underlying: str, surface: VolSurfaceParams, spread: SpreadModel
) -> pl.DataFrame:
    """The recorded calls of ``market`` (a run on real chains) and the model's quotes of them.

    Columns (see the module doc): ``time`` (the instant), ``snapshot_time``, ``expiry``,
    ``strike`` (USD), ``t_years``, ``dte_days``, ``delta_bucket``, ``dte_bucket_days``; recorded
    ``mark_coin``, ``iv_pct``, ``forward_usd``, ``bid_coin``, ``ask_coin`` (NaN: side empty),
    ``delta``; the context's ``spot_usd`` and ``iv_index_pct`` (NaN: none); the model's
    ``model_forward_usd``, ``model_iv_pct``, ``model_iv_at_recorded_forward_pct``,
    ``model_mark_coin``, ``model_delta``, ``model_bid_coin``, ``model_ask_coin``; and
    ``spread_bid_coin``, ``spread_ask_coin``: the spread model on the recorded mark and delta.
    """
    if market.chains is None:
        raise ValueError("compared_calls needs the market of a run on recorded chains")
    ch = market.chains
    instant, snap, r = _rows_read(market)
    t = (ch.exp_ns[r] - ch.snap_ns[snap]) / NS_PER_YEAR
    strike, fwd, mark = ch.strike[r], ch.fwd[r], ch.mark[r]
    delta = np.asarray(delta_usd(fwd, strike, t, ch.iv[r], True))
    dte = t * DAYS_PER_YEAR
    d_j, t_j = _bucket(delta, DELTA_EDGES), _bucket(dte, DTE_EDGES_DAYS)
    keep = (d_j >= 0) & (t_j >= 0)
    instant, snap, r, t, strike, fwd, mark, delta, dte = (
        a[keep] for a in (instant, snap, r, t, strike, fwd, mark, delta, dte)
    )
    spot = market.spot[instant]
    index_pct = market.context.get_column("iv_index").to_numpy()[instant]
    model_fwd = spot * np.exp(surface.basis_annual * t)
    model_iv, model_mark, model_delta = quote_calls(model_fwd, strike, t, index_pct, surface)
    iv_at_fwd = quote_calls(fwd, strike, t, index_pct, surface)[0]
    spread_bid, spread_ask = spread.bid_ask(underlying, mark, delta, dte)
    model_bid, model_ask = spread.bid_ask(underlying, model_mark, model_delta, dte)
    frame = pl.DataFrame(
        {
            "time": market.t_ns[instant],
            "snapshot_time": ch.snap_ns[snap],
            "expiry": ch.exp_ns[r],
            "strike": strike,
            "t_years": t,
            "dte_days": dte,
            "delta_bucket": np.asarray(DELTA_BUCKETS)[d_j[keep]],
            "dte_bucket_days": np.asarray(DTE_BUCKETS)[t_j[keep]],
            "mark_coin": mark,
            "iv_pct": 100.0 * ch.iv[r],
            "forward_usd": fwd,
            "bid_coin": ch.bid[r],
            "ask_coin": ch.ask[r],
            "delta": delta,
            "spot_usd": spot,
            "iv_index_pct": index_pct,
            "model_forward_usd": model_fwd,
            "model_iv_pct": model_iv,
            "model_iv_at_recorded_forward_pct": iv_at_fwd,
            "model_mark_coin": model_mark,
            "model_delta": model_delta,
            "model_bid_coin": model_bid,
            "model_ask_coin": model_ask,
            "spread_bid_coin": spread_bid,
            "spread_ask_coin": spread_ask,
        }
    )
    as_utc = [
        pl.col(c).cast(pl.Datetime("ns", "UTC")).cast(pl.Datetime("us", "UTC"))
        for c in ("time", "snapshot_time", "expiry")
    ]
    return frame.with_columns(as_utc)
