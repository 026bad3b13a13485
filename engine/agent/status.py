"""The live agent's status: one pydantic model, returned by the agent and served as it is."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class AgentPosition(BaseModel):
    """The covered call the agent has sold."""

    instrument_name: str
    strike_usd: float
    expiry: datetime
    premium_coin: float = Field(description="coin per contract received")
    quantity_coin: float
    mark_coin: float | None = Field(description="coin per contract now")
    opened_at: datetime


class AgentStatus(BaseModel):
    """The live agent: mode, feed, broker, strategy, last cycle, position and equity (UTC)."""

    state: Literal["stopped", "running", "paused", "finished", "disabled", "error"]
    message: str | None = None
    feed: str | None = None
    feed_description: str | None = None
    broker: str | None = None
    underlying: str | None = None
    exit_style: str | None = None
    strategy: dict | None = Field(None, description="the StrategyConfig the agent runs")
    cycles: int = 0
    trades: int = Field(0, description="covered calls closed since the agent started")
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
    reconcile_error: str | None = Field(
        None,
        description="how the broker's account differs from the agent's book; while set the agent "
        "is paused and sends no order (fix the account and resume, or resume adopting it)",
    )
