"""Market feeds for the live agent: each gives, at its clock's now, the same :class:`MarketView`.

- :class:`ReplaySourceFeed` walks a cached source (the synthetic default or an import) on an
  accelerated clock; the chain is the backtester's model chain, so offline the agent behaves as
  the backtest would.
- :class:`ReplayChainFeed` walks recorded chain snapshots (real marks, ``../shared`` schema).
- :class:`DeribitFeed` reads Deribit's public API and records every chain it sees to the cache.
"""

import bisect
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import polars as pl

from cache.chain_snapshots import snapshot_sizes, write_snapshots
from cache.deribit import (
    candles_from_chart,
    chain_from_book_summary,
    iv_from_dvol,
    settlements_from_delivery_prices,
)
from cache.schema import CANDLES_SCHEMA, IV_SCHEMA
from cache.staging import SourceBusyError, SourceLock
from cache.timeutil import DAYS_PER_YEAR, NS_PER_YEAR, to_ns
from engine.agent.protocols import MarketView, Quote
from engine.config import StrategyConfig
from engine.fills import SpreadModel
from engine.fills.nb import model_bid_ask_nb
from engine.instruments import parse_instrument
from engine.instruments.contracts import OPTION_SPECS
from engine.market import context_inputs, settlement_price_at
from engine.market_context import (
    CONTEXT_FIELDS,
    LOOKBACK_DAYS,
    MarketContext,
    market_context_batch,
)
from engine.policy import OpenCall
from engine.state import chain_candidates, model_candidates
from engine.volsurface import surface_args
from engine.volsurface.nb import model_quote_coin_nb


def unknown_context(time: datetime, spot: float) -> MarketContext:
    """A context with only the spot known (no candle history for this feed)."""
    nan = math.nan
    fields = {k: nan for k in CONTEXT_FIELDS} | {"spot": spot, "regime": 0}
    return MarketContext(time=time, **fields)


class _Timeline:
    """A replay clock over a list of instants ``times``; ``_i`` is the current one."""

    times: list[datetime]
    _i: int = 0

    def now(self) -> datetime:
        """The replayed instant."""
        return self.times[self._i]

    def advance(self) -> bool:
        """Move to the next instant; False after the last."""
        if self._i + 1 >= len(self.times):
            return False
        self._i += 1
        return True

    def resume_after(self, t: datetime) -> bool:
        """Move to the first instant after ``t``; False when none is left."""
        i = bisect.bisect_right(self.times, t)
        if i >= len(self.times):
            return False
        self._i = i
        return True


