"""Benchmark: one live-agent decision cycle (read, score, decide, trade, journal), in milliseconds.

Run with ``.venv/bin/python -m bench.agent_cycle [--underlying ETH] [--cycles 100]``. Paths timed,
each after one warm-up cycle (numba compilation, and for the live feed its year of candle/DVOL
history), then ``--cycles`` cycles, one snapshot or one simulated minute apart:

- ``replay + paper``: the real recorded chain snapshots in ``../shared`` (ETH ≈ 780 instruments)
  through ``ReplayChainFeed`` and ``PaperBroker``: the agent's own cost. Target ≤ 50 ms median.
- ``deribit + paper`` / ``deribit + testnet``: ``DeribitFeed`` (and ``DeribitBroker``) against the
  fake Deribit on 127.0.0.1. These include HTTP to localhost and the fake building and pricing its
  whole chain for every request, in this same process (its server thread shares the GIL), so they
  are an upper bound on the agent's own cost, for comparison only.

Per path it prints the chain size, the warm-up cycle, median / p95 / max per cycle, and the
median of the feed's ``view()`` alone (market read, chain recording and scoring).
"""

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from cache.deribit import DeribitClient
from cache.store import Store
from engine.agent import LiveAgent
from engine.agent.brokers import DeribitBroker, PaperBroker
from engine.agent.feeds import DeribitFeed, ReplayChainFeed
from engine.agent.journal import DecisionJournal
from engine.config import StrategyConfig
from tests.fakes.deribit import FakeDeribit

SNAPSHOTS = Path(__file__).resolve().parents[1].parent / "shared/data/deribit_chain_snapshots"
TARGET_MS = 50.0
LIVE_STEP_MS = 60_000  # the live agent's default cadence: one cycle a minute


class TimedFeed:
    """Wrap a feed and record how long each ``view()`` takes (ms)."""

    def __init__(self, feed) -> None:
        self.feed = feed
        self.view_ms: list[float] = []
        self.chain_sizes: list[int] = []
        self.name, self.description = feed.name, feed.description

    def now(self) -> datetime:
        """The wrapped feed's now."""
        return self.feed.now()

    def advance(self) -> bool:
        """Advance the wrapped feed."""
        return self.feed.advance()

    def view(self):
        """The wrapped feed's view, timed."""
        t0 = time.perf_counter()
        view = self.feed.view()
        self.view_ms.append((time.perf_counter() - t0) * 1000)
        self.chain_sizes.append(view.chain_size)
        return view


def time_cycles(agent: LiveAgent, feed: TimedFeed, cycles: int, step) -> dict:
    """Warm up with one cycle, then time ``cycles`` cycles calling ``step()`` between them."""
    t0 = time.perf_counter()
    first = agent.run_cycle()
    warm_ms = (time.perf_counter() - t0) * 1000
    if first["error"]:
        raise RuntimeError(f"warm-up cycle failed: {first['error']}")
    feed.view_ms.clear()
    feed.chain_sizes.clear()
    times, actions = [], []
    for _ in range(cycles):
        step()
        t0 = time.perf_counter()
        record = agent.run_cycle()
        times.append((time.perf_counter() - t0) * 1000)
        if record["error"]:
            raise RuntimeError(f"cycle failed: {record['error']}")
        actions.append(record["action"])
    ms = np.array(times)
    return {
        "warm_ms": warm_ms,
        "median": float(np.median(ms)),
        "p95": float(np.percentile(ms, 95)),
        "max": float(ms.max()),
        "view": float(np.median(feed.view_ms)),
        "chain": (min(feed.chain_sizes), int(np.median(feed.chain_sizes)), max(feed.chain_sizes)),
        "trades": sum(a in ("sell", "roll", "take_profit") for a in actions),
        "cycles": len(ms),
    }


