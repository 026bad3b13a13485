"""Backtest correctness: the batch engine against a slow reference, look-ahead, hand cases."""

import json
import math
import shutil
from datetime import timedelta

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from cache.datasource import DeribitDataSource
from cache.store import Store
from cache.timeutil import from_ns
from engine.config import CallSimulationConfig
from engine.enums import Cand
from engine.market import first_spot_usd
from engine.results.runs import write_run
from engine.simulator import CoveredCallSimulator
from tests.reference.backtest import backtest_ref

WINDOWS = [
    dict(underlying="BTC", start="2021-03-01", end="2021-03-21", timeframe="1h",
         decision_interval_hours=24, exit_style="hold_to_expiry"),
    dict(underlying="ETH", start="2022-05-01", end="2022-05-25", timeframe="4h",
         decision_interval_hours=24, exit_style="tp_and_roll", tp_threshold_pct=50),
    dict(underlying="BTC", start="2023-02-01", end="2023-04-01", timeframe="1d",
         decision_interval_hours=24, exit_style="hold_to_expiry", target_dte=14, max_dte=40),
    dict(underlying="BTC", start="2020-06-01", end="2020-06-08", timeframe="1h",
         decision_interval_hours=4, exit_style="tp_and_roll", tp_threshold_pct=40,
         max_rolls_per_chain=1, min_score_to_trade=3.0, initial_capital_usd=13_000),
    dict(underlying="ETH", start="2022-05-01", end="2022-05-25", timeframe="4h",
         decision_interval_hours=24, exit_style="tp_and_roll", tp_threshold_pct=50,
         fill_model="mark", position_size=2.5),
]  # fmt: skip


@pytest.fixture(scope="module")
def ds(synthetic_data_dir):
    return DeribitDataSource(synthetic_data_dir, "synthetic")


def _run(ds, cfg, cache_dir=None):
    return CoveredCallSimulator(ds, cfg, cache_dir).simulate_policy()


def _rel(a, b):
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1e-12)


@pytest.mark.parametrize(
    "window", WINDOWS, ids=lambda w: f"{w['underlying']}-{w['exit_style']}-{w.get('fill_model')}"
)
def test_engine_equals_slow_reference(ds, window):
    cfg = CallSimulationConfig(**window)
    res = _run(ds, cfg)
    ref = backtest_ref(ds, cfg)
    got = res.trades.to_dicts()
    assert len(got) == len(ref["trades"]) and len(got) > 0
    for a, b in zip(got, ref["trades"], strict=True):
        assert a["instrument_name"] == b["instrument_name"]
        assert a["open_time"] == b["open_time"] and a["close_time"] == b["close_time"]
        assert a["close_reason"] == b["close_reason"]
        assert (a["chain_id"], a["roll_index"]) == (b["chain_id"], b["roll_index"])
        assert a["quantity_coin"] == ref["quantity"]
        for k in ("premium_coin", "close_price_coin", "mark_at_open_coin", "mark_at_close_coin",
                  "fees_coin", "pnl_coin", "pnl_usd"):  # fmt: skip
            assert _rel(a[k], b[k]), (k, a[k], b[k])
    eq = res.equity.select("time", "equity_coin").rows()
    assert [t for t, _ in eq] == [t for t, _ in ref["equity"]]
    assert all(_rel(x, y) for (_, x), (_, y) in zip(eq, ref["equity"], strict=True))
    steps = res.steps.select("time", "candidates", "action").rows()
    assert steps == ref["steps"]


def test_tp_window_exercises_rolls_and_take_profits(ds):
    res = _run(ds, CallSimulationConfig(**WINDOWS[1]))
    reasons = set(res.trades["close_reason"])
    assert "take_profit" in reasons
    assert res.metrics["rolls"] > 0


