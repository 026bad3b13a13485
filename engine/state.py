"""The decision state at one time: spot, market context and scored call candidates.

:func:`build_historical_state` builds it from the data source one time at a time, in plain Python
over the same scalar kernels the prepare phase runs in batches; it serves inspection, debugging and
the live agent, and a test proves the batch path produces identical rows.
"""

import math
from datetime import datetime

import polars as pl

from cache.timeutil import DAYS_PER_YEAR, SECONDS_PER_YEAR, as_utc
from engine.config import CallSimulationConfig, StrategyConfig
from engine.fills import SpreadModel
from engine.fills.nb import model_bid_ask_nb
from engine.instruments import (
    DEFAULT_GRID_RULES,
    format_instrument,
    is_monthly_expiry,
    listed_expiries,
    parse_instrument,
    strike_grid,
)
from engine.instruments.contracts import OPTION_SPECS
from engine.market_context import MarketContext, compute_market_context_from_ds
from engine.pricing.nb import black76_price_delta_nb
from engine.scoring import CandidateFeatures, score_candidate
from engine.scoring.nb import iv_rv_ratio_nb
from engine.volsurface import surface_args
from engine.volsurface.nb import delta_window_nb, quote_call_nb

UTC_US = pl.Datetime("us", "UTC")


def candidate_sort_key(c: dict) -> tuple:
    """Best first; ties go to the earlier expiry, then the lower strike."""
    return (-c["score"], c["expiry"], c["strike"])


def score_call(
    cfg: StrategyConfig,
    ctx: MarketContext,
    expiry: datetime,
    strike: float,
    t_years: float,
    forward: float,
    iv: float,
    mark_price_coin: float,
    delta: float,
) -> dict:
    """One candidate row: the call, its features and its score (IV as a fraction)."""
    features = CandidateFeatures(
        premium_yield_annual=mark_price_coin / t_years,
        iv_rv_ratio=iv_rv_ratio_nb(iv, ctx.rv_30d),
        delta=delta,
        dte=t_years * 365.0,
        regime=ctx.regime,
        target_delta=cfg.target_delta,
        target_dte=cfg.target_dte,
    )
    return {
        "instrument_name": format_instrument(cfg.underlying, expiry, strike, "C"),
        "strike": strike,
        "expiry": expiry,
        "dte": features.dte,
        "t_years": t_years,
        "forward": forward,
        "iv": iv,
        "delta": delta,
        "mark_price_coin": mark_price_coin,
        "mark_price_usd": mark_price_coin * forward,
        "premium_yield_annual": features.premium_yield_annual,
        "iv_rv_ratio": features.iv_rv_ratio,
        "score": score_candidate(features, cfg.scoring),
    }


def model_candidates(cfg: StrategyConfig, ctx: MarketContext) -> list[dict]:
    """The calls Deribit would list at ``ctx.time`` in the DTE/delta bands, priced on the model.

    Each is quoted with the spread model's bid and ask (:mod:`engine.fills`; the mark on both
    sides with ``fill_model="mark"``), as the backtest fills it.
    """
    spot, iv_index = ctx.spot, ctx.iv_index / 100.0
    if not (spot > 0 and iv_index > 0):
        return []
    s_args = surface_args(cfg.vol_surface)
    spread = SpreadModel.default().spread_params(cfg.underlying, cfg.fill_model)
    ticks = OPTION_SPECS[cfg.underlying].tick_params()
    out = []
    for expiry in listed_expiries(cfg.underlying, ctx.time):
        t = (expiry - ctx.time).total_seconds() / SECONDS_PER_YEAR
        if not (cfg.min_dte <= t * 365.0 <= cfg.max_dte) or t <= 0:
            continue
        strikes = strike_grid(
            cfg.underlying,
            spot,
            t,
            monthly=is_monthly_expiry(expiry),
            sigma=iv_index,
            rules=DEFAULT_GRID_RULES[cfg.underlying],
        )
        fwd = spot * math.exp(cfg.vol_surface.basis_annual * t)
        lo, hi = delta_window_nb(
            strikes, len(strikes), fwd, t, iv_index, s_args, cfg.delta_min, cfg.delta_max
        )
        for strike in strikes[lo:hi]:
            iv, price_usd, delta = quote_call_nb(fwd, float(strike), t, iv_index, s_args)
            if cfg.delta_min <= delta <= cfg.delta_max:
                cand = score_call(
                    cfg, ctx, expiry, float(strike), t, fwd, iv, price_usd / fwd, delta
                )
                cand["bid_price_coin"], cand["ask_price_coin"] = model_bid_ask_nb(
                    price_usd / fwd, delta, t * DAYS_PER_YEAR, ticks, spread
                )
                out.append(cand)
    return sorted(out, key=candidate_sort_key)