def bench_replay(cfg: StrategyConfig, path: Path, cycles: int, tmp: Path) -> dict:
    """The agent on recorded snapshots with the paper broker."""
    feed = TimedFeed(ReplayChainFeed(pl.read_parquet(path), cfg))
    cycles = min(cycles, len(feed.feed.times) - 1)
    journal = DecisionJournal(tmp / "replay.sqlite")
    agent = LiveAgent(
        cfg,
        feed,
        PaperBroker(cfg.position_size, cfg.contracts(cfg.position_size), cfg.fees),
        journal,
    )
    try:
        return time_cycles(agent, feed, cycles, feed.advance)
    finally:
        journal.close()


def bench_fake(cfg: StrategyConfig, cycles: int, tmp: Path, broker: str) -> dict:
    """The agent on the fake Deribit's public API, with the paper or the testnet broker."""
    with FakeDeribit() as fake:
        store = Store(tmp / broker)
        store.ensure_source("deribit-testnet", "deribit-testnet", label="bench")
        public = DeribitClient(fake.url, timeout_s=5.0)
        clock = lambda: datetime.fromtimestamp(fake.now_ms / 1000, UTC)  # noqa: E731
        feed = TimedFeed(DeribitFeed(public, cfg, store, "deribit-testnet", clock=clock))
        clients = [public]
        if broker == "paper":
            trader = PaperBroker(cfg.position_size, cfg.contracts(cfg.position_size), cfg.fees)
        else:
            private = DeribitClient(
                fake.url, client_id=fake.client_id, client_secret=fake.client_secret, timeout_s=5.0
            )
            clients.append(private)
            trader = DeribitBroker(
                private, cfg.underlying, cfg.contracts(cfg.position_size), cfg.fees, broker
            )
        journal = DecisionJournal(tmp / f"{broker}.sqlite")
        agent = LiveAgent(cfg, feed, trader, journal)

        def step() -> None:
            fake.now_ms += LIVE_STEP_MS

        try:
            return time_cycles(agent, feed, cycles, step)
        finally:
            journal.close()
            for client in clients:
                client.close()


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--underlying", choices=["BTC", "ETH"], default="ETH")
    parser.add_argument("--cycles", type=int, default=100, help="timed cycles per path")
    args = parser.parse_args(argv)
    path = SNAPSHOTS / f"{args.underlying}_2025-12-07_2025-12-11.parquet"
    if not path.is_file():
        raise SystemExit(f"recorded snapshots not found: {path} (the bench reads ../shared)")
    cfg = StrategyConfig(underlying=args.underlying, exit_style="tp_and_roll")
    tmp = Path(tempfile.mkdtemp(prefix="thetadesk-bench-agent-"))
    results = {
        "replay (recorded) + paper": bench_replay(cfg, path, args.cycles, tmp),
        "deribit (fake, localhost) + paper": bench_fake(cfg, args.cycles, tmp, "paper"),
        "deribit (fake, localhost) + testnet": bench_fake(cfg, args.cycles, tmp, "testnet"),
    }
    print(f"agent decision cycle, {args.underlying} tp_and_roll, ms per cycle")
    head = f"{'path':37} {'chain rows':>13} {'warm-up':>8} {'median':>7} {'p95':>7} {'max':>7}"
    print(head + f" {'view()':>7} {'cycles':>6} {'trades':>6}")
    for name, r in results.items():
        lo, mid, hi = r["chain"]
        chain = f"{mid}" if lo == hi else f"{lo}-{hi}"
        print(
            f"{name:37} {chain:>13} {r['warm_ms']:8.1f} {r['median']:7.1f} {r['p95']:7.1f} "
            f"{r['max']:7.1f} {r['view']:7.1f} {r['cycles']:6d} {r['trades']:6d}"
        )
    replay = results["replay (recorded) + paper"]["median"]
    verdict = "met" if replay <= TARGET_MS else "MISSED"
    print(f"target: replay median <= {TARGET_MS:g} ms: {verdict} ({replay:.1f} ms)")
    print(
        "the deribit rows include HTTP to 127.0.0.1 and the fake server pricing its chain per "
        "request in this process; the warm-up of the live feed fetches a year of history"
    )


if __name__ == "__main__":
    main()
