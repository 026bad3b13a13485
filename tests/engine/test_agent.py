"""The live agent offline: replay feeds, the paper broker, the journal, error handling."""

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from cache.datasource import DeribitDataSource
from engine.agent import LiveAgent
from engine.agent.brokers import PaperBroker
from engine.agent.feeds import ReplayChainFeed, ReplaySourceFeed
from engine.agent.journal import DecisionJournal
from engine.agent.protocols import Fill, Quote
from engine.config import StrategyConfig
from engine.pricing import delta_usd
from engine.scoring import score_candidates
from engine.state import chain_calls


@pytest.fixture
def journal(tmp_path):
    j = DecisionJournal(tmp_path / "decisions.sqlite")
    yield j
    j.close()


def _batch_best(cfg: StrategyConfig, snapshot: pl.DataFrame, now: datetime) -> str | None:
    """The engine's batch scorer over the snapshot's rows, written independently of the agent."""
    calls = chain_calls(snapshot, cfg.underlying)
    secs = calls.select((pl.col("expiry") - pl.lit(now)).dt.total_microseconds() / 1e6)
    t = secs.to_series().to_numpy() / (365 * 86400)
    fwd, k = calls["forward"].to_numpy(), calls["strike"].to_numpy()
    iv, mark = calls["iv"].to_numpy(), calls["mark_price_coin"].to_numpy()
    ok = (t > 0) & (t * 365 >= cfg.min_dte) & (t * 365 <= cfg.max_dte)
    d = np.full(len(t), np.nan)
    d[ok] = delta_usd(fwd[ok], k[ok], t[ok], iv[ok], True)
    ok &= (d >= cfg.delta_min) & (d <= cfg.delta_max)
    if not ok.any():
        return None
    n = int(ok.sum())
    scores = score_candidates(
        mark[ok] / t[ok],
        np.full(n, np.nan),
        d[ok],
        t[ok] * 365,
        np.zeros(n, int),
        cfg.target_delta,
        cfg.target_dte,
        cfg.scoring,
    )
    names = calls["instrument_name"].to_numpy()[ok]
    order = sorted(range(n), key=lambda i: (-scores[i], t[ok][i], k[ok][i]))
    return str(names[order[0]])


@pytest.mark.parametrize("underlying", ["BTC", "ETH"])
def test_replay_of_real_snapshots_uses_recorded_marks_and_the_batch_scorer(
    snapshots_dir, journal, underlying
):
    chains = pl.read_parquet(snapshots_dir / f"{underlying}_2025-12-07_2025-12-11.parquet")
    cfg = StrategyConfig(underlying=underlying, exit_style="tp_and_roll", tp_threshold_pct=60)
    feed = ReplayChainFeed(chains, cfg)
    agent = LiveAgent(cfg, feed, PaperBroker(1.0, 1.0, cfg.fees), journal, cycle_seconds=0)
    sold = 0
    for _ in range(len(feed.times)):
        view = feed.view()
        record = agent.run_cycle()
        assert record["error"] is None, record
        snap = feed.snapshot()
        assert record["best_instrument"] == _batch_best(cfg, snap, view.time)
        marks = dict(zip(snap["instrument_name"], snap["mark_price"], strict=True))
        for cand in view.candidates:
            assert cand["mark_price_coin"] == marks[cand["instrument_name"]]
        for fill in record["order_result"] or []:
            if fill["side"] == "sell":
                sold += 1
                row = snap.filter(pl.col("instrument_name") == fill["instrument_name"]).row(
                    0, named=True
                )
                bid = row["best_bid_price"]
                assert fill["price_coin"] == (bid if bid and bid > 0 else row["mark_price"])
        feed.advance()
    assert sold >= 1
    assert journal.count() == len(feed.times)
    newest = journal.latest(3)
    assert [r["id"] for r in newest] == sorted((r["id"] for r in newest), reverse=True)


def test_replay_source_agent_matches_backtest_policy_actions(synthetic_data_dir, journal):
    cfg = StrategyConfig(underlying="ETH", exit_style="tp_and_roll")
    ds = DeribitDataSource(synthetic_data_dir, "synthetic")
    feed = ReplaySourceFeed(ds, cfg, datetime(2024, 3, 1, tzinfo=UTC), timedelta(hours=4))
    broker = PaperBroker(2.0, 2.0, cfg.fees)
    agent = LiveAgent(cfg, feed, broker, journal, cycle_seconds=0)
    actions = []
    for _ in range(6 * 30):
        actions.append(agent.run_cycle()["action"])
        feed.advance()
    assert {"sell", "position_open"} <= set(actions)
    assert {"roll", "take_profit", "expiry"} & set(actions)
    status = agent.status()
    assert status.cycles == 180 and status.last_error is None
    assert math.isfinite(status.equity_coin) and status.equity_usd > 0


def test_paper_broker_books_by_hand():
    cfg = StrategyConfig(underlying="BTC")
    b = PaperBroker(2.0, 2.0, cfg.fees)
    now = datetime(2025, 1, 1, tzinfo=UTC)
    cand = {"instrument_name": "BTC-10JAN25-100000-C", "strike": 100_000.0,
            "expiry": datetime(2025, 1, 10, 8, tzinfo=UTC)}  # fmt: skip
    fill = b.sell(cand, now, Quote(0.02, bid=0.019, ask=0.021))
    assert fill.price_coin == 0.019 and fill.fee_coin == pytest.approx(2 * 0.0003)
    assert b.coins == pytest.approx(2 + 2 * 0.019 - 0.0006)
    assert b.equity_coin(0.02) == pytest.approx(b.coins - 0.04)
    back = b.buy_back(now, Quote(0.002, bid=None, ask=0.0))  # empty ask side: the mark
    assert back.price_coin == 0.002 and back.fee_coin == pytest.approx(2 * 0.125 * 0.002)
    b.sell(cand, now, Quote(0.02))
    settle = b.settle(110_000.0, cand["expiry"])
    value = 10_000 / 110_000
    assert settle.price_coin == pytest.approx(value)
    assert settle.fee_coin == pytest.approx(2 * 0.00015)  # a Friday expiry, in the money
    assert b.position is None