@pytest.mark.parametrize("top_k", [100, 3])
def test_batch_candidates_equal_state_builder_rows(ds, top_k):
    """Every candidate (100 kept), or the best 3: then the kernel skips pricing, and the delta's
    erfc, of the candidates whose score's bound cannot beat the third; the rows are the same."""
    cfg = CallSimulationConfig(**WINDOWS[0], top_k=top_k)
    sim = CoveredCallSimulator(ds, cfg)
    prepared = sim.prepare()
    for r in range(0, len(prepared.instant_index), 5):
        t = from_ns(int(sim.market.t_ns[prepared.instant_index[r]]))
        rows = sim.build_historical_state(t)["candidate_options"]
        assert prepared.n_candidates[r] == len(rows) > 0
        assert np.isnan(prepared.top_f[r, len(rows) :, Cand.score]).all()
        for k, row in enumerate(rows[:top_k]):
            assert prepared.top_exp_ns[r, k] == int(row["expiry"].timestamp()) * 10**9
            assert prepared.top_f[r, k, Cand.strike] == row["strike"]
            assert prepared.top_f[r, k, Cand.score] == pytest.approx(row["score"], rel=1e-12)


def _shock_after(src_dir, dst_dir, t):
    """Copy the synthetic source and multiply every price and IV at or after ``t``."""
    shutil.copytree(src_dir, dst_dir)
    store = Store(dst_dir)
    for u in ("BTC",):
        for kind, cols in (("candles", ("open", "high", "low", "close")), ("iv", ("iv",))):
            path = (
                store.candles_path("synthetic", u, "1h")
                if kind == "candles"
                else store.iv_path("synthetic", u)
            )
            df = pl.read_parquet(path)
            df = df.with_columns(
                [
                    pl.when(pl.col("time") >= t).then(pl.col(c) * 1.7).otherwise(pl.col(c))
                    for c in cols
                ]
            )
            shutil.rmtree(store.source_dir("synthetic") / kind)
            getattr(store, "write_candles" if kind == "candles" else "write_iv")("synthetic", u, df)
    return DeribitDataSource(dst_dir, "synthetic")


def test_no_look_ahead(ds, synthetic_data_dir, tmp_path):
    """Changing all data after t never changes a decision at or before t."""
    cfg = CallSimulationConfig(
        underlying="BTC", start="2021-05-01", end="2021-07-01", timeframe="1h",
        decision_interval_hours=24, exit_style="tp_and_roll",
    )  # fmt: skip
    t = cfg.start + timedelta(days=30, hours=5)
    shocked = _shock_after(synthetic_data_dir, tmp_path / "shocked", t)
    assert shocked.fingerprint != ds.fingerprint
    a, b = _run(ds, cfg), _run(shocked, cfg)
    early_a = a.steps.filter(pl.col("time") <= t)
    early_b = b.steps.filter(pl.col("time") <= t)
    assert early_a.equals(early_b)
    opened = pl.col("open_time") <= t
    assert (
        a.trades.filter(opened)
        .select("instrument_name", "open_time", "premium_coin")
        .equals(b.trades.filter(opened).select("instrument_name", "open_time", "premium_coin"))
    )
    assert not a.steps.equals(b.steps)  # the shock did change later decisions


def test_prepare_cache_skips_preparation(ds, tmp_path):
    cfg = CallSimulationConfig(**WINDOWS[0])
    first = _run(ds, cfg, tmp_path)
    second = _run(ds, cfg, tmp_path)
    assert not first.timings["prepare_cached"] and second.timings["prepare_cached"]
    assert first.trades.equals(second.trades) and first.steps.equals(second.steps)
    other = _run(ds, cfg.model_copy(update={"min_score_to_trade": 9.9}), tmp_path)
    assert other.timings["prepare_cached"]  # the threshold does not change preparation
    changed = _run(ds, cfg.model_copy(update={"target_delta": 0.3}), tmp_path)
    assert not changed.timings["prepare_cached"]


def test_outputs_readable_by_polars_and_pyarrow(ds, tmp_path):
    res = _run(ds, CallSimulationConfig(**WINDOWS[1]))
    run_dir = write_run(res, tmp_path)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["run_id"] == run_dir.name
    assert summary["data"]["synthetic"] is True and summary["data"]["fingerprint"]
    assert summary["metrics"]["num_trades"] == res.trades.height
    for name in ("trades", "equity", "steps", "candidates"):
        a = pl.read_parquet(run_dir / f"{name}.parquet")
        b = pq.read_table(run_dir / f"{name}.parquet")
        assert a.height == b.num_rows == summary["rows"][name]
    trades = pl.read_parquet(run_dir / "trades.parquet")
    for col in (
        "open_time",
        "close_time",
        "instrument_name",
        "strike",
        "expiry",
        "forward_at_open",
        "iv_at_open",
        "premium_coin",
        "close_price_coin",
        "close_reason",
        "settlement_price",
        "fees_coin",
        "pnl_coin",
        "pnl_usd",
    ):
        assert col in trades.columns
    # the books balance: final coin equity = coins held + every trade's coin PnL
    assert res.metrics["final_equity_coin"] == pytest.approx(
        res.quantity_coin + trades["pnl_coin"].sum(), rel=1e-12
    )


