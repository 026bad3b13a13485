"""The live agent: each cycle reads the market, asks the shared policy, trades and journals.

The brain is the backtester's: :mod:`engine.state` builds and scores the candidates and
:func:`engine.policy.decide` chooses. Only the clock, the feed (:mod:`engine.agent.feeds`) and the
broker (:mod:`engine.agent.brokers`) differ. Errors in a cycle (network, rate limits, auth) are
recorded in the status and the journal, and the loop keeps running.
"""

import threading
import time
from datetime import UTC, datetime, timedelta

from engine.agent.brokers import Fill, Quote
from engine.agent.journal import DecisionJournal
from engine.config import StrategyConfig
from engine.policy import ROLL, SELL, TAKE_PROFIT, Decision, decide

SETTLED = "expiry"
ERROR = "error"
AWAITING_SETTLEMENT = "awaiting_settlement"
SETTLEMENT_WAIT = timedelta(hours=1)  # Deribit publishes the 08:00 delivery price within minutes


class LiveAgent:
    """One covered position on one underlying, driven cycle by cycle."""

    def __init__(
        self,
        cfg: StrategyConfig,
        feed,
        broker,
        journal: DecisionJournal,
        cycle_seconds: float = 60.0,
        wall_clock=lambda: datetime.now(UTC),
    ) -> None:
        self.cfg, self.feed, self.broker, self.journal = cfg, feed, broker, journal
        self.cycle_seconds = cycle_seconds
        self._wall = wall_clock
        self._lock = threading.Lock()
        self._paused = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rolls_in_chain = 0
        self._fills: list[Fill] = []  # this cycle's, kept so a failing cycle still journals them
        self._status: dict = {
            "state": "stopped",
            "feed": feed.name,
            "feed_description": feed.description,
            "broker": broker.name,
            "underlying": cfg.underlying,
            "exit_style": cfg.exit_style,
            "cycles": 0,
            "last_cycle_time": None,
            "last_cycle_wall_time": None,
            "last_cycle_ms": None,
            "position": None,
            "equity_coin": None,
            "equity_usd": None,
            "index_price": None,
            "last_action": None,
            "last_reason": None,
            "last_error": None,
        }

    # -- control -------------------------------------------------------------------------------
    def start(self) -> None:
        """Run cycles on a background thread until stopped."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._set(state="paused" if self._paused.is_set() else "running")
        self._thread = threading.Thread(target=self._loop, name="live-agent", daemon=True)
        self._thread.start()

    def pause(self) -> None:
        """Stop cycling (the position stays as it is) until resumed."""
        self._paused.set()
        self._set(state="paused")

    def resume(self) -> None:
        """Cycle again."""
        self._paused.clear()
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

    def status(self) -> dict:
        """A JSON-ready snapshot."""
        with self._lock:
            return dict(self._status)

    def _set(self, **fields: object) -> None:
        with self._lock:
            self._status.update(fields)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self._paused.is_set():
                self.run_cycle()
                if not self.feed.advance():
                    self._set(state="finished", last_reason="the replayed history is exhausted")
                    return
            self._stop.wait(self.cycle_seconds)

    # -- one cycle -----------------------------------------------------------------------------
    def run_cycle(self) -> dict:
        """Read, decide, act and journal once; never raises (errors are recorded)."""
        t0 = time.perf_counter()
        now = None
        self._fills = []
        try:
            now = self.feed.now()
            view = self.feed.view()
            self.broker.sync(now)
            row = self._decide_and_act(view)
            error = None
        except Exception as exc:  # a failed cycle must not kill the loop
            error = f"{type(exc).__name__}: {exc}"
            row = {"action": ERROR, "reason": f"cycle failed: {error}", "candidates": 0}
            row["order_result"] = [f.as_dict() for f in self._fills] or None
        ms = (time.perf_counter() - t0) * 1000
        record = {
            "time": (now or self._wall()).isoformat(),
            "recorded_at": self._wall().isoformat(),
            "feed": self.feed.name,
            "broker": self.broker.name,
            "underlying": self.cfg.underlying,
            "error": error,
            "cycle_ms": ms,
        } | row
        self.journal.record(**record)
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

    def _decide_and_act(self, view) -> dict:
        now = view.time
        fills = self._fills
        notes: list[str] = []
        pos = self.broker.position
        if pos is not None and pos.expiry <= now:
            settle = view.settlement_price(pos.expiry)
            if settle is None and now - pos.expiry < SETTLEMENT_WAIT:
                return self._summarise(view, Decision(
                    AWAITING_SETTLEMENT,
                    f"{pos.instrument_name} expired; waiting for its settlement price",
                ), fills, notes)  # fmt: skip
            if settle is None:
                settle = view.index_price
                notes.append("no settlement price published: settled at the index price")
            fills.append(self.broker.settle(settle, now))
            notes.append(f"{pos.instrument_name} expired at {settle:,.2f} USD")
            self.rolls_in_chain = 0
        pos = self.broker.position
        quote = view.quote(pos) if pos is not None else None
        mark = quote.mark if quote is not None else None
        decision = decide(self.cfg, now, pos, mark, view.candidates, self.rolls_in_chain)
        bought = True
        if decision.buy_back:
            fill = self.broker.buy_back(now, quote)
            fills.append(fill)
            bought = fill.ok
            if not fill.ok:
                notes.append(f"buy-back not filled ({fill.message}); the call stays open")
        if decision.sell is not None and bought:
            cand = decision.sell
            sell_quote = Quote(cand["mark_price_coin"], cand.get("bid_price_coin"),
                               cand.get("ask_price_coin"))  # fmt: skip
            fill = self.broker.sell(cand, now, sell_quote)
            fills.append(fill)
            if not fill.ok:
                notes.append(f"sale not filled ({fill.message})")
        if bought and decision.action in (SELL, TAKE_PROFIT):
            self.rolls_in_chain = 0
        elif bought and decision.action == ROLL:
            self.rolls_in_chain += 1
        return self._summarise(view, decision, fills, notes)

    def _summarise(self, view, decision, fills: list[Fill], notes: list[str]) -> dict:
        pos = self.broker.position
        quote = view.quote(pos) if pos is not None else None
        equity_coin = self.broker.equity_coin(quote.mark if quote else None)
        best = view.candidates[0] if view.candidates else None
        action = decision.action
        if fills and fills[0].side == "settle" and action != SELL:
            action = SETTLED if action in ("position_open", "no_candidate") else action
        position = None
        if pos is not None:
            position = {
                "instrument_name": pos.instrument_name,
                "strike_usd": pos.strike,
                "expiry": pos.expiry.isoformat(),
                "premium_coin": pos.premium_coin,
                "quantity_coin": self.broker.quantity,
                "mark_coin": quote.mark if quote else None,
                "opened_at": pos.open_time.isoformat(),
            }
        self._set(
            position=position,
            equity_coin=equity_coin,
            equity_usd=equity_coin * view.index_price,
            index_price=view.index_price,
        )
        return {
            "spot_usd": view.index_price,
            "candidates": len(view.candidates),
            "best_instrument": best["instrument_name"] if best else None,
            "best_score": best["score"] if best else None,
            "action": action,
            "reason": "; ".join([*notes, decision.reason]),
            "order_result": [f.as_dict() for f in fills] or None,
            "equity_coin": equity_coin,
            "equity_usd": equity_coin * view.index_price,
        }
