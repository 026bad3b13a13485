"""The market of one run: instants, context, decision times and settlement prices.

The run's clock is the list of *instants*: the close times of the run-timeframe bars inside
``[start, end]``. At an instant the engine knows every bar closed by then and nothing later.
Decision instants are ``start + k * decision_interval_hours`` before ``end``.

On real chains (``option_market``, :mod:`engine.chains`) the run also carries the recorded calls
of the snapshots its instants read, and the IV index is context only (candidates carry their
recorded IV), so it need not cover the run.

Settlement price of the expiry of day ``d`` (08:00 UTC): Deribit's delivery price when the source
has it; otherwise the close of the last base-timeframe bar ending at or before 08:00 UTC that day
(with 1h data, the 07:00–08:00 bar, whose close is the index at 08:00; Deribit averages the 30
minutes before, so this differs only by intra-half-hour noise).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from cache.datasource import DataNotCoveredError
from cache.timeutil import TIMEFRAME_HOURS, to_ns
from engine.chains import ChainQuotes, data_fingerprint, load_chain_quotes, resolve_option_market
from engine.config import CallSimulationConfig, FieldValueError
from engine.market_context import LOOKBACK_DAYS, market_context_batch
from engine.policy.schedule import decision_mask

# the config fields load_run_market reads (on recorded chains ``max_dte`` too: it bounds the calls
# loaded); configurations equal on them read the same market
MARKET_FIELDS = frozenset(
    {"underlying", "start", "end", "timeframe", "decision_interval_hours", "source",
     "option_market", "chain_max_age_minutes"}
)  # fmt: skip


@dataclass(frozen=True)
class RunMarket:
    """Everything a run reads of the market, as arrays over its instants."""

    t_ns: np.ndarray  # int64 [m] instants, ns since epoch UTC
    context: pl.DataFrame  # market context per instant (engine.market_context fields)
    is_decision: np.ndarray  # bool [m]
    settle_day0_ns: int  # 08:00 UTC of the first settlement day
    settle_price: np.ndarray  # float64 [d], USD, NaN where unknown
    settle_from_delivery: np.ndarray  # bool [d]: the price is Deribit's delivery price
    settle_stale: np.ndarray  # int64 [d]: 1 when the price is a close more than one base bar old
    data_fingerprint: str  # of what the run reads (engine.chains.data_fingerprint)
    data_is_synthetic: bool
    chains: ChainQuotes | None = None  # the recorded calls on real chains; None: model chain

    @property
    def spot(self) -> np.ndarray:
        """Close price (USD) at each instant."""
        return self.context.get_column("spot").to_numpy()

    @property
    def iv_index(self) -> np.ndarray:
        """IV index at each instant as a fraction (0.6 = 60 %)."""
        return self.context.get_column("iv_index").to_numpy() / 100.0

    @property
    def iv_is_real(self) -> np.ndarray:
        """Whether the IV index at each instant is a real Deribit DVOL print."""
        return self.context.get_column("iv_is_real").to_numpy()


def check_covered(ds, cfg: CallSimulationConfig) -> None:
    """Raise DataNotCoveredError unless the source's data cover the whole run: its candles, and
    its recorded chains on real chains (:func:`engine.chains.resolve_option_market`), else its
    IV index."""
    cov = ds.coverage(cfg.underlying)
    wanted = (("candles", cov.candles), ("IV index", cov.iv))
    on_chains = resolve_option_market(ds, cfg) == "chains"
    for what, series in wanted[:1] if on_chains else wanted:
        if series.start is None:
            raise DataNotCoveredError(
                f"source {cfg.source!r} holds no {cfg.underlying} {what}", ("source",)
            )
        if not series.start <= cfg.start < cfg.end <= series.end:
            outside = tuple(
                name
                for name, t in (("start", cfg.start), ("end", cfg.end))
                if not series.start <= t <= series.end
            )
            raise DataNotCoveredError(
                f"{cfg.underlying} {what} of source {cfg.source!r} cover "
                f"{series.start:%Y-%m-%d} to {series.end:%Y-%m-%d}; the backtest asks for "
                f"{cfg.start.date().isoformat()} to {cfg.end.date().isoformat()}",
                outside,
            )
    base = ds.base_timeframe(cfg.underlying)
    if cfg.timeframe_hours < TIMEFRAME_HOURS[base]:
        raise FieldValueError(
            ("source", "timeframe"),
            f"source {cfg.source!r} holds {base} {cfg.underlying} candles, coarser than the "
            f"timeframe {cfg.timeframe}: choose a timeframe of {base} or more, or another source",
        )


def first_spot_usd(ds, cfg: CallSimulationConfig) -> float:
    """The spot (USD) at the run's first instant, as :func:`load_run_market` gives it.

    The close of the first ``cfg.timeframe`` bar closing at or after ``cfg.start``: what
    ``initial_capital_usd`` buys coins at. The range must be covered (:func:`check_covered`).
    """
    tf = timedelta(hours=cfg.timeframe_hours)
    cov = ds.coverage(cfg.underlying).candles
    bars = ds.get_candles(
        cfg.underlying, max(cfg.start - tf, cov.start), min(cfg.start + tf, cov.end), cfg.timeframe
    )
    first = bars.filter(pl.col("time") + tf >= cfg.start)
    if first.is_empty():
        raise FieldValueError("start", f"no {cfg.timeframe} bar closes at {cfg.start.isoformat()}")
    return float(first.get_column("close")[0])


def context_inputs(
    ds, underlying: str, timeframe: str, start: datetime, end: datetime, need_iv: bool = True
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Candles (at ``timeframe``) and IV index that the context of ``[start, end]`` reads.

    They reach back the longest context window before ``start``. A backtest and the agent's
    replay feed both read this same window, so their contexts are equal to the last bit. Without
    ``need_iv`` an IV index that does not reach ``end`` is read as far as it goes (maybe none).
    """
    cov = ds.coverage(underlying)
    lookback = timedelta(days=LOOKBACK_DAYS)
    candles = ds.get_candles(underlying, max(start - lookback, cov.candles.start), end, timeframe)
    iv_lo = max(start - lookback, cov.iv.start or start)
    iv_hi = end if need_iv else min(end, cov.iv.end or iv_lo)
    if iv_hi <= iv_lo:
        return candles, pl.DataFrame(schema={"time": pl.Datetime("us", "UTC"), "iv": float})
    return candles, ds.get_iv_index(underlying, iv_lo, iv_hi)


