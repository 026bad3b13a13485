"""What the live agent keeps in memory, saved in its journal after every cycle.

A :class:`Checkpoint` is everything the agent's next decision depends on besides the market: the
open call and the coins held (the broker's book), the chain and roll counters, the last decision
taken (the schedule), the call's sale record (for its trade row) and the clock of the last cycle
(a replay continues at the instant after it). The journal stores it as JSON in the transaction of
the cycle it follows, so a restarted agent continues exactly where the killed one stopped.

A checkpoint is restored only into the same agent: the same feed, broker, underlying and size.
"""

from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from engine.config import StrategyConfig
from engine.policy import OpenCall

CHECKPOINT_VERSION = 1


class SavedCall(BaseModel):
    """The open call as the broker holds it (:class:`~engine.policy.OpenCall`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    instrument_name: str
    strike: float
    expiry: datetime
    premium_coin: float
    open_time: datetime

    @classmethod
    def of(cls, call: OpenCall | None) -> "SavedCall | None":
        """The saved form of ``call``."""
        return None if call is None else cls(**asdict(call))

    def open_call(self) -> OpenCall:
        """The broker's form."""
        return OpenCall(**self.model_dump())


class SavedSale(BaseModel):
    """The open call's sale, from which its trade row is written when it closes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    instrument_name: str
    strike: float
    expiry: datetime
    open_time: datetime
    quantity_coin: float
    premium_coin: float
    open_fee_coin: float | None
    chain_id: int
    roll_index: int


class AgentIdentity(BaseModel):
    """Which agent a checkpoint belongs to: its feed, broker, underlying and size."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    feed: str  # the feed's description (names the replayed source)
    broker: str
    underlying: str
    quantity: float  # contracts per call

    def describe(self) -> str:
        """One line for the dashboard."""
        return f"{self.underlying} {self.quantity:g} on the {self.broker} broker, {self.feed}"


class Checkpoint(BaseModel):
    """The agent's state after a cycle (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = CHECKPOINT_VERSION
    identity: AgentIdentity
    strategy: dict[str, Any]  # the StrategyConfig the agent ran
    configured: dict[str, Any]  # the one its settings named (differs after a switch)
    clock: datetime | None  # the agent clock's time of the last cycle
    decided_at: datetime | None  # the last decision taken (the schedule's)
    rolls_in_chain: int
    chain_id: int
    roll_index: int
    position: SavedCall | None
    sale: SavedSale | None
    book: dict[str, float]  # what the broker keeps besides the position (paper: coins)


def resumed_strategy(saved: dict | None, configured: StrategyConfig) -> StrategyConfig:
    """The strategy a restarted agent runs, given the journal's checkpoint ``saved``.

    The checkpoint's own when the settings still name the strategy it started from (so a paper
    agent switched while running keeps its switch), else the settings' ``configured``.
    """
    named = configured.model_dump(mode="json")
    if not saved or saved.get("configured") != named or saved.get("strategy") == named:
        return configured
    try:
        return StrategyConfig.model_validate(saved["strategy"])
    except (ValidationError, TypeError):  # a checkpoint of an older strategy: the settings win
        return configured
