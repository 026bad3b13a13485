"""The recorded calls a backtest on real option chains reads: one snapshot per instant.

At each instant of the run the market is the latest snapshot of the source's chain store
(:mod:`cache.chains`) taken at or before it, if it is at most ``chain_max_age_minutes`` old; an
instant without one is a *gap*: nothing can be sold there and an open call keeps its last
recorded mark. Only the calls a run can touch are loaded: calls of the snapshots some instant
reads, expiring after the snapshot and at most ``max_dte`` days (plus the staleness limit) after
it, as flat arrays sorted by snapshot, expiry and strike, so the numba kernels find a call with a
binary search and score a snapshot in one pass.

Units: prices in coin per 1-coin contract, IV as a fraction (the store keeps percent), strikes
and forwards in USD, times in ns since the epoch (UTC).
"""

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from cache.chains import ChainStore
from cache.datasource import DataNotCoveredError
from cache.timeutil import NS_PER_DAY, from_ns
from engine.config import CallSimulationConfig

NS_PER_MINUTE = 60 * 10**9
QUOTE_COLUMNS = ("exp_ns", "strike", "mark", "bid", "ask", "iv", "fwd")


@dataclass(frozen=True)
class ChainQuotes:
    """Recorded calls of the snapshots a run reads, and which snapshot each instant reads."""

    source: str
    max_age_ns: int  # the staleness limit: an older snapshot is a gap
    instant_snap: np.ndarray  # int64 [m]: snapshot read at each instant, -1 for a gap
    snap_ns: np.ndarray  # int64 [s]: time of each snapshot read
    offsets: np.ndarray  # int64 [s + 1]: snapshot s owns rows offsets[s]:offsets[s + 1]
    exp_ns: np.ndarray  # int64 [r]: expiry, 08:00 UTC
    strike: np.ndarray  # float64 [r]: USD
    mark: np.ndarray  # float64 [r]: coin
    bid: np.ndarray  # float64 [r]: coin, NaN when no bid was quoted
    ask: np.ndarray  # float64 [r]: coin, NaN when no ask was quoted
    iv: np.ndarray  # float64 [r]: the recorded mark IV, fraction
    fwd: np.ndarray  # float64 [r]: the forward the expiry was priced on, USD
    snapshots_stored: int  # snapshots the store holds within the run's window

    def gaps(self, mask: np.ndarray | None = None) -> int:
        """Instants (of ``mask``, else all) without a snapshot within the staleness limit."""
        snap = self.instant_snap if mask is None else self.instant_snap[mask]
        return int((snap < 0).sum())


def replay_arrays(quotes: ChainQuotes | None) -> tuple[np.ndarray, ...]:
    """What the replay kernel reads of the chains: ``(instant_snap, offsets, exp_ns, strike,
    mark, ask)``; all empty on a model chain (``quotes`` None), the kernel's switch."""
    if quotes is None:
        i, f = np.zeros(0, np.int64), np.zeros(0)
        return i, np.zeros(1, np.int64), i, f, f, f
    q = quotes
    return q.instant_snap, q.offsets, q.exp_ns, q.strike, q.mark, q.ask


def resolve_option_market(ds, cfg: CallSimulationConfig) -> str:
    """``"chains"`` or ``"model"``: the option market ``cfg`` runs on with source ``ds``.

    ``auto`` takes the recorded chains when the source holds them over the whole run, else the
    model chain. ``chains`` demands them: DataNotCoveredError names the source or the side of
    the range they do not cover.
    """
    if cfg.option_market == "model":
        return "model"
    cov = ds.coverage(cfg.underlying)
    if cov.chain_snapshots == 0 or cov.chain_start is None or cov.chain_end is None:
        if cfg.option_market == "auto":
            return "model"
        raise DataNotCoveredError(
            f"source {cfg.source!r} holds no recorded {cfg.underlying} option chains: choose "
            "option_market 'model', or a source made by thetadesk import-chains",
            ("option_market", "source"),
        )
    first = cfg.start + timedelta(hours=cfg.timeframe_hours)  # the first instant
    max_age = timedelta(minutes=cfg.chain_max_age_minutes)
    outside = tuple(
        name
        for name, ok in (
            ("start", cov.chain_start <= first),
            ("end", cov.chain_end + max_age >= cfg.end),
        )
        if not ok
    )
    if not outside:
        return "chains"
    if cfg.option_market == "auto":
        return "model"
    raise DataNotCoveredError(
        f"recorded {cfg.underlying} chains of source {cfg.source!r} cover "
        f"{cov.chain_start:%Y-%m-%d %H:%M} to {cov.chain_end:%Y-%m-%d %H:%M} UTC; the backtest's "
        f"instants run from {first:%Y-%m-%d %H:%M} to {cfg.end:%Y-%m-%d %H:%M} UTC",
        outside,
    )