def test_config_errors_name_the_field():
    base = dict(underlying="BTC", start="2021-01-01", end="2021-02-01")
    cases = [
        ({"end": "2020-12-01"}, "must be after start"),
        ({"timeframe": "4h", "decision_interval_hours": 6}, "multiple of the 4h"),
        ({"target_dte": 60}, "target_dte"),
        ({"target_delta": 0.5}, "target_delta"),
        ({"initial_capital_usd": 1e5, "position_size": 2}, "either position_size"),
        ({"position_size": 0.05}, "position_size .*below Deribit's minimum"),
        ({"fill_model": "mid"}, "fill_model"),
        ({"underlying": "DOGE"}, "underlying"),
        ({"bogus": 1}, "bogus"),
        ({"start": "2021-01-01T00:30:00Z"}, "not on a 1h bar"),
    ]
    for extra, message in cases:
        with pytest.raises(ValueError, match=message):
            CallSimulationConfig(**{**base, **extra})


def test_initial_capital_buys_coins_at_the_first_price(ds):
    cfg = CallSimulationConfig(**{**WINDOWS[0], "initial_capital_usd": 100_000})
    res = _run(ds, cfg)
    first_spot = res.equity["spot"][0]
    coins = 100_000 / first_spot
    assert res.quantity_coin == pytest.approx(coins)
    assert res.metrics["initial_capital_usd"] == pytest.approx(100_000)
    # calls are sold on whole 0.1 BTC contracts: 3.62 BTC held cover 3.6
    assert np.all(res.trades["quantity_coin"].to_numpy() == math.floor(coins * 10) / 10)
    assert res.equity["hodl_coin"][0] == pytest.approx(coins)
    assert math.isfinite(res.metrics["sharpe"])


def test_sizes_below_deribits_minimum_order_are_refused(ds):
    with pytest.raises(ValueError, match=r"position_size .*minimum option order of 1 ETH"):
        CallSimulationConfig(**{**WINDOWS[1], "position_size": 0.9})
    cfg = CallSimulationConfig(**{**WINDOWS[0], "initial_capital_usd": 1_000})
    with pytest.raises(ValueError, match=r"initial_capital_usd .*minimum option order of 0\.1 BTC"):
        _run(ds, cfg)


@pytest.mark.parametrize("window", WINDOWS[:3], ids=lambda w: w["timeframe"])
def test_first_spot_is_the_runs_first_instant(ds, window):
    """What the API checks a capital against before starting is what the run buys coins at."""
    cfg = CallSimulationConfig(**window)
    assert first_spot_usd(ds, cfg) == CoveredCallSimulator(ds, cfg).market.spot[0]


def test_take_profit_rolls_score_their_instant_on_demand(ds):
    """Only decisions are prepared; a take-profit between them that may roll scores its instant
    then, with the same kernel (the reference loop scores every instant: trades must agree)."""
    from engine.prepare import prepare
    from engine.replay import Replayer

    cfg = CallSimulationConfig(**WINDOWS[1])
    sim = CoveredCallSimulator(ds, cfg)
    market = sim.market
    prepared = prepare(market, cfg)
    assert np.array_equal(prepared.instant_index, np.flatnonzero(market.is_decision))
    replayer = Replayer(market, prepared, cfg, sim.quantity())
    out = replayer.run()
    assert replayer.on_demand > 0  # rolls between decisions happened and were scored then
    rolled = out.trades.filter(pl.col("roll_index") > 0)
    off_decision = ~rolled["open_time"].dt.hour().is_in([0])
    assert off_decision.any()
    ref = backtest_ref(ds, cfg)["trades"]
    assert [t["instrument_name"] for t in ref] == out.trades["instrument_name"].to_list()
