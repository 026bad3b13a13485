"""BacktestManager: one active backtest at a time, on a worker thread, with a pollable status.

The worker drives the prepare phase and the replay stepper and fills the status from their
progress callbacks. Numba kernels release the GIL, so a web server polling the status stays
responsive. Because a multi-year run can finish in under a second, the manager can *pace* the
publishing of replay steps (``pace`` decisions per second) so a person can watch the run walk
through history; the computation itself is never slowed, and the run is written to disk only
once its steps have all been published (a paced run stopped early leaves nothing on disk).
While a paced run is published, :meth:`BacktestManager.published_run` lends its result and the time
of the step shown last, so a reader can draw the curves as far as the page has walked. The status
is a :class:`BacktestStatus`, the very model the API returns.

While the engine's warm-up (:mod:`engine.warmup`) is still compiling the kernels a backtest runs,
a started run waits for it in phase ``engine`` and its message says why, instead of sitting
silently in a first kernel call that compiles.

A backtest and a sweep never run at the same time: the manager holds a
:class:`~engine.compute_slot.ComputeSlot`, shared with the sweep manager, while a run is active.
"""

import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Literal

import polars as pl
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from cache.datasource import DeribitDataSource
from cache.files import is_not_writable
from cache.timeutil import as_utc
from engine.compute_slot import ComputeSlot
from engine.config import CallSimulationConfig
from engine.market import check_covered, first_spot_usd
from engine.metrics import compute_metrics
from engine.prepare import CancelledError
from engine.results.runs import check_can_write, write_run
from engine.results.schema import STEPS, row_model
from engine.simulator import CoveredCallSimulator, SimulationResult, finite_or_none
from engine.warmup import WARMUP, EngineWarmup

RECENT_STEPS = 100
PREPARE_SHARE = 0.6  # share of the progress bar given to preparation (replay is much faster)
COMPUTE_SHARE_PACED = 0.2  # with a pace, computing takes this share and publishing the rest
METRICS_EVERY_S = 0.25  # partial metrics refresh while publishing at a pace
WARMUP_POLL_S = 0.1  # how often a run waiting for the warm-up checks the stop flag
WARMUP_MESSAGE = "preparing the engine, first run after install"
SLOT_HOLDER = "backtest"  # the name a sweep refused while a backtest runs is told

UtcTime = Annotated[datetime, AfterValidator(lambda t: as_utc(t, "status time"))]
StepOut = row_model("StepOut", STEPS, "One decision of a run: a row of ``steps.parquet``.")


class BacktestStatus(BaseModel):
    """The status of the current (or last) run, as the dashboard polls it; times are UTC."""

    model_config = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)

    state: Literal["idle", "running", "finished", "stopped", "error"] = "idle"
    running: bool = False
    started_at: UtcTime | None = None
    finished_at: UtcTime | None = None
    progress_pct: float = Field(
        0.0, description="0..1 over preparation and replay, never decreasing"
    )
    phase: str | None = Field(
        None,
        description="engine (waiting for the kernels to compile), loading, prepare, replay or "
        "publishing",
    )
    current_time: UtcTime | None = Field(None, description="time of the step published last")
    decisions_processed: int = 0
    total_decisions: int = 0
    exit_style: str | None = None
    underlying: str | None = None
    start_date: UtcTime | None = None
    end_date: UtcTime | None = None
    source: str | None = None
    synthetic: bool | None = None
    pace: int | None = Field(None, description="steps published per second; null: all at once")
    metrics: dict[str, float | int | None] | None = None
    recent_steps: list[StepOut] = Field([], description=f"newest first, at most {RECENT_STEPS}")
    error: str | None = None
    message: str | None = None
    run_id: str | None = None
    run_dir: str | None = None
    config: dict | None = None


