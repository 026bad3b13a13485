"""Chart-ready curves of a run: downsampled equity, HODL, drawdown and spot, and trade markers.

A 4-year hourly run has 35,000 instants; a chart a few hundred pixels wide needs far fewer. The
curves are thinned on the server by keeping, in every bucket of consecutive instants, the first
minimum and the first maximum of each curve (plus the first and last instant), so the peaks,
troughs and the worst drawdown a person looks for survive the thinning.
"""

import math
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import polars as pl

from engine.metrics import drawdown_series_pct
from engine.results.schema import assigned_expr, take_profit_expr

# curves whose extremes the thinning keeps (hodl_usd is quantity × spot: its extremes are spot's)
EXTREME_CURVES = ("spot_usd", "equity_usd", "equity_coin", "drawdown_pct", "hodl_drawdown_pct")
MARKER_KINDS = ("sell", "take_profit", "assigned")
SERIES = (  # the curves of a chart payload, in order
    "spot_usd",
    "equity_usd",
    "equity_coin",
    "hodl_usd",
    "hodl_coin",
    "drawdown_pct",
    "hodl_drawdown_pct",
)


def bucket_edges(n: int, buckets: int) -> np.ndarray:
    """Edges splitting the interior instants ``1 .. n-2`` into ``buckets`` non-empty buckets.

    Bucket ``i`` is ``[edges[i], edges[i+1])``; the first and last instants are kept apart.
    """
    if not 1 <= buckets <= n - 2:
        raise ValueError(f"buckets must be between 1 and n - 2 = {n - 2}, got {buckets}")
    return 1 + (np.arange(buckets + 1) * (n - 2)) // buckets