class _FlakyFeed:
    name, description = "flaky", "test feed"

    def __init__(self, inner, fail_cycles):
        self.inner, self.fail, self.n = inner, set(fail_cycles), 0

    def now(self):
        return self.inner.now()

    def advance(self):
        return self.inner.advance()

    def view(self):
        self.n += 1
        if self.n in self.fail:
            raise ConnectionError("Deribit unreachable")
        return self.inner.view()


def test_failed_cycles_are_journaled_and_the_thread_keeps_running(synthetic_data_dir, journal):
    cfg = StrategyConfig(underlying="BTC")
    ds = DeribitDataSource(synthetic_data_dir, "synthetic")
    inner = ReplaySourceFeed(ds, cfg, datetime(2024, 6, 1, tzinfo=UTC), timedelta(hours=1))
    agent = LiveAgent(cfg, _FlakyFeed(inner, {2, 3}), PaperBroker(1.0, 1.0, cfg.fees), journal,
                      cycle_seconds=0.01)  # fmt: skip
    agent.start()
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    while agent.status().cycles < 6 and datetime.now(UTC) < deadline:
        agent._stop.wait(0.02)
    agent.pause()
    assert agent.status().state == "paused"
    cycles = agent.status().cycles
    agent._stop.wait(0.1)
    assert agent.status().cycles <= cycles + 1  # paused: no more cycling
    agent.resume()
    agent.stop()
    rows = list(reversed(journal.latest(100)))
    assert [r["action"] for r in rows[1:3]] == ["error", "error"]
    assert rows[1]["error"] == "ConnectionError: Deribit unreachable"
    assert rows[3]["action"] != "error" and rows[3]["error"] is None
    assert agent.status().last_error is None  # cleared by the next good cycle


class _StubFeed:
    """A feed whose clock and settlement price the test sets."""

    name, description = "stub", "stub feed"

    def __init__(self, now):
        self.t, self.settle = now, None

    def now(self):
        return self.t

    def advance(self):
        return True

    def view(self):
        from engine.agent.feeds import unknown_context
        from engine.agent.protocols import MarketView

        return MarketView(
            time=self.t, index_price=50_000.0, context=unknown_context(self.t, 50_000.0),
            candidates=[], quote=lambda pos: None, settlement_price=lambda e: self.settle,
            chain_size=0, chain_kind="stub",
        )  # fmt: skip


def test_expired_call_waits_for_its_settlement_price_then_falls_back(journal):
    cfg = StrategyConfig(underlying="BTC")
    expiry = datetime(2025, 1, 10, 8, tzinfo=UTC)
    broker = PaperBroker(1.0, 1.0, cfg.fees)
    broker.sell({"instrument_name": "BTC-10JAN25-45000-C", "strike": 45_000.0, "expiry": expiry},
                expiry - timedelta(days=7), Quote(0.01))  # fmt: skip
    feed = _StubFeed(expiry + timedelta(minutes=5))
    agent = LiveAgent(cfg, feed, broker, journal, cycle_seconds=0)
    first = agent.run_cycle()
    assert first["action"] == "awaiting_settlement" and broker.position is not None
    feed.settle = 48_000.0
    second = agent.run_cycle()
    assert second["action"] == "expiry" and broker.position is None
    assert second["order_result"][0]["price_coin"] == pytest.approx(3_000 / 48_000)
    broker.sell({"instrument_name": "BTC-17JAN25-55000-C", "strike": 55_000.0,
                 "expiry": expiry + timedelta(days=7)}, feed.t, Quote(0.01))  # fmt: skip
    feed.t, feed.settle = expiry + timedelta(days=7, hours=2), None  # never published
    third = agent.run_cycle()
    assert third["action"] == "expiry" and "settled at the index price" in third["reason"]


class _RefusingBroker(PaperBroker):
    """A paper broker whose first sale does not fill (an IOC order finding no bid)."""

    refused = 0

    def sell(self, candidate, now, quote):
        if not self.refused:
            self.refused += 1
            return Fill(False, "sell", candidate["instrument_name"], 0.0, None, 0.0, "cancelled",
                        "cancelled: 0/1 filled")  # fmt: skip
        return super().sell(candidate, now, quote)


def test_a_sale_that_does_not_fill_is_tried_again_at_the_next_cycle(synthetic_data_dir, journal):
    cfg = StrategyConfig(underlying="BTC", decision_interval_hours=24, min_score_to_trade=0)
    ds = DeribitDataSource(synthetic_data_dir, "synthetic")
    feed = ReplaySourceFeed(ds, cfg, datetime(2024, 6, 1, tzinfo=UTC), timedelta(hours=1))
    agent = LiveAgent(cfg, feed, _RefusingBroker(1.0, 1.0, cfg.fees), journal, cycle_seconds=0)
    first = agent.run_cycle()
    assert first["action"] == "sell" and first["order_result"][0]["ok"] is False
    assert "sale not filled" in first["reason"] and agent.broker.position is None
    feed.advance()
    second = agent.run_cycle()  # same daily interval: the decision is still due
    assert second["action"] == "sell" and second["order_result"][0]["ok"] is True
    feed.advance()
    assert agent.run_cycle()["action"] == "not_a_decision"  # decided for the day
