"""The agent's seams: what a feed and a broker are, and the values that cross them.

The live agent and a backtest share the state builder, the scorer and the policy; only the clock,
the market feed and the broker differ, and they are injected. A :class:`Feed` tells the time and
shows the market at that time as a :class:`MarketView`; a :class:`Broker` turns decisions into
:class:`Fill` objects at the prices of a :class:`Quote`. Implementations: :mod:`engine.agent.feeds`
(replay of a cached source or of recorded chains, Deribit's public API) and
:mod:`engine.agent.brokers` (paper, Deribit testnet or mainnet).
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Protocol

from engine.market_context import MarketContext
from engine.policy import OpenCall


@dataclass(frozen=True)
class Quote:
    """Prices of one option now, coin per contract; bid/ask None when that side is empty."""

    mark: float
    bid: float | None = None
    ask: float | None = None


@dataclass(frozen=True)
class Fill:
    """The outcome of one order (or a settlement); amounts in contracts, prices in coin."""

    ok: bool
    side: str  # sell | buy | settle
    instrument_name: str
    amount: float
    price_coin: float | None
    fee_coin: float
    state: str
    message: str
    order_id: str | None = None

    def as_dict(self) -> dict:
        """JSON-ready."""
        return asdict(self)


@dataclass
class MarketView:
    """What the agent sees at one moment."""

    time: datetime
    index_price: float  # USD
    context: MarketContext
    candidates: list[dict]  # scored, best first
    quote: Callable[[OpenCall], Quote | None]  # mark/bid/ask of the open call now
    settlement_price: Callable[[datetime], float | None]  # USD settlement of an expiry
    chain_size: int
    chain_kind: str  # "model" or "recorded" / "live"


class Clock(Protocol):
    """Where "now" comes from: the wall clock live, the replayed history offline."""

    def now(self) -> datetime:
        """The current instant, UTC-aware."""
        ...


class Feed(Clock, Protocol):
    """A market the agent can read at its clock's now, and move through."""

    name: str  # "replay" or "deribit"
    description: str  # what the data is, for the dashboard (says SYNTHETIC when it is)

    def view(self) -> MarketView:
        """The market at now: index, context, scored candidates, quotes, settlement prices."""
        ...

    def advance(self) -> bool:
        """Move to the next instant; False once a replay is exhausted (a live feed never is)."""
        ...

    def resume_after(self, t: datetime) -> bool:
        """Continue a restarted agent whose last cycle was at ``t``.

        A replay moves to its first instant after ``t`` (False when none is left); a live feed's
        clock is the wall's and stays.
        """
        ...


class Broker(Protocol):
    """Holds one covered position — ``quantity`` coins, at most one call sold — and trades it."""

    name: str  # "paper", "testnet" or "mainnet"
    quantity: float  # coins held and covered (contracts of 1 coin)
    position: OpenCall | None

    def sync(self, now: datetime) -> None:
        """Reconcile the position (and account) with the venue before deciding."""
        ...

    def sell(self, candidate: dict, now: datetime, quote: Quote) -> Fill:
        """Sell ``quantity`` calls of ``candidate`` (a scored candidate row)."""
        ...

    def buy_back(self, now: datetime, quote: Quote) -> Fill:
        """Buy the open call back."""
        ...

    def settle(self, settlement_price_usd: float, now: datetime) -> Fill:
        """Record the expired open call's cash settlement."""
        ...

    def equity_coin(self, mark: float | None) -> float:
        """Coins held minus the open call's value at ``mark`` (coin)."""
        ...

    def book(self) -> dict[str, float]:
        """What the broker keeps besides ``position`` that a restart must restore."""
        ...

    def restore(self, position: OpenCall | None, book: dict[str, float]) -> None:
        """Take back ``position`` and ``book`` saved by an earlier run of the agent."""
        ...

    def reconcile(self, now: datetime, adopt: bool = False) -> str | None:
        """Compare the venue's account with ``position``: None if they agree, else what differs.

        With ``adopt`` the broker takes the account as it is when it can hold it (flat, or one
        short call of its size and no open order), and says why not otherwise.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...
