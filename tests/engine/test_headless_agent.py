"""One brain: the live agent replayed headless trades exactly as the backtest does.

Over the same window and strategy, the agent's own loop (replay feed, paper broker, journal) and
the backtest (prepare phase, replay kernel) must sell and close the same calls at the same
instants, prices, quantities and fees.
"""

import json
import shutil

import polars as pl
import pytest

from api.cli import main
from engine.agent.headless import journal_path_for, run_headless
from engine.config import CallSimulationConfig
from engine.results.runs import execute_run

COMPARED = ("instrument_name", "open_time", "close_time", "premium_coin", "close_price_coin",
            "close_reason", "quantity_coin", "fees_coin")  # fmt: skip

CASES = {
    "btc-hold-daily": dict(underlying="BTC", start="2022-01-01", end="2022-07-01",
                           exit_style="hold_to_expiry"),
    "btc-tp-daily": dict(underlying="BTC", start="2022-01-01", end="2022-03-01",
                         exit_style="tp_and_roll", tp_threshold_pct=60),
    "eth-tp-4h-capital": dict(underlying="ETH", start="2021-05-01", end="2021-08-01",
                              timeframe="4h", exit_style="tp_and_roll", tp_threshold_pct=50,
                              initial_capital_usd=10_000),
    "btc-tp-hourly": dict(underlying="BTC", start="2020-06-01", end="2020-06-15",
                          decision_interval_hours=4, exit_style="tp_and_roll",
                          tp_threshold_pct=40, max_rolls_per_chain=1, min_score_to_trade=3.0),
}  # fmt: skip


@pytest.fixture(scope="module")
def data_dir(synthetic_data_dir, tmp_path_factory):
    target = tmp_path_factory.mktemp("one-brain") / "data"
    shutil.copytree(synthetic_data_dir, target)
    return target


def _as_rows(trades: pl.DataFrame) -> list[dict]:
    return trades.select(
        *COMPARED[:1],
        pl.col("open_time").dt.to_string("%Y-%m-%dT%H:%M:%S%:z"),
        pl.col("close_time").dt.to_string("%Y-%m-%dT%H:%M:%S%:z"),
        *COMPARED[3:],
    ).to_dicts()


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_headless_agent_trades_equal_the_backtest(data_dir, case):
    cfg = CallSimulationConfig(**case)
    backtest, run_dir = execute_run(data_dir, cfg)
    agent = run_headless(data_dir, cfg)
    expected = _as_rows(pl.read_parquet(run_dir / "trades.parquet"))
    got = [{k: t[k] for k in COMPARED} for t in agent.trades]
    assert len(got) == len(expected) > 3
    for i, (a, b) in enumerate(zip(got, expected, strict=True)):
        assert a == b, f"trade {i}: agent {a} != backtest {b}"
    assert agent.run_id == backtest.run_id
    assert agent.quantity_coin == backtest.quantity_coin
    assert agent.final_equity_coin == pytest.approx(backtest.metrics["final_equity_coin"], 1e-12)
    reasons = {t["close_reason"] for t in agent.trades}
    if cfg.exit_style == "tp_and_roll":  # the case exercises take-profits and rolls
        assert "take_profit" in reasons and any(t["roll_index"] > 0 for t in agent.trades)
    else:
        assert "expiry" in reasons


def test_headless_command_prints_the_trades_and_journals_them(data_dir, capsys):
    args = ["agent", "--feed", "replay", "--source", "synthetic", "--broker", "paper",
            "--underlying", "BTC", "--start", "2022-01-01", "--end", "2022-03-01",
            "--exit-style", "tp_and_roll", "--tp-threshold-pct", "60", "--data-dir",
            str(data_dir), "--json"]  # fmt: skip
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    cfg = CallSimulationConfig(**CASES["btc-tp-daily"])
    _, run_dir = execute_run(data_dir, cfg)
    expected = _as_rows(pl.read_parquet(run_dir / "trades.parquet"))
    assert [{k: t[k] for k in COMPARED} for t in out["trades"]] == expected
    assert out["num_trades"] == len(expected) and out["config"]["exit_style"] == "tp_and_roll"
    assert out["journal"] == str(journal_path_for(data_dir, out["run_id"]))
    assert out["data"]["synthetic"] is True


def test_headless_command_takes_a_runs_summary_as_its_strategy(data_dir, capsys):
    cfg = CallSimulationConfig(**CASES["btc-hold-daily"], target_delta=0.2, target_dte=10)
    _, run_dir = execute_run(data_dir, cfg)
    args = ["agent", "--strategy", str(run_dir / "summary.json"), "--data-dir", str(data_dir),
            "--json"]  # fmt: skip
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    expected = _as_rows(pl.read_parquet(run_dir / "trades.parquet"))
    assert [{k: t[k] for k in COMPARED} for t in out["trades"]] == expected
    assert out["config"]["target_delta"] == 0.2 and out["config"]["start"].startswith("2022-01")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--underlying", "BTC", "--start", "2022-01-01"], "--end is required"),
        (
            [
                "--underlying",
                "BTC",
                "--start",
                "2022-01-01",
                "--end",
                "2022-02-01",
                "--source",
                "nope",
            ],
            "'nope' not found",
        ),
        (
            ["--underlying", "BTC", "--start", "2022-02-01", "--end", "2022-01-01"],
            "must be after start",
        ),
    ],
)
def test_headless_command_refuses_bad_input_readably(data_dir, capsys, args, message):
    assert main(["agent", "--data-dir", str(data_dir), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_headless_command_never_trades_live(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["agent", "--broker", "testnet", "--start", "2022-01-01", "--end", "2022-02-01"])
    assert exc.value.code == 2 and "invalid choice: 'testnet'" in capsys.readouterr().err
