"""SweepManager: one active sweep at a time, on a worker thread, with a pollable status.

The dashboard's twin of :class:`engine.manager.BacktestManager`: :meth:`SweepManager.check`
resolves a spec's plan (its sweep id and configuration count) and refuses what cannot run, before
anything starts; :meth:`SweepManager.start` runs :func:`engine.sweep.execute.execute_sweep` on a
worker thread whose progress callback fills a :class:`SweepStatus`, the very model the API
returns. A sweep started while the engine's warm-up still compiles the kernels waits in phase
``engine``, as a backtest does. The manager shares a :class:`~engine.compute_slot.ComputeSlot`
with the backtest manager: a sweep never runs beside a backtest.
"""

import threading
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cache.datasource import DeribitDataSource
from engine.compute_slot import ComputeSlot
from engine.manager import WARMUP_MESSAGE, UtcTime, WorkerManager
from engine.market import check_covered, first_spot_usd
from engine.sweep.execute import SweepPlan, execute_sweep, plan_sweep
from engine.sweep.executors import ThreadExecutor
from engine.sweep.runner import market_key, sweep_source
from engine.sweep.spec import SweepSpec
from engine.sweep.store import check_can_write
from engine.sweep.walkforward import make_folds, parse_walk_forward
from engine.warmup import WARMUP, EngineWarmup

SLOT_HOLDER = "sweep"  # the name a backtest refused while a sweep runs is told
RUN_SHARE = 0.98  # of the progress bar; the rest is writing the outputs


def walk_forward_runs(spec: SweepSpec) -> int:
    """The runs a spec's walk-forward makes: per fold, every configuration on the training
    window and the chosen one on the test window (0 without a walk-forward)."""
    if spec.walk_forward is None:
        return 0
    first = spec.configurations()[0]
    folds = make_folds(parse_walk_forward(spec.walk_forward), first.start, first.end)
    return len(folds) * (spec.count() + 1)


class SweepStatus(BaseModel):
    """The status of the current (or last) sweep, as the dashboard polls it; times are UTC."""

    model_config = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)

    state: Literal["idle", "running", "finished", "stopped", "error"] = "idle"
    running: bool = False
    started_at: UtcTime | None = None
    finished_at: UtcTime | None = None
    progress_pct: float = Field(0.0, description="0..1 over the configurations, never decreasing")
    phase: str | None = Field(
        None,
        description="engine (waiting for the kernels to compile), configurations (preparing "
        "and replaying them), walk-forward (its training and test runs) or writing (the files)",
    )
    configurations_done: int = 0
    configurations_total: int = 0
    walk_forward_done: int = Field(0, description="walk-forward runs done (training and test)")
    walk_forward_total: int = Field(0, description="walk-forward runs in all; 0: none asked")
    sweep_id: str | None = None
    sweep_dir: str | None = None
    source: str | None = None
    synthetic: bool | None = None
    executor: str | None = None
    workers: int | None = None
    error: str | None = None
    message: str | None = None
    spec: dict | None = None


class SweepManager(WorkerManager):
    """Check, start, stop and watch one sweep at a time."""

    SLOT_HOLDER = SLOT_HOLDER
    WHAT = "sweep"

    def __init__(
        self,
        data_dir: Path,
        clock: Callable[[], datetime] | None = None,
        warmup: EngineWarmup = WARMUP,
        slot: ComputeSlot | None = None,
        workers: int | None = None,
    ) -> None:
        super().__init__(data_dir, SweepStatus(), clock, warmup, slot)
        self.workers = workers

    # -- public API ----------------------------------------------------------------------------
    def check(self, spec: SweepSpec) -> SweepPlan:
        """The plan of ``spec``; raise what a single backtest's check raises if it cannot run.

        SourceNotFoundError (unknown source), DataNotCoveredError (a configuration's window is
        not in the data), FieldValueError or ValueError (a capital below Deribit's minimum
        order), DataDirNotWritableError (the sweep could not be written).
        """
        check_can_write(self.data_dir)
        plan = plan_sweep(self.data_dir, spec)
        ds = DeribitDataSource(self.data_dir, plan.source)
        for cfg in {market_key(ds, c): c for c in spec.configurations()}.values():
            check_covered(ds, cfg)
            if cfg.initial_capital_usd is not None:
                cfg.quantity_coin(first_spot_usd(ds, cfg))
        return plan

    def start(self, spec: SweepSpec, plan: SweepPlan) -> bool:
        """Start a sweep; False (and nothing starts) if one runs or another computation holds
        the slot (``self.slot.holder`` says which)."""
        with self._lock:
            if self._status.running or self.slot.take(SLOT_HOLDER) is not None:
                return False
            self._stop.clear()
            warming = self._warmup.warming_backtests
            executor = ThreadExecutor(self.workers)
            self._status = SweepStatus(
                state="running",
                running=True,
                started_at=self._clock(),
                phase="engine" if warming else "configurations",
                message=WARMUP_MESSAGE if warming else None,
                configurations_total=plan.configurations,
                walk_forward_total=walk_forward_runs(spec),
                sweep_id=plan.sweep_id,
                source=plan.source,
                executor=executor.name,
                workers=executor.workers,
                spec=spec.model_dump(mode="json"),
            )
            self._thread = threading.Thread(
                target=self._work, args=(spec, executor), name="sweep-worker", daemon=True
            )
            self._thread.start()
            return True

    def get_status(self) -> SweepStatus:
        """The current status (frozen: the manager replaces it at every update)."""
        with self._lock:
            return self._status

    # -- worker --------------------------------------------------------------------------------
    def _on_progress(self, done: int, total: int) -> None:
        """Progress of the configurations, then of the walk-forward runs (their total differs:
        one more run per fold than configurations), over all the work there is."""
        with self._lock:
            n, runs = self._status.configurations_total, self._status.walk_forward_total
        if total == n:
            fields: dict[str, object] = {"configurations_done": done, "phase": "configurations"}
            units = done
        else:
            fields = {"walk_forward_done": done, "phase": "walk-forward"}
            units = n + done
        if units >= n + runs:
            fields["phase"] = "writing"
        share = units / (n + runs) if n + runs else 1.0
        self._update(progress_pct=RUN_SHARE * share, **fields)

    def _work(self, spec: SweepSpec, executor: ThreadExecutor) -> None:
        try:
            self._guarded(partial(self._run, spec, executor))
        finally:
            executor.close()

    def _run(self, spec: SweepSpec, executor: ThreadExecutor) -> None:
        self._wait_for_engine("configurations")
        self._update(synthetic=DeribitDataSource(self.data_dir, sweep_source(spec)).is_synthetic)
        plan, run, folder = execute_sweep(
            self.data_dir, spec, executor, self._on_progress, self._stop.is_set
        )
        timings = run.timings
        message = (
            f"finished: {len(run.rows)} configurations in {timings['wall_s']:.1f} s "
            f"({timings['prepares']} prepares)"
        )
        with self._lock:
            runs = self._status.walk_forward_total
        if runs:
            message += f"; walk-forward: {runs // (len(run.rows) + 1)} folds"
        self._finish(
            "finished",
            sweep_id=plan.sweep_id,
            sweep_dir=str(folder),
            progress_pct=1.0,
            configurations_done=len(run.rows),
            walk_forward_done=runs,
            message=message,
        )
