"""Fills at bid and ask: the spread model, its fit on real chains, and one fill everywhere."""

import json
import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cache.datasource import DeribitDataSource
from engine.agent.brokers import DeribitBroker, PaperBroker
from engine.agent.feeds import ReplaySourceFeed
from engine.agent.protocols import Quote
from engine.config import CallSimulationConfig
from engine.fills import SpreadModel
from engine.fills.fit import chain_quotes, fit_spread, in_band
from engine.instruments.contracts import OPTION_SPECS
from engine.policy import OpenCall
from engine.policy.execution import trade_fee_coin
from engine.simulator import CoveredCallSimulator
from tests.reference.fills import model_bid_ask_ref
from tests.reference.policy import tick_down_ref

SNAPSHOTS = Path(__file__).parents[3] / "shared" / "data" / "deribit_chain_snapshots"
GOLDEN = Path(__file__).parent / "data" / "fills_at_mark_60046c4.json"
MODEL = SpreadModel.default()
DOC = json.loads(
    (Path(__file__).parents[2] / "engine" / "calibration" / "default.json").read_text()
)
W1 = dict(underlying="BTC", start="2020-01-01", end="2024-01-01", timeframe="1h",
          decision_interval_hours=1)  # fmt: skip


def _on_grid(price: float) -> bool:
    return tick_down_ref(price, 0.0001, 0.005, 0.0005) == price


@example(underlying="BTC", mark=0.005000000000000001, delta=0.25, dte=1.0)  # a grid level + noise
@example(underlying="ETH", mark=0.29999999999999993, delta=0.5, dte=1.0)  # a grid level - noise
@example(underlying="BTC", mark=0.0049999999999, delta=0.25, dte=1.0)
@given(
    underlying=st.sampled_from(["BTC", "ETH"]),
    mark=st.floats(1e-4, 0.3),
    delta=st.floats(0.005, 0.95),
    dte=st.floats(0.01, 120.0),
)
def test_bid_ask_equals_the_reference_twin(underlying, mark, delta, dte):
    bid, ask = MODEL.bid_ask(underlying, mark, delta, dte)
    ref_bid, ref_ask = model_bid_ask_ref(DOC["spread"]["underlyings"][underlying], mark, delta, dte)
    # the twin's exact normal quantile may land a price that sits on a tick line one tick over
    for got, want in ((float(bid), ref_bid), (float(ask), ref_ask)):
        assert got == want or abs(got - want) <= 0.0005 + 1e-12
    # a mark within 1e-6 of a tick of a grid level counts as on it, as in the grid kernels
    noise = 1e-6 * 0.0005
    assert bid <= mark + noise and ask >= mark - noise and bid < ask
    assert _on_grid(float(bid)) and _on_grid(float(ask))


def test_bid_ask_vectorised_and_at_mark():
    marks = np.array([0.001, 0.004, 0.0123, 0.05])
    bid, ask = MODEL.bid_ask("BTC", marks, 0.25, np.array([1.0, 3.0, 7.0, 30.0]))
    assert bid.shape == ask.shape == (4,)
    assert np.all(bid <= marks) and np.all(ask >= marks) and np.all(bid < ask)
    bid_m, ask_m = MODEL.bid_ask("ETH", marks, 0.25, 7.0, fill_model="mark")
    assert np.array_equal(bid_m, marks) and np.array_equal(ask_m, marks)
    with pytest.raises(ValueError, match="dte_days"):
        MODEL.bid_ask("BTC", 0.01, 0.25, 0.0)
    with pytest.raises(ValueError, match="DOGE"):
        MODEL.bid_ask("DOGE", 0.01, 0.25, 7.0)


def test_a_bad_calibration_file_names_the_problem(tmp_path):
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({"calibration_id": "x", "spread": {"features": []}}))
    with pytest.raises(ValueError, match=r"cal\.json.*features"):
        SpreadModel.load(path)
    path.write_text("{")
    with pytest.raises(ValueError, match=r"cal\.json"):
        SpreadModel.load(path)


@pytest.mark.skipif(not SNAPSHOTS.is_dir(), reason=f"real chain snapshots not found at {SNAPSHOTS}")
@pytest.mark.parametrize("underlying", ["BTC", "ETH"])
def test_spread_model_out_of_sample_on_real_chains(underlying):
    """Leave one day out, calls with delta 0.05–0.5 and 1–30 days, both sides quoted."""
    frame = pl.read_parquet(next(SNAPSHOTS.glob(f"{underlying}_*.parquet")))
    quotes = in_band(chain_quotes(frame))
    _, loo = fit_spread(quotes, underlying)
    for side in ("bid", "ask"):
        model, baseline = loo[side]["model"], loo[side]["baseline"]
        assert model["median"] <= 0.015 and model["p90"] <= 0.05, (side, loo[side])
        assert model["median"] < baseline["median"] and model["p90"] < baseline["p90"]
        assert loo[side]["on_tick"]["median"] <= 0.005  # mostly the very tick quoted


