"""The live agent against the fake Deribit on 127.0.0.1: live feed, testnet broker, faults, paper.

Every client here has a short timeout and a no-op backoff sleep, so retries cost no waiting. The
feed's clock is the fake's (``fake.now_ms``), so moving that clock moves the whole market: marks,
the chain's listed expiries, candles, and the token expiry the fake enforces.
"""

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from cache.datasource import DeribitDataSource
from cache.deribit import DeribitClient
from cache.store import Store
from engine.agent import LiveAgent
from engine.agent.brokers import ORDER_LABEL, DeribitBroker, PaperBroker
from engine.agent.feeds import DeribitFeed
from engine.agent.journal import DecisionJournal
from engine.agent.loop import AccountMismatchError
from engine.agent.protocols import Quote
from engine.config import StrategyConfig
from engine.policy import OpenCall
from tests.fakes.deribit import FakeDeribit
from tests.fakes.deribit_market import ASSETS, HOUR_MS, delivery_price, utc_ms

SECRET = "s3cr3t-testnet-key-7f2c9a"  # distinctive, so a leak anywhere is found by substring
SOURCE = "deribit-testnet"
QUANTITY = {"BTC": 0.5, "ETH": 2.0}  # multiples of Deribit's minimum trade amounts (0.1 / 1)
FAST = {"timeout_s": 1.0, "max_retries": 1, "sleep": lambda s: None}
ORDER_METHODS = ("private/sell", "private/buy")


@pytest.fixture
def fake():
    with FakeDeribit(client_secret=SECRET) as server:
        yield server


@pytest.fixture
def build(fake, tmp_path):
    """Build agents on the fake; closes their clients and journals afterwards."""
    opened = []

    def make(
        cfg: StrategyConfig,
        *,
        paper: bool = False,
        timeout_s: float = FAST["timeout_s"],
        cycle_seconds: float = 0.0,
    ) -> LiveAgent:
        options = FAST | {"timeout_s": timeout_s}
        store = Store(tmp_path / "data")
        store.ensure_source(SOURCE, "deribit-testnet", label="recorded by the agent")
        public = DeribitClient(fake.url, **options)
        feed = DeribitFeed(public, cfg, store, SOURCE, clock=fake_clock(fake))
        opened.append(public)
        if paper:
            broker = PaperBroker(QUANTITY[cfg.underlying], QUANTITY[cfg.underlying], cfg.fees)
        else:
            private = DeribitClient(
                fake.url, client_id=fake.client_id, client_secret=SECRET, **options
            )
            opened.append(private)
            broker = DeribitBroker(
                private, cfg.underlying, QUANTITY[cfg.underlying], cfg.fees, "testnet"
            )
        journal = DecisionJournal(tmp_path / f"decisions-{len(opened)}.sqlite")
        opened.append(journal)
        return LiveAgent(cfg, feed, broker, journal, cycle_seconds=cycle_seconds)

    yield make
    for thing in opened:
        thing.close()


def strategy(**fields) -> StrategyConfig:
    """A strategy deciding every hour: these tests move the fake's clock by hours per cycle."""
    return StrategyConfig(decision_interval_hours=1, **fields)


def fake_clock(fake: FakeDeribit) -> Callable[[], datetime]:
    """The fake server's "now" as a UTC datetime."""
    return lambda: datetime.fromtimestamp(fake.now_ms / 1000, UTC)


def orders(fake: FakeDeribit, since: int = 0) -> list:
    """Order requests the fake received (from request number ``since`` on)."""
    return [r for r in fake.requests[since:] if r.method in ORDER_METHODS]


def chain_row(agent: LiveAgent, name: str) -> dict:
    """The cached chain row of ``name`` at the agent's now (what the feed saw and recorded)."""
    now = agent.feed.now()
    chain = DeribitDataSource(agent.feed.store.data_dir, SOURCE).get_chain_snapshots(
        agent.cfg.underlying, now, now + timedelta(seconds=1)
    )
    return next(r for r in chain.iter_rows(named=True) if r["instrument_name"] == name)


def open_shorts(fake: FakeDeribit, currency: str) -> dict[str, float]:
    """The fake account's open option positions: instrument -> signed size."""
    rows = fake.account.position_rows(currency, fake.now_ms)
    return {r["instrument_name"]: r["size"] for r in rows}


