"""The engine warm-up: every kernel a run calls is ready before the first run, in the user's cache,
and a backtest started meanwhile says it waits for it."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cache.kernel_cache import use_kernel_cache_dir
from engine.config import CallSimulationConfig
from engine.manager import WARMUP_MESSAGE, BacktestManager
from engine.warmup import EngineWarmup, kernels, warm_kernels
from tests.conftest import ROOT
from tests.fakes.warmup import HeldWarmup

CFG = CallSimulationConfig(
    underlying="BTC", start="2022-01-01", end="2022-03-01", exit_style="tp_and_roll"
)

# After the warm-up, real runs of every kind must find every kernel they call compiled: a kernel
# whose signatures grew was compiled (or loaded) by the run, i.e. missed by the warm-up.
REAL_RUNS = """
import json, sys
from engine.warmup import kernels, warm_kernels
warm_kernels()
before = {name: set(k.signatures) for name, k in kernels().items()}
from engine.agent.headless import run_headless
from engine.config import CallSimulationConfig
from engine.results.runs import execute_run
data_dir = sys.argv[1]
year = {"underlying": "BTC", "start": "2023-01-01", "end": "2024-01-01", "timeframe": "1h",
        "decision_interval_hours": 24}
for extra in ({"exit_style": "hold_to_expiry"}, {"exit_style": "tp_and_roll"},
              {"exit_style": "tp_and_roll", "fill_model": "mark", "initial_capital_usd": 1e5},
              {"exit_style": "hold_to_expiry", "timeframe": "4h", "underlying": "ETH"},
              {"exit_style": "tp_and_roll", "timeframe": "1d"},
              {"exit_style": "tp_and_roll", "decision_interval_hours": 1, "end": "2023-02-01"}):
    execute_run(data_dir, CallSimulationConfig(**(year | extra)))
run_headless(data_dir, CallSimulationConfig(**(year | {"exit_style": "tp_and_roll",
                                                     "end": "2023-03-01"})))
grew = [name for name, k in kernels().items() if set(k.signatures) != before[name]]
print(json.dumps(grew))
"""


@pytest.mark.slow
def test_real_runs_compile_nothing_after_the_warm_up(synthetic_data_dir, tmp_path):
    data_dir = shutil.copytree(synthetic_data_dir, tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-c", REAL_RUNS, str(data_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_the_warm_up_keeps_every_kernel_in_the_configured_cache_dir_not_the_package():
    t0 = time.time()
    warm_kernels()
    cache_dir = use_kernel_cache_dir()
    found = kernels()
    assert len(found) > 40  # every nb.py module was searched
    for name, kernel in found.items():
        where = Path(kernel.stats.cache_path)
        assert where.parent == cache_dir, name
        assert not where.is_relative_to(ROOT), name
    called = [k for k in found.values() if k.signatures]
    assert called and all(list(Path(k.stats.cache_path).glob("*.nbi")) for k in called)
    written = [p for package in ("engine", "cache") for p in ROOT.glob(f"{package}/**/*.nb[ic]")]
    assert [p for p in written if p.stat().st_mtime >= t0] == []


@pytest.fixture
def data_dir(synthetic_data_dir, tmp_path):
    return shutil.copytree(synthetic_data_dir, tmp_path / "data")


def test_a_backtest_started_while_the_engine_warms_up_says_so_then_runs(data_dir):
    held = HeldWarmup()
    warmup = EngineWarmup(held)
    assert warmup.start() and not warmup.start()  # once per process
    manager = BacktestManager(data_dir, warmup=warmup)
    try:
        assert manager.start(CFG)
        time.sleep(0.3)  # the worker is waiting, not computing
        status = manager.get_status()
        assert status.running and status.phase == "engine" and status.progress_pct == 0.0
        assert status.message == WARMUP_MESSAGE == "preparing the engine, first run after install"
        held.release.set()
        manager.join(60)
        status = manager.get_status()
        assert status.state == "finished" and status.phase is None
        assert status.message.startswith("finished")
    finally:
        held.release.set()
        manager.shutdown()


def test_a_backtest_stopped_while_the_engine_warms_up_ends_stopped(data_dir):
    held = HeldWarmup()
    warmup = EngineWarmup(held)
    warmup.start()
    manager = BacktestManager(data_dir, warmup=warmup)
    try:
        manager.start(CFG)
        assert manager.stop()
        manager.join(5)
        status = manager.get_status()
        assert status.state == "stopped" and not status.running
        assert not (data_dir / "runs").exists() or not any((data_dir / "runs").iterdir())
    finally:
        held.release.set()


def test_without_a_warm_up_or_after_it_a_backtest_never_waits(data_dir):
    idle = EngineWarmup(HeldWarmup())  # never started: nothing to wait for
    assert not idle.warming_backtests and idle.wait_for_backtests(0)
    manager = BacktestManager(data_dir, warmup=idle)
    manager.start(CFG)
    status = manager.get_status()
    assert status.phase != "engine" and status.message is None
    manager.join(60)
    assert manager.get_status().state == "finished"


def test_a_failed_warm_up_is_recorded_and_lets_backtests_run(caplog):
    def broken(progress, backtests_ready) -> None:
        raise RuntimeError("no compiler today")

    warmup = EngineWarmup(broken)
    warmup.start()
    assert warmup.wait(5) and warmup.wait_for_backtests(0) and not warmup.warming_backtests
    assert warmup.error == "RuntimeError: no compiler today"
    assert "engine warm-up failed" in caplog.text
