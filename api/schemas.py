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
    model_validator,
)
from pydantic.fields import FieldInfo

from cache.store import SOURCE_NAME_RE
from cache.timeutil import as_utc

# the agent's status models are the engine's, served as they are
from engine.agent.status import AgentPosition as AgentPosition
from engine.agent.status import AgentStatus as AgentStatus
from engine.config import STRICT_INPUT, CallSimulationConfig
from engine.manager import BacktestStatus as BacktestStatus  # the manager's own status model
from engine.policy.actions import ActionInfo, CloseReasonInfo
from engine.results.history import RUN_ID_PATTERN
from engine.results.schema import TRADE_VIEW, Display, row_model

# a run's summary and its line in the history are the engine's contract, served as they are
from engine.results.summary import RunEntry as RunEntry
from engine.results.summary import RunSummary as RunSummary
from engine.results.summary import UnreadableRun as UnreadableRun
from engine.sweep.manager import SweepStatus as SweepStatus  # the sweep manager's own status
from engine.sweep.spec import SweepSpec

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
    __config__=STRICT_INPUT,
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


class ChainsOut(BaseModel):
    """The recorded option chains a source holds for one underlying (``end``: the last
    snapshot's time)."""

    snapshots: int
    rows: int
    start: datetime | None
    end: datetime | None


class SourceOut(BaseModel):
    """One data source of the cache."""

    name: str
    origin: str
    label: str
    synthetic: bool
    fingerprint: str
    coverage: dict[str, dict[str, SeriesOut]]
    chains: dict[str, ChainsOut] = Field(
        default_factory=dict,
        description="recorded option chains per underlying (backtests can run on them)",
    )


class StatusResponse(BaseModel):
    """``GET /status``: app health, data, backtest and agent."""

    app: str = "thetadesk"
    version: str
    healthy: bool
    problems: list[str] = Field(
        default_factory=list, description="why healthy is false (e.g. a read-only data dir)"
    )
    server_time: datetime
    data_dir: str
    sources: list[SourceOut]
    backtest_running: bool
    backtest_state: str
    engine: Literal["warming", "ready"] = Field(
        description="warming: the kernels a backtest runs are still being compiled (first run "
        "after install); a backtest started meanwhile waits in phase engine"
    )
    agent: AgentStatus


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


class AgentTrade(BaseModel):
    """One covered call the agent closed (prices per contract, fees and PnL for the quantity)."""

    id: int
    broker: str
    instrument_name: str
    strike: float = Field(description="USD")
    expiry: datetime
    open_time: datetime = Field(description="the agent clock's time of the sale")
    close_time: datetime = Field(description="of the buy-back; the expiry when settled")
    quantity_coin: float
    premium_coin: float = Field(description="coin per contract received")
    close_price_coin: float = Field(description="coin per contract paid (value at settlement)")
    close_reason: str = Field(description="expiry | take_profit | end_of_data | manual")
    settlement_price: float | None = Field(description="USD, when settled")
    fees_coin: float | None = Field(description="opening plus closing fee; null if unknown")
    pnl_coin: float | None
    chain_id: int
    roll_index: int


class AgentStrategyRequest(BaseModel):
    """Body of ``POST /api/agent/strategy``: a strategy, or the strategy of a finished run."""

    model_config = STRICT_INPUT

    config: dict[str, Any] | None = Field(
        None, description="a strategy (StrategyConfig fields), a run's config block or summary"
    )
    from_run: str | None = Field(
        None, pattern=RUN_ID_PATTERN, description="run the strategy of this finished run"
    )
    close_open_call: bool = Field(
        False, description="buy back an open call first (else a switch is refused while open)"
    )

    @model_validator(mode="after")
    def _one_source(self) -> "AgentStrategyRequest":
        if (self.config is None) == (self.from_run is None):
            raise ValueError("give exactly one of config and from_run")
        return self


class AgentResumeRequest(BaseModel):
    """Optional body of ``POST /api/agent/resume``."""

    model_config = STRICT_INPUT

    adopt_account: bool = Field(
        False,
        description="an agent whose account differs from its book takes the account as it is "
        "(flat, or one short call of its size and no open order) instead of waiting for a fix",
    )


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


class SettingValues(BaseModel):
    """A setting some of the runs compared disagree on: each run's value, in order."""

    key: str
    values: list[Any]


class MetricValues(BaseModel):
    """One metric of each run compared, in order."""

    key: str
    label: str
    values: list[float | int | None]


class OverlayCurve(BaseModel):
    """A run's USD equity over what it held at its start (1 = the start), thinned."""

    run_id: str
    label: str
    time_s: list[float] = Field(description="UTC epoch seconds")
    equity_norm: list[float] = Field(description="equity_usd / initial_capital_usd")


