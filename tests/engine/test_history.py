"""Run history on disk: listing, strict ids, trade pages, CSV, config diff and delete."""

import json
import shutil

import polars as pl
import pytest

from engine.results.history import (
    TRADE_COLUMNS,
    RunNotFoundError,
    check_run_id,
    compare_runs,
    config_diff,
    delete_run,
    list_runs,
    read_summary,
    table_csv,
    trades_page,
)
from engine.results.labels import METRIC_LABELS


@pytest.fixture
def runs(runs_source, tmp_path):
    """A private copy (tests may delete or break runs)."""
    data_dir, ids = runs_source
    shutil.copytree(data_dir / "runs", tmp_path / "data" / "runs")
    return tmp_path / "data", ids


def test_list_is_newest_first_and_skips_what_is_not_a_finished_run(runs):
    data_dir, (hold, tp) = runs
    root = data_dir / "runs"
    (root / f".{hold}.tmp").mkdir()  # a run being written
    (root / "0000000000000000").mkdir()  # no summary.json
    (root / "1111111111111111").mkdir()
    (root / "1111111111111111" / "summary.json").write_text("{not json")
    (root / "notes").mkdir()
    entries = list_runs(data_dir)
    assert [e["run_id"] for e in entries] == [tp, hold]
    first = entries[0]
    assert first["exit_style"] == "tp_and_roll" and first["underlying"] == "BTC"
    assert first["synthetic"] is True and first["source"] == "synthetic"
    assert first["start"].startswith("2022-01-01") and first["end"].startswith("2022-07-01")
    assert first["metrics"]["num_trades"] > 0


def test_empty_data_dir_has_no_history(tmp_path):
    assert list_runs(tmp_path) == []


@pytest.mark.parametrize(
    "bad", ["..", "../runs", "ABCDEF0123456789", "abc", "0" * 17, "0" * 15 + "/"]
)
def test_run_ids_are_strict(bad):
    with pytest.raises(ValueError, match="16 lowercase hex digits"):
        check_run_id(bad)


def test_unknown_run_is_not_found(runs):
    data_dir, _ = runs
    with pytest.raises(RunNotFoundError, match="no finished run 0123456789abcdef"):
        read_summary(data_dir, "0123456789abcdef")


def test_trades_page_sorts_stably_and_pages(runs):
    data_dir, (_, tp) = runs
    full = pl.read_parquet(data_dir / "runs" / tp / "trades.parquet")
    total, page = trades_page(data_dir, tp, offset=2, limit=3)
    assert total == full.height and page.columns == list(TRADE_COLUMNS)
    assert page["open_time"].to_list() == full["open_time"][2:5].to_list()
    total, top = trades_page(data_dir, tp, limit=5, sort="pnl_usd", descending=True)
    assert top["pnl_usd"].to_list() == full["pnl_usd"].sort(descending=True)[:5].to_list()
    _, last = trades_page(data_dir, tp, offset=total - 1, limit=50)
    assert last.height == 1
    _, beyond = trades_page(data_dir, tp, offset=total + 10, limit=50)
    assert beyond.height == 0
    row = page.row(0, named=True)
    assert row["premium_usd"] == pytest.approx(row["premium_coin"] * row["spot_at_open"])
    assert row["assigned"] == (row["close_reason"] == "expiry" and row["close_price_coin"] > 0)


def test_trades_page_rejects_unknown_column(runs):
    data_dir, (_, tp) = runs
    with pytest.raises(ValueError, match="sort must be one of"):
        trades_page(data_dir, tp, sort="secret")


def test_csv_has_the_parquet_columns_and_iso_utc_times(runs):
    data_dir, (hold, _) = runs
    lines = table_csv(data_dir, hold, "equity").decode().splitlines()
    assert (
        lines[0] == "time,spot,equity_coin,equity_usd,hodl_coin,hodl_usd,call_mark_coin,call_open"
    )
    assert lines[1].startswith("2022-01-01T00:00:00+00:00,")
    assert len(lines) == 1 + read_summary(data_dir, hold)["rows"]["equity"]


def test_config_diff_flattens_nested_settings():
    a = {"exit_style": "hold_to_expiry", "fees": {"option_fee_rate": 0.0003}, "same": 1}
    b = {"exit_style": "tp_and_roll", "fees": {"option_fee_rate": 0.0005}, "same": 1, "new": 2}
    assert config_diff(a, b) == [
        {"key": "exit_style", "a": "hold_to_expiry", "b": "tp_and_roll"},
        {"key": "fees.option_fee_rate", "a": 0.0003, "b": 0.0005},
        {"key": "new", "a": None, "b": 2},
    ]


def test_compare_lists_every_metric_and_the_differing_settings(runs):
    data_dir, (hold, tp) = runs
    cmp = compare_runs(data_dir, hold, tp)
    assert [d["key"] for d in cmp["config_diff"]] == ["exit_style"]
    assert [m["key"] for m in cmp["metrics"]][: len(METRIC_LABELS)] == list(METRIC_LABELS)
    trades = next(m for m in cmp["metrics"] if m["key"] == "num_trades")
    assert trades["a"] == read_summary(data_dir, hold)["metrics"]["num_trades"]
    assert trades["b"] == read_summary(data_dir, tp)["metrics"]["num_trades"]


def test_delete_removes_the_folder_and_the_entry(runs):
    data_dir, (hold, tp) = runs
    delete_run(data_dir, hold)
    assert sorted(p.name for p in (data_dir / "runs").iterdir()) == [tp]
    assert [e["run_id"] for e in list_runs(data_dir)] == [tp]
    with pytest.raises(RunNotFoundError):
        delete_run(data_dir, hold)
    summary = json.loads((data_dir / "runs" / tp / "summary.json").read_text())
    assert summary["run_id"] == tp
