"""Embedded, deterministic synthetic BTC/ETH market: hourly candles and a DVOL-like IV index.

The model (equations and parameter values in ``docs/synthetic.md``): a daily bull/sideways/bear
Markov regime shared by all coins; log price = a power-law adoption trend plus a mean-reverting
deviation driven by the regime drift, correlated stochastic volatility (two log-vol
Ornstein–Uhlenbeck factors) and compound-Poisson double-exponential jumps that also lift the
volatility; 12 sub-steps per hour give consistent high/low. The IV index is the model's expected
30-day volatility times a variance risk premium and a mean-reverting sentiment factor.

One seed is one synthetic world starting at :data:`ORIGIN`: any ``[start, end)`` window is a slice
of the same paths, and a coin's path does not depend on which other coins are asked for. Every
draw comes from its own ``Generator(PCG64)`` stream keyed by ``(seed, coin or "market", variable)``.
"""

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl

from cache.nb import ar1_filter_nb, markov_chain_nb
from cache.synthetic_params import COINS, MARKET, CoinParams

SOURCE = "synthetic"
ORIGIN = datetime(2019, 1, 1, tzinfo=UTC)
MAX_END = datetime(2050, 1, 1, tzinfo=UTC)  # bounds memory: sub-step arrays grow with the span
DEFAULT_SEED = 20190101
DEFAULT_END = datetime(2026, 1, 1, tzinfo=UTC)
HOURS_PER_YEAR = 24 * 365
SUBSTEPS_PER_HOUR = 12
IV_HORIZON_DAYS = 30

_DT_HOUR = 1.0 / HOURS_PER_YEAR
_DT_SUB = _DT_HOUR / SUBSTEPS_PER_HOUR
_OHLCV = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class SyntheticSeries:
    """One coin's synthetic market: hourly ``candles`` and the hourly ``iv`` index.

    ``candles``: ``time`` (bar open, Datetime[us, UTC]), ``open, high, low, close`` (USD) and
    ``volume`` (USD notional). ``iv``: ``time``, ``iv`` (percent, the level at ``time``) and
    ``iv_is_real`` (always False: nothing here is a real Deribit DVOL print).
    """

    underlying: str
    seed: int
    candles: pl.DataFrame
    iv: pl.DataFrame

    @property
    def source(self) -> str:
        """Return the data-source label, ``"synthetic"``."""
        return SOURCE


@dataclass(frozen=True)
class _Market:
    """Draws and paths every coin shares, one row per hour from ORIGIN."""

    regime: np.ndarray  # int64 index into REGIMES
    price_shock: np.ndarray  # (hours, sub-steps) standard normals
    vol_shock: np.ndarray  # (hours, 2) standard normals: slow, fast factor
    iv_shock: np.ndarray  # standard normals
    jump_uniforms: np.ndarray  # (hours * sub-steps, 3): occurrence, sign, size
    season: np.ndarray  # intraday/weekend vol multiplier with mean square 1


def generate_synthetic_market(
    seed: int = DEFAULT_SEED,
    start: datetime = ORIGIN,
    end: datetime = DEFAULT_END,
    underlyings: tuple[str, ...] = ("BTC", "ETH"),
) -> dict[str, SyntheticSeries]:
    """Generate the synthetic market of ``seed`` over the hourly bars ``[start, end)``.

    Parameters
    ----------
    seed : int
        Non-negative seed; the same seed gives bit-identical frames.
    start, end : datetime
        UTC-aware, on whole hours, ``ORIGIN <= start < end <= MAX_END``.
    underlyings : tuple of str
        Coins to return, each a key of ``cache.synthetic_params.COINS``.

    Returns
    -------
    dict[str, SyntheticSeries]
        One series per coin, keyed by coin, in the order asked.

    Raises
    ------
    ValueError
        On a bad seed, range or coin list; the message names the argument.
    """
    seed = _check_seed(seed)
    start = _check_time(start, "start")
    end = _check_time(end, "end")
    if end <= start:
        raise ValueError(f"end: {end.isoformat()} must be after start {start.isoformat()}")
    coins = _check_underlyings(underlyings)
    first = _hours_between(ORIGIN, start)
    market = _simulate_market(seed, _hours_between(ORIGIN, end))
    time = pl.datetime_range(
        start, end, "1h", closed="left", time_unit="us", time_zone="UTC", eager=True
    ).alias("time")
    out = {}
    for coin in coins:
        paths = {k: v[first:] for k, v in _simulate_coin(seed, coin, COINS[coin], market).items()}
        candles = pl.DataFrame([time] + [pl.Series(c, paths[c], dtype=pl.Float64) for c in _OHLCV])
        iv = pl.DataFrame(
            [
                time,
                pl.Series("iv", paths["iv"], dtype=pl.Float64),
                pl.Series("iv_is_real", np.zeros(time.len(), dtype=bool), dtype=pl.Boolean),
            ]
        )
        out[coin] = SyntheticSeries(underlying=coin, seed=seed, candles=candles, iv=iv)
    return out


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    return int(seed)


