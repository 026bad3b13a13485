"""Request and response models of the HTTP API (units in the field names or descriptions)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    create_model,
    field_validator,
)
from pydantic.fields import FieldInfo

from cache.store import SOURCE_NAME_RE
from cache.timeutil import as_utc
from engine.config import CallSimulationConfig
from engine.manager import BacktestStatus as BacktestStatus  # the manager's own status model
from engine.policy.actions import ActionInfo, CloseReasonInfo
from engine.results.schema import TRADE_VIEW, Display, row_model

# The run fields of a start request; every other top-level field of the config that is not a
# nested model is a strategy field the form may override.
RUN_FIELDS = ("underlying", "start", "end", "timeframe", "decision_interval_hours", "exit_style",
              "source")  # fmt: skip
SOURCE_NAME = StringConstraints(pattern=SOURCE_NAME_RE.pattern)  # the cache's naming rule
REQUEST_DESCRIPTIONS = {  # where the config's field has none
    "start": "UTC date (YYYY-MM-DD) or ISO-8601 datetime with offset",
    "end": "UTC date or ISO-8601 datetime, exclusive",
    "source": "a data source of the cache (GET /api/sources)",
    "position_size": "coin held and covered",
}


def _parse_time(v: str, info: ValidationInfo) -> str:
    return as_utc(v, info.field_name).isoformat()


def _is_model(annotation: object) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _copied(name: str, info: FieldInfo, optional: bool) -> tuple[object, FieldInfo]:
    """Return the config field ``name`` as a request field, with the same type and bounds.

    An ``optional`` field defaults to None, which leaves the strategy's default in place.
    """
    kind = info.annotation | None if optional else info.annotation
    rules = [*info.metadata, *([SOURCE_NAME] if name == "source" else [])]
    notes = [info.description or REQUEST_DESCRIPTIONS.get(name)]
    if optional and info.default is not None:
        notes.append(f"null: the strategy's default ({info.default})")
    field = Field(
        None if optional else info.default, description="; ".join(filter(None, notes)) or None
    )
    return Annotated[kind, *rules] if rules else kind, field


def _start_request_fields() -> dict[str, tuple[object, FieldInfo]]:
    """Return the run fields, ``pace``, then every strategy field of the config, in its order."""
    config = CallSimulationConfig.model_fields
    fields = {}
    for name in RUN_FIELDS:
        if name in ("start", "end"):  # text, parsed to UTC here and again by the config
            fields[name] = (str, Field(description=REQUEST_DESCRIPTIONS[name]))
        else:
            fields[name] = _copied(name, config[name], optional=False)
    fields["pace"] = (
        Literal[10, 50, 200] | None,
        Field(
            None, description="publish replay steps at this many decisions per second; null = max"
        ),
    )
    for name, info in config.items():
        if name not in fields and not _is_model(info.annotation):
            fields[name] = _copied(name, info, optional=True)
    return fields


BacktestStartRequest = create_model(
    "BacktestStartRequest",
    __config__=ConfigDict(extra="forbid"),
    __doc__="Body of ``POST /api/backtest/start``: the run, and any strategy field to override.\n\n"
    "Fields, defaults and bounds are those of ``engine.config.CallSimulationConfig``.",
    __validators__={"parse_time": field_validator("start", "end")(_parse_time)},
    **_start_request_fields(),
)


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


class RunEntry(BaseModel):
    """One finished run in the history (``GET /api/backtests``)."""

    run_id: str
    finished_at: datetime
    underlying: str
    start: datetime
    end: datetime = Field(description="exclusive")
    timeframe: str
    decision_interval_hours: int
    exit_style: str
    source: str
    origin: str
    synthetic: bool = Field(description="generated market, not real Deribit prices")
    metrics: dict[str, float | int | None] = Field(description="names carry units (see summary)")


class RunData(BaseModel):
    """The data a run read (``summary.json`` ``data``)."""

    model_config = ConfigDict(extra="allow")

    source: str
    origin: str
    label: str
    synthetic: bool
    fingerprint: str
    first_instant: datetime | None = None
    last_instant: datetime | None = None


class RunDetail(BaseModel):
    """A run's ``summary.json``: full config, data, metrics, timings and table sizes."""

    run_id: str
    finished_at: datetime
    config: dict
    quantity_coin: float
    data: RunData
    metrics: dict[str, float | int | None]
    timings: dict[str, float | int | bool | None] = Field(description="seconds unless named")
    rows: dict[str, int] = Field(description="rows per table")


