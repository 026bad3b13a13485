"""Model against market on the real snapshots of ``../shared``: the report's cells recomputed by
hand from the store, its real-chain run equal to a direct one, and what it says without an IV
index or without chains."""

import math
import shutil
from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from cache.datasource import DeribitDataSource
from cache.importers.chains import import_chains
from cache.store import Store
from engine.calibration import load_calibration
from engine.fills import SpreadModel
from engine.modelcheck import (
    DELTA_EDGES,
    DTE_EDGES_DAYS,
    ModelCheckInputError,
    cached_model_check,
    check_configs,
    model_check,
)
from engine.modelcheck.check import DEFAULT_STRATEGY, comparison
from engine.modelcheck.store import report_path
from engine.pricing.black76 import delta_usd, option_price
from engine.simulator import CoveredCallSimulator
from engine.volsurface import candidate_iv
from tests.conftest import SNAPSHOTS_DIR, require_dir

YEAR_S = 365 * 86400.0
MAX_AGE = timedelta(minutes=15)


@pytest.fixture(scope="module")
def real(chain_data_dir) -> DeribitDataSource:
    return DeribitDataSource(chain_data_dir, "real")


@pytest.fixture(scope="module")
def report(real):
    return model_check(real)


def _check(report, underlying: str):
    (check,) = (c for c in report.underlyings if c.underlying == underlying)
    return check


def _surface(underlying: str):
    cal = load_calibration()
    return cal.surface_params().model_copy(
        update={"atm_over_index": cal.atm_over_index(underlying)}
    )


def hand_iv_errors(ds, underlying: str, delta_j: int, dte_j: int) -> np.ndarray:
    """Model IV - recorded mark IV of the calls of one bucket, recomputed one call at a time from
    the store: each hourly instant of the chains' window reads the latest snapshot at most
    15 min old; the model takes the IV index that closed by the instant and the close of the
    bar ending there, and prices the call at the spot's forward ``spot * exp(basis * T)``."""
    (cfg,) = check_configs(ds, load_calibration(), underlyings=[underlying])
    params = _surface(underlying)
    cov = ds.coverage(underlying)
    candles = ds.get_candles(underlying, cov.candles.start, cfg.end)
    iv = ds.get_iv_index(underlying, cov.iv.start, cfg.end)
    errors = []
    for bar in candles.iter_rows(named=True):
        instant = bar["time"] + timedelta(hours=1)
        if not cfg.start <= instant <= cfg.end:
            continue
        snap = ds.get_chain_at(underlying, instant, MAX_AGE).filter(pl.col("option_type") == "C")
        closed = iv.filter(pl.col("time") + timedelta(hours=1) <= instant)
        if snap.is_empty() or closed.is_empty():
            continue
        index_pct = closed["iv"][-1]
        for call in snap.iter_rows(named=True):
            t = (call["expiry"] - call["time"]).total_seconds() / YEAR_S
            fwd, strike, mark_iv = call["underlying_price"], call["strike"], call["mark_iv"]
            delta = delta_usd(fwd, strike, t, mark_iv / 100.0, True)
            if not (DELTA_EDGES[delta_j] <= delta < DELTA_EDGES[delta_j + 1]):
                continue
            if not (DTE_EDGES_DAYS[dte_j] <= t * 365.0 < DTE_EDGES_DAYS[dte_j + 1]):
                continue
            model_fwd = bar["close"] * math.exp(params.basis_annual * t)
            errors.append(candidate_iv(index_pct, strike, model_fwd, t, params) - mark_iv)
    return np.array(errors)


@pytest.mark.parametrize(("underlying", "delta_j", "dte_j"), [("BTC", 1, 1), ("ETH", 3, 5)])
def test_an_iv_error_cell_equals_the_hand_computation(real, report, underlying, delta_j, dte_j):
    errors = hand_iv_errors(real, underlying, delta_j, dte_j)
    labels = (f"{DELTA_EDGES[delta_j]:g}-{DELTA_EDGES[delta_j + 1]:g}",
              f"{DTE_EDGES_DAYS[dte_j]:g}-{DTE_EDGES_DAYS[dte_j + 1]:g}")  # fmt: skip
    (cell,) = (
        c
        for c in _check(report, underlying).iv_error
        if (c.delta_bucket, c.dte_bucket_days) == labels
    )
    assert cell.n == len(errors) > 10
    assert cell.median_error_vol_points == pytest.approx(np.median(errors), rel=1e-9)
    assert cell.median_abs_error_vol_points == pytest.approx(np.median(abs(errors)), rel=1e-9)
    assert cell.p90_abs_error_vol_points == pytest.approx(np.quantile(abs(errors), 0.9), rel=1e-9)