class WorkerManager:
    """What the backtest and the sweep managers share: one worker thread at a time holding the
    compute slot, a frozen status replaced at every update, stop/join/shutdown, the wait for the
    engine's warm-up, and how a worker ends (finished, stopped by the user, or an error the UI
    is shown, never a stuck "running").

    Subclasses name their ``SLOT_HOLDER`` and ``WHAT`` (the thing that "could not be written").
    """

    SLOT_HOLDER = ""
    WHAT = ""

    def __init__(
        self,
        data_dir: Path,
        status: BaseModel,
        clock: Callable[[], datetime] | None,
        warmup: EngineWarmup,
        slot: ComputeSlot | None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.slot = slot or ComputeSlot()  # shared by the app's backtest and sweep managers
        self._clock = clock or (lambda: datetime.now(UTC))
        self._warmup = warmup
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status = status

    def stop(self) -> bool:
        """Ask the running worker to stop; returns whether one was running."""
        with self._lock:
            running = self._status.running
        self._stop.set()
        return running

    def join(self, timeout: float | None = None) -> None:
        """Wait for the worker (tests and shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def shutdown(self) -> None:
        """Stop any worker and wait for it to end."""
        self._stop.set()
        self.join(5)

    def _set(self, **fields: object) -> None:
        """Replace the status by a validated copy with ``fields`` changed; hold the lock."""
        self._status = type(self._status).model_validate(dict(self._status) | fields)

    def _update(self, **fields: object) -> None:
        with self._lock:
            if "progress_pct" in fields:  # never goes backwards
                fields["progress_pct"] = max(self._status.progress_pct, fields["progress_pct"])
            self._set(**fields)

    def _wait_for_engine(self, ready_phase: str) -> None:
        """Wait (stoppable) until the warm-up has compiled what a backtest runs, then go on in
        ``ready_phase``."""
        if not self._warmup.wait_for_backtests(0):
            self._update(phase="engine", message=WARMUP_MESSAGE)
            while not self._warmup.wait_for_backtests(WARMUP_POLL_S):
                if self._stop.is_set():
                    raise CancelledError("stopped by user while the engine was being prepared")
        self._update(phase=ready_phase, message=None)

    def _guarded(self, work: Callable[[], None]) -> None:
        """Run ``work`` (which finishes the status when it succeeds) and end the status however
        else it ends."""
        try:
            work()
        except CancelledError:
            self._finish("stopped", message="stopped by user")
        except ValueError as exc:  # bad input the checks could not see (e.g. a too small capital)
            self._finish("error", error=str(exc))
        except OSError as exc:
            if is_not_writable(exc):  # e.g. the data directory became read-only meanwhile
                self._finish("error", error=f"the {self.WHAT} could not be written: {exc}")
            else:
                self._fail(exc)
        except Exception as exc:
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        """End with an unexpected error: the UI must see it, never a stuck "running"."""
        traceback.print_exc()
        self._finish("error", error=f"{type(exc).__name__}: {exc}")

    def _finish(self, state: str, **fields: object) -> None:
        self.slot.give_back(self.SLOT_HOLDER)  # before the status says so: a client may start
        self._update(state=state, running=False, finished_at=self._clock(), phase=None, **fields)


class BacktestManager(WorkerManager):
    """Start, stop and watch one backtest at a time."""

    SLOT_HOLDER = SLOT_HOLDER
    WHAT = "run"

    def __init__(
        self,
        data_dir: Path,
        clock: Callable[[], datetime] | None = None,
        warmup: EngineWarmup = WARMUP,
        slot: ComputeSlot | None = None,
    ) -> None:
        super().__init__(data_dir, BacktestStatus(), clock, warmup, slot)
        self._steps: deque[StepOut] = deque(maxlen=RECENT_STEPS)
        self._published: SimulationResult | None = None  # the result a paced run is publishing

    # -- public API ----------------------------------------------------------------------------
    def validate(self, cfg: CallSimulationConfig) -> None:
        """Raise (SourceNotFoundError, DataNotCoveredError, FieldValueError) if ``cfg`` cannot run.

        That includes an ``initial_capital_usd`` buying less than Deribit's minimum order at the
        run's first price, and a data directory the run could not be written to
        (DataDirNotWritableError).
        """
        check_can_write(self.data_dir)
        ds = DeribitDataSource(self.data_dir, cfg.source)
        check_covered(ds, cfg)
        if cfg.initial_capital_usd is not None:
            cfg.quantity_coin(first_spot_usd(ds, cfg))

    def start(self, cfg: CallSimulationConfig, pace: int | None = None) -> bool:
        """Start a run; False (and nothing starts) if one is already running or another
        computation holds the slot (``self.slot.holder`` says which)."""
        with self._lock:
            if self._status.running or self.slot.take(SLOT_HOLDER) is not None:
                return False
            self._stop.clear()
            self._steps.clear()
            warming = self._warmup.warming_backtests
            self._status = BacktestStatus(
                state="running",
                running=True,
                started_at=self._clock(),
                phase="engine" if warming else "loading",
                message=WARMUP_MESSAGE if warming else None,
                exit_style=cfg.exit_style,
                underlying=cfg.underlying,
                start_date=cfg.start,
                end_date=cfg.end,
                source=cfg.source,
                pace=pace,
                config=cfg.model_dump(mode="json"),
            )
            self._thread = threading.Thread(
                target=self._work, args=(cfg, pace), name="backtest-worker", daemon=True
            )
            self._thread.start()
            return True

    def get_status(self) -> BacktestStatus:
        """Return a snapshot of the status with the recent steps, newest first.

        The snapshot is the caller's: the manager never changes a status it has handed out (it
        replaces its own with a new, frozen one at every update).
        """
        with self._lock:
            return self._status.model_copy(update={"recent_steps": list(reversed(self._steps))})

    def published_run(self) -> tuple[SimulationResult, datetime] | None:
        """The result a paced run is publishing and the time of its last published step.

        None unless a paced run is publishing. Rows after that time are already computed but not
        yet shown: readers cut the tables there (the status endpoint never pays for this).
        """
        with self._lock:
            result, shown = self._published, self._status.current_time
        if result is None or shown is None:
            return None
        return result, shown

    # -- worker --------------------------------------------------------------------------------
    def _publish(self, frame: pl.DataFrame, processed: int) -> None:
        rows = [StepOut(**r) for r in frame.tail(RECENT_STEPS).iter_rows(named=True)]
        with self._lock:
            self._steps.extend(rows)
            shown = {"current_time": rows[-1].time} if rows else {}
            self._set(decisions_processed=processed, **shown)

    def _work(self, cfg: CallSimulationConfig, pace: int | None) -> None:
        self._guarded(partial(self._run, cfg, pace))

    def _run(self, cfg: CallSimulationConfig, pace: int | None) -> None:
        self._wait_for_engine("loading")
        ds = DeribitDataSource(self.data_dir, cfg.source)
        sim = CoveredCallSimulator(ds, cfg, cache_dir=self.data_dir / "prepared")
        total = int(sim.market.is_decision.sum())
        self._update(total_decisions=total, synthetic=ds.is_synthetic, phase="prepare")
        result = sim.simulate_policy(
            progress=partial(self._on_progress, COMPUTE_SHARE_PACED if pace else 1.0),
            on_steps=None if pace else self._on_steps,
            cancel=self._stop.is_set,
        )
        if pace:
            with self._lock:
                self._published = result
            self._publish_paced(result, pace)
        run_dir = write_run(result, self.data_dir)
        self._finish(
            "finished",
            metrics=self._json_metrics(result.metrics),
            run_id=result.run_id,
            run_dir=str(run_dir),
            progress_pct=1.0,
            decisions_processed=total,
            message=f"finished: {result.trades.height} trades",
        )

    def _finish(self, state: str, **fields: object) -> None:
        super()._finish(state, **fields)
        with self._lock:
            self._published = None  # a finished run is read from disk; a stopped one is gone

    def _on_progress(self, scale: float, phase: str, done: int, total: int) -> None:
        share = done / total if total else 1.0
        if phase == "prepare":
            pct = PREPARE_SHARE * share
        else:
            pct = PREPARE_SHARE + (1 - PREPARE_SHARE) * share
        self._update(phase=phase, progress_pct=min(scale * pct, 0.999))

    def _on_steps(self, frame: pl.DataFrame, done: int, total: int) -> None:
        with self._lock:
            processed = self._status.decisions_processed + frame.height
        self._publish(frame, processed)

    def _publish_paced(self, result: SimulationResult, pace: int) -> None:
        steps = result.steps
        total = steps.height
        self._update(phase="publishing")
        interval = 1.0 / pace
        next_metrics = 0.0
        t0 = time.monotonic()
        for i in range(total):
            if self._stop.is_set():
                raise CancelledError("stopped by user while publishing")
            self._publish(steps.slice(i, 1), i + 1)
            now = time.monotonic()
            if now >= next_metrics:
                self._update(metrics=self._partial_metrics(result, steps["time"][i]))
                next_metrics = now + METRICS_EVERY_S
            share = (i + 1) / total
            self._update(progress_pct=COMPUTE_SHARE_PACED + (1 - COMPUTE_SHARE_PACED) * share)
            delay = t0 + (i + 1) * interval - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)

    def _partial_metrics(self, result: SimulationResult, t: datetime) -> dict:
        trades = result.trades.filter(pl.col("close_time") <= t)
        equity = result.equity.filter(pl.col("time") <= t)
        capital = result.metrics["initial_capital_usd"]
        return self._json_metrics(
            compute_metrics(
                trades, equity, initial_capital_usd=capital, quantity_coin=result.quantity_coin
            )
        )

    @staticmethod
    def _json_metrics(metrics: dict) -> dict:
        return {k: finite_or_none(v) for k, v in metrics.items()}
