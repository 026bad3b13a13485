"""The fake Deribit's option chain: Black-76 coin prices, USD greeks, quotes (tests only).

A small self-contained Black-76 (``math.erf``) keeps the fake independent of engine/pricing, so a
pricing bug cannot hide by agreeing with itself. Deribit's conventions: r = 0, time ACT/365 to
08:00 UTC, coin price = USD price / forward, greeks per 1 USD, per vol point and per day.
"""

import math
from dataclasses import dataclass

from tests.fakes.deribit_market import (
    DAY_MS,
    EXPIRY_HOUR,
    HOUR_MS,
    YEAR_MS,
    Asset,
    Expiry,
    dvol_at,
    expiry_for,
    index_price,
    listed_expiries,
    option_name,
    option_tick,
    parse_option_name,
    stable_rng,
    strike_grid,
)

BASIS_PER_YEAR = 0.05  # forward = index * exp(basis * T)
SMILE_CURVATURE = 0.04
SMILE_SKEW = -0.02
HALF_SPREAD_FRACTION = 0.015


def norm_cdf(x: float) -> float:
    """Standard normal CDF."""
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def norm_pdf(x: float) -> float:
    """Standard normal density."""
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def black76_usd(forward: float, strike: float, t_years: float, vol: float, is_call: bool) -> float:
    """Undiscounted Black-76 price in USD (r = 0)."""
    if t_years <= 0 or vol <= 0:
        return max(forward - strike, 0.0) if is_call else max(strike - forward, 0.0)
    sd = vol * math.sqrt(t_years)
    d1 = (math.log(forward / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    if is_call:
        return forward * norm_cdf(d1) - strike * norm_cdf(d2)
    return strike * norm_cdf(-d2) - forward * norm_cdf(-d1)


def greeks_usd(forward: float, strike: float, t_years: float, vol: float, is_call: bool) -> dict:
    """Deribit's ticker greeks: delta, gamma (per USD), vega (per vol point), theta (per day),
    rho (per 1% rate)."""
    sd = vol * math.sqrt(t_years)
    d1 = (math.log(forward / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    pdf = norm_pdf(d1)
    return {
        "delta": round(norm_cdf(d1) if is_call else norm_cdf(d1) - 1.0, 5),
        "gamma": round(pdf / (forward * sd), 5),
        "vega": round(forward * pdf * math.sqrt(t_years) / 100, 5),
        "theta": round(-forward * pdf * vol / (2 * math.sqrt(t_years)) / 365, 5),
        "rho": round(
            (strike * t_years * norm_cdf(d2) if is_call else -strike * t_years * norm_cdf(-d2))
            / 100,
            5,
        ),
    }


def implied_vol(
    price_coin: float, forward: float, strike: float, t_years: float, is_call: bool
) -> float:
    """Bisection inverse of the coin price; 0.0 when the price is below intrinsic value."""
    target = price_coin * forward
    if target <= black76_usd(forward, strike, t_years, 1e-4, is_call):
        return 0.0
    lo, hi = 1e-4, 10.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if black76_usd(forward, strike, t_years, mid, is_call) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class OptionQuote:
    """One option at one moment, in Deribit's units (coin prices, percent IV)."""

    instrument_name: str
    asset: Asset
    expiry: Expiry
    strike: float
    is_call: bool
    t_years: float
    index: float
    forward: float
    mark_iv: float
    mark: float
    bid: float | None
    ask: float
    volume: float
    open_interest: float
    last: float | None

    @property
    def underlying_index(self) -> str:
        """A future's name on Fridays (a future expires with it), else the synthetic one."""
        name = f"{self.asset.name}-{self.expiry.code}"
        return name if self.expiry.day.weekday() == 4 else f"SYN.{name}"

    def greeks(self) -> dict:
        """USD greeks at the mark IV."""
        return greeks_usd(self.forward, self.strike, self.t_years, self.mark_iv / 100, self.is_call)

    def coin_delta(self) -> float:
        """Delta of the coin-settled option in coin: USD delta minus the coin price."""
        return self.greeks()["delta"] - self.mark


def smile_vol(atm: float, forward: float, strike: float, t_years: float) -> float:
    """IV (fraction) at ``strike``: quadratic in standardised moneyness, with a skew."""
    moneyness = max(-4.0, min(4.0, math.log(strike / forward) / (atm * math.sqrt(t_years))))
    vol = atm * (1 + SMILE_CURVATURE * moneyness**2 + SMILE_SKEW * moneyness)
    return max(0.15, min(3.0, vol))


def quote_option(
    seed: int, asset: Asset, expiry: Expiry, strike: float, is_call: bool, now_ms: int
) -> OptionQuote:
    """Price one option at ``now_ms`` (which must be before its expiry)."""
    t_years = (expiry.expiry_ms - now_ms) / YEAR_MS
    spot = index_price(seed, asset, now_ms)
    forward = spot * math.exp(BASIS_PER_YEAR * t_years)
    atm = float(dvol_at(seed, asset, now_ms)) / 100 * (0.9 + 0.1 * min(t_years * 365 / 30, 3.0))
    vol = smile_vol(atm, forward, strike, t_years)
    mark = round(black76_usd(forward, strike, t_years, vol, is_call) / forward, 8)
    name = option_name(asset, expiry, strike, "C" if is_call else "P")
    rng = stable_rng(seed, name, now_ms // 86_400_000)
    tick = option_tick(mark)
    half_spread = max(tick, HALF_SPREAD_FRACTION * mark)
    bid_raw = math.floor((mark - half_spread) / tick) * tick
    ask = round(max(math.ceil((mark + half_spread) / tick) * tick, 0.0001), 4)
    traded = rng.random() < 0.5
    volume = round(float(rng.gamma(1.5, 20.0)), 1) if traded else 0.0
    return OptionQuote(
        instrument_name=name,
        asset=asset,
        expiry=expiry,
        strike=strike,
        is_call=is_call,
        t_years=t_years,
        index=spot,
        forward=round(forward, 2),
        mark_iv=round(vol * 100, 2),
        mark=mark,
        bid=round(bid_raw, 4) if bid_raw >= 0.0001 else None,
        ask=ask,
        volume=volume,
        open_interest=round(float(rng.gamma(2.0, 150.0)), 1),
        last=ask if traded else None,
    )


def option_chain(seed: int, asset: Asset, now_ms: int) -> list[OptionQuote]:
    """Every listed option at ``now_ms``: by expiry, strike, then call before put."""
    return [
        quote_option(seed, asset, expiry, strike, is_call, now_ms)
        for expiry in listed_expiries(now_ms)
        for strike in strike_grid(seed, asset, expiry)
        for is_call in (True, False)
    ]


def find_option(seed: int, name: str, now_ms: int) -> OptionQuote | None:
    """The live quote of option ``name``, or None if it is not listed at ``now_ms``."""
    parsed = parse_option_name(name)
    if parsed is None:
        return None
    asset, day, strike, option_type = parsed
    expiry = expiry_for(day)
    if not expiry.created_ms <= now_ms < expiry.expiry_ms:
        return None
    if strike not in strike_grid(seed, asset, expiry):
        return None
    return quote_option(seed, asset, expiry, strike, option_type == "C", now_ms)


def settlement_mark(seed: int, quote: OptionQuote, now_ms: int) -> float | None:
    """The option's mark at the last 08:00 UTC, or None if it was not listed then."""
    last_settle = (now_ms - EXPIRY_HOUR * HOUR_MS) // DAY_MS * DAY_MS + EXPIRY_HOUR * HOUR_MS
    if last_settle < quote.expiry.created_ms:
        return None
    return quote_option(
        seed, quote.asset, quote.expiry, quote.strike, quote.is_call, last_settle
    ).mark
