"""Request and response models of the HTTP API (units in the field names or descriptions)."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.timeutil import as_utc


class BacktestStartRequest(BaseModel):
    """Body of ``POST /api/backtest/start``; strategy fields default to the engine's."""

    model_config = ConfigDict(extra="forbid")

    underlying: Literal["BTC", "ETH"]
    start: str = Field(description="UTC date (YYYY-MM-DD) or ISO-8601 datetime with offset")
    end: str = Field(description="UTC date or ISO-8601 datetime, exclusive")
    timeframe: Literal["1h", "4h", "1d"] = "1h"
    decision_interval_hours: int = Field(24, ge=1, le=720)
    exit_style: Literal["hold_to_expiry", "tp_and_roll"] = "hold_to_expiry"
    source: str = Field("synthetic", min_length=1, max_length=40)
    pace: Literal[10, 50, 200] | None = Field(
        None, description="publish replay steps at this many decisions per second; null = max"
    )
    target_dte: float | None = Field(None, gt=0, le=365)
    min_dte: float | None = Field(None, ge=0, le=365)
    max_dte: float | None = Field(None, gt=0, le=400)
    target_delta: float | None = Field(None, gt=0, lt=1)
    delta_min: float | None = Field(None, gt=0, lt=1)
    delta_max: float | None = Field(None, gt=0, lt=1)
    min_score_to_trade: float | None = Field(None, ge=0, le=10)
    tp_threshold_pct: float | None = Field(None, gt=0, le=100)
    max_rolls_per_chain: int | None = Field(None, ge=0, le=100)
    min_dte_to_roll: float | None = Field(None, ge=0, le=365)
    position_size: float | None = Field(None, gt=0, le=1e6, description="coin held and covered")
    initial_capital_usd: float | None = Field(None, gt=0, le=1e12)

    @field_validator("start", "end")
    @classmethod
    def _parse_time(cls, v: str, info) -> str:
        return as_utc(v, info.field_name).isoformat()


class FieldError(BaseModel):
    """One bad input field."""

    field: str
    message: str


class ErrorResponse(BaseModel):
    """The one error shape of every 4xx/5xx (``/api/backtest/start`` adds ``started: false``)."""

    error: str
    detail: list[FieldError] | str | None = None
    started: bool | None = None


class StartResponse(BaseModel):
    """Whether the run started."""

    started: bool
    error: str | None = None


class StopResponse(BaseModel):
    """A stop was requested (it is honoured within a second)."""

    stopping: bool


class StepOut(BaseModel):
    """One decision of a run."""

    time: datetime
    candidates: int
    best_score: float | None
    traded: bool
    exit_style: str
    action: str
    reason: str
    best_instrument: str | None = None


class BacktestStatus(BaseModel):
    """The backtest status the dashboard polls; datetimes are ISO-8601 UTC."""

    state: Literal["idle", "running", "finished", "stopped", "error"]
    running: bool
    started_at: datetime | None
    finished_at: datetime | None
    progress_pct: float = Field(description="0..1 over preparation and replay, never decreasing")
    phase: str | None
    current_time: datetime | None
    decisions_processed: int
    total_decisions: int
    exit_style: str | None
    underlying: str | None
    start_date: datetime | None
    end_date: datetime | None
    source: str | None
    synthetic: bool | None
    pace: int | None
    metrics: dict[str, float | int | None] | None
    recent_steps: list[StepOut]
    error: str | None
    message: str | None
    run_id: str | None
    run_dir: str | None
    config: dict | None


class SeriesOut(BaseModel):
    """Coverage of one series; ``end`` exclusive."""

    start: datetime | None
    end: datetime | None
    rows: int
    timeframe: str | None = None
    gaps: int
    real_rows: int | None = None


class SourceOut(BaseModel):
    """One data source of the cache."""

    name: str
    origin: str
    label: str
    synthetic: bool
    fingerprint: str
    coverage: dict[str, dict[str, SeriesOut]]


class StatusResponse(BaseModel):
    """``GET /status``: app health, data, backtest and agent."""

    app: str = "thetadesk"
    version: str
    healthy: bool
    server_time: datetime
    data_dir: str
    sources: list[SourceOut]
    backtest_running: bool
    backtest_state: str
    agent: dict


class AgentPosition(BaseModel):
    """The covered call the agent has sold."""

    instrument_name: str
    strike_usd: float
    expiry: datetime
    premium_coin: float
    quantity_coin: float
    mark_coin: float | None
    opened_at: datetime


class AgentStatus(BaseModel):
    """The live agent: mode, feed, broker, last cycle, position and equity."""

    state: str
    message: str | None = None
    feed: str | None = None
    feed_description: str | None = None
    broker: str | None = None
    underlying: str | None = None
    exit_style: str | None = None
    cycles: int = 0
    last_cycle_time: datetime | None = Field(None, description="the agent clock's time (UTC)")
    last_cycle_wall_time: datetime | None = None
    last_cycle_ms: float | None = None
    position: AgentPosition | None = None
    equity_coin: float | None = None
    equity_usd: float | None = None
    index_price: float | None = Field(None, description="USD")
    last_action: str | None = None
    last_reason: str | None = None
    last_error: str | None = None


class AgentDecision(BaseModel):
    """One journaled agent decision."""

    id: int
    time: datetime
    recorded_at: datetime
    feed: str
    broker: str
    underlying: str
    spot_usd: float | None
    candidates: int
    best_instrument: str | None
    best_score: float | None
    action: str
    reason: str
    order_result: list[dict] | None
    error: str | None
    equity_coin: float | None
    equity_usd: float | None
    cycle_ms: float | None
