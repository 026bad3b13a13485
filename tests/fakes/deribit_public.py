"""Public method handlers of the fake Deribit server (tests/fakes/deribit.py).

Each handler takes the server, the request params (strings from a query, JSON values from a POST)
and whether a ``gap`` fault applies, and returns the ``result`` or raises :class:`RpcError`.
Field names and order follow the recorded responses in ../shared/data/deribit_api_responses.
"""

from datetime import UTC, datetime, timedelta

import numpy as np

from tests.fakes.deribit_chain import (
    OptionQuote,
    find_option,
    implied_vol,
    option_chain,
    settlement_mark,
)
from tests.fakes.deribit_market import (
    ASSETS,
    DAY_MS,
    DVOL_START_MS,
    EXPIRY_HOUR,
    HOUR_MS,
    MINUTE_MS,
    OPTION_TICK_STEPS,
    candles,
    delivery_price,
    dvol_candles,
    expired_expiries,
    index_price,
    listed_expiries,
    option_name,
    stable_rng,
    strike_grid,
)
from tests.fakes.deribit_private import (
    RpcError,
    currency_asset,
    get_bool,
    get_number,
    get_str,
    invalid,
)

__all__ = ["HANDLERS", "KINDS", "RpcError", "currency_asset", "get_str"]

KINDS = ("future", "option", "spot", "future_combo", "option_combo")
CHART_RESOLUTIONS = {
    "1": 1,
    "3": 3,
    "5": 5,
    "10": 10,
    "15": 15,
    "30": 30,
    "60": 60,
    "120": 120,
    "180": 180,
    "360": 360,
    "720": 720,
    "1D": 1440,
}
DVOL_RESOLUTIONS = {"1": 1, "60": 60, "3600": 3600, "43200": 43200, "1D": 86400}
PERPETUALS = {f"{name}-PERPETUAL": asset for name, asset in ASSETS.items()}
INDEX_NAMES = {f"{name.lower()}_usd": asset for name, asset in ASSETS.items()}


def _window(params: dict) -> tuple[int, int]:
    start = get_number(params, "start_timestamp", integer=True)
    end = get_number(params, "end_timestamp", integer=True)
    return start, end


