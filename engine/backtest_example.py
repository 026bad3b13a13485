"""Run a scoring-based covered-call backtest on the embedded default data and print a summary.

``python -m engine.backtest_example [--data-dir DIR]`` (the seed's
``python -m src.backtest.backtest_example``): warms the SYNTHETIC market if the cache is empty,
backtests BTC over 2023 with both exit styles, and prints what happened.
"""

import argparse
import json
from pathlib import Path

from cache.store import Store
from cache.warm import warm_synthetic
from engine.config import CallSimulationConfig
from engine.results.runs import execute_run, format_summary


def main(argv: list[str] | None = None) -> None:
    """Run the example."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    args = parser.parse_args(argv)
    store = Store(args.data_dir)
    if not store.has_source("synthetic"):
        warm_synthetic(store, progress=print)
    for exit_style in ("hold_to_expiry", "tp_and_roll"):
        cfg = CallSimulationConfig(
            underlying="BTC",
            start="2023-01-01",
            end="2024-01-01",
            timeframe="1h",
            decision_interval_hours=24,
            exit_style=exit_style,
        )
        _, run_dir = execute_run(args.data_dir, cfg)
        summary = json.loads((run_dir / "summary.json").read_text())
        print(format_summary(summary))
        print(f"  outputs: {run_dir}\n")


if __name__ == "__main__":
    main()