def build_historical_state(ds, cfg: CallSimulationConfig, t: datetime | str) -> dict:
    """The seed's state dict at time ``t``: ``time, spot, market_context, candidate_options``.

    Candidates are sorted best first; each has ``instrument_name, strike, expiry, dte, iv``
    (fraction), ``delta, mark_price_coin, mark_price_usd`` and the score with its features.
    """
    t = as_utc(t, "t")
    ctx = compute_market_context_from_ds(ds, cfg.underlying, t, cfg.timeframe)
    candidates = model_candidates(cfg, ctx)
    return {
        "time": t,
        "underlying": cfg.underlying,
        "spot": ctx.spot,
        "market_context": ctx.as_dict(),
        "candidate_options": candidates,
        "n_candidates": len(candidates),
    }


def chain_calls(chain: pl.DataFrame, underlying: str) -> pl.DataFrame:
    """Call rows of a chain snapshot (``../shared`` schema) with strike and expiry filled in.

    Rows recorded without ``strike``/``expiry_timestamp`` (an early recorder's) get them from the
    instrument name; rows without a positive mark, IV or forward are dropped (no quote to act on).
    """
    names = chain.get_column("instrument_name")
    parsed = [parse_instrument(n) if n.startswith(underlying + "-") else None for n in names]
    return (
        chain.with_columns(
            pl.Series("_strike", [p.strike if p else None for p in parsed], pl.Float64),
            pl.Series("_expiry", [p.expiry if p else None for p in parsed], UTC_US),
            pl.Series("_type", [p.option_type if p else None for p in parsed], pl.String),
        )
        .filter(
            (pl.col("_type") == "C")
            & (pl.col("mark_price") > 0)
            & (pl.col("mark_iv") > 0)
            & (pl.col("underlying_price") > 0)
        )
        .select(
            "instrument_name",
            pl.col("_strike").alias("strike"),
            pl.col("_expiry").alias("expiry"),
            pl.col("underlying_price").alias("forward"),
            (pl.col("mark_iv") / 100).alias("iv"),
            pl.col("mark_price").alias("mark_price_coin"),
            pl.col("best_bid_price").alias("bid_price_coin"),
            pl.col("best_ask_price").alias("ask_price_coin"),
        )
    )


def chain_candidates(cfg: StrategyConfig, ctx: MarketContext, chain: pl.DataFrame) -> list[dict]:
    """Candidates from a real option chain: its marks and IVs, the same bands and scorer.

    Delta is Black-76 on the row's forward and mark IV; the score reads the recorded mark price.
    Each candidate also carries the row's bid/ask (coin; None or 0 when the side is empty).
    """
    out = []
    for row in chain_calls(chain, cfg.underlying).iter_rows(named=True):
        t = (row["expiry"] - ctx.time).total_seconds() / SECONDS_PER_YEAR
        if t <= 0 or not (cfg.min_dte <= t * 365.0 <= cfg.max_dte):
            continue
        delta = black76_price_delta_nb(row["forward"], row["strike"], t, row["iv"], True)[1]
        if not (cfg.delta_min <= delta <= cfg.delta_max):
            continue
        cand = score_call(
            cfg, ctx, row["expiry"], row["strike"], t, row["forward"], row["iv"],
            row["mark_price_coin"], delta,
        )  # fmt: skip
        cand["instrument_name"] = row["instrument_name"]
        cand["bid_price_coin"] = row["bid_price_coin"]
        cand["ask_price_coin"] = row["ask_price_coin"]
        out.append(cand)
    return sorted(out, key=candidate_sort_key)
