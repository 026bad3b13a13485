"""Sweep outputs on disk: results, daily returns and summary; list, load, delete."""

import json
import shutil

import numpy as np
import polars as pl
import pytest

from engine.sweep.execute import execute_sweep, plan_sweep
from engine.sweep.executors import ThreadExecutor
from engine.sweep.spec import METRIC_NAMES, SweepSpec
from engine.sweep.stats import deflated_sharpe_ratio, pbo_cscv
from engine.sweep.store import (
    SweepNotFoundError,
    SweepUnreadableError,
    delete_sweep,
    list_sweeps,
    load_sweep,
    read_table,
)

SPEC = {
    "base": {"underlying": "BTC", "start": "2022-01-01", "end": "2022-04-01",
             "decision_interval_hours": 24},
    "axes": {"tp_threshold_pct": [50, 80], "exit_style": ["hold_to_expiry", "tp_and_roll"],
             "scoring.w_delta": [2.5]},
    "objective": "max_drawdown_pct",
}  # fmt: skip


@pytest.fixture(scope="module")
def stored(synthetic_data_dir, tmp_path_factory):
    data_dir = shutil.copytree(synthetic_data_dir, tmp_path_factory.mktemp("store") / "data")
    spec = SweepSpec(**SPEC)
    plan, run, folder = execute_sweep(data_dir, spec, ThreadExecutor(2))
    return data_dir, spec, plan, run, folder


def test_results_hold_axes_every_metric_and_the_run_id(stored):
    data_dir, _spec, plan, run, folder = stored
    assert folder == data_dir / "sweeps" / plan.sweep_id
    results = pl.read_parquet(folder / "results.parquet")
    assert results.columns == ["row", "tp_threshold_pct", "exit_style", "scoring.w_delta",
                               *METRIC_NAMES, "run_id"]  # fmt: skip
    assert results.height == 4 and results["row"].to_list() == [0, 1, 2, 3]
    assert results["exit_style"].to_list() == ["hold_to_expiry", "tp_and_roll"] * 2
    assert results["tp_threshold_pct"].to_list() == [50.0, 50.0, 80.0, 80.0]
    for i, row in enumerate(run.rows):
        for name in METRIC_NAMES:
            want = row.metrics[name]
            got = results[name][i]
            assert got == want or (np.isnan(want) and (got is None or np.isnan(got)))
    assert results["run_id"].to_list() == run.run_ids
    assert results["num_trades"].dtype == pl.Int64 and results["sharpe"].dtype == pl.Float64


def test_returns_are_one_column_per_configuration(stored):
    _, _, _, run, folder = stored
    returns = pl.read_parquet(folder / "returns.parquet")
    assert returns.columns == ["time", *run.run_ids]
    assert returns.schema["time"] == pl.Datetime("us", "UTC")
    assert returns["time"][0].isoformat() == "2022-01-01T00:00:00+00:00"
    for run_id, row in zip(run.run_ids, run.rows, strict=True):
        np.testing.assert_array_equal(returns[run_id].to_numpy(), row.returns)


def test_summary_says_what_ran_on_what_and_the_best_rows(stored):
    _data_dir, spec, plan, run, folder = stored
    s = json.loads((folder / "summary.json").read_text())
    assert s["sweep_id"] == plan.sweep_id and s["spec"] == spec.model_dump(mode="json")
    assert s["counts"] == {"grid": 4, "excluded_by_constraints": 0, "dropped_invalid": 0,
                           "configurations": 4}  # fmt: skip
    assert s["data"]["synthetic"] is True and "SYNTHETIC" in s["data"]["label"]
    assert s["data"]["fingerprint"] == plan.fingerprint
    assert s["calibration_id"] == plan.calibration_id == s["data"]["calibration_id"]
    assert s["timings"]["configurations"] == 4 and s["timings"]["executor"] == "threads"
    assert s["objective"] == "max_drawdown_pct" and s["maximize"] is False
    drawdowns = sorted(r.metrics["max_drawdown_pct"] for r in run.rows)
    assert [b["max_drawdown_pct"] for b in s["best"]] == drawdowns
    assert s["best"][0]["run_id"] in run.run_ids


def test_statistics_are_those_of_the_stored_results_and_returns(stored):
    *_, folder = stored
    s = json.loads((folder / "summary.json").read_text())["statistics"]
    results = pl.read_parquet(folder / "results.parquet")
    returns = pl.read_parquet(folder / "returns.parquet")
    drawdowns = results["max_drawdown_pct"].to_numpy()
    best = int(np.argmin(drawdowns))  # the objective: smaller is better
    assert s["best_row"] == best and s["best_run_id"] == results["run_id"][best]
    dsr = deflated_sharpe_ratio(
        returns[results["run_id"][best]].to_numpy(),
        results["sharpe"].to_numpy(),
        sharpes_annualised=True,
    )
    assert s["deflated_sharpe"]["dsr"] == pytest.approx(dsr.dsr, rel=1e-12)
    assert s["deflated_sharpe"]["n_trials"] == 4 and s["days"] == returns.height == 91
    pbo = pbo_cscv(returns.drop("time").to_numpy(), 16)
    assert s["pbo"]["pbo"] == pytest.approx(pbo.pbo) and s["pbo"]["n_configs"] == 4
    assert "PBO" in s["pbo"]["explanation"] and "DSR" in s["deflated_sharpe"]["explanation"]


def test_the_id_is_the_spec_the_data_and_the_calibration(stored):
    data_dir, _spec, plan, _, _ = stored
    assert plan_sweep(data_dir, SweepSpec(**SPEC)).sweep_id == plan.sweep_id
    other = SweepSpec(**{**SPEC, "objective": "sharpe"})
    assert plan_sweep(data_dir, other).sweep_id != plan.sweep_id


def test_list_load_delete(stored, tmp_path):
    data_dir, _, plan, _run, folder = stored
    copy = shutil.copytree(data_dir / "sweeps", tmp_path / "data" / "sweeps")
    d = copy.parent
    [entry] = list_sweeps(d)
    assert entry["sweep_id"] == plan.sweep_id and entry["configurations"] == 4
    assert entry["synthetic"] is True and entry["axes"] == list(SPEC["axes"])
    loaded = load_sweep(d, plan.sweep_id)
    assert loaded.results.equals(read_table(d, plan.sweep_id, "results"))
    assert loaded.summary["best"] == json.loads((folder / "summary.json").read_text())["best"]
    assert not list((copy).glob(".*"))  # nothing half-written left beside it

    (copy / plan.sweep_id / "summary.json").write_text("{broken")
    [entry] = list_sweeps(d)
    assert entry["sweep_id"] == plan.sweep_id and "not JSON" in entry["unreadable"]
    with pytest.raises(SweepUnreadableError, match=r"summary\.json is not JSON"):
        load_sweep(d, plan.sweep_id)
    delete_sweep(d, plan.sweep_id)
    assert list_sweeps(d) == []
    with pytest.raises(SweepNotFoundError, match=f"no sweep {plan.sweep_id}"):
        delete_sweep(d, plan.sweep_id)
    with pytest.raises(SweepNotFoundError):
        load_sweep(d, "0123456789abcdef")
    with pytest.raises(ValueError, match="16 lowercase hex"):
        load_sweep(d, "../runs")