def test_each_compared_call_is_the_recorded_quote_next_to_the_model(real):
    (cfg,) = check_configs(real, load_calibration(), underlyings=["BTC"])
    spread = SpreadModel.default()
    rows = comparison(real, cfg, spread)[1]
    assert rows.height > 500
    for row in rows.sample(20, seed=7).iter_rows(named=True):
        snap = real.get_chain_at("BTC", row["snapshot_time"], timedelta(0))
        same = (pl.col("expiry") == row["expiry"]) & (pl.col("strike") == row["strike"])
        (quote,) = snap.filter(same & (pl.col("option_type") == "C")).iter_rows(named=True)
        assert row["mark_coin"] == quote["mark_price"]
        assert row["iv_pct"] == pytest.approx(quote["mark_iv"])
        for side in ("bid", "ask"):
            recorded, stored = quote[f"{side}_price"], row[f"{side}_coin"]
            assert stored == recorded if recorded is not None else np.isnan(stored)
        assert timedelta(0) <= row["time"] - row["snapshot_time"] <= MAX_AGE
        t, k, sigma = row["t_years"], row["strike"], row["model_iv_pct"] / 100.0
        want = option_price(row["model_forward_usd"], k, t, sigma, True)
        assert row["model_mark_coin"] == pytest.approx(want, rel=1e-9)
        bid, ask = spread.bid_ask("BTC", row["mark_coin"], row["delta"], row["dte_days"])
        assert (row["spread_bid_coin"], row["spread_ask_coin"]) == (bid, ask)
        bid, ask = spread.bid_ask("BTC", row["model_mark_coin"], row["model_delta"], t * 365.0)
        assert (row["model_bid_coin"], row["model_ask_coin"]) == (bid, ask)


def test_fill_and_premium_cells_are_the_statistics_of_the_rows(real, report):
    (cfg,) = check_configs(real, load_calibration(), underlyings=["ETH"])
    rows = comparison(real, cfg, SpreadModel.default())[1]
    check = _check(report, "ETH")
    pooled_bid = next(c for c in check.fill_error if c.side == "bid" and c.delta_bucket == "all")
    quoted = rows.filter(pl.col("bid_coin").is_not_nan())
    err_pct = 100 * (quoted["spread_bid_coin"] - quoted["bid_coin"]) / quoted["mark_coin"]
    assert pooled_bid.n_spread == pooled_bid.n_full == quoted.height > 100
    assert pooled_bid.spread_p90_abs_error_pct_of_mark == pytest.approx(
        np.quantile(err_pct.abs().to_numpy(), 0.9), rel=1e-9
    )
    premium = next(c for c in check.premium_error if c.delta_bucket == "all")
    rel = 100 * (rows["model_mark_coin"] / rows["mark_coin"] - 1)
    assert premium.n == rows.height == check.calls_compared
    assert premium.median_rel_error_pct == pytest.approx(rel.median(), rel=1e-9)


@pytest.mark.parametrize("underlying", ["BTC", "ETH"])
def test_the_real_chain_side_equals_a_direct_chain_backtest(real, report, underlying):
    cal = load_calibration()
    (cfg,) = check_configs(real, cal, underlyings=[underlying])
    assert cfg.option_market == "chains" and cfg.exit_style == DEFAULT_STRATEGY["exit_style"]
    side = _check(report, underlying).backtest
    for market, got in (("chains", side.chains), ("model", side.model)):
        run = cfg.model_copy(update={"option_market": market})
        res = CoveredCallSimulator(real, run, spread=cal.spread_model()).simulate_policy()
        assert got.available and got.run_id == res.run_id
        assert got.trades == res.trades.height
        assert got.premium_collected_coin == res.metrics["premium_collected_coin"]
        assert got.fees_paid_coin == res.metrics["fees_paid_coin"]
        assert got.pnl_coin == pytest.approx(res.trades["pnl_coin"].sum(), abs=1e-15)
        assert got.final_equity_coin == res.metrics["final_equity_coin"]
        assert got.warnings == res.data["warnings"]
    diff = side.difference
    assert diff.pnl_coin == pytest.approx(side.model.pnl_coin - side.chains.pnl_coin)
    assert diff.verdict == ("flatters" if diff.pnl_coin > 0 else "penalises")
    assert diff.verdict in diff.sentence
    assert any("decision instants had no snapshot" in w for w in side.chains.warnings)


