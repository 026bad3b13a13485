"""The data block's trust facts and warnings: hand cases, and a run on a partly real IV index."""

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from cache.datasource import DeribitDataSource
from cache.store import Store
from engine.calibration import load_calibration
from engine.config import CallSimulationConfig
from engine.results.data_quality import data_warnings, iv_real_share, stale_settlements
from engine.simulator import CoveredCallSimulator

FEES = "fees: the schedule's sentence"


def _warnings(**kw) -> list[str]:
    base = dict(origin="deribit-mainnet", synthetic=False, iv_real_share=1.0,
                fill_model="bid_ask", stale_settlements=0, fee_statement=FEES)  # fmt: skip
    return data_warnings(**(base | kw))


def test_iv_real_share_counts_decision_instants_only():
    real = np.array([True, False, True, True, False])
    decision = np.array([True, True, False, True, False])
    assert iv_real_share(real, decision) == pytest.approx(2 / 3)
    assert math.isnan(iv_real_share(real, np.zeros(5, dtype=bool)))


def test_stale_settlements_are_counted_when_the_trades_flag_them():
    assert stale_settlements(pl.DataFrame({"pnl_coin": [0.1]})) == 0
    flagged = pl.DataFrame({"settlement_stale": [True, False, True]})
    assert stale_settlements(flagged) == 2


def test_a_clean_real_run_only_states_its_fees():
    assert _warnings() == [FEES]


@pytest.mark.parametrize(
    ("share", "sentence"),
    [
        (0.59, "41 % of IV estimated from realized vol (no DVOL print)"),
        (0.0, "100 % of IV estimated from realized vol (no DVOL print)"),
        (0.999, "less than 1 % of IV estimated from realized vol (no DVOL print)"),
        (0.004, "more than 99 % of IV estimated from realized vol (no DVOL print)"),
    ],
)
def test_estimated_iv_is_stated_as_a_share(share, sentence):
    assert _warnings(iv_real_share=share) == [sentence, FEES]


def test_a_synthetic_market_says_so_instead_of_the_iv_share():
    got = _warnings(origin="synthetic", synthetic=True, iv_real_share=0.0)
    assert got == [
        "SYNTHETIC market: prices, IV and settlement prices are generated, not Deribit data",
        FEES,
    ]


def test_imported_iv_is_not_called_estimated():
    got = _warnings(origin="import", iv_real_share=0.0)
    assert got[0] == "100 % of IV not a Deribit DVOL print (import data)"


def test_no_decision_no_iv_sentence():
    assert _warnings(iv_real_share=math.nan) == [FEES]


def test_fills_at_mark_and_stale_settlements_are_flagged_in_order():
    got = _warnings(iv_real_share=0.5, fill_model="mark", stale_settlements=1)
    assert got == [
        "50 % of IV estimated from realized vol (no DVOL print)",
        "fills at mark: optimistic (no bid/ask spread paid)",
        "1 settlement price older than one bar",
        FEES,
    ]
    assert _warnings(stale_settlements=3)[0] == "3 settlement prices older than one bar"


def test_a_run_reports_the_share_of_decisions_on_real_dvol(tmp_path):
    # DVOL prints from 2022-02-10 12:00 on: of the daily decisions 02-01 .. 02-19, the ones from
    # 02-11 on (9 of 19) read a real print
    t0 = datetime(2022, 1, 1, tzinfo=UTC)
    hours = 24 * 60
    times = [t0 + timedelta(hours=i) for i in range(hours)]
    flat = np.full(hours, 10_000.0)
    candles = pl.DataFrame(
        {"time": times, "open": flat, "high": flat, "low": flat, "close": flat,
         "volume": np.full(hours, 1e6)}
    ).with_columns(pl.col("time").cast(pl.Datetime("us", "UTC")))  # fmt: skip
    iv = pl.DataFrame({"time": times, "iv": np.full(hours, 60.0)}).with_columns(
        pl.col("time").cast(pl.Datetime("us", "UTC")),
        iv_is_real=pl.col("time") >= datetime(2022, 2, 10, 12, tzinfo=UTC),
    )
    store = Store(tmp_path)
    store.ensure_source("part", "deribit-mainnet", label="partly real DVOL")
    store.write_candles("part", "BTC", candles)
    store.write_iv("part", "BTC", iv)
    cfg = CallSimulationConfig(
        underlying="BTC", start="2022-02-01", end="2022-02-20", source="part"
    )
    data = CoveredCallSimulator(DeribitDataSource(tmp_path, "part"), cfg).simulate_policy().data
    assert data["iv_real_share"] == pytest.approx(9 / 19)
    assert data["fill_model"] == "bid_ask"
    assert data["calibration_id"] == load_calibration().calibration_id
    assert data["fee_schedule"]["name"] == "deribit-current"
    assert data["warnings"] == [
        "53 % of IV estimated from realized vol (no DVOL print)",
        data["fee_schedule"]["statement"],
    ]
