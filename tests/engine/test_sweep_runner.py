"""Sweep runner: every row equals a single backtest of its configuration; progress and cancel."""

import math
import random
import shutil

import numpy as np
import pytest

from engine.config import CallSimulationConfig
from engine.metrics import equity_daily_returns
from engine.prepare import CancelledError, prepare_key
from engine.results.runs import execute_run
from engine.sweep.executors import ThreadExecutor
from engine.sweep.runner import run_sweep
from engine.sweep.spec import SweepSpec

BASE = {"underlying": "BTC", "start": "2022-01-01", "end": "2022-07-01",
        "decision_interval_hours": 24}  # fmt: skip
AXES = {"target_delta": [0.2, 0.3], "tp_threshold_pct": [50, 80], "min_score_to_trade": [3, 6],
        "exit_style": ["hold_to_expiry", "tp_and_roll"]}  # fmt: skip


@pytest.fixture(scope="module")
def data_dir(synthetic_data_dir, tmp_path_factory):
    return shutil.copytree(synthetic_data_dir, tmp_path_factory.mktemp("sweep") / "data")


@pytest.fixture(scope="module")
def swept(data_dir):
    spec = SweepSpec(base=BASE, axes=AXES)
    seen = []
    run = run_sweep(data_dir, spec, ThreadExecutor(2), progress=lambda d, n: seen.append((d, n)))
    return spec, run, seen


def assert_same_metrics(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key, value in want.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(got[key]), key
        else:
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key


def test_any_row_equals_a_single_backtest_of_its_configuration(data_dir, swept):
    _, run, _ = swept
    rng = random.Random(15)
    picked = [
        i
        for style in ("hold_to_expiry", "tp_and_roll")
        for i in rng.sample([j for j, c in enumerate(run.configs) if c.exit_style == style], 2)
    ]
    for i in picked:
        result, _ = execute_run(data_dir, run.configs[i])
        assert run.run_ids[i] == result.run_id
        assert_same_metrics(run.rows[i].metrics, result.metrics)
        times, returns = equity_daily_returns(
            result.equity, initial_capital_usd=result.metrics["initial_capital_usd"]
        )
        np.testing.assert_array_equal(run.rows[i].returns, returns)
        np.testing.assert_array_equal(run.rows[i].return_ns, times.dt.epoch("ns").to_numpy())


def test_the_rows_differ_where_the_configurations_do(swept):
    spec, run, _ = swept
    sharpes = {round(r.metrics["sharpe"], 9) for r in run.rows}
    assert len(run.rows) == spec.count() == 16 and len(sharpes) > 8
    assert len({len(r.returns) for r in run.rows}) == 1  # one market: one daily calendar
    assert len(run.rows[0].returns) == 182  # every 00:00 UTC from 2022-01-01 to 2022-07-01


def test_one_prepare_per_candidate_set_and_progress_to_the_end(swept, data_dir):
    _, run, seen = swept
    assert run.timings["markets"] == 1
    assert run.timings["prepares"] == 2  # target_delta changes the candidates, the rest do not
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1] == (16, 16)
    assert run.data["synthetic"] is True and "SYNTHETIC" in run.data["label"]
    assert run.data["option_market"] == "model" and run.data["modelled"]
    assert any("SYNTHETIC" in w for w in run.data["warnings"])


def test_prepare_key_groups_are_what_a_single_run_caches(swept, data_dir):
    from cache.datasource import DeribitDataSource
    from engine.market import load_run_market

    _, run, _ = swept
    market = load_run_market(DeribitDataSource(data_dir, "synthetic"), run.configs[0])
    keys = {prepare_key(market, cfg) for cfg in run.configs}
    assert len(keys) == 2 and all((data_dir / "prepared" / k / "meta.json").is_file() for k in keys)


def test_cancel_stops_between_tasks(data_dir):
    spec = SweepSpec(base=BASE, axes=AXES)
    calls = []

    def cancel() -> bool:
        return len(calls) >= 3

    with pytest.raises(CancelledError):
        run_sweep(data_dir, spec, ThreadExecutor(1), progress=lambda d, n: calls.append(d),
                  cancel=cancel)  # fmt: skip
    assert 3 <= len(calls) < 16


def test_a_capital_below_the_minimum_order_is_refused_before_replaying(data_dir):
    spec = SweepSpec(base=BASE | {"initial_capital_usd": 100.0}, axes={"target_delta": [0.2]})
    with pytest.raises(ValueError, match="initial_capital_usd"):
        run_sweep(data_dir, spec)


def test_a_window_outside_the_data_is_refused(data_dir):
    spec = SweepSpec(base=BASE | {"start": "2030-01-01", "end": "2030-02-01"},
                     axes={"target_delta": [0.2]})  # fmt: skip
    with pytest.raises(ValueError, match="cover"):
        run_sweep(data_dir, spec)


def test_axes_over_the_market_load_one_market_each(data_dir):
    spec = SweepSpec(
        base=BASE | {"end": "2022-03-01"},
        axes={"decision_interval_hours": [12, 24], "target_delta": [0.25]},
    )
    run = run_sweep(data_dir, spec, ThreadExecutor(2))
    assert run.timings["markets"] == 2
    for cfg, row in zip(run.configs, run.rows, strict=True):
        single = execute_run(data_dir, CallSimulationConfig(**cfg.model_dump()))[0]
        assert_same_metrics(row.metrics, single.metrics)