class TradeMarker(BaseModel):
    """A call sold, taken profit on, or assigned (expired in the money), on the spot chart."""

    time: datetime
    time_s: float = Field(description="UTC epoch seconds")
    kind: Literal["sell", "take_profit", "assigned"]
    price_usd: float = Field(description="spot at the event")
    instrument_name: str
    strike: float = Field(description="USD")


class EquityCurve(BaseModel):
    """Chart curves on one time axis, thinned to at most ``points`` instants (extremes kept)."""

    run_id: str | None
    live: bool = Field(description="true while a paced run is still being published")
    until: datetime | None = Field(None, description="a live curve stops at this instant")
    rows: int = Field(description="instants in the full curve")
    points: int = Field(description="instants returned")
    time_s: list[float] = Field(description="UTC epoch seconds")
    spot_usd: list[float | None]
    equity_usd: list[float | None]
    equity_coin: list[float | None]
    hodl_usd: list[float | None]
    hodl_coin: list[float | None]
    drawdown_pct: list[float | None] = Field(description="USD equity below its running peak, ≤ 0")
    hodl_drawdown_pct: list[float | None]
    markers: list[TradeMarker]


TradeRow = row_model(
    "TradeRow",
    tuple(v.column for v in TRADE_VIEW),
    "One covered call of a run (prices per contract; PnL for the whole quantity).",
)


class TradesPage(BaseModel):
    """A page of a run's trades."""

    run_id: str
    total: int = Field(description="trades in the run")
    offset: int
    limit: int
    sort: str | None
    desc: bool
    trades: list[TradeRow]


class ConfigChange(BaseModel):
    """A setting two runs disagree on (dotted key for nested settings)."""

    key: str
    a: Any = None
    b: Any = None


class MetricPair(BaseModel):
    """One metric of two runs."""

    key: str
    label: str
    a: float | int | None
    b: float | int | None


class RunComparison(BaseModel):
    """Two runs side by side (``GET /api/backtests/compare``)."""

    a: RunEntry
    b: RunEntry
    config_diff: list[ConfigChange]
    data_diff: list[ConfigChange]
    metrics: list[MetricPair]


class DeleteResponse(BaseModel):
    """The run that was deleted."""

    deleted: str


class ColumnMeta(BaseModel):
    """One column of a run table, as :mod:`engine.results.schema` declares it."""

    name: str
    dtype: str = Field(description="polars dtype, e.g. Float64 or Datetime[us, UTC]")
    unit: str = Field(description="e.g. USD, coin per contract, days; empty when none")
    nullable: bool
    meaning: str
    values: list[str] = Field(description="the only values a text column holds; empty: any")


class TradeViewColumn(ColumnMeta):
    """A column of a trade as the API returns it, with the dashboard's header and format."""

    label: str = Field(description="short header")
    display: Display
    table: bool = Field(description="the dashboard's trades table shows it")


class NoRollText(BaseModel):
    """Why a take-profit did not roll (``engine.enums.NoRoll``)."""

    code: int
    text: str


class MetaResponse(BaseModel):
    """``GET /api/meta``: the run tables' columns, the trade view, actions and close reasons."""

    tables: dict[str, list[ColumnMeta]] = Field(description="trades, equity, steps, candidates")
    trade_view: list[TradeViewColumn] = Field(description="a trade as /trades returns it")
    actions: list[ActionInfo]
    close_reasons: list[CloseReasonInfo]
    no_roll: list[NoRollText]
