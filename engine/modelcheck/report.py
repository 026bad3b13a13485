"""What a model check reports: pydantic models, units in the field names.

``_vol_points`` are percentage points of annualised implied vol (model 52.0 % against market
50.5 % is +1.5); ``_coin`` coin per 1-coin contract (prices) or coin (amounts); ``_usd`` USD;
``_pct`` percent. Errors are always model minus market. A statistic over no row is ``None``.
"""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IvErrorCell(_Out):
    """The model IV against the recorded mark IV in one delta × DTE bucket (or ``all``)."""

    delta_bucket: str
    dte_bucket_days: str
    n: int
    median_error_vol_points: float | None
    median_abs_error_vol_points: float | None
    p90_abs_error_vol_points: float | None
    # the surface at the recorded forward instead of the model's own: isolates the basis
    median_error_at_recorded_forward_vol_points: float | None


class PremiumErrorCell(_Out):
    """The model mark against the recorded mark (coin) in one bucket; rows with a mark > 0."""

    delta_bucket: str
    dte_bucket_days: str
    n: int
    median_error_coin: float | None
    median_rel_error_pct: float | None
    median_abs_rel_error_pct: float | None
    p90_abs_rel_error_pct: float | None


class FillErrorCell(_Out):
    """One side of the book in one bucket: modelled bid (or ask) against the recorded one.

    ``spread_*``: the spread model applied to the *recorded* mark and delta (the spread model
    alone); ``full_*``: the model's own bid/ask, the spread model on the model mark and delta
    (what the model chain fills at). Percentages are of the recorded mark. Only rows where the
    side was quoted count.
    """

    delta_bucket: str
    dte_bucket_days: str
    side: Literal["bid", "ask"]
    n_spread: int
    spread_median_error_coin: float | None
    spread_median_error_pct_of_mark: float | None
    spread_p90_abs_error_pct_of_mark: float | None
    n_full: int
    full_median_error_coin: float | None
    full_median_error_pct_of_mark: float | None
    full_p90_abs_error_pct_of_mark: float | None


class ForwardErrorCell(_Out):
    """The model's forward ``spot·exp(basis·T)`` against the recorded forward, per expiry seen
    at an instant, in one DTE bucket (or ``all``)."""

    dte_bucket_days: str
    n: int
    median_error_pct: float | None
    p90_abs_error_pct: float | None
    median_implied_basis_annual_pct: float | None  # ln(recorded forward / spot) / T
    model_basis_annual_pct: float


class BacktestSide(_Out):
    """One of the two runs of the same strategy: on the recorded chains or on the model chain.

    ``available`` false: the run could not be made (``reason`` says why) and the numbers are
    ``None``. PnL is the options' (the trades' ``pnl_coin`` and ``pnl_usd`` summed).
    """

    option_market: Literal["chains", "model"]
    available: bool
    reason: str | None = None
    run_id: str | None = None
    trades: int | None = None
    premium_collected_coin: float | None = None
    premium_collected_usd: float | None = None
    fees_paid_coin: float | None = None
    pnl_coin: float | None = None
    pnl_usd: float | None = None
    final_equity_coin: float | None = None
    final_equity_usd: float | None = None
    win_rate_pct: float | None = None
    warnings: list[str] = []


class BacktestDifference(_Out):
    """Model minus real chains; ``pnl_pct_of_holding`` is the PnL difference in percent of the
    coins held (a difference of coin returns, in percentage points), ``win_rate_pct`` in
    percentage points (None unless both runs traded)."""

    trades: int
    premium_collected_coin: float
    premium_collected_usd: float
    fees_paid_coin: float
    pnl_coin: float
    pnl_usd: float
    pnl_pct_of_holding: float
    final_equity_coin: float
    final_equity_usd: float
    win_rate_pct: float | None
    verdict: Literal["flatters", "penalises", "matches"]
    sentence: str


class SideBySide(_Out):
    """The same strategy on the recorded chains and on the model chain, over the same window."""

    quantity_coin: float | None
    chains: BacktestSide
    model: BacktestSide
    difference: BacktestDifference | None  # None unless both runs were made


class UnderlyingCheck(_Out):
    """The model against one underlying's recorded chains.

    The comparison runs on the chain run's clock: at each instant with a snapshot within the
    staleness limit, every call of that snapshot in the buckets is priced by the model as the
    model chain would price it there. ``model_unavailable`` says why the model side (IV,
    premium, full fill errors, forwards, the model run) is empty, when it is.
    """

    underlying: str
    window_start: datetime
    window_end: datetime
    instants: int
    instants_with_snapshot: int
    instants_with_iv_index: int
    snapshots_compared: int
    calls_compared: int
    calls_with_model: int
    iv_index_real_share: float | None  # of the compared instants with an IV index
    model_unavailable: str | None
    iv_error: list[IvErrorCell]
    premium_error: list[PremiumErrorCell]
    fill_error: list[FillErrorCell]
    forward_error: list[ForwardErrorCell]
    backtest: SideBySide


class ModelCheckReport(_Out):
    """The model (a calibration's vol surface, IV-index ratio and spread model) against one
    source's recorded option chains, per underlying."""

    source: str
    origin: str
    label: str
    synthetic: bool
    fingerprint: str
    calibration_id: str
    calibration_where: str
    surface: dict[str, float | None]
    atm_over_index: dict[str, float]
    strategy: dict[str, object]
    chain_max_age_minutes: int
    delta_buckets: list[str]
    dte_buckets_days: list[str]
    method: list[str]
    underlyings: list[UnderlyingCheck]
    key: str
    engine_version: str
    computed_at: datetime
    compute_s: float