def _golden_runs():
    return json.loads(GOLDEN.read_text())["runs"]


@pytest.mark.parametrize("run", _golden_runs(), ids=lambda r: r["config"]["underlying"])
def test_fills_at_mark_reproduce_the_engine_before_bid_ask(synthetic_data_dir, run):
    ds = DeribitDataSource(synthetic_data_dir, "synthetic")
    cfg = CallSimulationConfig(**run["config"], fill_model="mark")
    res = CoveredCallSimulator(ds, cfg).simulate_policy()
    cols = json.loads(GOLDEN.read_text())["columns"]
    got = res.trades.select(cols).with_columns(
        pl.col("open_time", "close_time").dt.to_string("%Y-%m-%dT%H:%M")
    )
    assert [list(r) for r in got.rows()] == run["trades"]
    assert float(res.equity["equity_coin"][-1]) == run["final_equity_coin"]


@pytest.fixture(scope="module")
def w1_tp(synthetic_data_dir):
    ds = DeribitDataSource(synthetic_data_dir, "synthetic")
    cfg = CallSimulationConfig(**W1, exit_style="tp_and_roll")
    return ds, cfg, CoveredCallSimulator(ds, cfg).simulate_policy()


def test_every_w1_fill_is_on_the_grid_and_on_the_right_side_of_the_mark(w1_tp):
    _, _, res = w1_tp
    tr = res.trades
    assert tr.height > 100
    assert all(_on_grid(p) for p in tr["premium_coin"])
    assert (tr["premium_coin"] <= tr["mark_at_open_coin"]).all()
    bought = tr.filter(pl.col("close_reason") == "take_profit")
    assert bought.height > 50
    assert all(_on_grid(p) for p in bought["close_price_coin"])
    assert (bought["close_price_coin"] >= bought["mark_at_close_coin"]).all()
    expired = tr.filter(pl.col("close_reason") == "expiry")
    assert (expired["close_price_coin"] == expired["mark_at_close_coin"]).all()


class _RecordingClient:
    """Stands in for Deribit's order endpoints: records the limit price, fills it in full."""

    def __init__(self) -> None:
        self.orders: list[dict] = []

    def _fill(self, name, amount, **kw):
        self.orders.append({"name": name, "amount": amount, **kw})
        order = {"order_state": "filled", "filled_amount": amount,
                 "average_price": kw["price"], "order_id": "1"}  # fmt: skip
        return {"order": order, "trades": []}

    sell = buy = _fill

    def get_account_summary(self, currency):
        return {}


def test_same_quote_same_fill_in_backtest_paper_and_deribit_limit(w1_tp):
    """A sale and a buy-back of the W1 backtest, repeated through the agent's feed and brokers."""
    ds, cfg, res = w1_tp
    tr = res.trades.filter(pl.col("close_reason") == "take_profit").row(3, named=True)
    strategy, qty = cfg.strategy, tr["quantity_coin"]
    spec_fee = trade_fee_coin(cfg.fees, qty, tr["premium_coin"])
    feed = ReplaySourceFeed(ds, strategy, tr["open_time"], timedelta(hours=1), end=cfg.end)
    cand = next(c for c in feed.view().candidates if c["instrument_name"] == tr["instrument_name"])
    quote = Quote(cand["mark_price_coin"], cand["bid_price_coin"], cand["ask_price_coin"])
    paper = PaperBroker(qty, qty, cfg.fees)
    sale = paper.sell(cand, tr["open_time"], quote)
    client = _RecordingClient()
    deribit = DeribitBroker(client, "BTC", qty, cfg.fees, "deribit-testnet")
    deribit.sell(cand, tr["open_time"], quote)
    assert sale.price_coin == tr["premium_coin"] == client.orders[0]["price"]
    assert sale.fee_coin == pytest.approx(spec_fee, rel=1e-12)

    while feed.now() < tr["close_time"]:
        feed.advance()
    pos = OpenCall(tr["instrument_name"], tr["strike"], tr["expiry"], tr["premium_coin"],
                   tr["open_time"])  # fmt: skip
    quote = feed.view().quote(pos)
    assert quote.mark == pytest.approx(tr["mark_at_close_coin"], rel=1e-12)
    buy = paper.buy_back(tr["close_time"], quote)
    deribit.position = pos
    deribit.buy_back(tr["close_time"], quote)
    assert buy.price_coin == tr["close_price_coin"] == client.orders[1]["price"]
    total_fee = sale.fee_coin + buy.fee_coin
    assert total_fee == pytest.approx(tr["fees_coin"], rel=1e-12)
    assert not math.isnan(buy.price_coin)


def test_spec_grid_is_deribits():
    spec = OPTION_SPECS["BTC"]
    assert (spec.tick_size, spec.step_above, spec.step_tick) == (0.0001, 0.005, 0.0005)
