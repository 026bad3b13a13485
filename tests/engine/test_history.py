"""Run history on disk: listing, strict ids, trade pages, CSV, config diff and delete.

Also each run read on its own: a damaged ``summary.json`` or table makes only its run unreadable.
"""

import json
import shutil

import polars as pl
import pytest

from engine.results.history import (
    TRADE_COLUMNS,
    RunNotFoundError,
    RunUnreadableError,
    check_run_id,
    compare_runs,
    config_diff,
    delete_run,
    list_runs,
    read_file,
    read_summary,
    read_table,
    table_csv,
    trades_page,
)
from engine.results.labels import METRIC_LABELS
from engine.results.summary import SUMMARY_MAX_BYTES, SummaryError, parse_summary


@pytest.fixture
def runs(runs_source, tmp_path):
    """A private copy (tests may delete or break runs)."""
    data_dir, ids = runs_source
    shutil.copytree(data_dir / "runs", tmp_path / "data" / "runs")
    return tmp_path / "data", ids


def test_list_is_newest_first_and_skips_what_is_not_a_run(runs):
    data_dir, (hold, tp) = runs
    root = data_dir / "runs"
    (root / f".{hold}.tmp-0a1b2c3d").mkdir()  # a run being written
    (root / f".{tp}.deleting-0a1b2c3d").mkdir()  # a run being deleted
    (root / "notes").mkdir()
    (root / "0123456789abcdef").write_text("a file, not a run folder")
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


def _summary_text(data_dir, run_id) -> str:
    return (data_dir / "runs" / run_id / "summary.json").read_text()


