"""LiveAgent: each cycle reads the market, asks the shared policy, trades and journals.

The brain is the backtester's: :mod:`engine.state` builds and scores the candidates and
:func:`engine.policy.decide` chooses, on the same :class:`~engine.config.StrategyConfig` a
backtest takes. Only the clock, the feed (:class:`~engine.agent.protocols.Feed`) and the broker
(:class:`~engine.agent.protocols.Broker`) differ. Errors in a cycle (network, rate limits, auth)
are recorded in the status and the journal, and the loop keeps running.

Each cycle's decision, the trades it closed and the agent's checkpoint
(:mod:`engine.agent.checkpoint`) are journaled in one transaction. A restarted agent restores the
checkpoint, then, before its first cycle, checks the broker's account against it
(``Broker.reconcile``): on any difference it stays paused, sends no order and says what differs,
until the user fixes the account and resumes (or resumes adopting the account as it is).
"""

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from engine.agent.checkpoint import AgentIdentity, Checkpoint, SavedCall, SavedSale
from engine.agent.journal import DecisionJournal
from engine.agent.protocols import Broker, Feed, Fill, MarketView, Quote
from engine.agent.status import AgentStatus
from engine.config import StrategyConfig
from engine.enums import Action, CloseReason
from engine.policy import ACTIONS, CLOSE_REASONS, Decision, OpenCall, decide, reason_text
from engine.policy.decide import rolls_after
from engine.policy.schedule import DecisionSchedule

log = logging.getLogger(__name__)
SETTLEMENT_WAIT = timedelta(hours=1)  # Deribit publishes the 08:00 delivery price within minutes
# after a settlement, these actions say nothing more than "the call expired"
_QUIET_AFTER_SETTLING = {Action.position_open, Action.no_candidate, Action.not_a_decision}


class AccountMismatchError(RuntimeError):
    """The broker's account differs from the agent's book; the message says how."""


