"""The run tables' contract: what runs write keeps it, and the writer refuses what breaks it."""

import re
from dataclasses import replace

import polars as pl
import pytest
from pydantic import ValidationError

from cache.datasource import DeribitDataSource
from engine.config import CallSimulationConfig
from engine.results.history import trades_page
from engine.results.runs import write_run
from engine.results.schema import TABLES, TRADE_VIEW, check_table, row_model
from engine.simulator import CoveredCallSimulator

WINDOW = dict(underlying="BTC", start="2021-03-01", end="2021-03-21", exit_style="tp_and_roll")


@pytest.fixture(scope="module")
def result(synthetic_data_dir):
    ds = DeribitDataSource(synthetic_data_dir, "synthetic")
    return CoveredCallSimulator(ds, CallSimulationConfig(**WINDOW)).simulate_policy()


def contract_schema(table: str) -> dict:
    return {c.name: c.dtype for c in TABLES[table]}


def test_finished_runs_hold_the_contract_on_disk(runs_source):
    data_dir, ids = runs_source
    for run_id in ids:
        for table in TABLES:
            frame = pl.read_parquet(data_dir / "runs" / run_id / f"{table}.parquet")
            assert dict(frame.schema) == contract_schema(table), (run_id, table)
            check_table(table, frame)


def test_a_run_without_trades_still_holds_it(synthetic_data_dir, tmp_path):
    cfg = CallSimulationConfig(**WINDOW, min_score_to_trade=10)
    ds = DeribitDataSource(synthetic_data_dir, "synthetic")
    res = CoveredCallSimulator(ds, cfg).simulate_policy()
    assert res.trades.height == 0 and res.equity["call_mark_coin"].null_count() == res.equity.height
    run_dir = write_run(res, tmp_path)
    for table in TABLES:
        assert dict(pl.read_parquet(run_dir / f"{table}.parquet").schema) == contract_schema(table)


def _null_first(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    first = pl.int_range(pl.len()) == 0
    return frame.with_columns(pl.when(first).then(None).otherwise(pl.col(column)).alias(column))


BREAKS = [
    pytest.param(
        "trades", lambda f: f.with_columns(pl.col("strike").cast(pl.Float32)),
        "table trades, column strike: dtype Float32, the contract says Float64", id="dtype",
    ),
    pytest.param(
        "equity", lambda f: f.with_columns(pl.col("time").dt.replace_time_zone(None)),
        "table equity, column time: dtype Datetime[us, None], the contract says "
        "Datetime[us, UTC]", id="naive-time",
    ),
    pytest.param(
        "equity", lambda f: f.drop("spot"),
        "table equity: columns differ from the contract (missing: ['spot']; unexpected: none)",
        id="missing",
    ),
    pytest.param(
        "candidates", lambda f: f.with_columns(pl.lit(1).alias("extra")),
        "table candidates: columns differ from the contract (missing: none; unexpected: "
        "['extra'])", id="unexpected",
    ),
    pytest.param(
        "steps", lambda f: f.select(reversed(f.columns)),
        "table steps: columns differ from the contract (missing: none; unexpected: none); "
        "expected, in this order: ['time', 'candidates',", id="order",
    ),
    pytest.param(
        "trades", lambda f: _null_first(f, "pnl_usd"),
        "table trades, column pnl_usd: 1 null values, none allowed", id="null",
    ),
    pytest.param(
        "trades", lambda f: f.with_columns(pl.lit("assigned").alias("close_reason")),
        "table trades, column close_reason: values ['assigned'] are not among", id="value",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("table", "damage", "words"), BREAKS)
def test_the_writer_refuses_a_broken_table_and_writes_nothing(
    result, tmp_path, table, damage, words
):
    broken = replace(result, **{table: damage(getattr(result, table))})
    with pytest.raises(ValueError, match=re.escape(words)) as info:
        write_run(broken, tmp_path)
    assert str(info.value).startswith(f"table {table}")
    assert not (tmp_path / "runs").exists()


def test_the_trade_view_is_what_the_trades_page_returns(runs_source):
    data_dir, (_, tp) = runs_source
    _, page = trades_page(data_dir, tp, limit=500)
    assert dict(page.schema) == {v.column.name: v.column.dtype for v in TRADE_VIEW}
    assert page.height > 0
    row_type = row_model("Trade", tuple(v.column for v in TRADE_VIEW), "A trade.")
    for row in page.to_dicts():  # every row fits the model the API builds from the contract
        row_type(**row)


def test_row_models_allow_null_only_where_the_contract_does(result):
    step = row_model("Step", TABLES["steps"], "A step.")
    row = result.steps.row(0, named=True)
    assert step(**row).model_dump() == row
    for column in TABLES["steps"]:
        if column.nullable:
            assert getattr(step(**row | {column.name: None}), column.name) is None
        else:
            with pytest.raises(ValidationError, match=column.name):
                step(**row | {column.name: None})
    with pytest.raises(ValidationError, match="action"):
        step(**row | {"action": "dance"})
    assert step.model_fields["time"].description == "the decision instant (UTC)"