def _check_time(value: object, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{name}: expected a UTC-aware datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}: {value.isoformat()} is naive; pass a UTC-aware datetime")
    value = value.astimezone(UTC)
    if (value.minute, value.second, value.microsecond) != (0, 0, 0):
        raise ValueError(f"{name}: {value.isoformat()} is not on a whole hour")
    if not ORIGIN <= value <= MAX_END:
        raise ValueError(
            f"{name}: {value.isoformat()} is outside the synthetic market "
            f"[{ORIGIN.isoformat()}, {MAX_END.isoformat()}]"
        )
    return value


def _check_underlyings(underlyings: object) -> tuple[str, ...]:
    if isinstance(underlyings, str) or not isinstance(underlyings, tuple | list):
        raise ValueError(f"underlyings: expected a tuple of coin names, got {underlyings!r}")
    coins = tuple(underlyings)
    if not coins or any(c not in COINS for c in coins) or len(set(coins)) != len(coins):
        raise ValueError(
            f"underlyings: {coins!r} must be one or more distinct names from {tuple(COINS)}"
        )
    return coins


def _hours_between(a: datetime, b: datetime) -> int:
    return int((b - a).total_seconds()) // 3600


def _stream(seed: int, owner: str, variable: str) -> np.random.Generator:
    """Return the generator of one variable; crc32 keys are stable across runs and machines."""
    key = (zlib.crc32(owner.encode()), zlib.crc32(variable.encode()))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def _half_life_phi(half_life: float, step: float) -> float:
    """Per-step persistence of an OU process with the given half-life (same unit as step)."""
    return float(np.exp(-np.log(2.0) * step / half_life))