def run_until_exit(
    agent: LiveAgent, fake: FakeDeribit, step_hours: int, max_steps: int, allow_error: bool = False
) -> dict:
    """Move the fake's clock ``step_hours`` per cycle until the agent leaves its call."""
    for _ in range(max_steps):
        fake.now_ms += step_hours * HOUR_MS
        record = agent.run_cycle()
        assert allow_error or record["error"] is None, record
        if record["action"] != "position_open":
            return record
    raise AssertionError(f"the call was still held after {max_steps} steps")


# ---- trading on the testnet broker -----------------------------------------------------------


def test_live_cycle_sells_one_covered_call_on_testnet_and_records_the_chain(fake, build):
    cfg = strategy(underlying="BTC")
    agent = build(cfg)
    record = agent.run_cycle()
    assert record["error"] is None and record["action"] == "sell", record
    [sold] = record["order_result"]
    name = sold["instrument_name"]
    assert name == record["best_instrument"] and name.endswith("-C")
    assert sold["ok"] and sold["side"] == "sell" and sold["state"] == "filled"
    assert sold["order_id"] is not None and sold["amount"] == QUANTITY["BTC"]

    [order] = orders(fake)
    assert order.method == "private/sell" and order.authorization
    p = order.params
    assert (p["instrument_name"], p["label"], p["type"]) == (name, ORDER_LABEL, "limit")
    assert float(p["amount"]) == QUANTITY["BTC"]
    assert p["time_in_force"] == "immediate_or_cancel" and p["reduce_only"] == "false"
    seen = chain_row(agent, name)
    assert float(p["price"]) == seen["best_bid_price"] == sold["price_coin"]  # at the touch
    assert open_shorts(fake, "BTC") == {name: -QUANTITY["BTC"]}

    status = agent.status()
    assert status.broker == "testnet" and status.feed == "deribit"
    assert status.position.instrument_name == name and status.last_error is None

    # The chain seen was appended to the cache, whole: every BTC instrument the fake listed.
    now = agent.feed.now()
    cached = DeribitDataSource(agent.feed.store.data_dir, SOURCE).get_chain_snapshots(
        "BTC", now - timedelta(hours=1), now + timedelta(hours=1)
    )
    listed = {
        r["instrument_name"] for r in DeribitClient(fake.url).get_book_summary_by_currency("BTC")
    }
    assert set(cached["instrument_name"]) == listed and cached.height == len(listed)
    assert cached["harvest_time"].unique().to_list() == [now]
    stored = DeribitDataSource(agent.feed.store.data_dir, SOURCE).get_chain_at("BTC", now)
    index = DeribitClient(fake.url).get_index_price("btc_usd")["index_price"]
    assert stored["index_price"].unique().to_list() == [index]  # the cycle's index, recorded
    assert agent.feed.last_record == f"recorded {len(listed)} rows"

    fake.now_ms += HOUR_MS
    again = agent.run_cycle()
    assert again["action"] == "position_open" and again["error"] is None
    assert len(orders(fake)) == 1  # holding sends nothing
    # Equity is Deribit's, read at the cycle's sync (so a sale shows in the next cycle's).
    assert again["equity_coin"] == fake.account.summary("BTC", fake.now_ms)["equity"]


def test_take_profit_buys_the_call_back_reduce_only_and_closes_it(fake, build):
    cfg = strategy(
        underlying="BTC", exit_style="tp_and_roll", tp_threshold_pct=20, max_rolls_per_chain=0
    )
    agent = build(cfg)
    sale = agent.run_cycle()
    assert sale["action"] == "sell"
    name = sale["order_result"][0]["instrument_name"]
    premium = sale["order_result"][0]["price_coin"]
    before = len(fake.requests)
    record = run_until_exit(agent, fake, step_hours=6, max_steps=8)
    assert record["action"] == "take_profit", record
    [order] = orders(fake, before)
    p = order.params
    assert order.method == "private/buy" and p["instrument_name"] == name
    assert p["reduce_only"] == "true" and p["time_in_force"] == "immediate_or_cancel"
    assert p["label"] == ORDER_LABEL and float(p["amount"]) == QUANTITY["BTC"]
    row = chain_row(agent, name)
    assert float(p["price"]) == row["best_ask_price"]  # bought back at the ask
    assert (premium - row["mark_price"]) / premium >= 0.20  # the threshold was really met
    [fill] = record["order_result"]
    assert fill["ok"] and fill["side"] == "buy" and fill["price_coin"] == row["best_ask_price"]
    assert open_shorts(fake, "BTC") == {} and agent.broker.position is None
    assert agent.status().position is None


