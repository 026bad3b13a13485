"""Execute a sweep end to end: check, run, write. The CLI calls it; a sweep manager can too.

:func:`plan_sweep` resolves what a spec will read (its source, data fingerprint, calibration and
sweep id) without running anything, so a caller can show the id and the configuration count
first; :func:`execute_sweep` runs it (:func:`engine.sweep.runner.run_sweep`) and writes
``<data_dir>/sweeps/<sweep_id>/`` (:mod:`engine.sweep.store`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cache.datasource import DeribitDataSource
from engine.fills import SpreadModel
from engine.sweep.executors import SweepExecutor
from engine.sweep.runner import (
    Progress,
    SweepRun,
    run_sweep,
    sweep_digest,
    sweep_fingerprint,
    sweep_source,
)
from engine.sweep.spec import SweepSpec
from engine.sweep.store import check_can_write, write_sweep


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
    run = run_sweep(data_dir, spec, executor, progress, cancel, spread)
    return plan, run, write_sweep(data_dir, plan.sweep_id, spec, run)