def data_fingerprint(ds, cfg: CallSimulationConfig) -> str:
    """The fingerprint of the data a run of ``cfg`` reads: the whole source on real chains,
    else the source without its chains (:attr:`cache.store.SourceMeta.series_fingerprint`)."""
    if resolve_option_market(ds, cfg) == "chains":
        return ds.meta.fingerprint
    return ds.meta.series_fingerprint


def load_chain_quotes(ds, cfg: CallSimulationConfig, t_ns: np.ndarray) -> ChainQuotes:
    """The recorded calls the instants ``t_ns`` read (see the module doc)."""
    store, name, u = ChainStore(ds.store), ds.source, cfg.underlying
    max_age_ns = cfg.chain_max_age_minutes * NS_PER_MINUTE
    lo = from_ns(int(t_ns[0]) - max_age_ns)
    hi = from_ns(int(t_ns[-1])) + timedelta(microseconds=1)
    stored = store.snapshot_times(name, u, lo, hi).dt.epoch("ns").to_numpy()
    j = np.searchsorted(stored, t_ns, side="right") - 1
    fresh = (j >= 0) & (t_ns - stored[np.maximum(j, 0)] <= max_age_ns)
    used, instant_snap = np.unique(j[fresh], return_inverse=True)
    snap_of = np.full(len(t_ns), -1, np.int64)
    snap_of[fresh] = instant_snap
    snap_ns = stored[used]
    horizon = int((cfg.max_dte * NS_PER_DAY + max_age_ns) // 1000)  # µs, the store's unit
    times = pl.Series(snap_ns).cast(pl.Datetime("ns", "UTC")).cast(pl.Datetime("us", "UTC"))
    until = pl.col("expiry") - pl.col("time")
    rows = (
        store.scan(name, u, lo, hi)
        .filter(
            pl.col("time").is_in(times.implode())
            & (pl.col("option_type") == "C")
            & (until > pl.duration(microseconds=0))
            & (until <= pl.duration(microseconds=horizon))
        )
        .select(
            pl.col("time").dt.epoch("ns"),
            pl.col("expiry").dt.epoch("ns").alias("exp_ns"),
            "strike",
            pl.col("mark_price").alias("mark"),
            _positive("bid_price").alias("bid"),
            _positive("ask_price").alias("ask"),
            (pl.col("mark_iv") / 100.0).alias("iv"),
            pl.col("underlying_price").alias("fwd"),
        )
        .sort("time", "exp_ns", "strike")
        .collect()
    )
    row_t = rows.get_column("time").to_numpy()
    offsets = np.searchsorted(row_t, np.append(snap_ns, np.iinfo(np.int64).max)).astype(np.int64)
    offsets[-1] = len(row_t)
    cols = {c: np.ascontiguousarray(rows.get_column(c).to_numpy()) for c in QUOTE_COLUMNS}
    return ChainQuotes(
        source=name,
        max_age_ns=max_age_ns,
        instant_snap=snap_of,
        snap_ns=np.ascontiguousarray(snap_ns, dtype=np.int64),
        offsets=offsets,
        snapshots_stored=len(stored),
        **cols,
    )


def _positive(column: str) -> pl.Expr:
    """A price column with null, zero and negative (an empty side of the book) as NaN."""
    col = pl.col(column)
    return pl.when(col > 0).then(col).otherwise(float("nan"))
