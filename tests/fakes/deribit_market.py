"""The deterministic market behind the fake Deribit server (tests/fakes/deribit.py).

Everything is a pure function of ``(seed, asset, time)``, so any window is consistent across calls
and processes:

- Index price: a daily log-price path (mean-reverting around an exponential trend, one normal per
  day from a seeded generator) with a Brownian bridge of minutes inside each day, generated from a
  generator seeded by ``(seed, asset, day)``. Perpetual candles are that path; minute volumes come
  from the same day generator, so candles of every resolution agree.
- DVOL (percent): an hourly AR(1) path, linear between hours.
- Delivery prices: the mean of the index over the 30 minutes before 08:00 UTC.
- Option chain: Deribit's listing calendar (dailies with a 4-day life, Friday weeklies listed 22
  days ahead, last-Friday monthlies 3 months ahead, quarterlies 12 months ahead, each new expiry on
  the Thursday before an expiring Friday), strike grids fixed at listing time from the index then,
  Black-76 coin prices on a forward with a constant basis, IV from DVOL with a smile.

Documented approximations: the perpetual trades exactly at the index; candles are served only once
complete; books have unlimited size at the touch.
"""

import math
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import numpy as np

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
YEAR_MS = 365 * DAY_MS
EXPIRY_HOUR = 8
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def utc_ms(*args: int) -> int:
    """Milliseconds since the epoch of a UTC wall-clock time (``year, month, day[, hour...]``)."""
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


@dataclass(frozen=True)
class Asset:
    """Parameters of one underlying's synthetic market."""

    name: str
    asset_id: int
    price_2015: float  # index level at 2015-01-01 of the trend line, USD
    growth_per_day: float  # trend of the log price
    vol_annual: float  # daily-path volatility (and strike-grid width)
    reversion_per_day: float  # pull of the log price back to the trend
    perp_contract_usd: float  # cost is a multiple of this
    perp_tick: float
    minute_contracts: float  # mean traded contracts per minute
    dvol_mean: float
    min_trade_amount: float
    perpetual_listed_ms: int


ASSETS = {
    "BTC": Asset(
        name="BTC",
        asset_id=1,
        price_2015=300.0,
        growth_per_day=0.00143,
        vol_annual=0.60,
        reversion_per_day=1 / 400,
        perp_contract_usd=10.0,
        perp_tick=0.5,
        minute_contracts=2_000.0,
        dvol_mean=60.0,
        min_trade_amount=0.1,
        perpetual_listed_ms=utc_ms(2018, 8, 13),
    ),
    "ETH": Asset(
        name="ETH",
        asset_id=2,
        price_2015=10.0,
        growth_per_day=0.00146,
        vol_annual=0.75,
        reversion_per_day=1 / 400,
        perp_contract_usd=1.0,
        perp_tick=0.05,
        minute_contracts=20_000.0,
        dvol_mean=75.0,
        min_trade_amount=1.0,
        perpetual_listed_ms=utc_ms(2019, 6, 25),  # approximate (mid-2019)
    ),
}
ORIGIN_DAY = utc_ms(2015, 1, 1) // DAY_MS
LAST_DAY = utc_ms(2040, 1, 1) // DAY_MS
DVOL_ORIGIN_MS = utc_ms(2021, 1, 1)
DVOL_START_MS = utc_ms(2021, 3, 31)  # the shared notes: DVOL announced 2021-03-31
OPTION_TICK_STEPS = ((0.0, 0.0001), (0.005, 0.0005))  # (above_price, tick_size), as recorded


# ---- index path ------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _daily_log_levels(seed: int, asset: Asset) -> np.ndarray:
    n = LAST_DAY - ORIGIN_DAY + 2
    shocks = np.random.default_rng([seed, asset.asset_id, 0]).standard_normal(n)
    sigma_day = asset.vol_annual / math.sqrt(365)
    keep = 1.0 - asset.reversion_per_day
    deviation = np.empty(n)
    level = 0.0
    for i in range(n):
        deviation[i] = level
        level = keep * level + sigma_day * shocks[i]
    trend = math.log(asset.price_2015) + asset.growth_per_day * np.arange(n)
    return trend + deviation


@lru_cache(maxsize=4096)
def _day_minutes(seed: int, asset: Asset, day: int) -> tuple[np.ndarray, np.ndarray]:
    """Prices and traded USD of the 1440 minutes of ``day`` (days since the epoch)."""
    if not ORIGIN_DAY <= day < LAST_DAY:
        raise ValueError(f"day {day} is outside the fake market's range")
    levels = _daily_log_levels(seed, asset)
    x0, x1 = levels[day - ORIGIN_DAY], levels[day - ORIGIN_DAY + 1]
    rng = np.random.default_rng([seed, asset.asset_id, 1, day])
    sigma_minute = asset.vol_annual / math.sqrt(365 * 1440)
    walk = np.concatenate(([0.0], np.cumsum(rng.standard_normal(1440)) * sigma_minute))
    frac = np.arange(1441) / 1440
    log_prices = x0 + frac * (x1 - x0) + walk - frac * walk[-1]
    prices = np.exp(log_prices[:1440])
    intensity = asset.minute_contracts * np.exp(0.8 * rng.standard_normal(1440) - 0.32)
    cost_usd = rng.poisson(intensity) * asset.perp_contract_usd
    prices.setflags(write=False)
    cost_usd.setflags(write=False)
    return prices, cost_usd.astype(float)