def _damage(text: str, kind: str) -> str:
    doc = json.loads(text)
    return {
        "finished_at not a time": lambda: json.dumps(doc | {"finished_at": "yesterday"}),
        "finished_at without zone": lambda: json.dumps(doc | {"finished_at": "2024-01-01T00:00"}),
        "metrics a list": lambda: json.dumps(doc | {"metrics": [1, 2]}),
        "metric a word": lambda: json.dumps(doc | {"metrics": {"sharpe": "high"}}),
        "run_id a number": lambda: json.dumps(doc | {"run_id": 5}),
        "run_id of another run": lambda: json.dumps(doc | {"run_id": "0123456789abcdef"}),
        "config lacks the underlying": lambda: json.dumps(
            doc | {"config": {k: v for k, v in doc["config"].items() if k != "underlying"}}
        ),
        "data not an object": lambda: json.dumps(doc | {"data": "synthetic"}),
        "truncated": lambda: text[: len(text) // 2],
        "not an object": lambda: "[1, 2, 3]",
        "empty": lambda: "",
        "deeply nested": lambda: "[" * 100_000 + "]" * 100_000,
        "not UTF-8": lambda: "\udcff",
    }[kind]()


DAMAGE = [
    ("finished_at not a time", "finished_at"),
    ("finished_at without zone", "finished_at"),
    ("metrics a list", "metrics"),
    ("metric a word", "metrics.sharpe"),
    ("run_id a number", "run_id"),
    ("run_id of another run", "names run 0123456789abcdef, its folder is"),
    ("config lacks the underlying", "config.underlying"),
    ("data not an object", "data"),
    ("truncated", "not valid JSON"),
    ("not an object", "holds a JSON list, not an object"),
    ("empty", "not valid JSON"),
    ("deeply nested", "summary.json"),
    ("not UTF-8", "not valid JSON"),
]


@pytest.mark.parametrize(("kind", "reason"), DAMAGE, ids=[d[0] for d in DAMAGE])
def test_a_damaged_summary_makes_only_its_run_unreadable(runs, kind, reason):
    data_dir, (hold, tp) = runs
    path = data_dir / "runs" / hold / "summary.json"
    path.write_bytes(_damage(path.read_text(), kind).encode(errors="surrogateescape"))
    entries = list_runs(data_dir)
    assert [e["run_id"] for e in entries] == [hold, tp]  # the unreadable run first
    assert set(entries[0]) == {"run_id", "unreadable"} and reason in entries[0]["unreadable"]
    assert entries[1]["exit_style"] == "tp_and_roll"
    for read in (lambda: read_summary(data_dir, hold), lambda: compare_runs(data_dir, tp, hold)):
        with pytest.raises(RunUnreadableError, match=f"run {hold} cannot be read") as err:
            read()
        assert reason in err.value.reason
    assert read_summary(data_dir, tp)["run_id"] == tp
    assert trades_page(data_dir, hold, limit=1)[0] > 0  # its tables still read
    delete_run(data_dir, hold)
    assert [e["run_id"] for e in list_runs(data_dir)] == [tp]


def test_a_summary_far_bigger_than_a_summary_is_not_read_whole(runs):
    data_dir, (hold, _) = runs
    raw = b" " * SUMMARY_MAX_BYTES + _summary_text(data_dir, hold).encode()
    reason = "summary.json is over 1,048,576 bytes: not a summary"
    with pytest.raises(SummaryError) as err:
        parse_summary(raw, hold)
    assert str(err.value) == reason
    (data_dir / "runs" / hold / "summary.json").write_bytes(raw)
    assert list_runs(data_dir)[0] == {"run_id": hold, "unreadable": reason}


def test_a_run_folder_without_summary_is_unreadable_and_deletable(runs):
    data_dir, (hold, tp) = runs
    (data_dir / "runs" / hold / "summary.json").unlink()
    assert list_runs(data_dir)[0] == {"run_id": hold, "unreadable": "summary.json is missing"}
    delete_run(data_dir, hold)
    assert sorted(p.name for p in (data_dir / "runs").iterdir()) == [tp]


@pytest.mark.parametrize("damage", ["truncated", "columns"])
def test_a_damaged_table_is_unreadable_naming_it(runs, damage):
    data_dir, (hold, _) = runs
    path = data_dir / "runs" / hold / "trades.parquet"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:-100])
    else:
        pl.read_parquet(path).drop("strike").write_parquet(path)
    with pytest.raises(RunUnreadableError, match=f"run {hold} cannot be read: trades.parquet"):
        read_table(data_dir, hold, "trades")
    assert read_table(data_dir, hold, "equity").height > 0
    assert len(read_file(data_dir, hold, "trades.parquet")) == path.stat().st_size  # downloadable


def test_a_symlinked_run_is_read_and_deleted_as_a_link(runs, tmp_path):
    data_dir, (hold, tp) = runs
    target = tmp_path / "kept-elsewhere" / hold
    shutil.move(data_dir / "runs" / hold, target)
    (data_dir / "runs" / hold).symlink_to(target, target_is_directory=True)
    assert read_summary(data_dir, hold)["run_id"] == hold
    delete_run(data_dir, hold)
    assert sorted(p.name for p in (data_dir / "runs").iterdir()) == [tp]  # no .deleting debris
    assert (target / "summary.json").is_file() and (target / "trades.parquet").is_file()


def test_a_dangling_link_is_listed_unreadable_and_deleted(runs, tmp_path):
    data_dir, ids = runs
    ghost = "fedcba9876543210"
    (data_dir / "runs" / ghost).symlink_to(tmp_path / "nowhere")
    assert list_runs(data_dir)[0] == {"run_id": ghost, "unreadable": "summary.json is missing"}
    delete_run(data_dir, ghost)
    assert sorted(p.name for p in (data_dir / "runs").iterdir()) == sorted(ids)


def test_a_file_opened_before_a_deletion_is_read_whole(runs):
    data_dir, (hold, _) = runs
    path = data_dir / "runs" / hold / "equity.parquet"
    expected = path.read_bytes()
    with path.open("rb") as handle:
        delete_run(data_dir, hold)
        assert handle.read() == expected
    with pytest.raises(RunNotFoundError):
        read_file(data_dir, hold, "equity.parquet")
