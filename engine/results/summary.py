"""The contract of a run's ``summary.json`` and of its line in the history, and the check of one.

:class:`RunSummary` is what a readable ``summary.json`` holds (the API serves it as it is) and
:class:`RunEntry` the history's line of it. :func:`parse_summary` reads the bytes of one file into
a :class:`RunSummary` or raises :class:`SummaryError` saying what is wrong, so one damaged file
makes only its own run unreadable (:class:`UnreadableRun`). Keys a run written before they
existed lacks read as null ("not recorded").
"""

import json
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

SUMMARY_MAX_BYTES = 1 << 20  # a summary is a few KB; a bigger file is not one of ours
RUN_ID_PATTERN = r"^[0-9a-f]{16}$"  # engine.config.CallSimulationConfig.digest: 16 hex digits
Metrics = dict[str, float | int | None]


class SummaryError(ValueError):
    """A ``summary.json`` is not a run's summary; the message says why, in one line."""


class RunTrust(BaseModel):
    """How far a run's numbers can be trusted (``summary.json`` ``data``; null: not recorded)."""

    option_market: str | None = Field(
        None,
        description="chains: the source's recorded option chains; model: calls priced on the "
        "vol surface (null: not recorded, a model run)",
    )
    fill_model: str | None = Field(
        None, description="bid_ask, or mark (optimistic: no spread paid)"
    )
    calibration_id: str | None = Field(None, description="the calibration the models came from")
    iv_real_share: float | None = Field(
        None, ge=0, le=1, description="share of decision instants whose IV is a real DVOL print"
    )
    warnings: list[str] | None = Field(None, description="plain sentences, most serious first")


class FeeScheduleOut(BaseModel):
    """The fee schedule entry a run used (``docs/fees.md``)."""

    name: str
    valid_from: datetime | None = Field(None, description="null: applied to every date")
    source: str
    statement: str


class ChainFactsOut(BaseModel):
    """A run on real chains: what it read of them and where they fell short."""

    source: str
    snapshots_read: int = Field(description="snapshots some instant read")
    snapshots_stored: int = Field(description="snapshots the store holds in the run's window")
    max_age_minutes: int = Field(description="staleness limit: an older snapshot is a gap")
    instants: int
    missing_instants: int = Field(description="bars of the run without any data: no instant")
    gap_instants: int = Field(description="instants without a snapshot within the limit")
    decisions: int
    gap_decisions: int = Field(description="decision instants without a snapshot: no sale")
    no_ask_instants: int = Field(description="instants a take-profit found no ask and held")
    unquoted_instants: int = Field(
        description="instants the open call was not quoted: it kept its last recorded mark"
    )


class RunData(RunTrust):
    """The data a run read and how far its numbers can be trusted (``summary.json`` ``data``)."""

    model_config = ConfigDict(extra="allow")

    source: str
    origin: str
    label: str
    synthetic: bool
    fingerprint: str
    first_instant: datetime | None = None
    last_instant: datetime | None = None
    fee_schedule: FeeScheduleOut | None = None
    chains: ChainFactsOut | None = Field(None, description="null: a model chain")
    recorded: list[str] | None = Field(None, description="what the run took from recorded data")
    modelled: list[str] | None = Field(None, description="what the run modelled")


class RunConfig(BaseModel):
    """The settings of ``summary.json`` ``config`` the history shows; the others ride along."""

    model_config = ConfigDict(extra="allow")

    underlying: str
    start: AwareDatetime
    end: AwareDatetime = Field(description="exclusive")
    timeframe: str
    decision_interval_hours: int
    exit_style: str


class RunSummary(BaseModel):
    """A run's ``summary.json``: full config, data, metrics, timings and table sizes."""

    model_config = ConfigDict(extra="allow")

    run_id: str = Field(pattern=RUN_ID_PATTERN)
    finished_at: AwareDatetime
    config: RunConfig
    quantity_coin: float
    data: RunData
    metrics: Metrics
    timings: dict[str, float | int | bool | None] = Field(description="seconds unless named")
    rows: dict[str, int] = Field(description="rows per table")


class RunEntry(RunTrust):
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
    metrics: Metrics = Field(description="names carry units (see summary)")


class UnreadableRun(BaseModel):
    """A run folder of the history whose ``summary.json`` cannot be read: it can be deleted."""

    run_id: str
    unreadable: str = Field(description="why the run cannot be read, in one line")


def parse_summary(raw: bytes, run_id: str) -> RunSummary:
    """Check the bytes of run ``run_id``'s ``summary.json``; raise SummaryError saying why not."""
    if len(raw) > SUMMARY_MAX_BYTES:
        raise SummaryError(f"summary.json is over {SUMMARY_MAX_BYTES:,} bytes: not a summary")
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise SummaryError(f"summary.json is not valid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise SummaryError(f"summary.json holds a JSON {type(doc).__name__}, not an object")
    try:
        summary = RunSummary.model_validate(doc)
    except ValidationError as exc:
        raise SummaryError(f"summary.json: {_describe(exc)}") from exc
    if summary.run_id != run_id:
        raise SummaryError(f"summary.json names run {summary.run_id}, its folder is {run_id}")
    return summary


def _describe(exc: ValidationError, most: int = 3) -> str:
    errors = exc.errors(include_url=False)
    parts = [f"{'.'.join(map(str, e['loc'])) or 'summary'}: {e['msg']}" for e in errors[:most]]
    more = f" (and {len(errors) - most} more)" if len(errors) > most else ""
    return "; ".join(parts) + more


def history_entry(summary: RunSummary) -> RunEntry:
    """The history line of a run: what ran, on which data, how far to trust it, its metrics."""
    shown = {"source", "origin", "synthetic", *RunTrust.model_fields}
    return RunEntry(
        run_id=summary.run_id,
        finished_at=summary.finished_at,
        **summary.config.model_dump(include=set(RunConfig.model_fields)),
        **summary.data.model_dump(include=shown),
        metrics=summary.metrics,
    )