def test_roll_buys_back_then_sells_the_best_candidate_in_one_cycle(fake, build):
    cfg = strategy(underlying="ETH", exit_style="tp_and_roll", tp_threshold_pct=20)
    agent = build(cfg)
    old = agent.run_cycle()["order_result"][0]["instrument_name"]
    before = len(fake.requests)
    record = run_until_exit(agent, fake, step_hours=6, max_steps=8)
    assert record["action"] == "roll", record
    sent = orders(fake, before)
    assert [r.method for r in sent] == ["private/buy", "private/sell"]
    buy, sell = (r.params for r in sent)
    assert buy["instrument_name"] == old and buy["reduce_only"] == "true"
    new = sell["instrument_name"]
    assert new == record["best_instrument"] and sell["reduce_only"] == "false"
    assert [f["side"] for f in record["order_result"]] == ["buy", "sell"]
    assert all(f["ok"] for f in record["order_result"])
    assert open_shorts(fake, "ETH") == {new: -QUANTITY["ETH"]}
    assert agent.status().position.instrument_name == new and agent.rolls_in_chain == 1


def test_expired_call_is_settled_at_deribits_delivery_price_then_replaced(fake, build):
    fake.now_ms = utc_ms(2025, 10, 7, 12)  # the fake's BTC rallies ~20% over the next week
    agent = build(strategy(underlying="BTC"))
    sold = agent.run_cycle()["order_result"][0]
    expiry, strike = agent.broker.position.expiry, agent.broker.position.strike
    fake.now_ms = int(expiry.timestamp() * 1000) + HOUR_MS
    record = agent.run_cycle()
    assert record["error"] is None and record["action"] == "sell", record
    settle, sale = record["order_result"]
    price = delivery_price(fake.seed, ASSETS["BTC"], expiry.date())
    assert price > strike  # in the money, so the settlement value is not trivially zero
    assert settle["side"] == "settle" and settle["instrument_name"] == sold["instrument_name"]
    assert settle["price_coin"] == pytest.approx((price - strike) / price, rel=1e-12)
    assert f"expired at {price:,.2f} USD" in record["reason"]
    assert sale["side"] == "sell" and sale["ok"]
    assert agent.broker.position.instrument_name == sale["instrument_name"]
    assert agent.broker.position.expiry > expiry
    assert [r.method for r in orders(fake)] == ["private/sell", "private/sell"]


@pytest.mark.parametrize(
    ("side", "touch", "limit"),
    [
        ("sell", 0.0003, 0.0003),  # 0.0003 / 0.0001 is 2.9999999999999996 in floating point
        ("sell", 0.0215, 0.0215),  # 0.0215 / 0.0005 is 42.99999999999999
        ("sell", 0.02151, 0.0215),  # off the grid: rounded down, never through the bid
        ("buy", 0.0215, 0.0215),
        ("buy", 0.02151, 0.022),  # off the grid: rounded up, never through the ask
    ],
)
def test_limit_orders_sit_at_the_touch_on_the_tick_grid(fake, build, side, touch, limit):
    agent = build(strategy(underlying="BTC"))
    name = next(
        r["instrument_name"]
        for r in DeribitClient(fake.url).get_book_summary_by_currency("BTC")
        if r["instrument_name"].endswith("-C")
    )
    broker, now = agent.broker, fake_clock(fake)()
    call = OpenCall(name, 0.0, now + timedelta(days=1), 0.01, now)
    if side == "sell":
        cand = {"instrument_name": name, "strike": 0.0, "expiry": call.expiry}
        broker.sell(cand, now, Quote(touch, bid=touch))
    else:
        broker.position = call
        broker.buy_back(now, Quote(touch, ask=touch))
    [order] = orders(fake)
    assert order.method == f"private/{side}" and float(order.params["price"]) == limit