def bucket_extremes(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Indices of the first minimum and the first maximum of ``values`` in every bucket.

    NaN is ignored; a bucket holding only NaN contributes nothing. The slow, obvious twin is
    ``tests.reference.results.bucket_extremes_ref``.
    """
    lo, hi = int(edges[0]), int(edges[-1])
    seg = np.asarray(values, dtype=np.float64)[lo:hi]
    counts = np.diff(edges)
    bucket = np.repeat(np.arange(len(counts)), counts)
    found = []
    for reduce in (np.fmin, np.fmax):
        extreme = reduce.reduceat(seg, edges[:-1] - lo)
        hit = np.flatnonzero(seg == np.repeat(extreme, counts))  # NaN never equals: skipped
        first = np.flatnonzero(np.diff(bucket[hit], prepend=-1) != 0)
        found.append(hit[first] + lo)
    return np.concatenate(found)


def downsample_indices(curves: Sequence[np.ndarray], points: int) -> np.ndarray:
    """Sorted indices of at most ``points`` instants that keep the shape of every curve.

    The first and last instants are always kept, and so is each curve's per-bucket minimum and
    maximum (hence each curve's overall extremes). The bucket count is the largest one (found
    by bisection) whose kept instants fit in ``points``. All curves share one time axis.

    Parameters
    ----------
    curves
        Equal-length 1-D arrays on one time axis (NaN allowed).
    points
        Most instants to return; at least ``2 + 2 * len(curves)`` so every extreme fits.
    """
    if not curves:
        raise ValueError("curves must hold at least one array")
    n = len(curves[0])
    if any(len(c) != n for c in curves):
        raise ValueError("curves must all have the same length")
    if points < 2 + 2 * len(curves):
        raise ValueError(f"points must be at least 2 + 2 × {len(curves)} curves, got {points}")
    if n <= points:
        return np.arange(n)

    def keep(buckets: int) -> np.ndarray:
        edges = bucket_edges(n, buckets)
        parts = [np.array([0, n - 1])] + [bucket_extremes(c, edges) for c in curves]
        return np.unique(np.concatenate(parts))

    lo = max(1, (points - 2) // (2 * len(curves)))  # fits whatever the curves: 2 per bucket each
    hi = (points - 2) // 2  # the most that could fit, when every curve shares its extremes
    best = keep(lo)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        kept = keep(mid)
        if len(kept) <= points:
            lo, best = mid, kept
        else:
            hi = mid - 1
    return best


def trade_markers(trades: pl.DataFrame, until: datetime | None = None) -> pl.DataFrame:
    """Where calls were sold, taken profit on, or assigned, on the spot chart; in time order.

    Assigned means expired in the money (:func:`engine.results.schema.assigned_expr`).
    ``until`` keeps only the events at or before that instant (a run being published).
    Columns: ``time`` (UTC), ``kind``, ``price_usd`` (spot then), ``instrument_name``, ``strike``.
    """
    kind = pl.lit(None, pl.String)

    def events(time_col: str, spot_col: str, kind_expr: pl.Expr) -> pl.DataFrame:
        return trades.select(
            pl.col(time_col).alias("time"),
            kind_expr.alias("kind"),
            pl.col(spot_col).alias("price_usd"),
            "instrument_name",
            "strike",
        )

    closed = (
        pl.when(take_profit_expr())
        .then(pl.lit("take_profit"))
        .when(assigned_expr())
        .then(pl.lit("assigned"))
        .otherwise(kind)
    )
    sold = events("open_time", "spot_at_open", pl.lit("sell"))
    frame = pl.concat([sold, events("close_time", "spot_at_close", closed)]).drop_nulls("kind")
    if until is not None:
        frame = frame.filter(pl.col("time") <= until)
    order = pl.col("kind").replace_strict({k: i for i, k in enumerate(MARKER_KINDS)})
    return frame.sort(pl.col("time"), order, maintain_order=True)


def json_floats(values: np.ndarray) -> list[float | None]:
    """Values as JSON numbers: NaN and infinities become null."""
    return [v if math.isfinite(v) else None for v in np.asarray(values, np.float64).tolist()]


def equity_curve(
    equity: pl.DataFrame,
    trades: pl.DataFrame,
    points: int,
    until: datetime | None = None,
) -> dict:
    """The chart payload of a run: thinned curves on one time axis, and every trade marker.

    Drawdowns are computed on the full curve before thinning. Instants whose USD equity is not
    finite are left out (as the metrics do). ``until`` cuts both tables at that instant.

    Returns
    -------
    dict
        ``rows`` (instants in the full curve), ``points`` (instants returned), ``time_s``
        (UTC epoch seconds), ``spot_usd``, ``equity_usd``, ``equity_coin``, ``hodl_usd``,
        ``hodl_coin``, ``drawdown_pct`` and ``hodl_drawdown_pct`` (≤ 0, USD, from the running
        peak), and ``markers`` (see :func:`trade_markers`; ``time_s`` added).
    """
    if until is not None:
        equity = equity.filter(pl.col("time") <= until)
    equity = equity.filter(pl.col("equity_usd").is_finite())
    cols = {
        "spot_usd": equity.get_column("spot").to_numpy(),
        "equity_usd": equity.get_column("equity_usd").to_numpy(),
        "equity_coin": equity.get_column("equity_coin").to_numpy(),
        "hodl_usd": equity.get_column("hodl_usd").to_numpy(),
        "hodl_coin": equity.get_column("hodl_coin").to_numpy(),
    }
    cols["drawdown_pct"] = drawdown_series_pct(cols["equity_usd"])
    cols["hodl_drawdown_pct"] = drawdown_series_pct(cols["hodl_usd"])
    time_s = equity.get_column("time").dt.epoch("ms").to_numpy() / 1000.0
    keep = downsample_indices([cols[k] for k in EXTREME_CURVES], points)
    markers = trade_markers(trades, until).with_columns(
        (pl.col("time").dt.epoch("ms") / 1000.0).alias("time_s")
    )
    return {
        "rows": equity.height,
        "points": len(keep),
        "time_s": time_s[keep].tolist(),
        **{name: json_floats(cols[name][keep]) for name in SERIES},
        "markers": markers.to_dicts(),
    }
