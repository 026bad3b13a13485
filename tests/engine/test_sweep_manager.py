"""The sweep manager: one sweep at a time on a worker thread, its status, the warm-up it waits for,
and the compute slot it shares with the backtest manager."""

import shutil
import time
from datetime import UTC, datetime

import polars as pl
import pytest

from cache.datasource import DataNotCoveredError
from cache.store import SourceNotFoundError
from engine.compute_slot import ComputeSlot, busy_message
from engine.config import CallSimulationConfig
from engine.manager import WARMUP_MESSAGE, BacktestManager
from engine.sweep.manager import SweepManager
from engine.sweep.spec import SweepSpec
from engine.warmup import EngineWarmup
from tests.fakes.warmup import HeldWarmup

BASE = {"underlying": "BTC", "start": "2022-01-01", "end": "2022-03-01", "source": "synthetic"}
SPEC = SweepSpec(
    base=BASE, axes={"tp_threshold_pct": [50, 80], "exit_style": ["hold_to_expiry", "tp_and_roll"]}
)
NOON = datetime(2026, 11, 30, 12, tzinfo=UTC)
IDLE = EngineWarmup(HeldWarmup())  # never started: nothing to wait for


@pytest.fixture
def data_dir(synthetic_data_dir, tmp_path):
    return shutil.copytree(synthetic_data_dir, tmp_path / "data")


def test_the_slot_is_held_by_one_holder_at_a_time():
    slot = ComputeSlot()
    assert slot.take("sweep") is None and slot.holder == "sweep"
    assert slot.take("backtest") == "sweep" and slot.take("sweep") == "sweep"
    slot.give_back("backtest")  # not the holder: nothing changes
    assert slot.holder == "sweep"
    slot.give_back("sweep")
    slot.give_back("sweep")
    assert slot.holder is None and slot.take("backtest") is None
    assert busy_message("backtest", "sweep") == (
        "a backtest is running: the sweep can start when it has finished"
    )
    assert busy_message("sweep", "sweep") == busy_message(None, "sweep") == "Sweep already running"


def test_a_sweep_runs_to_finished_and_writes_its_folder(data_dir):
    manager = SweepManager(data_dir, warmup=IDLE, clock=lambda: NOON)
    plan = manager.check(SPEC)
    assert plan.configurations == 4 and plan.source == "synthetic"
    assert manager.start(SPEC, plan)
    manager.join(120)
    status = manager.get_status()
    assert status.state == "finished" and not status.running and status.progress_pct == 1.0
    assert status.configurations_done == status.configurations_total == 4
    assert status.sweep_id == plan.sweep_id and status.synthetic is True
    assert status.started_at == status.finished_at == NOON
    results = pl.read_parquet(data_dir / "sweeps" / plan.sweep_id / "results.parquet")
    assert results.height == 4
    assert manager.slot.holder is None


def test_check_refuses_what_cannot_run(data_dir):
    manager = SweepManager(data_dir, warmup=IDLE)
    with pytest.raises(SourceNotFoundError):
        manager.check(SweepSpec(base=BASE | {"source": "nope"}, axes={"target_dte": [7, 14]}))
    far = BASE | {"start": "2031-01-01", "end": "2031-03-01"}
    with pytest.raises(DataNotCoveredError):
        manager.check(SweepSpec(base=far, axes={"target_dte": [7, 14]}))


def test_a_sweep_waits_for_the_warm_up_and_can_be_stopped_there(data_dir):
    held = HeldWarmup()
    warmup = EngineWarmup(held)
    warmup.start()
    manager = SweepManager(data_dir, warmup=warmup)
    try:
        assert manager.start(SPEC, manager.check(SPEC))
        time.sleep(0.3)
        status = manager.get_status()
        assert status.running and status.phase == "engine" and status.message == WARMUP_MESSAGE
        assert manager.stop()
        manager.join(5)
        status = manager.get_status()
        assert status.state == "stopped" and status.message == "stopped by user"
        assert not (data_dir / "sweeps").exists() or not any((data_dir / "sweeps").iterdir())
    finally:
        held.release.set()


def test_a_sweep_and_a_backtest_share_one_slot(data_dir):
    slot = ComputeSlot()
    sweeps = SweepManager(data_dir, warmup=IDLE, slot=slot)
    backtests = BacktestManager(data_dir, warmup=IDLE, slot=slot)
    cfg = CallSimulationConfig(**BASE)
    assert backtests.start(cfg, pace=10)  # paced: still publishing while the sweep is asked
    try:
        assert not sweeps.start(SPEC, sweeps.check(SPEC)) and slot.holder == "backtest"
        assert sweeps.get_status().state == "idle"
    finally:
        backtests.stop()
        backtests.join(10)
    assert slot.holder is None
    assert sweeps.start(SPEC, sweeps.check(SPEC))
    assert not backtests.start(cfg) and slot.holder == "sweep"
    sweeps.join(120)
    assert sweeps.get_status().state == "finished" and slot.holder is None
    assert backtests.start(cfg)
    backtests.join(60)
    assert backtests.get_status().state == "finished"
