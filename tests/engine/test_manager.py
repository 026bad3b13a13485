"""The backtest manager's status: a frozen pydantic snapshot, in UTC, with the recent steps."""

import errno
import shutil
from datetime import UTC, datetime, timedelta, timezone

import polars as pl
import pytest
from pydantic import ValidationError

from cache.files import DataDirNotWritableError
from engine.config import CallSimulationConfig
from engine.manager import RECENT_STEPS, BacktestManager, BacktestStatus, StepOut

BERLIN_NOON = datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
CFG = CallSimulationConfig(underlying="BTC", start="2022-01-01", end="2022-06-01")


@pytest.fixture
def manager(synthetic_data_dir, tmp_path):
    shutil.copytree(synthetic_data_dir, tmp_path / "data")
    m = BacktestManager(tmp_path / "data", clock=lambda: BERLIN_NOON)
    yield m
    m.shutdown()


def test_a_status_handed_out_never_changes(manager):
    idle = manager.get_status()
    assert idle == BacktestStatus() and idle.recent_steps == []
    assert manager.start(CFG)
    manager.join(60)
    done = manager.get_status()
    assert idle == BacktestStatus()  # the snapshot taken before the run
    assert done.state == "finished" and not done.running and done.progress_pct == 1.0
    with pytest.raises(ValidationError, match="frozen"):
        done.state = "idle"


def test_times_are_utc_and_the_recent_steps_are_the_last_rows_newest_first(manager):
    assert manager.start(CFG)
    manager.join(60)
    status = manager.get_status()
    assert status.started_at == status.finished_at == BERLIN_NOON
    assert status.started_at.utcoffset() == timedelta(0)
    assert status.start_date == datetime(2022, 1, 1, tzinfo=UTC)
    steps = pl.read_parquet(manager.data_dir / "runs" / status.run_id / "steps.parquet")
    newest = [StepOut(**row) for row in steps.tail(RECENT_STEPS).reverse().iter_rows(named=True)]
    assert status.recent_steps == newest
    assert status.current_time == steps["time"][-1]
    assert status.model_dump(mode="json")["recent_steps"][0]["time"].endswith("Z")


def test_a_write_the_data_dir_refuses_ends_the_run_with_a_clear_error(manager, monkeypatch, capsys):
    def refuse(*_, **__):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("engine.results.runs.write_parquet_atomic", refuse)
    assert manager.start(CFG)
    manager.join(60)
    status = manager.get_status()
    assert status.state == "error" and not status.running
    assert status.error == "the run could not be written: [Errno 28] No space left on device"
    assert list((manager.data_dir / "runs").iterdir()) == []  # no half-written run folder
    assert "Traceback" not in capsys.readouterr().err


def test_a_data_dir_that_refuses_writes_is_refused_before_the_run(manager):
    (manager.data_dir / "runs").write_text("a file where the runs folder should be")
    with pytest.raises(DataDirNotWritableError, match="the data directory is not writable"):
        manager.validate(CFG)
