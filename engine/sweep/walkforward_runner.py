"""Run a sweep's walk-forward: per fold, choose on the training window, run on the test window.

For each fold of :func:`engine.sweep.walkforward.make_folds` over the spec's base window, every
configuration of the sweep is run on the fold's training window alone (a configuration with
``start``/``end`` set to that window: its market, prepare and replay read nothing later, and all
folds' training runs go through one :func:`engine.sweep.runner.run_configurations`, so folds
share the executor). The best by the spec's objective (:func:`~engine.sweep.walkforward.
choose_best`) is then backtested on the test window that follows, exactly as a single backtest
(:class:`~engine.simulator.CoveredCallSimulator`), and the test windows' equity curves are
chained into one out-of-sample curve against HODL (:func:`~engine.sweep.walkforward.
stitch_equity`). A run's instants include its end and the next test window starts at that very
instant, so each segment but the last leaves out its last instant: the junction is counted once,
as the first instant of the next test run (where that run sells its first call). The stitched
curve thus misses each junction's last bar of the ending segment (one bar of price move per fold).
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from cache.datasource import DeribitDataSource
from engine.config import CallSimulationConfig
from engine.fills import SpreadModel
from engine.prepare import CancelledError
from engine.simulator import CoveredCallSimulator, finite_or_none
from engine.sweep.executors import SweepExecutor
from engine.sweep.runner import Progress, run_configurations
from engine.sweep.spec import SweepSpec, objective_maximized
from engine.sweep.walkforward import (
    Fold,
    choose_best,
    make_folds,
    parse_walk_forward,
    stitch_equity,
)

TEST_METRICS = ("sharpe", "total_return_pct_usd", "hodl_return_pct_usd", "max_drawdown_pct",
                "num_trades")  # fmt: skip


@dataclass(frozen=True)
class WalkForwardRun:
    """Per fold, the choice and its test; the stitched out-of-sample curve; the summary block."""

    folds: pl.DataFrame  # walk_forward.parquet: one row per fold
    equity: pl.DataFrame  # walk_forward_equity.parquet: time, strategy_growth, hodl_growth, fold
    block: dict  # summary.json "walk_forward"


def _window(cfg: CallSimulationConfig, start, end) -> CallSimulationConfig:
    return CallSimulationConfig(**{**cfg.model_dump(), "start": start, "end": end})


def run_walk_forward(
    ds: DeribitDataSource,
    spec: SweepSpec,
    executor: SweepExecutor,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
    spread: SpreadModel | None = None,
) -> WalkForwardRun:
    """Walk forward over ``spec.walk_forward`` (see the module doc); progress counts the training
    runs and the test runs."""
    spread = spread or SpreadModel.default()
    wf = parse_walk_forward(spec.walk_forward or "")
    configs = spec.configurations()
    folds = make_folds(wf, configs[0].start, configs[0].end)
    n = len(configs)
    total = len(folds) * (n + 1)
    training = [_window(cfg, f.train_start, f.train_end) for f in folds for cfg in configs]
    report = (lambda done, _: progress(done, total)) if progress else None
    trained = run_configurations(ds, training, executor, cache_dir, report, cancel, spread)
    maximize = objective_maximized(spec.objective)
    rows, segments = [], []
    for k, fold in enumerate(folds):
        if cancel is not None and cancel():
            raise CancelledError("stopped by user during the walk-forward")
        metrics = [r.metrics for r in trained.rows[k * n : (k + 1) * n]]
        scores = pl.DataFrame({spec.objective: [float(m[spec.objective]) for m in metrics]})
        best = choose_best(scores, spec.objective, maximize=maximize)
        test_cfg = _window(configs[best], fold.test_start, fold.test_end)
        sim = CoveredCallSimulator(ds, test_cfg, cache_dir=cache_dir, spread=spread)
        result = sim.simulate_policy()
        segments.append(result.equity.select("time", "equity_usd", "hodl_usd"))
        rows.append(_fold_row(spec, fold, best, configs[best], metrics[best], result))
        if progress:
            progress(len(folds) * n + k + 1, total)
    # a run's instants include its end and the next test run starts there: the junction
    # instant is kept once, as the next segment's first (where it sells, its spread paid)
    equity = stitch_equity([seg.head(-1) for seg in segments[:-1]] + segments[-1:])
    table = pl.DataFrame(rows)
    return WalkForwardRun(table, equity, _block(spec, wf.text(), table, equity))


def _fold_row(spec, fold: Fold, best: int, cfg, train_metrics: dict, result) -> dict:
    """One fold: windows, the row chosen and its axis values, the training objective, the test."""
    return {
        "fold": fold.index,
        "train_start": fold.train_start,
        "train_end": fold.train_end,
        "test_start": fold.test_start,
        "test_end": fold.test_end,
        "chosen_row": best,
        **{name: value for name, value in spec.axis_point(cfg).items()},
        f"train_{spec.objective}": finite_or_none(train_metrics[spec.objective]),
        **{f"test_{m}": finite_or_none(result.metrics[m]) for m in TEST_METRICS},
        "test_run_id": result.run_id,
    }


def _block(spec: SweepSpec, text: str, table: pl.DataFrame, equity: pl.DataFrame) -> dict:
    """The summary's ``walk_forward`` block: spec, chosen parameters per fold, the stitched
    out-of-sample return against HODL."""
    strategy = float(equity.get_column("strategy_growth")[-1])
    hodl = float(equity.get_column("hodl_growth")[-1])
    folds = [
        {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
        for row in table.iter_rows(named=True)
    ]
    return {
        "spec": text,
        "objective": spec.objective,
        "folds": folds,
        "oos_return_pct_usd": (strategy - 1.0) * 100.0,
        "oos_hodl_return_pct_usd": (hodl - 1.0) * 100.0,
        "explanation": (
            f"{len(folds)} folds: each chose the best of {spec.count()} configurations by "
            f"{spec.objective} on its training window only and ran it on the test window after; "
            f"the test windows chained returned {(strategy - 1) * 100:+.2f} % in USD against "
            f"{(hodl - 1) * 100:+.2f} % for HODL"
        ),
    }
