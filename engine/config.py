"""Backtest configuration: frozen pydantic models; invalid combinations name the field and why."""

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cache.timeutil import TIMEFRAME_HOURS, as_utc
from engine.instruments.contracts import OPTION_SPECS


class FieldValueError(ValueError):
    """A config value that the data makes impossible, e.g. a capital that buys less than
    Deribit's minimum order at the run's first price.

    ``fields`` names the fields to change, the one at fault first.
    """

    def __init__(self, fields: str | tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.fields = (fields,) if isinstance(fields, str) else tuple(fields)


# How every input model reads its fields: no unknown field, and a number must be a finite number
# (``true`` is not 1 and ``"24"`` is not 24; an int is a float). The API's request models use it.
STRICT_INPUT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, **STRICT_INPUT)


class FeeModel(_Frozen):
    """Deribit BTC/ETH option fees, as parameters (schedules change).

    Trading: ``option_fee_rate`` of the underlying per 1-coin contract (coin), capped at
    ``option_fee_cap_pct`` % of the option price. Settlement of an option that expires in the money:
    ``settlement_fee_rate`` of the underlying, capped at ``settlement_fee_cap_pct`` % of the
    option's value at settlement; Deribit reportedly charges no settlement fee on dailies.
    """

    option_fee_rate: float = Field(0.0003, ge=0, le=0.01)
    option_fee_cap_pct: float = Field(12.5, ge=0, le=100)
    settlement_fee_rate: float = Field(0.00015, ge=0, le=0.01)
    settlement_fee_cap_pct: float = Field(12.5, ge=0, le=100)
    settlement_fee_on_dailies: bool = False


class VolSurfaceParams(_Frozen):
    """How a candidate's IV is shaped from the 30-day IV index (see ``docs/volsurface.md``).

    ``iv(K, T) = iv_index * atm_over_index * (T / 30d) ** term_beta * clip(1 + skew*x +
    curvature*x**2)`` with
    ``x = ln(K / F) / (atm * sqrt(T))`` the standardised moneyness; the defaults are fitted to the
    real Deribit snapshots in ``../shared`` by :mod:`engine.volsurface.fit` (the ``surface`` block
    of the calibration the app ships, ``engine/calibration/default.json``).
    """

    term_beta: float = Field(0.005, ge=-1, le=1)
    skew: float = Field(-0.058, ge=-1, le=1)
    curvature: float = Field(0.047, ge=0, le=1)
    min_ratio: float = Field(0.5, gt=0, le=1)
    max_ratio: float = Field(3.0, ge=1, le=10)
    min_term_days: float = Field(1.0, gt=0, le=30)
    basis_annual: float = Field(0.041, ge=-1, le=1)  # forward = spot * exp(basis_annual * T)
    # 30-day ATM IV / IV index; None: the calibration's ratio for the strategy's underlying
    atm_over_index: float | None = Field(None, gt=0, le=2)


class ScoringParams(_Frozen):
    """Weights and scales of the candidate score (see :mod:`engine.scoring`)."""

    w_yield: float = Field(3.0, ge=0)
    w_richness: float = Field(2.5, ge=0)
    w_delta: float = Field(2.5, ge=0)
    w_dte: float = Field(2.0, ge=0)
    yield_ref_annual: float = Field(0.60, gt=0)  # annualised premium yield scoring full marks
    delta_width: float = Field(0.10, gt=0)
    dte_log_width: float = Field(0.7, gt=0)
    bull_penalty: float = Field(1.5, ge=0)
    bear_penalty: float = Field(0.5, ge=0)


