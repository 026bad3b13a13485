"""Parameters of the synthetic market; their meaning and equations are in ``docs/synthetic.md``.

Rates are per year of 365 days, volatilities annualised, jump sizes in log-price units.
"""

from dataclasses import dataclass

REGIMES = ("bear", "sideways", "bull")


@dataclass(frozen=True)
class MarketParams:
    """What every coin shares: the regime chain, common jumps, seasonality and the IV floor."""

    regime_mean_days: tuple[float, float, float] = (150.0, 120.0, 200.0)  # bear, sideways, bull
    # Where a regime goes when it ends (rows: from bear, sideways, bull).
    regime_exit_split: tuple[tuple[float, float, float], ...] = (
        (0.0, 0.65, 0.35),
        (0.45, 0.0, 0.55),
        (0.40, 0.60, 0.0),
    )
    initial_regime: int = 1  # sideways: no view on 2019 at the origin
    common_jumps_per_year: float = 6.0
    common_jump_down_mean: float = 0.055  # BTC scale; each coin multiplies by its jump scale
    common_jump_up_mean: float = 0.035
    jump_down_prob: float = 0.6  # crashes outnumber squeezes: negative skew
    intraday_vol_amplitude: float = 0.2
    intraday_vol_peak_hour: float = 15.0  # UTC, the US session
    weekend_vol_factor: float = 0.75
    iv_floor: float = 20.0  # percent; the index never goes below it
    iv_floor_softness: float = 3.0  # vol points over which the floor bends in


@dataclass(frozen=True)
class CoinParams:
    """One coin's parameters; fields with defaults are the same for BTC and ETH."""

    price0_usd: float  # price at ORIGIN
    trend_power: float  # b in log P* = log P0 + b log(1 + tau / age)
    trend_age_years: float  # the coin's age at ORIGIN
    regime_drift: tuple[float, float, float]  # log drift per year in bear, sideways, bull
    vol_base: float  # sigma-bar
    shock_market_loading: float  # correlation of price shocks with the market factor
    common_jump_scale: float  # multiplies the common jump sizes
    idio_jumps_per_year: float
    idio_jump_down_mean: float
    idio_jump_up_mean: float
    volume0_usd: float  # typical hourly USD volume at ORIGIN
    anchor_per_year: float = 0.6  # pull of log price back to the trend
    regime_vol: tuple[float, float, float] = (1.15, 0.75, 1.05)  # bear, sideways, bull
    regime_vol_half_life_days: float = 15.0
    vol_slow_half_life_days: float = 60.0
    vol_slow_std: float = 0.25
    vol_fast_half_life_days: float = 3.0
    vol_fast_std: float = 0.35
    vol_market_loading: float = 0.8  # correlation of log-vol shocks with the market's
    jump_vol_feedback_down: float = 4.0  # log-vol added per unit of |down jump|
    jump_vol_feedback_up: float = 2.0
    vrp: float = 0.07  # IV / model vol - 1, before sentiment
    iv_noise_std: float = 0.07  # stationary std of log sentiment
    iv_noise_half_life_days: float = 7.0
    iv_market_loading: float = 0.7
    volume_price_elasticity: float = 0.5
    volume_vol_elasticity: float = 1.0
    volume_move_elasticity: float = 0.6  # on log(1 + |hourly return| / hourly sigma)
    volume_noise_std: float = 0.3
    volume_noise_half_life_hours: float = 12.0


MARKET = MarketParams()
COINS: dict[str, CoinParams] = {
    "BTC": CoinParams(
        price0_usd=3700.0,
        trend_power=5.79,  # trend reaches ~80k USD at 2026-01-01
        trend_age_years=10.0,  # genesis block 2009-01-03
        regime_drift=(-1.0, 0.0, 1.2),
        vol_base=0.48,
        shock_market_loading=0.93,
        common_jump_scale=1.0,
        idio_jumps_per_year=6.0,
        idio_jump_down_mean=0.025,
        idio_jump_up_mean=0.02,
        volume0_usd=15e6,
    ),
    "ETH": CoinParams(
        price0_usd=130.0,
        trend_power=2.82,  # trend reaches ~3,000 USD at 2026-01-01
        trend_age_years=3.43,  # launch 2015-07-30
        regime_drift=(-1.2, 0.0, 1.5),
        vol_base=0.57,
        shock_market_loading=0.9,
        common_jump_scale=1.25,
        idio_jumps_per_year=8.0,
        idio_jump_down_mean=0.03,
        idio_jump_up_mean=0.025,
        volume0_usd=2.5e6,
    ),
}