class RunOverlay(BaseModel):
    """Two or more runs side by side (``GET /api/backtests/overlay``)."""

    runs: list[RunEntry]
    curves: list[OverlayCurve]
    config_diff: list[SettingValues]
    data_diff: list[SettingValues]
    metrics: list[MetricValues]


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
    """``GET /api/meta``: run tables' columns, trade view, actions, close reasons, fill models."""

    tables: dict[str, list[ColumnMeta]] = Field(description="trades, equity, steps, candidates")
    trade_view: list[TradeViewColumn] = Field(description="a trade as /trades returns it")
    actions: list[ActionInfo]
    close_reasons: list[CloseReasonInfo]
    no_roll: list[NoRollText]
    fill_models: dict[str, str] = Field(description="how each fill model of a run is named")


class MonthReturn(BaseModel):
    """A calendar month's return (UTC): last equity over the previous month's last, minus 1."""

    year: int
    month: int = Field(ge=1, le=12)
    strategy_usd_pct: float | None
    hodl_usd_pct: float | None
    strategy_coin_pct: float | None = Field(description="HODL's coin return is always 0")


class YearReturn(BaseModel):
    """A calendar year's return from the same month-end values."""

    year: int
    strategy_usd_pct: float | None
    hodl_usd_pct: float | None
    strategy_coin_pct: float | None


class CalendarReturns(BaseModel):
    months: list[MonthReturn]
    years: list[YearReturn]


class DrawdownOut(BaseModel):
    """One drawdown of USD equity: from a peak to the first instant back at it."""

    peak_time: datetime
    trough_time: datetime
    recovery_time: datetime | None = Field(description="null: not recovered by the end")
    depth_pct: float = Field(description="trough below the peak, positive")
    length_days: float = Field(description="peak to recovery, or to the last instant")
    peak_equity_usd: float
    trough_equity_usd: float


class RollingRisk(BaseModel):
    """Rolling Sharpe and annualised volatility (365 d) of daily USD returns, thinned."""

    window_days: int
    rows: int = Field(description="days in the full series")
    points: int = Field(description="days returned")
    time_s: list[float] = Field(description="UTC epoch seconds of each day's 00:00 sample")
    strategy_sharpe: list[float | None] = Field(description="null until a full window")
    hodl_sharpe: list[float | None]
    strategy_vol_pct: list[float | None]
    hodl_vol_pct: list[float | None]


class ReturnHistogram(BaseModel):
    """Daily USD returns of the strategy and HODL counted in shared bins."""

    days: int
    bin_edges_pct: list[float] = Field(description="bins + 1 edges, percent")
    strategy_days: list[int]
    hodl_days: list[int]


class BreakdownRow(BaseModel):
    """The trades of one group: premium collected, PnL, win rate per leg, holding time."""

    group: str
    trades: int
    win_rate_pct: float | None = Field(description="legs with pnl_coin > 0; null: no trade")
    premium_coin: float = Field(description="Σ premium_coin × quantity_coin")
    premium_usd: float = Field(description="the same at the spot of each sale")
    pnl_coin: float
    pnl_usd: float
    avg_days_held: float | None


class Breakdowns(BaseModel):
    close_reason: list[BreakdownRow] = Field(
        description="expired_worthless, assigned, take_profit, end_of_data"
    )
    delta_at_open: list[BreakdownRow]
    dte_at_open: list[BreakdownRow]
    year: list[BreakdownRow] = Field(description="by the year of the close")


class PremiumYieldMonth(BaseModel):
    """Premium of the month's sales as an annualised share of the coins held."""

    year: int
    month: int = Field(ge=1, le=12)
    premium_coin: float
    premium_usd: float
    days: float = Field(description="days of the month within the run")
    premium_yield_annualised_pct: float | None = Field(
        description="premium_coin / quantity_coin × 365 / days × 100"
    )


class MetricValue(BaseModel):
    key: str
    label: str
    value: float | int | None
    text: str = Field(description="the value as the dashboard shows it ('n/a': null)")


class TearsheetCurve(BaseModel):
    """The equity curve of the tearsheet (as ``/equity``, without the trade markers)."""

    rows: int
    points: int
    time_s: list[float]
    spot_usd: list[float | None]
    equity_usd: list[float | None]
    equity_coin: list[float | None]
    hodl_usd: list[float | None]
    hodl_coin: list[float | None]
    drawdown_pct: list[float | None] = Field(description="the underwater curve, ≤ 0")
    hodl_drawdown_pct: list[float | None]


class Tearsheet(BaseModel):
    """Everything the tearsheet shows, as data (docs/tearsheet.md)."""

    run_id: str
    finished_at: datetime
    config: dict[str, Any]
    quantity_coin: float
    data: dict[str, Any] = Field(description="summary.json data: source, modelled, recorded")
    metrics: list[MetricValue]
    equity_curve: TearsheetCurve
    returns: CalendarReturns
    drawdowns: list[DrawdownOut] = Field(description="the 5 deepest, deepest first")
    rolling: RollingRisk
    daily_returns: ReturnHistogram
    breakdowns: Breakdowns
    premium_yield: list[PremiumYieldMonth]