def minute_series(seed: int, asset: Asset, first_minute: int, last_minute: int):
    """Return index prices and traded USD for minutes ``first_minute..last_minute`` (epoch)."""
    days = range(first_minute // 1440, last_minute // 1440 + 1)
    parts = [_day_minutes(seed, asset, d) for d in days]
    offset = first_minute - days[0] * 1440
    count = last_minute - first_minute + 1
    prices = np.concatenate([p for p, _ in parts])[offset : offset + count]
    cost = np.concatenate([c for _, c in parts])[offset : offset + count]
    return prices, cost


def index_price(seed: int, asset: Asset, t_ms: int) -> float:
    """The index at ``t_ms`` (the minute's price)."""
    minute = t_ms // MINUTE_MS
    return float(minute_series(seed, asset, minute, minute)[0][0])


def candles(seed: int, asset: Asset, ticks_ms: np.ndarray, res_minutes: int) -> dict[str, list]:
    """OHLC, volume (coin) and cost (USD) of perpetual candles opening at ``ticks_ms``."""
    out: dict[str, list] = {
        k: [] for k in ("ticks", "open", "high", "low", "close", "volume", "cost")
    }
    if len(ticks_ms) == 0:
        return out
    first = int(ticks_ms[0]) // MINUTE_MS
    last = int(ticks_ms[-1]) // MINUTE_MS + res_minutes
    prices, cost = minute_series(seed, asset, first, last)
    rows = (ticks_ms // MINUTE_MS - first)[:, None] + np.arange(res_minutes)[None, :]
    closes = prices[rows[:, -1] + 1]
    tick = asset.perp_tick
    out["ticks"] = [int(t) for t in ticks_ms]
    out["open"] = _round_to(prices[rows[:, 0]], tick)
    out["high"] = _round_to(np.maximum(prices[rows].max(axis=1), closes), tick)
    out["low"] = _round_to(np.minimum(prices[rows].min(axis=1), closes), tick)
    out["close"] = _round_to(closes, tick)
    out["volume"] = [round(float(v), 8) for v in (cost[rows] / prices[rows]).sum(axis=1)]
    out["cost"] = [float(c) for c in cost[rows].sum(axis=1)]
    return out


def delivery_price(seed: int, asset: Asset, day: date) -> float:
    """Mean index over 07:30–07:59 UTC of ``day``: the 08:00 settlement price."""
    settle_minute = utc_ms(day.year, day.month, day.day, EXPIRY_HOUR) // MINUTE_MS
    prices, _ = minute_series(seed, asset, settle_minute - 30, settle_minute - 1)
    return float(prices.mean())


def _round_to(values: np.ndarray, tick: float) -> list[float]:
    decimals = max(0, -math.floor(math.log10(tick)) + 1)
    return [round(float(v), decimals) for v in np.round(values / tick) * tick]


# ---- DVOL ------------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _dvol_hours(seed: int, asset: Asset) -> np.ndarray:
    n = (utc_ms(2040, 1, 1) - DVOL_ORIGIN_MS) // HOUR_MS + 2
    keep = math.exp(-1 / (24 * 20))  # 20-day mean reversion
    step = 12.0 * math.sqrt(1 - keep * keep)  # stationary standard deviation of 12 vol points
    shocks = np.random.default_rng([seed, asset.asset_id, 2]).standard_normal(n).tolist()
    values = []
    level = 0.0
    for shock in shocks:
        values.append(level)
        level = keep * level + step * shock
    return np.maximum(asset.dvol_mean + np.array(values), 20.0)


def dvol_at(seed: int, asset: Asset, t_ms: np.ndarray | int) -> np.ndarray:
    """DVOL (percent) at ``t_ms``, linear between hourly knots."""
    hours = _dvol_hours(seed, asset)
    position = (np.asarray(t_ms, dtype=np.int64) - DVOL_ORIGIN_MS) / HOUR_MS
    lower = np.floor(position).astype(np.int64)
    frac = position - lower
    return hours[lower] + frac * (hours[lower + 1] - hours[lower])


def dvol_candles(seed: int, asset: Asset, ticks_ms: np.ndarray, res_ms: int) -> list[list]:
    """DVOL rows ``[ts, open, high, low, close]`` opening at ``ticks_ms``."""
    if len(ticks_ms) == 0:
        return []
    opens = dvol_at(seed, asset, ticks_ms)
    closes = dvol_at(seed, asset, ticks_ms + res_ms)
    highs, lows = np.maximum(opens, closes), np.minimum(opens, closes)
    if res_ms > HOUR_MS:  # interior hourly knots can be extremes
        hours = _dvol_hours(seed, asset)
        first = (ticks_ms - DVOL_ORIGIN_MS) // HOUR_MS
        inner = first[:, None] + np.arange(1, res_ms // HOUR_MS)[None, :]
        highs = np.maximum(highs, hours[inner].max(axis=1))
        lows = np.minimum(lows, hours[inner].min(axis=1))
    return [
        [int(t), round(float(o), 2), round(float(h), 2), round(float(lo), 2), round(float(c), 2)]
        for t, o, h, lo, c in zip(ticks_ms, opens, highs, lows, closes, strict=True)
    ]


# ---- listing calendar and strikes ------------------------------------------------------------


@dataclass(frozen=True)
class Expiry:
    """One option expiry: 08:00 UTC of ``day``, listed at ``created_ms``."""

    day: date
    expiry_ms: int
    created_ms: int
    settlement_period: str  # day | week | month

    @property
    def code(self) -> str:
        """Deribit's spelling, e.g. ``26DEC25``."""
        return f"{self.day.day}{MONTHS[self.day.month - 1]}{self.day.year % 100:02d}"


def _last_friday(year: int, month: int) -> date:
    first_next = date(year + month // 12, month % 12 + 1, 1)
    last = first_next - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - 4) % 7)


def _months_back(day: date, months: int) -> tuple[int, int]:
    index = day.year * 12 + day.month - 1 - months
    return index // 12, index % 12 + 1


def expiry_for(day: date) -> Expiry:
    """The listing of the expiry on ``day`` (every day has at least a daily)."""
    expiry_ms = utc_ms(day.year, day.month, day.day, EXPIRY_HOUR)
    listings = [(expiry_ms - 4 * DAY_MS, "day")]
    if day.weekday() == 4:
        listings.append((expiry_ms - 22 * DAY_MS, "week"))
    if day == _last_friday(day.year, day.month):
        lags = (3, 12) if day.month % 3 == 0 else (3,)
        for lag in lags:
            earlier = _last_friday(*_months_back(day, lag))
            listings.append(
                (utc_ms(earlier.year, earlier.month, earlier.day, EXPIRY_HOUR) - DAY_MS, "month")
            )
    created_ms = min(ms for ms, _ in listings)
    period = max((p for _, p in listings), key=("day", "week", "month").index)
    return Expiry(day, expiry_ms, created_ms, period)


def listed_expiries(now_ms: int) -> list[Expiry]:
    """Expiries trading at ``now_ms``, nearest first."""
    today = datetime.fromtimestamp(now_ms / 1000, UTC).date()
    out = []
    for offset in range(0, 400):
        expiry = expiry_for(today + timedelta(days=offset))
        if expiry.created_ms <= now_ms < expiry.expiry_ms:
            out.append(expiry)
    return out


def expired_expiries(now_ms: int, lookback_days: int = 7) -> list[Expiry]:
    """Expiries that settled within ``lookback_days`` before ``now_ms``, newest first."""
    today = datetime.fromtimestamp(now_ms / 1000, UTC).date()
    days = (today - timedelta(days=k) for k in range(lookback_days + 1))
    return [e for e in map(expiry_for, days) if e.expiry_ms <= now_ms]


def strike_grid(seed: int, asset: Asset, expiry: Expiry) -> list[float]:
    """Strikes fixed at listing: fine near the index then, coarser in the wings."""
    spot = index_price(seed, asset, expiry.created_ms)
    width = asset.vol_annual * math.sqrt((expiry.expiry_ms - expiry.created_ms) / YEAR_MS)
    raw = spot * width / 8
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    strikes = []
    j = max(1, math.floor(spot * math.exp(-2.5 * width) / step))
    while j * step <= spot * math.exp(2.5 * width):
        distance = abs(math.log(j * step / spot))
        if distance <= width or (distance <= 2 * width and j % 2 == 0) or j % 4 == 0:
            strikes.append(float(j * step))
        j += 1
    return strikes


def option_name(asset: Asset, expiry: Expiry, strike: float, option_type: str) -> str:
    """E.g. ``BTC-26DEC25-100000-C``."""
    return f"{asset.name}-{expiry.code}-{strike:g}-{option_type}"


def parse_option_name(name: str) -> tuple[Asset, date, float, str] | None:
    """Split an option name into (asset, expiry day, strike, C|P); None if it is not one."""
    parts = name.split("-")
    if len(parts) != 4 or parts[0] not in ASSETS or parts[3] not in ("C", "P"):
        return None
    code = parts[1]
    try:
        day = date(2000 + int(code[-2:]), MONTHS.index(code[-5:-2]) + 1, int(code[:-5]))
        strike = float(parts[2])
    except ValueError:
        return None
    return ASSETS[parts[0]], day, strike, parts[3]


def option_tick(price: float) -> float:
    """The option tick size that applies at ``price`` (coin)."""
    return max(tick for above, tick in OPTION_TICK_STEPS if price >= above)


def stable_rng(seed: int, *keys: object) -> np.random.Generator:
    """A generator seeded by ``seed`` and the CRC32 of ``keys`` (stable across processes)."""
    return np.random.default_rng([seed, zlib.crc32(repr(keys).encode())])
