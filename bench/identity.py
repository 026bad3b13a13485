"""Check that a speed change leaves a backtest's outputs as they were: save them, then compare.

Run ``.venv/bin/python -m bench.identity --save DIR`` on the code before a change and
``.venv/bin/python -m bench.identity --compare DIR`` after it. Each case is run in-process on the
synthetic market (no prepared cache) and its candidates, prepared counts, trades, steps, equity
and metrics are stored as Parquet/JSON; ``--compare`` reports, per case and table, the largest
difference of any float column (the tolerance is 1e-12) and any other column or shape that is not
equal, and exits 1 when something differs. The cases are W1 (``bench.backtest``) with both exit
styles, plus windows that reach the grids W1 does not: ETH, long expiries (monthly and quarterly
tiers), a wide delta band and a daily take-profit that rolls on demand.
"""

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

from bench.backtest import W1
from cache.datasource import DeribitDataSource
from cache.store import Store
from cache.warm import warm_synthetic
from engine.config import CallSimulationConfig
from engine.simulator import CoveredCallSimulator

TOLERANCE = 1e-12
CASES = {
    "w1_hold": dict(W1, exit_style="hold_to_expiry"),
    "w1_tp": dict(W1, exit_style="tp_and_roll"),
    "eth_4h_tp": dict(underlying="ETH", start="2021-01-01", end="2022-07-01", timeframe="1h",
                      decision_interval_hours=4, exit_style="tp_and_roll"),
    "btc_long_wide": dict(underlying="BTC", start="2022-01-01", end="2023-01-01", timeframe="1h",
                          decision_interval_hours=6, exit_style="hold_to_expiry", target_dte=45,
                          min_dte=0.5, max_dte=200, target_delta=0.3, delta_min=0.02,
                          delta_max=0.9, top_k=12),
    "eth_daily_tp": dict(underlying="ETH", start="2019-06-01", end="2020-06-01", timeframe="1h",
                         decision_interval_hours=24, exit_style="tp_and_roll", target_dte=2,
                         min_dte=0.2, max_dte=5),
}  # fmt: skip
TABLES = ("candidates", "trades", "steps", "equity")


def run_case(ds: DeribitDataSource, params: dict) -> dict:
    """The outputs of one case: its tables, the prepared counts and the metrics."""
    result = CoveredCallSimulator(ds, CallSimulationConfig(**params)).simulate_policy()
    out = {name: getattr(result, name) for name in TABLES}
    out["counts"] = pl.DataFrame({"candidates_scored": [result.timings["candidates_scored"]]})
    out["metrics"] = result.metrics
    return out


def save(folder: Path, outputs: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in outputs.items():
        if name == "metrics":
            (folder / "metrics.json").write_text(json.dumps(value, indent=1, default=str))
        else:
            value.write_parquet(folder / f"{name}.parquet")


def _float_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Largest difference, NaN against NaN counting as equal and NaN against a number as inf."""
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if not np.array_equal(nan_a, nan_b):
        return math.inf
    both = ~nan_a
    if not both.any():
        return 0.0
    x, y = a[both], b[both]
    same = x == y  # equal infinities
    return float(np.max(np.where(same, 0.0, np.abs(x - y)), initial=0.0))


def compare_frames(before: pl.DataFrame, after: pl.DataFrame) -> tuple[float, list[str]]:
    """Largest float difference and the list of other mismatches between two tables."""
    problems, worst = [], 0.0
    if before.columns != after.columns:
        return math.inf, [f"columns {before.columns} != {after.columns}"]
    if before.height != after.height:
        return math.inf, [f"rows {before.height} != {after.height}"]
    for name in before.columns:
        a, b = before.get_column(name), after.get_column(name)
        if a.dtype.is_float():
            worst = max(worst, _float_diff(a.to_numpy(), b.to_numpy()))
        elif not a.equals(b):
            problems.append(f"column {name} differs")
    return worst, problems


def compare_metrics(before: dict, after: dict) -> tuple[float, list[str]]:
    if before.keys() != after.keys():
        return math.inf, [f"metric names differ: {sorted(before.keys() ^ after.keys())}"]
    worst, problems = 0.0, []
    for key, a in before.items():
        b = after[key]
        if isinstance(a, float) and isinstance(b, float):
            worst = max(worst, _float_diff(np.array([a]), np.array([b])))
        elif a != b:
            problems.append(f"metric {key}: {a!r} != {b!r}")
    return worst, problems


def compare(folder: Path, outputs: dict) -> list[str]:
    """Lines describing each table of a case against its saved outputs."""
    lines = []
    for name, value in outputs.items():
        if name == "metrics":
            saved = json.loads((folder / "metrics.json").read_text())
            worst, problems = compare_metrics(saved, json.loads(json.dumps(value, default=str)))
        else:
            worst, problems = compare_frames(pl.read_parquet(folder / f"{name}.parquet"), value)
        ok = worst <= TOLERANCE and not problems
        lines.append(
            f"  {name:10s} {'ok' if ok else 'DIFFERS'}: max float diff {worst:.3g}"
            + "".join(f"; {p}" for p in problems)
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Save or compare every case's outputs; return 1 when a comparison fails."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--save", type=Path, help="folder to write the outputs to")
    mode.add_argument("--compare", type=Path, help="folder of outputs saved before the change")
    parser.add_argument("--data-dir", type=Path, help="synthetic market cache (default: temp)")
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="only these")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="thetadesk-identity-"))
    warm_synthetic(Store(data_dir))
    ds = DeribitDataSource(data_dir, "synthetic")
    failed = False
    for name in args.case or CASES:
        outputs = run_case(ds, CASES[name])
        if args.save:
            save(args.save / name, outputs)
            print(f"{name}: saved ({outputs['counts'].item():,} candidates scored)")
            continue
        lines = compare(args.compare / name, outputs)
        failed |= any("DIFFERS" in line for line in lines)
        print(f"{name}:", *lines, sep="\n")
    if args.compare:
        print("outputs identical within 1e-12" if not failed else "OUTPUTS DIFFER")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