# ---- sweeps ----------------------------------------------------------------------------------
SWEEP_FIELD_DESCRIPTIONS = {
    "base": "the base config: fields of a backtest (underlying, start, end, source, …)",
    "axes": "config field -> list of values, or {start, stop, step} (inclusive); nested dotted",
    "constraints": "expressions every configuration must satisfy, e.g. 'delta_min < delta_max'",
    "sample": "run a random subset of this many configurations",
    "seed": "seed of the random subset",
    "objective": "the run metric the best configuration is chosen by (a key of a run's metrics)",
    "walk_forward": "walk-forward windows, e.g. 'train=365d,test=90d,step=90d[,anchored]'",
}


def _sweep_request_fields() -> dict[str, tuple[object, FieldInfo]]:
    """The fields of a sweep spec, loosely typed: ``SweepSpec`` checks them in the endpoint,
    off the event loop (a large grid takes a while); then the executor."""
    fields: dict[str, tuple[object, FieldInfo]] = {}
    for name, info in SweepSpec.model_fields.items():
        default = ... if info.is_required() else info.get_default(call_default_factory=True)
        text = SWEEP_FIELD_DESCRIPTIONS.get(name, info.description)
        fields[name] = (Any, Field(default, description=text))
    fields["executor"] = (
        Literal["threads"],
        Field("threads", description="the dashboard runs sweeps on threads (the CLI also on Ray)"),
    )
    return fields


SweepRequest = create_model(
    "SweepRequest",
    __config__=ConfigDict(extra="forbid"),
    __doc__="Body of ``POST /api/sweeps/start`` and ``/count``: a sweep spec (as the CLI's "
    "``--spec`` file) and the executor.",
    **_sweep_request_fields(),
)


class SweepAxisField(BaseModel):
    """A config field a sweep may vary."""

    name: str = Field(description="the field's name, nested ones dotted (scoring.w_delta)")
    default: Any = Field(description="the config's default; null where the field is required")
    choices: list[Any] | None = Field(description="the values of a choice field, else null")


class SweepMetric(BaseModel):
    """A run metric a sweep ranks or charts configurations by."""

    name: str
    maximize: bool = Field(description="whether a larger value is better")


class SweepFields(BaseModel):
    """What a sweep spec may name."""

    axes: list[SweepAxisField]
    metrics: list[SweepMetric]


class SweepCount(BaseModel):
    """How many configurations a spec makes, before anything runs."""

    configurations: int = Field(description="configurations the sweep would run")
    grid: int = Field(description="combinations of the axes' values")
    excluded_by_constraints: int
    dropped_invalid: int = Field(description="combinations the config refuses as a whole")
    dropped: list[dict] = Field(description="a few dropped combinations with their reasons")


class SweepStartResponse(BaseModel):
    """A started sweep: its id (its folder's name once written) and size."""

    started: bool
    sweep_id: str
    configurations: int


class SweepRowsPage(BaseModel):
    """A page of a sweep's results (one row per configuration: axes, metrics, run id)."""

    sweep_id: str
    total: int
    offset: int
    limit: int
    sort: str | None
    desc: bool
    axes: list[str]
    rows: list[dict[str, Any]]


class SweepHeatmap(BaseModel):
    """A metric over two axes (y may be none), the other axes reduced; ``values[i][j]`` is at
    ``y_values[i]``, ``x_values[j]``; ``rows`` names the configuration each cell shows."""

    sweep_id: str
    metric: str
    maximize: bool = Field(description="whether a larger value of the metric is better")
    x: str
    y: str | None
    reduce: Literal["max", "min", "median"]
    x_values: list[Any]
    y_values: list[Any]
    values: list[list[float | None]]
    rows: list[list[int | None]]
    counts: list[list[int]]
    min: float | None
    max: float | None


class SweepWalkForwardCurve(BaseModel):
    """The stitched out-of-sample equity of a sweep's walk-forward against HODL, thinned."""

    sweep_id: str
    rows: int = Field(description="instants in walk_forward_equity.parquet")
    points: int = Field(description="instants returned (each curve's extremes kept)")
    time_s: list[int] = Field(description="UTC instants, seconds since the epoch")
    strategy_return_pct_usd: list[float | None] = Field(
        description="the chosen configurations' test runs chained: return since the first test "
        "instant, % of USD"
    )
    hodl_return_pct_usd: list[float | None] = Field(description="HODL over the same instants, %")
    fold: list[int] = Field(description="the fold each instant belongs to")


class SweepRowRun(BaseModel):
    """The full run of one configuration of a sweep: started now, or already in the history."""

    sweep_id: str
    row: int
    run_id: str = Field(description="the run's id in the run history (GET /api/backtests/{id})")
    started: bool = Field(description="true: a backtest runs it now; false: it is in the history")


class SweepDeleted(BaseModel):
    """A deleted sweep."""

    deleted: str