class ReplaySourceFeed(_Timeline):
    """Replay a cached source ``step`` by ``step`` from ``start``; the chain is modelled.

    The clock stops at ``end`` (default: where the source's candles or IV end); a last, shorter
    step lands on ``end`` itself. The market context of every instant is computed up front, on
    the strategy's timeframe, from the same data window a backtest of ``[start, end]`` reads; the
    chain is the backtest's model chain (:func:`engine.state.model_candidates`). Replayed over a
    backtest's instants, the agent therefore sees what the backtest saw.
    """

    name = "replay"

    def __init__(
        self,
        ds,
        cfg: StrategyConfig,
        start: datetime,
        step: timedelta,
        end: datetime | None = None,
    ) -> None:
        cov = ds.coverage(cfg.underlying)
        self.ds, self.cfg, self.step = ds, cfg, step
        data_end = min(cov.candles.end, cov.iv.end)
        self.end = data_end if end is None else min(end, data_end)
        if not cov.candles.start < start < self.end:
            raise ValueError(f"replay start {start.isoformat()} is outside the source's data")
        times = [start + k * step for k in range((self.end - start) // step + 1)]
        if times[-1] < self.end:
            times.append(self.end)
        self.times = times
        candles, iv = context_inputs(ds, cfg.underlying, cfg.timeframe, start, self.end)
        self._contexts = market_context_batch(candles, iv, pl.Series(times), cfg.timeframe_hours)
        kind = "SYNTHETIC data" if ds.is_synthetic else ds.meta.origin
        self.description = f"replay of source {ds.source!r} ({kind}), model chain"

    def view(self) -> MarketView:
        """The model chain and context at the clock's now."""
        now = self.now()
        cfg = self.cfg
        ctx = MarketContext.from_row(self._contexts.row(self._i, named=True))
        args = surface_args(cfg.vol_surface)

        spread = SpreadModel.default().spread_params(cfg.underlying, cfg.fill_model)
        ticks = OPTION_SPECS[cfg.underlying].tick_params()

        def quote(pos: OpenCall) -> Quote | None:
            t = (to_ns(pos.expiry) - to_ns(now)) / NS_PER_YEAR
            if t <= 0 or not ctx.iv_index > 0:
                return None
            iv_index = ctx.iv_index / 100.0
            basis = cfg.vol_surface.basis_annual
            mark, delta = model_quote_coin_nb(ctx.spot, iv_index, pos.strike, t, args, basis)
            bid, ask = model_bid_ask_nb(mark, delta, t * DAYS_PER_YEAR, ticks, spread)
            return Quote(mark, bid, ask)

        candidates = model_candidates(self.cfg, ctx)
        return MarketView(
            time=now,
            index_price=ctx.spot,
            context=ctx,
            candidates=candidates,
            quote=quote,
            settlement_price=lambda e: settlement_price_at(self.ds, self.cfg.underlying, e),
            chain_size=len(candidates),
            chain_kind="model",
        )


def _chain_view(
    cfg: StrategyConfig,
    now: datetime,
    ctx: MarketContext,
    chain: pl.DataFrame,
    settlement: Callable[[datetime], float | None],
    kind: str,
) -> MarketView:
    """Build the view of a quoted chain: score candidates on it and read quotes off it.

    The index price is ``ctx.spot``; ``kind`` says where the chain came from.
    """
    rows = {
        r["instrument_name"]: r
        for r in chain.select(
            "instrument_name", "mark_price", "best_bid_price", "best_ask_price"
        ).iter_rows(named=True)
    }

    def quote(pos: OpenCall) -> Quote | None:
        row = rows.get(pos.instrument_name)
        if row is None or row["mark_price"] is None:
            return None
        return Quote(row["mark_price"], row["best_bid_price"], row["best_ask_price"])

    return MarketView(
        time=now,
        index_price=ctx.spot,
        context=ctx,
        candidates=chain_candidates(cfg, ctx, chain),
        quote=quote,
        settlement_price=settlement,
        chain_size=chain.height,
        chain_kind=kind,
    )


def spot_proxy(chain: pl.DataFrame, now: datetime) -> float:
    """Spot from a chain without an index price: the forward of its nearest expiry."""
    parsed = chain.select(
        "underlying_price",
        pl.col("instrument_name")
        .map_elements(lambda n: parse_instrument(n).expiry, return_dtype=pl.Datetime("us", "UTC"))
        .alias("exp"),
    ).filter((pl.col("exp") > now) & (pl.col("underlying_price") > 0))
    return float(parsed.sort("exp").get_column("underlying_price")[0])


class ReplayChainFeed(_Timeline):
    """Replay recorded chain snapshots, one snapshot per step, with their real marks.

    Snapshots smaller than half the median size (partial recordings) are skipped. Without candle
    history the context knows only the spot (the nearest expiry's forward), so realized vol and
    regime are unknown and the score treats them as neutral.
    """

    name = "replay"

    def __init__(self, chains: pl.DataFrame, cfg: StrategyConfig) -> None:
        rows = chains.filter(pl.col("instrument_name").str.starts_with(cfg.underlying + "-"))
        full = snapshot_sizes(rows).filter(~pl.col("partial"))
        self.times = full.get_column("harvest_time").sort().to_list()
        if not self.times:
            raise ValueError(f"no {cfg.underlying} chain snapshots to replay")
        self.chains, self.cfg, self._i = rows, cfg, 0
        self.description = f"replay of {len(self.times)} recorded {cfg.underlying} chains"

    def snapshot(self, at: datetime | None = None) -> pl.DataFrame:
        """The rows of the snapshot at ``at`` (default: now)."""
        return self.chains.filter(pl.col("harvest_time") == (at or self.now()))

    def _first_at_or_after(self, t: datetime) -> datetime | None:
        return next((x for x in self.times if x >= t), None)

    def view(self) -> MarketView:
        """The recorded chain at now."""
        now = self.now()
        chain = self.snapshot()
        ctx = unknown_context(now, spot_proxy(chain, now))

        def settlement(expiry: datetime) -> float | None:
            at = self._first_at_or_after(expiry)
            return spot_proxy(self.snapshot(at), at) if at is not None else None

        return _chain_view(self.cfg, now, ctx, chain, settlement, "recorded")


CHART_MINUTES = 60  # the context's candles and DVOL are hourly
DVOL_SECONDS = 3600


class DeribitFeed:
    """Deribit's public API: index price, the whole option chain, candles and DVOL.

    Every chain is written to the source's chain store (:mod:`cache.chains`) under ``source``,
    with the index price read in the same cycle, so real history accumulates; while an import
    holds the source, the cycle's chain is not recorded (and says so in ``last_record``).
    Candle/DVOL history for the context is fetched once and topped up each cycle.
    """

    name = "deribit"

    def __init__(
        self, client, cfg: StrategyConfig, store, source: str, clock=lambda: datetime.now(UTC)
    ) -> None:
        self.client, self.cfg, self.store, self.source, self._clock = (
            client, cfg, store, source, clock,
        )  # fmt: skip
        self.description = f"Deribit public API ({source})"
        self.last_record = ""
        self._candles = pl.DataFrame(schema=CANDLES_SCHEMA)
        self._iv = pl.DataFrame(schema=IV_SCHEMA)

    def now(self) -> datetime:
        """Wall-clock UTC."""
        return self._clock()

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()

    def advance(self) -> bool:
        """A live feed never runs out."""
        return True

    def resume_after(self, t: datetime) -> bool:
        """A live feed's clock is the wall clock: nothing to move."""
        return True

    def _record(self, chain: pl.DataFrame, index: float) -> str:
        """Write the snapshot into the chain store; say what happened."""
        try:
            with SourceLock(self.store.data_dir, self.source, wait=False):
                written = write_snapshots(self.store, self.source, chain, index_price=index)
        except SourceBusyError as exc:
            return f"not recorded: {exc}"
        return f"recorded {sum(w.rows for w in written.values())} rows"

    def _history(self, now: datetime) -> MarketContext:
        u = self.cfg.underlying
        end_ms = int(now.timestamp() * 1000)
        since = now - timedelta(days=LOOKBACK_DAYS)
        if self._candles.height:
            since = self._candles.get_column("time")[-1]
        start_ms = int(since.timestamp() * 1000)
        chart = self.client.iter_chart_windows(f"{u}-PERPETUAL", start_ms, end_ms, CHART_MINUTES)
        self._candles = _append(self._candles, candles_from_chart(chart, CHART_MINUTES, end_ms))
        dvol = self.client.iter_volatility_index(u, start_ms, end_ms, DVOL_SECONDS)
        self._iv = _append(self._iv, iv_from_dvol(dvol, DVOL_SECONDS, end_ms))
        frame = market_context_batch(self._candles, self._iv, pl.Series([now]), 1)
        return MarketContext.from_row(frame.row(0, named=True))

    def view(self) -> MarketView:
        """Read the index, the chain and the history; record the chain."""
        now = self.now()
        u = self.cfg.underlying
        index = float(self.client.get_index_price(f"{u.lower()}_usd")["index_price"])
        rows = self.client.get_book_summary_by_currency(u, kind="option")
        chain = chain_from_book_summary(rows, now)
        self.last_record = self._record(chain, index)
        ctx = self._history(now)
        ctx = MarketContext(**{**ctx.__dict__, "spot": index})

        def settlement(expiry: datetime) -> float | None:
            """Deribit's delivery price of the expiry day; None until it is published."""
            days_back = max((now.date() - expiry.date()).days, 0)
            reply = self.client.get_delivery_prices(f"{u.lower()}_usd", 0, days_back + 5)
            prices = settlements_from_delivery_prices(reply).filter(
                pl.col("time").dt.date() == expiry.date()
            )
            return float(prices.item(0, "delivery_price")) if prices.height else None

        return _chain_view(self.cfg, now, ctx, chain, settlement, "live")


def _append(old: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """``old`` topped up with ``new``; a time in both keeps its newer row."""
    return pl.concat([old, new]).unique("time", keep="last").sort("time")
