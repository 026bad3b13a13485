"""Execute a sweep end to end: check, run, measure overfitting, write. The CLI calls it; a sweep
manager can too.

:func:`plan_sweep` resolves what a spec will read (its source, data fingerprint, calibration and
sweep id) without running anything, so a caller can show the id and the configuration count
first; :func:`execute_sweep` runs it (:func:`engine.sweep.runner.run_sweep`), computes the
overfitting statistics of its results (:func:`sweep_statistics`), walks forward when the spec
asks (:mod:`engine.sweep.walkforward_runner`) and writes ``<data_dir>/sweeps/<sweep_id>/``
(:mod:`engine.sweep.store`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from cache.datasource import DeribitDataSource
from engine.fills import SpreadModel
from engine.simulator import finite_or_none
from engine.sweep.executors import SweepExecutor, ThreadExecutor
from engine.sweep.runner import (
    Progress,
    SweepRun,
    run_sweep,
    sweep_digest,
    sweep_fingerprint,
    sweep_source,
)
from engine.sweep.spec import SweepSpec, objective_maximized
from engine.sweep.stats import deflated_sharpe_ratio, pbo_cscv
from engine.sweep.store import check_can_write, results_frame, returns_frame, write_sweep
from engine.sweep.walkforward import choose_best
from engine.sweep.walkforward_runner import run_walk_forward

PBO_PARTITIONS = 16


@dataclass(frozen=True)
class SweepPlan:
    """What a spec will run on: its id, source, data fingerprint and calibration."""

    sweep_id: str
    source: str
    fingerprint: str
    calibration_id: str
    configurations: int


def plan_sweep(data_dir: Path, spec: SweepSpec, spread: SpreadModel | None = None) -> SweepPlan:
    """The plan of ``spec`` on the cache in ``data_dir`` (SourceNotFoundError without the
    source)."""
    spread = spread or SpreadModel.default()
    ds = DeribitDataSource(data_dir, sweep_source(spec))
    fingerprint = sweep_fingerprint(ds, spec.configurations())
    return SweepPlan(
        sweep_id=sweep_digest(spec, fingerprint, spread.calibration_id),
        source=ds.source,
        fingerprint=fingerprint,
        calibration_id=spread.calibration_id,
        configurations=spec.count(),
    )


def execute_sweep(
    data_dir: Path,
    spec: SweepSpec,
    executor: SweepExecutor | None = None,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> tuple[SweepPlan, SweepRun, Path]:
    """Run ``spec`` on the cache in ``data_dir`` and write its outputs; return the plan, the
    rows and the sweep's folder. Refuses (DataDirNotWritableError) before computing anything
    when the sweep could not be written."""
    check_can_write(data_dir)
    spread = SpreadModel.default()
    plan = plan_sweep(data_dir, spec, spread)
    own = executor is None
    executor = executor or ThreadExecutor()
    try:
        run = run_sweep(data_dir, spec, executor, progress, cancel, spread)
        extra, tables = {"statistics": sweep_statistics(spec, run)}, {}
        if spec.walk_forward is not None:
            ds = DeribitDataSource(data_dir, plan.source)
            wf = run_walk_forward(
                ds, spec, executor, Path(data_dir) / "prepared", progress, cancel, spread
            )
            extra["walk_forward"] = wf.block
            tables = {"walk_forward": wf.folds, "walk_forward_equity": wf.equity}
    finally:
        if own:
            executor.close()
    return plan, run, write_sweep(data_dir, plan.sweep_id, spec, run, extra, tables)


def _json(block: dict) -> dict:
    return {k: finite_or_none(v) for k, v in block.items()}


def sweep_statistics(spec: SweepSpec, run: SweepRun) -> dict:
    """The ``statistics`` block of a sweep's summary: how likely its winner is a fluke.

    ``deflated_sharpe``: the deflated Sharpe ratio of the best configuration by the objective
    (its daily returns) given every configuration's annualised Sharpe ratio as the trials;
    ``pbo``: the probability of backtest overfitting by CSCV on the daily-returns matrix
    (days x configurations; days some configuration lacks are left out) in
    :data:`PBO_PARTITIONS` blocks. A statistic the data cannot support is null with its reason.
    """
    results = results_frame(spec, run)
    best = choose_best(results, spec.objective, maximize=objective_maximized(spec.objective))
    best_returns = run.rows[best].returns
    dsr = deflated_sharpe_ratio(
        best_returns[np.isfinite(best_returns)],
        results.get_column("sharpe").cast(pl.Float64).fill_null(np.nan).to_numpy(),
        sharpes_annualised=True,
    )
    matrix = returns_frame(run).drop("time").drop_nulls().to_numpy()
    try:
        pbo = _json(pbo_cscv(matrix, PBO_PARTITIONS).to_json())
    except ValueError as exc:
        pbo = {"pbo": None, "explanation": f"not computed: {exc}"}
    return {
        "best_row": best,
        "best_run_id": run.run_ids[best],
        "days": int(matrix.shape[0]),
        "deflated_sharpe": _json(dsr.to_json()),
        "pbo": pbo,
    }