def test_failed_sale_after_a_filled_buy_back_keeps_the_buy_back_in_the_journal(fake, build):
    cfg = strategy(underlying="ETH", exit_style="tp_and_roll", tp_threshold_pct=20)
    agent = build(cfg)
    old = agent.run_cycle()["order_result"][0]["instrument_name"]
    fake.inject("error", method="private/sell", code=10009, message="not_enough_funds")
    record = run_until_exit(agent, fake, step_hours=6, max_steps=8, allow_error=True)
    assert record["action"] == "error" and "not_enough_funds (code 10009)" in record["error"]
    [bought] = record["order_result"]  # the buy-back executed: the journal must say so
    assert bought["side"] == "buy" and bought["ok"] and bought["instrument_name"] == old
    assert agent.journal.latest(1)[0]["order_result"] == [bought]
    assert open_shorts(fake, "ETH") == {} and agent.broker.position is None
    again = agent.run_cycle()
    assert again["action"] == "sell" and again["error"] is None, again


# ---- faults: reported, and the loop keeps running --------------------------------------------

FAULTS = {  # kind: (method it hits, error type, what the message says)
    "auth": (None, "AuthError", "public/auth: invalid_credentials (code 13004)"),
    "rate_limit": (
        "public/get_book_summary_by_currency",
        "RateLimitError",
        "public/get_book_summary_by_currency: too_many_requests (code 10028)",
    ),
    "timeout": (
        "public/get_index_price",
        "RetryableError",
        "public/get_index_price: no response within 2 s",
    ),
    "http_500": (
        "private/get_account_summary",
        "RetryableError",
        "private/get_account_summary: HTTP 500",
    ),
    "http_502": ("private/get_positions", "RetryableError", "private/get_positions: HTTP 502"),
}


def secret_free(agent: LiveAgent, caplog) -> None:
    """Assert the client secret appears nowhere the agent reports or logs."""
    assert caplog.records  # the client did log (retries, requests): the check below means something
    text = agent.status().model_dump_json() + json.dumps(agent.journal.latest(1000)) + caplog.text
    assert SECRET not in text


@pytest.mark.parametrize("kind", list(FAULTS))
def test_fault_fails_one_cycle_readably_then_the_next_cycle_trades(fake, build, caplog, kind):
    method, error_type, text = FAULTS[kind]
    agent = build(strategy(underlying="BTC"), timeout_s=2.0)
    if kind == "auth":
        fake.account.client_secret = "rotated-on-the-server"  # our key no longer matches
    else:
        fake.timeout_sleep_s = 3.0
        fake.inject(kind, method=method, times=2)  # the first try and the one retry
    with caplog.at_level(logging.DEBUG):
        failed = agent.run_cycle()
        assert failed["action"] == "error" and failed["candidates"] == 0
        assert failed["error"].startswith(f"{error_type}: {text}")
        assert kind == "auth" or failed["error"].endswith("gave up after 2 attempts")
        assert failed["reason"] == f"cycle failed: {failed['error']}"
        status = agent.status()
        assert status.last_error == failed["error"] and status.last_action == "error"
        assert orders(fake) == []
        fake.account.client_secret = SECRET
        recovered = agent.run_cycle()
    assert recovered["error"] is None and recovered["action"] == "sell", recovered
    assert [r["action"] for r in agent.journal.latest(10)] == ["sell", "error"]
    assert agent.journal.latest(10)[1]["error"] == failed["error"]
    assert agent.status().last_error is None and agent.status().cycles == 2
    assert len(orders(fake)) == 1 and fake.pending_faults() == 0
    secret_free(agent, caplog)


def test_ambiguous_order_timeout_is_reconciled_without_a_second_sale(fake, build, caplog):
    # only the injected fault times out, also on a loaded machine
    agent = build(strategy(underlying="BTC"), timeout_s=2.0)
    fake.timeout_sleep_s = 3.0
    fake.inject("timeout", method="private/sell")  # the order executes after we gave up
    with caplog.at_level(logging.DEBUG):
        failed = agent.run_cycle()
        assert failed["action"] == "error" and "RetryableError" in failed["error"]
        assert agent.broker.position is None
        deadline = time.monotonic() + 5
        while not fake.account.orders and time.monotonic() < deadline:
            time.sleep(0.02)
        record = agent.run_cycle()
    [name] = open_shorts(fake, "BTC")
    assert record["action"] == "position_open" and record["error"] is None, record
    assert agent.broker.position.instrument_name == name  # adopted from get_positions
    assert len(orders(fake)) == 1 and len(fake.account.orders) == 1  # the order was not resent
    secret_free(agent, caplog)