class LiveAgent:
    """One covered position on one underlying, driven cycle by cycle.

    Decisions come once per ``decision_interval_hours`` of the strategy (``schedule``; by default
    at the first cycle of each interval counted from 00:00 UTC); with take-profit on, the open
    call is tested at every cycle in between.
    """

    def __init__(
        self,
        cfg: StrategyConfig,
        feed: Feed,
        broker: Broker,
        journal: DecisionJournal,
        cycle_seconds: float = 60.0,
        wall_clock=lambda: datetime.now(UTC),
        schedule: DecisionSchedule | None = None,
        configured: StrategyConfig | None = None,
    ) -> None:
        self.cfg, self.feed, self.broker, self.journal = cfg, feed, broker, journal
        self.configured = configured or cfg  # what the settings named (cfg after a switch)
        self.cycle_seconds = cycle_seconds
        self.schedule = schedule or DecisionSchedule(cfg.decision_interval_hours)
        self._wall = wall_clock
        self._lock = threading.Lock()
        self._cycling = threading.Lock()  # held for a whole cycle
        self._paused = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rolls_in_chain = 0
        self.chain_id = 0
        self.roll_index = 0
        self._opened: dict | None = None  # the open call's sale, for its trade record
        self._fills: list[Fill] = []  # this cycle's, kept so a failing cycle still journals them
        self._closed: list[dict] = []  # trade rows of this cycle, journaled with its decision
        self._clock: datetime | None = None  # the agent clock's time of the last cycle
        self._unchecked = True  # the first cycle checks the account against the book
        self._blocked: str | None = None  # how the account differs; no cycle until resolved
        self._exhausted = False  # a restored replay had no instant left
        self._status: dict = AgentStatus(
            state="stopped",
            feed=feed.name,
            feed_description=feed.description,
            broker=broker.name,
            underlying=cfg.underlying,
            exit_style=cfg.exit_style,
            strategy=cfg.model_dump(mode="json"),
        ).model_dump()

    # -- control -------------------------------------------------------------------------------
    def start(self) -> None:
        """Save the checkpoint, then run cycles on a background thread until stopped."""
        if self._thread is not None and self._thread.is_alive():
            return
        if self._exhausted:
            self._set(state="finished", last_reason="the replayed history is exhausted")
            return
        self.journal.commit(checkpoint=self.checkpoint().model_dump(mode="json"))
        self.journal.set_paused(self._paused.is_set())  # a switched-in agent starts unpaused
        self._stop.clear()
        self._set(state="paused" if self._paused.is_set() else "running")
        self._thread = threading.Thread(target=self._loop, name="live-agent", daemon=True)
        self._thread.start()

    def pause(self) -> None:
        """Stop cycling (the position stays as it is) until resumed; a restart stays paused."""
        self._paused.set()
        self.journal.set_paused(True)
        self._set(state="paused")

    def resume(self, adopt_account: bool = False) -> None:
        """Cycle again.

        An agent held back because the account differs from its book checks the account again
        first, and raises :class:`AccountMismatchError` if it still differs. ``adopt_account``
        takes the account as it is when the broker can hold it (see ``Broker.reconcile``).
        """
        if self._blocked is not None:
            with self._cycling:  # the loop may cycle as soon as the agent is no longer held back
                self._reconcile(self.feed.now(), adopt_account)
                if adopt_account:  # the adopted position is the agent's from now on
                    self.journal.commit(checkpoint=self.checkpoint().model_dump(mode="json"))
        self._paused.clear()
        self.journal.set_paused(False)
        self._set(state="running" if self._thread and self._thread.is_alive() else "stopped")

    def stop(self, timeout: float = 5.0) -> None:
        """End the loop, wait for it and release the feed's and broker's connections."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for part in (self.feed, self.broker):
            close = getattr(part, "close", None)
            if close is not None:
                close()
        self._set(state="stopped")

    def status(self) -> AgentStatus:
        """A snapshot of the status."""
        with self._lock:
            return AgentStatus.model_validate(self._status)

    def _set(self, **fields: object) -> None:
        with self._lock:
            self._status.update(fields)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not (self._blocked or self._paused.is_set()):
                self.run_cycle()
                if not self.feed.advance():
                    self._set(state="finished", last_reason="the replayed history is exhausted")
                    return
            self._stop.wait(self.cycle_seconds)

    # -- restart -------------------------------------------------------------------------------
    @property
    def identity(self) -> AgentIdentity:
        """Which agent this is, as far as a checkpoint is concerned."""
        return AgentIdentity(
            feed=self.feed.description,
            broker=self.broker.name,
            underlying=self.cfg.underlying,
            quantity=self.broker.quantity,
        )

    def checkpoint(self) -> Checkpoint:
        """The state the next decision depends on (see :mod:`engine.agent.checkpoint`)."""
        return Checkpoint(
            identity=self.identity,
            strategy=self.cfg.model_dump(mode="json"),
            configured=self.configured.model_dump(mode="json"),
            clock=self._clock,
            decided_at=self.schedule.decided_at,
            rolls_in_chain=self.rolls_in_chain,
            chain_id=self.chain_id,
            roll_index=self.roll_index,
            position=SavedCall.of(self.broker.position),
            sale=None if self._opened is None else SavedSale(**self._opened),
            book=self.broker.book(),
        )

    def restore(self) -> None:
        """Continue from the journal's checkpoint and pause flag (once, before :meth:`start`).

        A checkpoint of another agent (feed, broker, underlying or size) or one that cannot be
        read is set aside, and the agent starts afresh; either way the status's message says
        what happened, and the account is checked before the first cycle.
        """
        if self.journal.paused():
            self._paused.set()
            self._set(state="paused")
        saved = self.journal.checkpoint()
        if saved is None:
            return
        try:
            cp = Checkpoint.model_validate(saved)
        except ValidationError as exc:
            note = f"the journal's checkpoint could not be read ({exc.error_count()} errors)"
            self._set(message=f"{note}: started afresh")
            log.warning("%s: started afresh", note)
            return
        if cp.identity != self.identity:
            self._set(message=f"the journal's checkpoint is of another agent "
                              f"({cp.identity.describe()}): started afresh")  # fmt: skip
            return
        self.broker.restore(cp.position and cp.position.open_call(), cp.book)
        self.rolls_in_chain, self.chain_id, self.roll_index = (
            cp.rolls_in_chain, cp.chain_id, cp.roll_index,
        )  # fmt: skip
        self._opened = cp.sale and cp.sale.model_dump()
        if cp.decided_at is not None:
            self.schedule.done(cp.decided_at)
        self._clock = cp.clock
        self._exhausted = cp.clock is not None and not self.feed.resume_after(cp.clock)
        held = f"{cp.position.instrument_name} open" if cp.position else "no call open"
        at = cp.clock.isoformat() if cp.clock else "none yet"
        self._set(message=f"continued from the journal: last cycle {at}, {held}",
                  position=self._position_status(None))  # fmt: skip

    def _reconcile(self, now: datetime, adopt: bool = False) -> None:
        """Check the broker's account against the book; hold the agent back while they differ.

        Raises :class:`AccountMismatchError` saying what differs (or the broker's error).
        """
        problem = self.broker.reconcile(now, adopt)
        self._unchecked, self._blocked = False, problem
        if problem is not None:
            log.warning("%s account differs from the book: %s", self.broker.name, problem)
            self._set(state="paused", reconcile_error=problem)
            raise AccountMismatchError(problem)
        self._set(reconcile_error=None, position=self._position_status(None))

    # -- one cycle -----------------------------------------------------------------------------
    def run_cycle(self) -> dict:
        """Read, decide, act and journal once; never raises (errors are recorded)."""
        with self._cycling:
            return self._cycle(self._decide_and_act)

    def close_open_call(self, why: str) -> dict:
        """Buy the open call back now, outside the policy, and journal it (one cycle)."""
        with self._cycling:
            return self._cycle(lambda view: self._close_on_request(view, why))

    def _cycle(self, act) -> dict:
        t0 = time.perf_counter()
        now = None
        self._fills, self._closed = [], []
        try:
            if self._blocked is not None:  # only the loop is held back; a direct call is refused
                raise AccountMismatchError(self._blocked)
            now = self.feed.now()
            if self._unchecked:  # the first cycle checks the account before anything else
                self._reconcile(now)
            view = self.feed.view()
            self.broker.sync(now)
            row = act(view)
            error = None
        except Exception as exc:  # a failed cycle must not kill the loop
            error = f"{type(exc).__name__}: {exc}"
            row = {
                "action": ACTIONS[Action.error].name,
                "reason": f"{reason_text(Action.error)}: {error}",
            }
            row |= {"candidates": 0, "order_result": [f.as_dict() for f in self._fills] or None}
        ms = (time.perf_counter() - t0) * 1000
        record = {
            "time": now or self._wall(),
            "recorded_at": self._wall(),
            "feed": self.feed.name,
            "broker": self.broker.name,
            "underlying": self.cfg.underlying,
            "error": error,
            "cycle_ms": ms,
        } | row
        self._clock = now or self._clock
        checkpoint = self.checkpoint().model_dump(mode="json")
        self.journal.commit(decision=record, trades=self._closed, checkpoint=checkpoint)
        with self._lock:
            self._status["cycles"] += 1
            self._status.update(
                last_cycle_time=record["time"],
                last_cycle_wall_time=record["recorded_at"],
                last_cycle_ms=ms,
                last_action=row["action"],
                last_reason=row["reason"],
                last_error=error if error else self._status["last_error"],
            )
            if error is None:
                self._status["last_error"] = None
        return record

    def _decide_and_act(self, view: MarketView) -> dict:
        now = view.time
        fills = self._fills
        notes: list[str] = []
        pos = self.broker.position
        if self._opened and (pos is None or pos.instrument_name != self._opened["instrument_name"]):
            self._opened = None  # closed or replaced outside the agent (Deribit brokers)
        if pos is not None and pos.expiry <= now:
            settle = view.settlement_price(pos.expiry)
            if settle is None and now - pos.expiry < SETTLEMENT_WAIT:
                waiting = Decision(
                    Action.awaiting_settlement, reason_text(Action.awaiting_settlement)
                )
                return self._summarise(view, waiting, fills, notes)
            if settle is None:
                settle = view.index_price
                notes.append("no settlement price published: settled at the index price")
            fill = self.broker.settle(settle, now)
            fills.append(fill)
            self._close_trade(fill, pos, pos.expiry, CloseReason.expiry, settlement_price=settle)
            notes.append(f"{pos.instrument_name} expired at {settle:,.2f} USD")
            self.rolls_in_chain = rolls_after(Action.expiry, self.rolls_in_chain)
        pos = self.broker.position
        quote = view.quote(pos) if pos is not None else None
        due = self.schedule.is_due(now)
        decision = decide(
            self.cfg, now, pos, quote.mark if quote else None, view.candidates,
            self.rolls_in_chain, due,
        )  # fmt: skip
        bought = sold = True
        if decision.buy_back:
            fill = self.broker.buy_back(now, quote)
            fills.append(fill)
            bought = fill.ok
            if fill.ok:
                self._close_trade(fill, pos, now, CloseReason.take_profit)
            else:
                notes.append(f"buy-back not filled ({fill.message}); the call stays open")
        if decision.sell is not None and bought:
            cand = decision.sell
            sell_quote = Quote(cand["mark_price_coin"], cand.get("bid_price_coin"),
                               cand.get("ask_price_coin"))  # fmt: skip
            fill = self.broker.sell(cand, now, sell_quote)
            fills.append(fill)
            sold = fill.ok
            if fill.ok:
                self._open_trade(decision, fill, now)
            else:
                notes.append(f"sale not filled ({fill.message})")
        if bought:
            self.rolls_in_chain = rolls_after(decision.code, self.rolls_in_chain)
        if due and sold:  # a sale that did not fill is tried again at the next cycle
            self.schedule.done(now)
        return self._summarise(view, decision, fills, notes)

    def _close_on_request(self, view: MarketView, why: str) -> dict:
        pos = self.broker.position
        if pos is None:
            return self._summarise(view, Decision(Action.close, "no call is open"), [], [])
        quote = view.quote(pos)
        if quote is None:
            raise RuntimeError(f"{pos.instrument_name} has no quote to buy it back at")
        fill = self.broker.buy_back(view.time, quote)
        self._fills.append(fill)
        if not fill.ok:
            raise RuntimeError(f"buy-back of {pos.instrument_name} not filled ({fill.message})")
        self._close_trade(fill, pos, view.time, CloseReason.manual)
        self.rolls_in_chain = rolls_after(Action.close, self.rolls_in_chain)
        decision = Decision(Action.close, f"{reason_text(Action.close)} ({why})")
        return self._summarise(view, decision, self._fills, [])

    # -- trade records -------------------------------------------------------------------------
    def _open_trade(self, decision: Decision, fill: Fill, now: datetime) -> None:
        if decision.code == Action.sell:
            self.chain_id += 1
            self.roll_index = 0
        else:  # a roll: the next call of the same chain
            self.roll_index = rolls_after(Action.roll, self.rolls_in_chain)
        cand = decision.sell
        self._opened = {
            "instrument_name": fill.instrument_name,
            "strike": cand["strike"],
            "expiry": cand["expiry"],
            "open_time": now,
            "quantity_coin": fill.amount,
            "premium_coin": fill.price_coin,
            "open_fee_coin": fill.fee_coin,
            "chain_id": self.chain_id,
            "roll_index": self.roll_index,
        }

    def _close_trade(
        self,
        fill: Fill,
        pos: OpenCall,
        close_time: datetime,
        reason: int,
        settlement_price: float | None = None,
    ) -> None:
        """Journal the trade of ``pos``, closed by ``fill`` (a buy-back or a settlement)."""
        opened = self._opened or self._adopted(pos, fill)
        self._opened = None
        fees = None if opened["open_fee_coin"] is None else opened["open_fee_coin"] + fill.fee_coin
        qty = opened["quantity_coin"]
        pnl = None if fees is None else qty * (opened["premium_coin"] - fill.price_coin) - fees
        self._closed.append(
            {k: v for k, v in opened.items() if k != "open_fee_coin"}
            | {
                "broker": self.broker.name,
                "close_time": close_time,
                "close_price_coin": fill.price_coin,
                "close_reason": CLOSE_REASONS[reason].name,
                "settlement_price": settlement_price,
                "fees_coin": fees,
                "pnl_coin": pnl,
            }
        )
        with self._lock:
            self._status["trades"] += 1

    def _adopted(self, pos: OpenCall, fill: Fill) -> dict:
        """The trade record of a call the agent did not open this session (fees unknown)."""
        return {
            "instrument_name": pos.instrument_name,
            "strike": pos.strike,
            "expiry": pos.expiry,
            "open_time": pos.open_time,
            "quantity_coin": fill.amount,
            "premium_coin": pos.premium_coin,
            "open_fee_coin": None,
            "chain_id": self.chain_id,
            "roll_index": self.roll_index,
        }

    def value_open_call(self, now: datetime, mark_coin: float) -> None:
        """Journal a call still open as closed at ``mark_coin`` without a fee (a valuation).

        A replay ends this way, as a backtest does at its last instant; no order is sent.
        """
        pos = self.broker.position
        if pos is None:
            return
        fill = Fill(True, "value", pos.instrument_name, self.broker.quantity, mark_coin, 0.0,
                    "valued", "valued at the mark at the end of the replay")  # fmt: skip
        self._closed = []
        self._close_trade(fill, pos, now, CloseReason.end_of_data)
        self.journal.commit(trades=self._closed)

    # -- status --------------------------------------------------------------------------------
    def _position_status(self, mark: float | None) -> dict | None:
        """The open call as the status shows it, valued at ``mark`` (coin per contract)."""
        pos = self.broker.position
        if pos is None:
            return None
        return {
            "instrument_name": pos.instrument_name,
            "strike_usd": pos.strike,
            "expiry": pos.expiry,
            "premium_coin": pos.premium_coin,
            "quantity_coin": self.broker.quantity,
            "mark_coin": mark,
            "opened_at": pos.open_time,
        }

    def _summarise(self, view: MarketView, decision: Decision, fills: list[Fill],
                   notes: list[str]) -> dict:  # fmt: skip
        pos = self.broker.position
        quote = view.quote(pos) if pos is not None else None
        equity_coin = self.broker.equity_coin(quote.mark if quote else None)
        best = view.candidates[0] if view.candidates else None
        code = decision.code
        if fills and fills[0].side == "settle" and code in _QUIET_AFTER_SETTLING:
            code = Action.expiry
        self._set(
            position=self._position_status(quote.mark if quote else None),
            equity_coin=equity_coin,
            equity_usd=equity_coin * view.index_price,
            index_price=view.index_price,
        )
        return {
            "spot_usd": view.index_price,
            "candidates": len(view.candidates),
            "best_instrument": best["instrument_name"] if best else None,
            "best_score": best["score"] if best else None,
            "action": ACTIONS[code].name,
            "reason": "; ".join([*notes, decision.reason]),
            "order_result": [f.as_dict() for f in fills] or None,
            "equity_coin": equity_coin,
            "equity_usd": equity_coin * view.index_price,
        }
