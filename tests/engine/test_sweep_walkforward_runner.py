"""Walk-forward of a sweep: each fold's choice is the training window's best, its test is a single
backtest, and no data after a training window can change that fold's choice."""

import shutil
from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from cache.datasource import DeribitDataSource
from cache.importer import import_source
from cache.store import Store
from engine.config import CallSimulationConfig
from engine.simulator import CoveredCallSimulator
from engine.sweep.executors import ThreadExecutor
from engine.sweep.spec import SweepSpec
from engine.sweep.walkforward import make_folds, parse_walk_forward, stitch_equity
from engine.sweep.walkforward_runner import run_walk_forward

WF = "train=60d,test=30d,step=30d"
SPEC = {
    "base": {"underlying": "BTC", "start": "2022-01-01", "end": "2022-05-01",
             "decision_interval_hours": 24},
    "axes": {"tp_threshold_pct": [50, 80], "target_delta": [0.2, 0.3],
             "exit_style": ["hold_to_expiry", "tp_and_roll"]},
    "walk_forward": WF,
}  # fmt: skip
FOLDS = make_folds(parse_walk_forward(WF), *CallSimulationConfig(**SPEC["base"]).model_dump(
    include={"start", "end"}).values())  # fmt: skip
CHANGED_FROM = FOLDS[0].train_end  # the altered source differs from here on


@pytest.fixture(scope="module")
def sources(synthetic_data_dir, tmp_path_factory):
    """Sources ``same`` (the synthetic BTC market imported) and ``changed`` (the same, but from
    the end of fold 0's training window prices climb up to 60 % higher and IV is 25 points up)."""
    root = tmp_path_factory.mktemp("wf")
    data_dir = shutil.copytree(synthetic_data_dir, root / "data")
    ds = DeribitDataSource(data_dir, "synthetic")
    lo, hi = CHANGED_FROM - timedelta(days=500), CHANGED_FROM + timedelta(days=200)
    candles, iv = ds.get_candles("BTC", lo, hi), ds.get_iv_index("BTC", lo, hi).select("time", "iv")
    after = (pl.col("time") >= CHANGED_FROM).cast(pl.Float64)
    days = (pl.col("time") - CHANGED_FROM).dt.total_hours() / 24
    factor = 1 + after * 0.6 * (days / 120).clip(0, 1)
    changed = candles.with_columns(pl.col(c) * factor for c in ("open", "high", "low", "close"))
    files = {}
    changed_iv = iv.with_columns(pl.col("iv") + 25 * after)
    for name, frame, ivs in (("same", candles, iv), ("changed", changed, changed_iv)):
        files[name] = (root / f"{name}-candles.parquet", root / f"{name}-iv.parquet")
        frame.write_parquet(files[name][0])
        ivs.write_parquet(files[name][1])
        import_source(Store(data_dir), name, "BTC", *files[name])
    return data_dir


def _walk(data_dir, source: str):
    spec = SweepSpec(**{**SPEC, "base": SPEC["base"] | {"source": source}})
    ds = DeribitDataSource(data_dir, source)
    return spec, run_walk_forward(ds, spec, ThreadExecutor(2), data_dir / "prepared")


def test_each_fold_chooses_the_training_best_and_tests_it_as_a_single_backtest(sources):
    spec, wf = _walk(sources, "same")
    ds = DeribitDataSource(sources, "same")
    assert wf.folds.height == len(FOLDS) == 2
    segments = []
    for fold, row in zip(FOLDS, wf.folds.iter_rows(named=True), strict=True):
        assert (row["train_start"], row["train_end"]) == (fold.train_start, fold.train_end)
        sharpes = []
        for cfg in spec.configurations():
            train = CallSimulationConfig(**cfg.model_dump() | {"start": fold.train_start,
                                                                "end": fold.train_end})  # fmt: skip
            sharpes.append(CoveredCallSimulator(ds, train).simulate_policy().metrics["sharpe"])
        assert row["chosen_row"] == int(np.argmax(sharpes))
        assert row["train_sharpe"] == pytest.approx(max(sharpes), rel=1e-12)
        chosen = spec.configurations()[row["chosen_row"]]
        assert spec.axis_point(chosen) == {k: row[k] for k in spec.axes}
        test = CallSimulationConfig(**chosen.model_dump() | {"start": fold.test_start,
                                                              "end": fold.test_end})  # fmt: skip
        single = CoveredCallSimulator(ds, test).simulate_policy()
        assert row["test_run_id"] == single.run_id
        assert row["test_total_return_pct_usd"] == pytest.approx(
            single.metrics["total_return_pct_usd"], rel=1e-12
        )
        segments.append(single.equity.select("time", "equity_usd", "hodl_usd"))
    want = stitch_equity([s.head(-1) for s in segments[:-1]] + segments[-1:])
    assert wf.equity.equals(want)
    assert wf.block["folds"][0]["chosen_row"] == wf.folds["chosen_row"][0]
    growth = wf.equity["strategy_growth"][-1]
    assert wf.block["oos_return_pct_usd"] == pytest.approx((growth - 1) * 100)


def test_data_after_a_training_window_never_change_its_choice(sources):
    _, same = _walk(sources, "same")
    _, changed = _walk(sources, "changed")
    a, b = same.folds.row(0, named=True), changed.folds.row(0, named=True)
    assert FOLDS[0].train_end == CHANGED_FROM
    assert a["chosen_row"] == b["chosen_row"] and a["train_sharpe"] == b["train_sharpe"]
    # the change is real: the test window after it (and later training windows) see other data
    assert a["test_total_return_pct_usd"] != b["test_total_return_pct_usd"]
    assert same.folds["train_sharpe"][1:].to_list() != changed.folds["train_sharpe"][1:].to_list()
