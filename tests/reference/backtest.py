"""A slow, obvious backtest: a plain Python loop on purpose, one covered call at a time.

It twins the replay kernels (``engine/replay/nb.py``) and the policy kernels they call
(``engine/policy/nb.py``).

Like the seed's manager loop: at every instant it asks ``build_historical_state`` for the state,
settles an expired call and applies the policy, written out here in plain Python
(:func:`decide_ref`, :func:`trade_fee_ref`, :func:`settlement_fee_ref`) — independently of the
policy kernels the engine and the live agent share, so that agreement checks them. Only the scalar
pricing and scoring building blocks (through the state builder and the model mark) are the
engine's; they have twins of their own.
"""

import json
import math
from datetime import datetime, timedelta

from engine.calibration import DEFAULT_CALIBRATION_PATH
from engine.config import CallSimulationConfig, FeeModel, StrategyConfig
from engine.state import build_historical_state
from engine.volsurface import surface_args
from engine.volsurface.nb import quote_call_nb
from tests.reference.fills import model_bid_ask_ref

MIN_ORDER = {"BTC": 0.1, "ETH": 1.0}  # Deribit's option order step, in coin


def _spread_model(underlying: str) -> dict:
    doc = json.loads(DEFAULT_CALIBRATION_PATH.read_text())
    return doc["spread"]["underlyings"][underlying]


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


def _quote(cfg, spot, iv_index_pct, t, call) -> tuple[float, float, float]:
    """``(mark, delta, days to expiry)`` of the open call on the model surface."""
    years = (call["expiry"] - t).total_seconds() / (365 * 86400)
    fwd = spot * math.exp(cfg.vol_surface.basis_annual * years)
    args = surface_args(cfg.vol_surface)
    _, price, delta = quote_call_nb(fwd, call["strike"], years, iv_index_pct / 100, args)
    return price / fwd, delta, years * 365


def _mark(cfg, spot, iv_index_pct, t, call) -> float:
    return _quote(cfg, spot, iv_index_pct, t, call)[0]


def trade_fee_ref(fees: FeeModel, qty: float, price: float) -> float:
    """Twin of ``engine.policy.nb.trade_fee_nb``: a rate per contract, capped at a share."""
    return qty * min(fees.option_fee_rate, fees.option_fee_cap_pct / 100 * price)


def settlement_fee_ref(fees: FeeModel, qty: float, value: float, expiry: datetime) -> float:
    """Twin of ``engine.policy.nb.settlement_fee_nb``: in the money, and not on dailies."""
    if value <= 0 or (expiry.weekday() != 4 and not fees.settlement_fee_on_dailies):
        return 0.0
    return qty * min(fees.settlement_fee_rate, fees.settlement_fee_cap_pct / 100 * value)


def decide_ref(
    cfg: StrategyConfig,
    now: datetime,
    call: dict | None,
    mark: float | None,
    candidates: list[dict],
    rolls: int,
    is_decision: bool,
) -> tuple[str, dict | None]:
    """Twin of ``engine.policy.nb.decide_nb``: ``(action name, candidate to sell or None)``."""
    take_profit = (
        call is not None
        and cfg.exit_style == "tp_and_roll"
        and mark is not None
        and (call["premium"] - mark) / call["premium"] >= cfg.tp_threshold_pct / 100
    )
    if take_profit:
        days_left = (call["expiry"] - now).total_seconds() / 86_400
        if rolls >= cfg.max_rolls_per_chain or days_left < cfg.min_dte_to_roll:
            return "take_profit", None
        others = [
            c
            for c in candidates
            if not (c["strike"] == call["strike"] and c["expiry"] == call["expiry"])
        ]
        if others and others[0]["score"] >= cfg.min_score_to_trade:
            return "roll", others[0]
        return "take_profit", None
    if not is_decision:
        return "not_a_decision", None
    if call is not None:
        return "position_open", None
    if not candidates:
        return "no_candidate", None
    if candidates[0]["score"] < cfg.min_score_to_trade:
        return "below_threshold", None
    return "sell", candidates[0]


def backtest_ref(ds, cfg: CallSimulationConfig) -> dict:
    """Return ``{"trades": [...], "equity": [(time, coin), ...], "steps": [...]}``."""
    tf = timedelta(hours=cfg.timeframe_hours)
    instants = []
    t = cfg.start
    cov_start = ds.coverage(cfg.underlying).candles.start
    while t <= cfg.end:
        if t - tf >= cov_start:
            instants.append(t)
        t += tf
    held = cfg.position_size
    if cfg.initial_capital_usd is not None:
        first = build_historical_state(ds, cfg, instants[0])
        held = cfg.initial_capital_usd / first["spot"]
    step = MIN_ORDER[cfg.underlying]
    qty = round(math.floor(held / step + 1e-9) * step, 10)  # contracts: whole order steps
    coins = held
    spread = _spread_model(cfg.underlying)

    def bid_ask(mark: float, delta: float, dte: float) -> tuple[float, float]:
        if cfg.fill_model == "mark":
            return mark, mark
        return model_bid_ask_ref(spread, mark, delta, dte)

    call = None
    rolls = 0
    chain = 0
    trades, equity, steps = [], [], []

    def close(at, price, mark, reason, settle, spot_close, fee):
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
                "mark_at_open_coin": call["mark"],
                "close_price_coin": price,
                "mark_at_close_coin": mark,
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
        mark = best["mark_price_coin"]
        bid = bid_ask(mark, best["delta"], best["dte"])[0]
        price = bid if bid > 0 else mark
        fee = trade_fee_ref(cfg.fees, qty, price)
        coins += qty * price - fee
        call = {
            "name": best["instrument_name"],
            "strike": best["strike"],
            "expiry": best["expiry"],
            "premium": price,
            "mark": mark,
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
            fee = settlement_fee_ref(cfg.fees, qty, value, call["expiry"])
            close(call["expiry"], value, value, "expiry", settle, settle, fee)
            rolls = 0
        mark = _mark(cfg, spot, iv_pct, t, call) if call is not None else None
        cands = state["candidate_options"] if state else []
        action, into = decide_ref(cfg, t, call, mark, cands, rolls, is_decision)
        if action in ("take_profit", "roll"):
            ask = bid_ask(*_quote(cfg, spot, iv_pct, t, call))[1]
            price = ask if ask > 0 else mark
            close(t, price, mark, "take_profit", None, spot, trade_fee_ref(cfg.fees, qty, price))
            rolls = rolls + 1 if action == "roll" else 0
        if action == "sell":
            chain += 1
            rolls = 0
        if into is not None:
            sell(into, t)
        if is_decision:
            steps.append((t, len(cands), action))
        mark = _mark(cfg, spot, iv_pct, t, call) if call is not None else 0.0
        equity.append((t, coins - qty * mark))
    if call is not None:
        last_t = instants[-1]
        mark = _mark(cfg, spot, iv_pct, last_t, call)
        close(last_t, mark, mark, "end_of_data", None, spot, 0.0)
    return {"trades": trades, "equity": equity, "steps": steps, "quantity": qty, "coins": held}