def test_agent_thread_survives_faults_and_trades_after_them(fake, build, caplog):
    agent = build(strategy(underlying="BTC"), cycle_seconds=0.01)
    fake.inject("http_502", method="get_book_summary_by_currency", times=4)  # two cycles' worth
    with caplog.at_level(logging.DEBUG):
        agent.start()
        deadline = time.monotonic() + 15
        while agent.status().cycles < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        alive = agent._thread.is_alive()
        agent.stop()
    assert alive and not agent._thread.is_alive() and agent.status().state == "stopped"
    rows = list(reversed(agent.journal.latest(100)))
    assert len(rows) >= 4 and [r["action"] for r in rows[:3]] == ["error", "error", "sell"]
    assert all("HTTP 502" in r["error"] for r in rows[:2])
    # the fake's clock stands still: the hour's decision is taken, the next cycles only watch
    assert all(r["error"] is None and r["action"] == "not_a_decision" for r in rows[3:])
    assert len(orders(fake)) == 1 and agent.status().last_error is None
    secret_free(agent, caplog)


# ---- paper mode never trades -----------------------------------------------------------------


def test_paper_broker_on_the_live_feed_sends_no_private_request(fake, build):
    cfg = strategy(underlying="ETH", exit_style="tp_and_roll", tp_threshold_pct=20)
    agent = build(cfg, paper=True)
    actions = [agent.run_cycle()["action"]]
    for _ in range(5):
        fake.now_ms += 6 * HOUR_MS
        record = agent.run_cycle()
        assert record["error"] is None, record
        actions.append(record["action"])
    assert actions[0] == "sell" and {"roll", "take_profit"} & set(actions)
    assert agent.status().broker == "paper"
    assert not [r for r in fake.requests if r.method.startswith("private/")]
    assert "public/auth" not in fake.methods()
    assert not any(r.authorization for r in fake.requests)
    assert fake.account.orders == [] and open_shorts(fake, "ETH") == {}


# ---- the account checked against the book before the first cycle ----------------------------


@pytest.fixture
def owner(fake):
    """The account's owner, trading on it outside the agent."""
    client = DeribitClient(fake.url, client_id=fake.client_id, client_secret=SECRET, **FAST)
    yield client
    client.close()


def a_call(fake: FakeDeribit) -> str:
    """A listed BTC call a week or more out (the owner's trades use it)."""
    rows = DeribitClient(fake.url).get_book_summary_by_currency("BTC")
    return next(r["instrument_name"] for r in rows if r["instrument_name"].endswith("-C"))


def test_an_order_resting_on_the_book_holds_the_agent_back_and_cannot_be_adopted(
    fake, build, owner
):
    name = a_call(fake)
    owner.sell(name, 0.1, type="limit", price=0.5)  # far above the touch: it rests
    agent = build(strategy(underlying="BTC"))
    record = agent.run_cycle()
    assert record["action"] == "error" and "AccountMismatchError" in record["error"]
    assert "rests on the book" in record["error"] and name in record["error"]
    status = agent.status()
    assert status.state == "paused" and "rests on the book" in status.reconcile_error
    assert agent.run_cycle()["error"].startswith("AccountMismatchError")  # still held back
    with pytest.raises(AccountMismatchError, match="cannot adopt the account"):
        agent.resume(adopt_account=True)
    assert not [r for r in orders(fake) if r.params.get("label") == ORDER_LABEL]


def test_adopting_the_account_takes_its_one_short_call_of_our_size(fake, build, owner):
    name = a_call(fake)
    owner.sell(name, QUANTITY["BTC"], type="market")
    agent = build(strategy(underlying="BTC"))
    record = agent.run_cycle()
    assert f"the account holds {name} (-0.5), which the agent did not open" in record["error"]
    with pytest.raises(AccountMismatchError):
        agent.resume()  # nothing was fixed
    agent.resume(adopt_account=True)
    assert agent.status().reconcile_error is None and agent.broker.position.instrument_name == name
    assert agent.journal.checkpoint()["position"]["instrument_name"] == name
    record = agent.run_cycle()
    assert record["error"] is None and record["action"] == "position_open", record
    assert not [r for r in orders(fake) if r.params.get("label") == ORDER_LABEL]