def _aligned_ticks(fake, start: int, end: int, res_ms: int, listed_ms: int) -> np.ndarray:
    """Candle open times in ``[start, end]`` that are listed, complete and outside gaps."""
    first = max(-(-start // res_ms), -(-listed_ms // res_ms)) * res_ms
    last = min(end // res_ms, (fake.now_ms - res_ms) // res_ms) * res_ms
    if last < first:
        return np.empty(0, dtype=np.int64)
    ticks = np.arange(first, last + 1, res_ms, dtype=np.int64)
    for gap_start, gap_end in fake.data_gaps:
        ticks = ticks[(ticks < gap_start) | (ticks > gap_end)]
    return ticks


def get_time(fake, params: dict, gap: bool) -> int:
    """``public/get_time``."""
    return fake.now_ms


def public_test(fake, params: dict, gap: bool) -> dict:
    """``public/test``."""
    return {"version": "1.2.26"}


def chart_data(fake, params: dict, gap: bool) -> dict:
    """``public/get_tradingview_chart_data`` for the perpetuals."""
    name = get_str(params, "instrument_name")
    if name not in PERPETUALS:
        raise invalid("instrument_name", "instrument not found")
    asset = PERPETUALS[name]
    start, end = _window(params)
    resolution = get_str(params, "resolution", choices=CHART_RESOLUTIONS)
    res_minutes = CHART_RESOLUTIONS[resolution]
    ticks = _aligned_ticks(fake, start, end, res_minutes * MINUTE_MS, asset.perpetual_listed_ms)
    if gap:
        ticks = ticks[:0]
    cap = fake.chart_max_candles
    ticks = ticks[-cap:] if fake.chart_keep == "last" else ticks[:cap]
    rows = candles(fake.seed, asset, ticks, res_minutes)
    return {
        "volume": rows["volume"],
        "ticks": rows["ticks"],
        "status": "ok" if len(ticks) else "no_data",
        "open": rows["open"],
        "low": rows["low"],
        "high": rows["high"],
        "cost": rows["cost"],
        "close": rows["close"],
    }


def volatility_index(fake, params: dict, gap: bool) -> dict:
    """``public/get_volatility_index_data``: latest points first, older via ``continuation``."""
    asset = currency_asset(params)
    start, end = _window(params)
    resolution = get_str(params, "resolution", choices=DVOL_RESOLUTIONS)
    res_ms = DVOL_RESOLUTIONS[resolution] * 1000
    ticks = _aligned_ticks(fake, start, end, res_ms, DVOL_START_MS)
    if gap:
        ticks = ticks[:0]
    continuation = None
    if len(ticks) > fake.dvol_max_points:
        ticks = ticks[-fake.dvol_max_points :]
        continuation = int(ticks[0]) - (0 if fake.dvol_overlap else 1)
    return {"data": dvol_candles(fake.seed, asset, ticks, res_ms), "continuation": continuation}


def delivery_prices(fake, params: dict, gap: bool) -> dict:
    """``public/get_delivery_prices``: newest first, paged by ``offset``/``count``."""
    index = get_str(params, "index_name")
    if index not in INDEX_NAMES:
        raise invalid("index_name", "invalid index_name")
    asset = INDEX_NAMES[index]
    offset = get_number(params, "offset", 0, integer=True)
    count = get_number(params, "count", 10, integer=True)
    if offset < 0:
        raise invalid("offset", "must be >= 0")
    if not 1 <= count <= 1000:
        raise invalid("count", "must be between 1 and 1000")
    first = datetime.fromtimestamp(asset.perpetual_listed_ms / 1000, UTC).date()
    settled = datetime.fromtimestamp((fake.now_ms - EXPIRY_HOUR * HOUR_MS) / 1000, UTC).date()
    total = max((settled - first).days + 1, 0)
    days = [settled - timedelta(days=k) for k in range(offset, min(offset + count, total))]
    return {
        "data": [
            {"date": d.isoformat(), "delivery_price": delivery_price(fake.seed, asset, d)}
            for d in days
        ],
        "records_total": total,
    }


def index_price_result(fake, params: dict, gap: bool) -> dict:
    """``public/get_index_price``."""
    index = get_str(params, "index_name")
    if index not in INDEX_NAMES:
        raise invalid("index_name", "invalid index_name")
    price = round(index_price(fake.seed, INDEX_NAMES[index], fake.now_ms), 2)
    return {"index_price": price, "estimated_delivery_price": price}


def book_summary(fake, params: dict, gap: bool) -> list[dict]:
    """``public/get_book_summary_by_currency`` (options; other kinds are empty)."""
    asset = currency_asset(params)
    if get_str(params, "kind", "option", KINDS) != "option":
        return []
    return [_summary_row(fake, quote) for quote in option_chain(fake.seed, asset, fake.now_ms)]


def _summary_row(fake, quote: OptionQuote) -> dict:
    index = round(quote.index, 2)
    traded = quote.last is not None
    return {
        "mid_price": round((quote.bid + quote.ask) / 2, 5) if quote.bid is not None else None,
        "volume_usd": round(quote.volume * quote.mark * index, 2),
        "quote_currency": quote.asset.name,
        "estimated_delivery_price": index,
        "creation_timestamp": fake.now_ms,
        "base_currency": quote.asset.name,
        "underlying_index": quote.underlying_index,
        "underlying_price": quote.forward,
        "volume": quote.volume,
        "interest_rate": 0.0,
        "price_change": _price_change(fake, quote),
        "open_interest": quote.open_interest,
        "ask_price": quote.ask,
        "bid_price": quote.bid,
        "instrument_name": quote.instrument_name,
        "mark_price": quote.mark,
        "last": quote.last,
        "low": quote.last if traded else None,
        "high": quote.last if traded else None,
        "mark_iv": quote.mark_iv,
    }


def _price_change(fake, quote: OptionQuote) -> float | None:
    """24 h change in percent; None when the option did not trade."""
    if quote.last is None:
        return None
    return round(float(stable_rng(fake.seed, quote.instrument_name).normal(0, 8)), 4)


def instruments(fake, params: dict, gap: bool) -> list[dict]:
    """``public/get_instruments`` (options; other kinds are empty)."""
    asset = currency_asset(params)
    kind = get_str(params, "kind", "option", KINDS)
    expired = get_bool(params, "expired", False)
    if kind != "option":
        return []
    expiries = expired_expiries(fake.now_ms) if expired else listed_expiries(fake.now_ms)
    rows = []
    for expiry in expiries:
        for strike in strike_grid(fake.seed, asset, expiry):
            for option_type in ("call", "put"):
                name = option_name(asset, expiry, strike, option_type[0].upper())
                rows.append(
                    {
                        "price_index": f"{asset.name.lower()}_usd",
                        "rfq": False,
                        "kind": "option",
                        "instrument_name": name,
                        "maker_commission": 0.0003,
                        "taker_commission": 0.0003,
                        "instrument_type": "reversed",
                        "expiration_timestamp": expiry.expiry_ms,
                        "creation_timestamp": expiry.created_ms,
                        "is_active": not expired,
                        "option_type": option_type,
                        "contract_size": 1.0,
                        "tick_size": OPTION_TICK_STEPS[0][1],
                        "strike": strike,
                        "instrument_id": int(stable_rng(0, name).integers(100_000, 999_999)),
                        "settlement_period": expiry.settlement_period,
                        "min_trade_amount": asset.min_trade_amount,
                        "block_trade_commission": 0.0003,
                        "block_trade_min_trade_amount": 25,
                        "block_trade_tick_size": 0.0001,
                        "settlement_currency": asset.name,
                        "base_currency": asset.name,
                        "counter_currency": "USD",
                        "quote_currency": asset.name,
                        "tick_size_steps": [
                            {"tick_size": tick, "above_price": above}
                            for above, tick in OPTION_TICK_STEPS[1:]
                        ],
                    }
                )
    return rows


def ticker(fake, params: dict, gap: bool) -> dict:
    """``public/ticker`` for listed options and the perpetuals."""
    name = get_str(params, "instrument_name")
    if name in PERPETUALS:
        return _perpetual_ticker(fake, PERPETUALS[name], name)
    quote = find_option(fake.seed, name, fake.now_ms)
    if quote is None:
        raise invalid("instrument_name", "instrument not found")

    def iv(price):
        if price is None:
            return 0.0
        args = (quote.forward, quote.strike, quote.t_years, quote.is_call)
        return round(100 * implied_vol(price, *args), 2)

    index = round(quote.index, 2)
    amounts = stable_rng(fake.seed, name, "amounts").gamma(2.0, 5.0, size=2).round(1)
    return {
        "estimated_delivery_price": index,
        "best_bid_amount": float(amounts[0]) if quote.bid else 0.0,
        "best_ask_amount": float(amounts[1]),
        "interest_rate": 0.0,
        "best_bid_price": quote.bid or 0.0,
        "best_ask_price": quote.ask,
        "open_interest": quote.open_interest,
        "settlement_price": settlement_mark(fake.seed, quote, fake.now_ms),
        "last_price": quote.last,
        "bid_iv": iv(quote.bid),
        "ask_iv": iv(quote.ask),
        "mark_iv": quote.mark_iv,
        "underlying_index": quote.underlying_index,
        "underlying_price": quote.forward,
        "min_price": max(round(quote.mark * 0.5, 4), 0.0001),
        "max_price": round(quote.mark * 1.5 + 0.01, 4),
        "mark_price": quote.mark,
        "instrument_name": name,
        "index_price": index,
        "greeks": quote.greeks(),
        "stats": {
            "volume_usd": round(quote.volume * quote.mark * index, 2),
            "volume": quote.volume,
            "price_change": _price_change(fake, quote),
            "low": quote.last,
            "high": quote.last,
        },
        "state": "open",
        "timestamp": fake.now_ms,
    }


def _perpetual_ticker(fake, asset, name: str) -> dict:
    index = round(index_price(fake.seed, asset, fake.now_ms), 2)
    tick = asset.perp_tick
    bid = round(index // tick * tick, 2)
    day_ago = index_price(fake.seed, asset, fake.now_ms - DAY_MS)
    return {
        "best_ask_amount": 25_000.0,
        "best_ask_price": round(bid + tick, 2),
        "best_bid_amount": 18_000.0,
        "best_bid_price": bid,
        "current_funding": 0.0,
        "estimated_delivery_price": index,
        "funding_8h": 1e-05,
        "index_price": index,
        "instrument_name": name,
        "interest_value": 0.0,
        "last_price": bid,
        "mark_price": index,
        "max_price": round(index * 1.015, 2),
        "min_price": round(index * 0.985, 2),
        "open_interest": 500_000_000.0,
        "settlement_price": round(day_ago, 2),
        "state": "open",
        "stats": {
            "high": round(max(index, day_ago) * 1.01, 2),
            "low": round(min(index, day_ago) * 0.99, 2),
            "price_change": round(100 * (index / day_ago - 1), 4),
            "volume": 7_800.0,
            "volume_usd": round(7_800.0 * index, 2),
        },
        "timestamp": fake.now_ms,
    }


HANDLERS = {
    "public/get_time": get_time,
    "public/test": public_test,
    "public/get_tradingview_chart_data": chart_data,
    "public/get_volatility_index_data": volatility_index,
    "public/get_delivery_prices": delivery_prices,
    "public/get_index_price": index_price_result,
    "public/get_book_summary_by_currency": book_summary,
    "public/get_instruments": instruments,
    "public/ticker": ticker,
}
