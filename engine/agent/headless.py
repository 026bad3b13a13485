"""The live agent run headless: its own loop over a replayed history, as fast as it can.

No web server and no orders: the feed replays a cached source on the backtest's clock (every
``decision_interval_hours`` for ``hold_to_expiry``; every bar for ``tp_and_roll``, so the open
call is tested for take-profit as often as the backtest tests it) and the broker is the paper
broker. Over the same window and strategy the agent's trades equal the backtest's
``trades.parquet``; the tests hold it to that, which is what proves the backtest and the agent
share one brain.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cache.datasource import DeribitDataSource
from engine.agent.brokers import PaperBroker
from engine.agent.feeds import ReplaySourceFeed
from engine.agent.journal import DecisionJournal
from engine.agent.loop import LiveAgent
from engine.chains import data_fingerprint
from engine.config import CallSimulationConfig
from engine.fills import SpreadModel
from engine.market import check_covered
from engine.policy.schedule import DecisionSchedule
from engine.simulator import run_digest

Progress = Callable[[int, int], None]  # (cycles done, cycles in all)


class HeadlessRunError(RuntimeError):
    """A cycle of a headless replay failed; the message names the instant and the error."""


@dataclass
class HeadlessResult:
    """What a headless replay did: its trades (as journaled), cycles and final equity."""

    config: CallSimulationConfig
    run_id: str  # the id the backtest of the same config and data has
    journal_path: Path
    quantity_coin: float
    cycles: int
    decisions: int
    trades: list[dict]
    final_equity_coin: float
    data: dict

    def as_dict(self) -> dict:
        """JSON-ready summary."""
        return {
            "run_id": self.run_id,
            "journal": str(self.journal_path),
            "config": self.config.model_dump(mode="json"),
            "data": self.data,
            "quantity_coin": self.quantity_coin,
            "cycles": self.cycles,
            "decisions": self.decisions,
            "num_trades": len(self.trades),
            "final_equity_coin": self.final_equity_coin,
            "trades": self.trades,
        }


def replay_step(cfg: CallSimulationConfig) -> timedelta:
    """How far the headless clock moves per cycle."""
    hours = cfg.timeframe_hours if cfg.exit_style == "tp_and_roll" else cfg.decision_interval_hours
    return timedelta(hours=hours)


def journal_path_for(data_dir: Path, run_id: str) -> Path:
    """Where the headless replay of run ``run_id`` journals: ``agent/replays/<run_id>.sqlite``."""
    return Path(data_dir) / "agent" / "replays" / f"{run_id}.sqlite"


def run_headless(
    data_dir: Path, cfg: CallSimulationConfig, progress: Progress | None = None
) -> HeadlessResult:
    """Replay ``cfg``'s window through the live agent with a paper broker; journal it afresh.

    Raises the data errors a backtest raises (unknown source, range not covered) and
    :class:`HeadlessRunError` when a cycle fails.
    """
    ds = DeribitDataSource(data_dir, cfg.source)
    check_covered(ds, cfg)
    strategy = cfg.strategy
    step = replay_step(cfg)
    feed = ReplaySourceFeed(ds, strategy, cfg.start, step, end=cfg.end)
    quantity = cfg.quantity_coin(feed.view().index_price)
    run_id = run_digest(cfg, data_fingerprint(ds, cfg), SpreadModel.default().calibration_id)
    path = journal_path_for(data_dir, run_id)
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    journal = DecisionJournal(path)
    schedule = DecisionSchedule(cfg.decision_interval_hours, anchor=cfg.start, until=cfg.end)
    broker = PaperBroker(quantity, cfg.contracts(quantity), strategy.fees)
    agent = LiveAgent(strategy, feed, broker, journal,
                      cycle_seconds=0.0, schedule=schedule)  # fmt: skip
    total = -(-(cfg.end - cfg.start) // step) + 1
    cycles = decisions = 0
    try:
        while True:
            decisions += schedule.is_due(feed.now())
            record = agent.run_cycle()
            if record["error"] is not None:
                raise HeadlessRunError(f"cycle at {record['time']} failed: {record['error']}")
            cycles += 1
            if progress is not None:
                progress(cycles, total)
            if not feed.advance():
                break
        view = feed.view()
        pos = agent.broker.position
        mark = view.quote(pos).mark if pos is not None else None
        agent.value_open_call(view.time, mark)
        trades = journal.trades()
    finally:
        journal.close()
    return HeadlessResult(
        config=cfg,
        run_id=run_id,
        journal_path=path,
        quantity_coin=quantity,
        cycles=cycles,
        decisions=decisions,
        trades=trades,
        final_equity_coin=agent.broker.equity_coin(mark),
        data=ds.meta.provenance(),
    )