def load_run_market(ds, cfg: CallSimulationConfig) -> RunMarket:
    """Read candles, IV and settlement prices for ``cfg`` and build the run's clock."""
    tf = timedelta(hours=cfg.timeframe_hours)
    check_covered(ds, cfg)
    on_chains = resolve_option_market(ds, cfg) == "chains"
    candles, iv = context_inputs(
        ds, cfg.underlying, cfg.timeframe, cfg.start, cfg.end, need_iv=not on_chains
    )
    closes = candles.get_column("time") + tf
    instants = closes.filter((closes >= cfg.start) & (closes <= cfg.end))
    if instants.len() < 2:
        raise ValueError("the range holds fewer than two bars; widen start/end")
    context = market_context_batch(candles, iv, instants, cfg.timeframe_hours)
    t_ns = instants.dt.epoch("ns").to_numpy()
    is_decision = decision_mask(t_ns, to_ns(cfg.start), cfg.decision_interval_hours, to_ns(cfg.end))
    day0, price, from_delivery, stale = _settlement_prices(ds, cfg)
    return RunMarket(
        t_ns=t_ns,
        context=context,
        is_decision=is_decision,
        settle_day0_ns=day0,
        settle_price=price,
        settle_from_delivery=from_delivery,
        settle_stale=stale,
        data_fingerprint=data_fingerprint(ds, cfg),
        data_is_synthetic=ds.is_synthetic,
        chains=load_chain_quotes(ds, cfg, t_ns) if on_chains else None,
    )


def settlement_prices(
    ds, underlying: str, day_lo: datetime, day_hi: datetime
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Settlement prices (USD) of the 08:00 UTC expiries of the days in ``[day_lo, day_hi)``.

    Returns ``(ns of the first 08:00, prices, from_delivery, stale)``. A price is Deribit's
    delivery price when the data has it, else the close of the last base bar closing by 08:00;
    ``stale`` (int64, 1/0) flags a close more than one base bar before 08:00 (a gap in the
    candles). A price is NaN (and stale) when the data holds neither.
    """
    days = pl.datetime_range(day_lo, day_hi, "1d", closed="left", eager=True, time_zone="UTC")
    at8 = pl.DataFrame({"time": days + timedelta(hours=8)}).cast({"time": pl.Datetime("us", "UTC")})
    base_tf = ds.base_timeframe(underlying)
    base_h = TIMEFRAME_HOURS[base_tf]
    cov = ds.coverage(underlying).candles
    lo = max(day_lo - timedelta(days=2), cov.start)
    hi = min(day_hi + timedelta(hours=8), cov.end)
    base = ds.get_candles(underlying, lo, hi, base_tf).select(
        (pl.col("time") + timedelta(hours=base_h)).alias("time"),
        (pl.col("time") + timedelta(hours=base_h)).alias("closed_at"),
        pl.col("close"),
    )
    from_candles = at8.join_asof(base, on="time", strategy="backward")
    delivery = ds.get_delivery_prices(
        underlying, at8["time"][0], at8["time"][-1] + timedelta(seconds=1)
    )
    merged = from_candles.join(delivery, on="time", how="left")
    price = merged.select(pl.coalesce("delivery_price", "close")).to_series().to_numpy()
    from_delivery = merged.get_column("delivery_price").is_not_null().to_numpy()
    age_s = (merged.get_column("time") - merged.get_column("closed_at")).dt.total_seconds()
    age_h = age_s.cast(pl.Float64).fill_null(np.inf).to_numpy() / 3600.0
    stale = ~from_delivery & (age_h > base_h)
    price = np.where(np.isfinite(price), price, np.nan)
    day0 = int(at8.get_column("time").dt.epoch("ns")[0])
    return day0, price, from_delivery, (stale | np.isnan(price)).astype(np.int64)


def settlement_price_at(ds, underlying: str, expiry: datetime) -> float | None:
    """The settlement price (USD) of one 08:00 UTC expiry, by the same rule; None if unknown."""
    day = expiry.replace(hour=0, minute=0, second=0, microsecond=0)
    price = settlement_prices(ds, underlying, day, day + timedelta(days=1))[1][0]
    return float(price) if np.isfinite(price) else None


def _settlement_prices(ds, cfg: CallSimulationConfig):
    day_lo = cfg.start.replace(hour=0, minute=0, second=0, microsecond=0)
    day_hi = cfg.end.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return settlement_prices(ds, cfg.underlying, day_lo, day_hi)