def test_the_model_forward_and_the_calibration_are_reported(report):
    assert report.calibration_id == load_calibration().calibration_id
    assert "spot x exp(basis_annual x T)" in " ".join(report.method)
    btc = _check(report, "BTC")
    nearest = btc.forward_error[0]
    # the derived candles' spot is the nearest expiry's forward: its recorded basis is nil
    assert nearest.dte_bucket_days == "0-1" and nearest.median_implied_basis_annual_pct == 0
    assert nearest.model_basis_annual_pct == pytest.approx(100 * report.surface["basis_annual"])
    assert btc.instants_with_snapshot == btc.instants_with_iv_index < btc.instants


@pytest.fixture(scope="module")
def no_iv(real, tmp_path_factory) -> DeribitDataSource:
    """The snapshots imported with their candles taken from a source that has candles and no
    IV index (``--candles-from``): a chain source without an IV index."""
    files = sorted(require_dir(SNAPSHOTS_DIR).glob("*.parquet"))
    store = Store(tmp_path_factory.mktemp("no-iv"))
    store.ensure_source("spot", "import", "spot candles, no IV index")
    for u, cov in real.meta.coverage.items():
        store.write_candles("spot", u, real.get_candles(u, cov.candles.start, cov.candles.end))
    import_chains(store, "bare", "snapshots", files, candles_from="spot")
    return DeribitDataSource(store.data_dir, "bare")


def test_without_an_iv_index_the_model_side_says_it_cannot_run(no_iv):
    report = model_check(no_iv, underlyings=["BTC"])
    (check,) = report.underlyings
    assert check.model_unavailable.startswith("no IV index: the model side cannot run")
    assert check.calls_compared > 500 and check.calls_with_model == 0
    assert [c.delta_bucket for c in check.iv_error] == ["all"] and check.iv_error[0].n == 0
    bid = next(c for c in check.fill_error if c.side == "bid" and c.delta_bucket == "all")
    assert bid.n_spread > 100 and bid.n_full == 0 and bid.full_median_error_coin is None
    assert check.forward_error[-1].n > 0  # forwards need no IV index
    side = check.backtest
    assert side.chains.available and side.chains.trades > 0
    assert not side.model.available and side.model.reason == check.model_unavailable
    assert side.difference is None


def test_sources_without_chains_or_that_underlying_are_refused(synthetic_data_dir, tmp_path):
    with pytest.raises(ModelCheckInputError, match="holds no recorded option chains") as err:
        model_check(DeribitDataSource(synthetic_data_dir, "synthetic"))
    assert err.value.fields == ("source",)
    btc_only = tmp_path / "btc-only"
    btc_file = SNAPSHOTS_DIR / "BTC_2025-12-07_2025-12-11.parquet"
    import_chains(Store(btc_only), "btc", "snapshots", [btc_file])
    with pytest.raises(ModelCheckInputError, match="no recorded ETH option chains") as err:
        model_check(DeribitDataSource(btc_only, "btc"), underlyings=["ETH"])
    assert err.value.fields == ("underlying",)


def test_a_report_is_kept_on_disk_per_input_and_read_back(chain_data_dir, tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(chain_data_dir, data_dir)
    first, from_disk = cached_model_check(data_dir, "real", underlyings=["ETH"])
    assert not from_disk and report_path(data_dir, first.key).is_file()
    again, from_disk = cached_model_check(data_dir, "real", underlyings=["ETH"])
    assert from_disk and again == first
    longer = {"target_dte": 3.0}
    other, from_disk = cached_model_check(data_dir, "real", strategy=longer, underlyings=["ETH"])
    assert not from_disk and other.key != first.key and other.strategy["target_dte"] == 3.0
    report_path(data_dir, first.key).write_text("{ damaged")
    redone, from_disk = cached_model_check(data_dir, "real", underlyings=["ETH"])
    assert not from_disk and redone.key == first.key
    assert redone.underlyings == first.underlyings