class StrategyConfig(_Frozen):
    """The covered-call strategy: what to sell, when to decide and when to exit.

    The backtest and the live agent take the same strategy, so a configuration that was
    backtested runs live unchanged. ``timeframe`` is the bar the market context (returns,
    realized vol, regime) is computed on; decisions come every ``decision_interval_hours``; with
    ``tp_and_roll`` the open call is also tested for take-profit at every bar in between.

    ``position_size`` coins are held; calls are sold on the whole contracts they cover
    (:meth:`contracts`), at least Deribit's minimum order (0.1 BTC, 1 ETH). ``fill_model``
    ``bid_ask`` sells at the bid and buys back at the ask (a spread model calibrated on real
    chains quotes model chains); ``mark`` fills at the mark, which flatters the strategy.
    """

    underlying: Literal["BTC", "ETH"]
    exit_style: Literal["hold_to_expiry", "tp_and_roll"] = "hold_to_expiry"
    timeframe: Literal["1h", "4h", "1d"] = "1h"
    decision_interval_hours: int = Field(24, ge=1, le=24 * 30)

    target_dte: float = Field(7.0, gt=0, le=365)
    min_dte: float = Field(1.0, ge=0, le=365)
    max_dte: float = Field(30.0, gt=0, le=400)
    target_delta: float = Field(0.25, gt=0, lt=1)
    delta_min: float = Field(0.10, gt=0, lt=1)
    delta_max: float = Field(0.40, gt=0, lt=1)
    min_score_to_trade: float = Field(5.0, ge=0, le=10)

    tp_threshold_pct: float = Field(80.0, gt=0, le=100)
    max_rolls_per_chain: int = Field(3, ge=0, le=100)
    min_dte_to_roll: float = Field(1.0, ge=0, le=365)

    position_size: float = Field(1.0, gt=0, le=1e6)  # coin held; at least Deribit's minimum
    fill_model: Literal["bid_ask", "mark"] = "bid_ask"  # "mark": optimistic, fills at the mark

    fees: FeeModel = FeeModel()
    vol_surface: VolSurfaceParams = VolSurfaceParams()
    scoring: ScoringParams = ScoringParams()

    @field_validator("underlying", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    @model_validator(mode="before")
    @classmethod
    def _resolve_atm_over_index(cls, data: Any) -> Any:
        """Fill ``vol_surface.atm_over_index`` from the shipped calibration when it is unset."""
        if not isinstance(data, Mapping):
            return data
        underlying = data.get("underlying")
        surface = data.get("vol_surface", {})
        if isinstance(surface, VolSurfaceParams):
            surface = surface.model_dump()
        if not (isinstance(surface, Mapping) and isinstance(underlying, str)):
            return data
        if surface.get("atm_over_index") is not None or underlying.upper() not in OPTION_SPECS:
            return data
        from engine.calibration import load_calibration  # the calibration imports this module

        ratio = load_calibration().atm_over_index(underlying.upper())
        return {**data, "vol_surface": {**surface, "atm_over_index": ratio}}

    @model_validator(mode="after")
    def _check_bands(self) -> "StrategyConfig":
        if not self.min_dte <= self.target_dte <= self.max_dte:
            raise ValueError(
                f"target_dte ({self.target_dte}) must lie within min_dte ({self.min_dte}) "
                f"and max_dte ({self.max_dte})"
            )
        if not self.delta_min <= self.target_delta <= self.delta_max:
            raise ValueError(
                f"target_delta ({self.target_delta}) must lie within delta_min "
                f"({self.delta_min}) and delta_max ({self.delta_max})"
            )
        minimum = OPTION_SPECS[self.underlying].min_amount
        if self.position_size < minimum:
            raise ValueError(
                f"position_size ({self.position_size:g} {self.underlying}) is below Deribit's "
                f"minimum option order of {minimum:g} {self.underlying}"
            )
        if self.decision_interval_hours % self.timeframe_hours:
            raise ValueError(
                f"decision_interval_hours ({self.decision_interval_hours}) must be a multiple of "
                f"the {self.timeframe} timeframe ({self.timeframe_hours} h)"
            )
        return self

    @property
    def timeframe_hours(self) -> int:
        """Bar length in hours."""
        return TIMEFRAME_HOURS[self.timeframe]

    def contracts(self, coins: float) -> float:
        """Calls that ``coins`` cover: whole multiples of Deribit's order step, rounded down.

        1.37 BTC covers 1.3 contracts (step 0.1); 2.9 ETH covers 2 (step 1).
        """
        step = OPTION_SPECS[self.underlying].min_amount
        return round(math.floor(coins / step + 1e-9) * step, 10)


class CallSimulationConfig(StrategyConfig):
    """Everything a covered-call backtest needs; equal configs give equal results.

    ``option_market`` says what the options are: ``chains``, the source's recorded option chains
    (sales at the recorded bid, buy-backs at the recorded ask; see :mod:`engine.chains`), with an
    instant whose latest snapshot is more than ``chain_max_age_minutes`` old a gap; ``model``,
    calls priced on the vol surface from the IV index; ``auto`` (default), the chains when the
    source holds them over the whole run, else the model.
    """

    start: datetime
    end: datetime
    source: str = "synthetic"
    initial_capital_usd: float | None = Field(None, ge=1.0, le=1e12)
    top_k: int = Field(5, ge=2, le=100)  # kept per decision (2+: a roll needs the next best)
    option_market: Literal["auto", "model", "chains"] = Field(
        "auto",
        description="chains: the source's recorded option chains; model: calls priced on the "
        "vol surface; auto: chains when the source holds them over the whole run",
    )
    chain_max_age_minutes: int = Field(
        15,
        ge=1,
        le=1440,
        description="real chains: an instant whose latest snapshot is older is a gap (minutes)",
    )

    @field_validator("start", "end", mode="before")
    @classmethod
    def _utc(cls, v: object, info) -> datetime:
        return as_utc(v, info.field_name)

    @model_validator(mode="after")
    def _check(self) -> "CallSimulationConfig":
        tf_h = self.timeframe_hours
        if self.end <= self.start:
            raise ValueError(f"end ({self.end.date()}) must be after start ({self.start.date()})")
        for name in ("start", "end"):
            t = getattr(self, name)
            if (t - t.replace(hour=0, minute=0, second=0, microsecond=0)) % timedelta(hours=tf_h):
                raise ValueError(f"{name} ({t.isoformat()}) is not on a {self.timeframe} bar")
        if self.initial_capital_usd is not None and self.position_size != 1.0:
            raise ValueError(
                "set either position_size (coin held) or initial_capital_usd (coin bought at the "
                "start price), not both"
            )
        return self

    def canonical_json(self, fields: set[str] | None = None) -> str:
        """Stable JSON of the config (or of ``fields``): the input to run ids and cache keys."""
        data = self.model_dump(mode="json", include=fields)
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    def digest(self, fingerprint: str, fields: set[str] | None = None) -> str:
        """Hash of the canonical config (or ``fields``) plus the data fingerprint."""
        text = self.canonical_json(fields) + "|" + fingerprint
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def quantity_coin(self, first_spot_usd: float) -> float:
        """Coins held: ``position_size``, or the capital's worth at the first spot.

        Raises ``ValueError`` naming ``initial_capital_usd`` when the capital buys less than
        Deribit's minimum option order.
        """
        if self.initial_capital_usd is None:
            return self.position_size
        coins = self.initial_capital_usd / first_spot_usd
        minimum = OPTION_SPECS[self.underlying].min_amount
        if coins < minimum:
            raise FieldValueError(
                "initial_capital_usd",
                f"initial_capital_usd ({self.initial_capital_usd:,.2f} USD) buys "
                f"{coins:.4g} {self.underlying} at the first price ({first_spot_usd:,.2f} USD), "
                f"below Deribit's minimum option order of {minimum:g} {self.underlying}",
            )
        return coins

    @property
    def strategy(self) -> StrategyConfig:
        """The strategy alone (what the live agent takes), without the run-only fields."""
        return StrategyConfig(**self.model_dump(include=set(StrategyConfig.model_fields)))


RUN_ONLY_FIELDS = frozenset(CallSimulationConfig.model_fields) - frozenset(
    StrategyConfig.model_fields
)


def split_strategy(data: Mapping[str, Any]) -> tuple[StrategyConfig, dict]:
    """A strategy and the run-only fields (dates, source, …) from a config mapping.

    ``data`` may be a strategy, a run's ``config`` block as written in its ``summary.json``, or
    that ``summary.json`` itself (its ``config`` is used). Raises ``ValueError`` (pydantic's
    ``ValidationError``) naming a bad or unknown field.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"a strategy must be a JSON object, got {type(data).__name__}")
    if "config" in data and "run_id" in data:  # a run's summary.json
        data = data["config"]
        if not isinstance(data, Mapping):
            raise ValueError("the summary's config is not a JSON object")
    run = {k: v for k, v in data.items() if k in RUN_ONLY_FIELDS}
    strategy = StrategyConfig(**{k: v for k, v in data.items() if k not in RUN_ONLY_FIELDS})
    return strategy, run


def load_strategy(path: Path) -> tuple[StrategyConfig, dict]:
    """Read a strategy file (see :func:`split_strategy`); errors name the file."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"strategy file {path}: {exc}") from exc
    return split_strategy(data)
