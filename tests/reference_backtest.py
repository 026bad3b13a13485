"""A slow, obvious backtest: a plain Python loop, one covered call at a time.

Like the seed's manager loop: at every instant it asks ``build_historical_state`` for the state,
settles an expired call, and lets :func:`engine.policy.decide` (the live agent's policy) choose,
doing the bookkeeping in plain Python. It shares the scalar pricing/scoring building blocks and the
policy with the engine, so agreement proves the batch prepare phase and the replay kernel take the
same decisions as the live agent's policy, with the same books.
"""

import math
from datetime import UTC, datetime, timedelta

from engine.config import CallSimulationConfig
from engine.policy import ROLL, SELL, OpenCall, decide
from engine.state import build_historical_state
from engine.volsurface import surface_args
from engine.volsurface.nb import quote_call_nb


def _settlement_price(ds, cfg: CallSimulationConfig, expiry: datetime) -> float:
    day = expiry.replace(hour=0)
    delivery = ds.get_delivery_prices(cfg.underlying, day, day + timedelta(days=1))
    hit = delivery.filter(delivery["time"] == expiry)
    if hit.height:
        return float(hit["delivery_price"][0])
    tf = ds.base_timeframe(cfg.underlying)
    step = {"1h": 1, "4h": 4, "1d": 24}[tf]
    start = max(expiry - timedelta(days=3), ds.coverage(cfg.underlying).candles.start)
    bars = ds.get_candles(cfg.underlying, start, expiry, tf)
    closed = bars.filter(bars["time"] + timedelta(hours=step) <= expiry)
    return float(closed["close"][-1])


def _mark(cfg, spot, iv_index_pct, t, call) -> float:
    years = (call["expiry"] - t).total_seconds() / (365 * 86400)
    fwd = spot * math.exp(cfg.vol_surface.basis_annual * years)
    args = surface_args(cfg.vol_surface)
    return quote_call_nb(fwd, call["strike"], years, iv_index_pct / 100, args)[1] / fwd


def _fee(cfg, qty, price) -> float:
    return qty * min(cfg.fees.option_fee_rate, cfg.fees.option_fee_cap_pct / 100 * price)


def reference_backtest(ds, cfg: CallSimulationConfig) -> dict:
    """Return ``{"trades": [...], "equity": [(time, coin), ...], "steps": [...]}``."""
    tf = timedelta(hours=cfg.timeframe_hours)
    instants = []
    t = cfg.start
    cov_start = ds.coverage(cfg.underlying).candles.start
    while t <= cfg.end:
        if t - tf >= cov_start:
            instants.append(t)
        t += tf
    qty = cfg.position_size
    if cfg.initial_capital_usd is not None:
        first = build_historical_state(ds, cfg, instants[0])
        qty = cfg.initial_capital_usd / first["spot"]
    coins = qty
    call = None
    rolls = 0
    chain = 0
    trades, equity, steps = [], [], []

    def close(at, price, reason, settle, spot_close, fee):
        nonlocal coins, call
        coins -= qty * price + fee
        fees = call["fee"] + fee
        pnl = qty * (call["premium"] - price) - fees
        trades.append(
            {
                "instrument_name": call["name"],
                "open_time": call["open_time"],
                "close_time": at,
                "premium_coin": call["premium"],
                "close_price_coin": price,
                "close_reason": reason,
                "settlement_price": settle,
                "fees_coin": fees,
                "pnl_coin": pnl,
                "pnl_usd": pnl * spot_close,
                "chain_id": call["chain"],
                "roll_index": call["roll"],
            }
        )
        call = None

    def sell(best, at):
        nonlocal coins, call
        fee = _fee(cfg, qty, best["mark_price_coin"])
        coins += qty * best["mark_price_coin"] - fee
        call = {
            "name": best["instrument_name"],
            "strike": best["strike"],
            "expiry": best["expiry"],
            "premium": best["mark_price_coin"],
            "fee": fee,
            "open_time": at,
            "chain": chain,
            "roll": rolls,
        }

    start_ns_offset = cfg.start
    for t in instants:
        is_decision = (t - start_ns_offset) % timedelta(
            hours=cfg.decision_interval_hours
        ) == timedelta(0) and t < cfg.end
        need_state = is_decision or (cfg.exit_style == "tp_and_roll" and t < cfg.end)
        state = build_historical_state(ds, cfg, t) if need_state else None
        ctx = (
            state["market_context"]
            if state
            else build_historical_state(ds, cfg, t)["market_context"]
        )
        spot, iv_pct = ctx["spot"], ctx["iv_index"]
        if call is not None and call["expiry"] <= t:
            settle = _settlement_price(ds, cfg, call["expiry"])
            value = max(settle - call["strike"], 0.0) / settle
            is_daily = call["expiry"].weekday() != 4
            fee = 0.0
            if value > 0 and (not is_daily or cfg.fees.settlement_fee_on_dailies):
                fee = qty * min(
                    cfg.fees.settlement_fee_rate, cfg.fees.settlement_fee_cap_pct / 100 * value
                )
            close(call["expiry"], value, "expiry", settle, settle, fee)
            rolls = 0
        position = None
        if call is not None:
            position = OpenCall(call["name"], call["strike"], call["expiry"], call["premium"],
                                call["open_time"])  # fmt: skip
        mark = _mark(cfg, spot, iv_pct, t, call) if call is not None else None
        cands = state["candidate_options"] if state else []
        decision = decide(cfg, t, position, mark, cands, rolls, is_decision)
        if decision.buy_back:
            close(t, mark, "take_profit", None, spot, _fee(cfg, qty, mark))
            rolls = rolls + 1 if decision.action == ROLL else 0
        if decision.action == SELL:
            chain += 1
            rolls = 0
        if decision.sell is not None:
            sell(decision.sell, t)
        if is_decision:
            steps.append((t, len(cands), decision.action))
        mark = _mark(cfg, spot, iv_pct, t, call) if call is not None else 0.0
        equity.append((t, coins - qty * mark))
    if call is not None:
        last_t = instants[-1]
        close(last_t, _mark(cfg, spot, iv_pct, last_t, call), "end_of_data", None, spot, 0.0)
    return {"trades": trades, "equity": equity, "steps": steps, "quantity": qty}


def utc(*args: int) -> datetime:
    """Shorthand for a UTC datetime."""
    return datetime(*args, tzinfo=UTC)