def _simulate_market(seed: int, n_hours: int) -> _Market:
    stay = 1.0 - 1.0 / np.asarray(MARKET.regime_mean_days)
    transition = np.diag(stay) + (1.0 - stay)[:, None] * np.asarray(MARKET.regime_exit_split)
    daily = markov_chain_nb(
        _stream(seed, "market", "regime").random(-(-n_hours // 24)),
        np.cumsum(transition, axis=1),
        MARKET.initial_regime,
    )
    hour = np.arange(n_hours)
    # Each array fills row-major from its own stream, so a longer span only appends draws.
    return _Market(
        regime=daily[hour // 24],
        price_shock=_stream(seed, "market", "price").standard_normal((n_hours, SUBSTEPS_PER_HOUR)),
        vol_shock=_stream(seed, "market", "vol").standard_normal((n_hours, 2)),
        iv_shock=_stream(seed, "market", "iv").standard_normal(n_hours),
        jump_uniforms=_stream(seed, "market", "jump").random((n_hours * SUBSTEPS_PER_HOUR, 3)),
        season=_seasonality(hour),
    )


def _seasonality(hour: np.ndarray) -> np.ndarray:
    """Return the intraday/weekend vol multiplier, scaled to mean square 1 over a week."""

    def raw(h: np.ndarray) -> np.ndarray:
        phase = 2.0 * np.pi * (h % 24 - MARKET.intraday_vol_peak_hour) / 24.0
        weekend = (ORIGIN.weekday() + h // 24) % 7 >= 5
        return (1.0 + MARKET.intraday_vol_amplitude * np.cos(phase)) * np.where(
            weekend, MARKET.weekend_vol_factor, 1.0
        )

    return raw(hour) / np.sqrt(np.mean(raw(np.arange(7 * 24)) ** 2))


def _jumps(uniforms: np.ndarray, per_year: float, down_mean: float, up_mean: float) -> np.ndarray:
    """Double-exponential compound-Poisson log jumps, one (mostly zero) value per sub-step."""
    out = np.zeros(uniforms.shape[0])
    hit = np.flatnonzero(uniforms[:, 0] < per_year * _DT_SUB)
    size = -np.log1p(-uniforms[hit, 2])
    down = uniforms[hit, 1] < MARKET.jump_down_prob
    out[hit] = np.where(down, -down_mean * size, up_mean * size)
    return out


def _mix(loading: float, common: np.ndarray, own: np.ndarray) -> np.ndarray:
    return loading * common + np.sqrt(1.0 - loading**2) * own


def _ou(shocks: np.ndarray, half_life_hours: float, std: float) -> np.ndarray:
    """Exact hourly OU path from 0 with the given stationary std, driven by unit normals."""
    phi = _half_life_phi(half_life_hours, 1.0)
    return ar1_filter_nb(std * np.sqrt(1.0 - phi**2) * shocks, phi, 0.0)


def _simulate_coin(seed: int, coin: str, p: CoinParams, market: _Market) -> dict[str, np.ndarray]:
    n_hours = market.regime.shape[0]
    k = SUBSTEPS_PER_HOUR
    common = _jumps(
        market.jump_uniforms,
        MARKET.common_jumps_per_year,
        p.common_jump_scale * MARKET.common_jump_down_mean,
        p.common_jump_scale * MARKET.common_jump_up_mean,
    )
    own = _jumps(
        _stream(seed, coin, "jump").random((n_hours * k, 3)),
        p.idio_jumps_per_year,
        p.idio_jump_down_mean,
        p.idio_jump_up_mean,
    )
    jumps = (common + own).reshape(n_hours, k)
    state = _volatility(seed, coin, p, market, jumps)
    shock = _mix(
        p.shock_market_loading,
        market.price_shock,
        _stream(seed, coin, "price").standard_normal((n_hours, k)),
    )
    drift = np.asarray(p.regime_drift)[market.regime]
    sigma = state["sigma"]
    increments = (drift * _DT_SUB)[:, None] + (sigma * np.sqrt(_DT_SUB))[:, None] * shock + jumps
    deviation = ar1_filter_nb(increments.ravel(), float(np.exp(-p.anchor_per_year * _DT_SUB)), 0.0)
    tau = np.arange(1, n_hours * k + 1) * _DT_SUB
    log_trend = np.log(p.price0_usd) + p.trend_power * np.log1p(tau / p.trend_age_years)
    # One exp over the whole sub-step path: open, close, high and low share the same floats.
    path = np.exp(log_trend + deviation).reshape(n_hours, k)
    close = path[:, -1]
    open_ = np.concatenate(([p.price0_usd], close[:-1]))
    return {
        "open": open_,
        "high": np.maximum(open_, path.max(axis=1)),
        "low": np.minimum(open_, path.min(axis=1)),
        "close": close,
        "volume": _volume(seed, coin, p, open_, close, sigma),
        "iv": _implied_vol(seed, coin, p, market, state),
    }


def _volatility(
    seed: int, coin: str, p: CoinParams, market: _Market, jumps: np.ndarray
) -> dict[str, np.ndarray]:
    """Return the hourly vol ``sigma`` and the log-vol states the IV index reads."""
    n_hours = jumps.shape[0]
    level_target = np.log(np.asarray(p.regime_vol))[market.regime]
    phi_level = _half_life_phi(p.regime_vol_half_life_days * 24, 1.0)
    # The regime's vol level glides in rather than stepping, so the IV index has no cliffs.
    level = ar1_filter_nb((1.0 - phi_level) * level_target, phi_level, level_target[0])
    shock = _mix(
        p.vol_market_loading,
        market.vol_shock,
        _stream(seed, coin, "vol").standard_normal((n_hours, 2)),
    )
    x_slow = _ou(shock[:, 0], p.vol_slow_half_life_days * 24, p.vol_slow_std)
    phi_fast = _half_life_phi(p.vol_fast_half_life_days * 24, 1.0)
    fast_innovation = p.vol_fast_std * np.sqrt(1.0 - phi_fast**2) * shock[:, 1]
    # A jump lifts the fast factor from the next hour on: vol clusters after crashes.
    down = np.clip(-jumps, 0.0, None).sum(axis=1)
    up = np.clip(jumps, 0.0, None).sum(axis=1)
    fast_innovation[1:] += (p.jump_vol_feedback_down * down + p.jump_vol_feedback_up * up)[:-1]
    x_fast = ar1_filter_nb(fast_innovation, phi_fast, 0.0)
    sigma = p.vol_base * np.exp(level + x_slow + x_fast) * market.season
    return {
        "sigma": sigma,
        "level": level,
        "level_target": level_target,
        "x_slow": x_slow,
        "x_fast": x_fast,
    }


def _volume(
    seed: int, coin: str, p: CoinParams, open_: np.ndarray, close: np.ndarray, sigma: np.ndarray
) -> np.ndarray:
    """Hourly USD volume: grows with price, vol and the size of the bar's move."""
    move = np.abs(np.log(close / open_)) / (sigma * np.sqrt(_DT_HOUR))
    noise = _ou(
        _stream(seed, coin, "volume").standard_normal(open_.shape[0]),
        p.volume_noise_half_life_hours,
        p.volume_noise_std,
    )
    return p.volume0_usd * np.exp(
        p.volume_price_elasticity * np.log(open_ / p.price0_usd)
        + p.volume_vol_elasticity * np.log(sigma / p.vol_base)
        + p.volume_move_elasticity * np.log1p(move)
        + noise
    )


def _implied_vol(
    seed: int, coin: str, p: CoinParams, market: _Market, state: dict[str, np.ndarray]
) -> np.ndarray:
    """DVOL-like index in percent: expected 30-day vol x (1 + VRP) x sentiment, soft-floored."""
    shock = _mix(
        p.iv_market_loading,
        market.iv_shock,
        _stream(seed, coin, "iv").standard_normal(market.iv_shock.shape[0]),
    )
    sentiment = _ou(shock, p.iv_noise_half_life_days * 24, p.iv_noise_std)
    raw = 100.0 * _expected_vol(p, state) * (1.0 + p.vrp) * np.exp(sentiment)
    floor, soft = MARKET.iv_floor, MARKET.iv_floor_softness
    return floor + soft * np.logaddexp(0.0, (raw - floor) / soft)


def _expected_vol(p: CoinParams, state: dict[str, np.ndarray]) -> np.ndarray:
    """Root of the model's expected mean variance over the next 30 days, annualised.

    Each log-vol factor is Gaussian given today, so E[sigma^2] at horizon tau is closed-form; the
    mean over daily nodes approximates the 30-day integral. Regime switches are not anticipated.
    """
    tau = (np.arange(IV_HORIZON_DAYS) + 0.5) / 365.0
    decay = {
        name: np.exp(-np.log(2.0) / (days / 365.0) * tau)
        for name, days in (
            ("level", p.regime_vol_half_life_days),
            ("x_slow", p.vol_slow_half_life_days),
            ("x_fast", p.vol_fast_half_life_days),
        )
    }
    variance = p.vol_slow_std**2 * (1.0 - decay["x_slow"] ** 2) + p.vol_fast_std**2 * (
        1.0 - decay["x_fast"] ** 2
    )
    target = state["level_target"]
    log_sigma = (
        np.log(p.vol_base)
        + target[:, None]
        + (state["level"] - target)[:, None] * decay["level"]
        + state["x_slow"][:, None] * decay["x_slow"]
        + state["x_fast"][:, None] * decay["x_fast"]
    )
    diffusive = np.exp(2.0 * log_sigma + 2.0 * variance).mean(axis=1)
    return np.sqrt(diffusive + _jump_variance_per_year(p))


def _jump_variance_per_year(p: CoinParams) -> float:
    """Yearly variance added by jumps: rate x E[J^2], E[J^2] = 2 mean^2 per exponential side."""
    q = MARKET.jump_down_prob

    def second_moment(down_mean: float, up_mean: float) -> float:
        return q * 2.0 * down_mean**2 + (1.0 - q) * 2.0 * up_mean**2

    common = second_moment(MARKET.common_jump_down_mean, MARKET.common_jump_up_mean)
    idio = second_moment(p.idio_jump_down_mean, p.idio_jump_up_mean)
    return (
        MARKET.common_jumps_per_year * p.common_jump_scale**2 * common
        + p.idio_jumps_per_year * idio
    )
