"""The Ray executor gives the thread pool's results, row for row, on a local 2-CPU Ray.

Ray is the optional extra ``thetadesk[ray]`` (``make install`` installs it): these tests skip only
where it is not importable. One local Ray is started for the module and shut down after it (the
command line on Ray is tested here too, so the suite starts Ray once).
"""

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from api.cli import main
from engine.results.runs import execute_run
from engine.sweep.executors import RayExecutor, ThreadExecutor
from engine.sweep.runner import run_sweep
from engine.sweep.spec import SweepSpec
from tests.engine.test_sweep_runner import assert_same_metrics

ray = pytest.importorskip("ray", reason="Ray is the optional extra thetadesk[ray]")

SPEC = {
    "base": {"underlying": "BTC", "start": "2022-01-01", "end": "2022-05-01",
             "decision_interval_hours": 24},
    "axes": {"target_dte": [2, 7], "tp_threshold_pct": [50, 80],
             "exit_style": ["hold_to_expiry", "tp_and_roll"]},
}  # fmt: skip


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_rows_equal_the_threads_rows_and_single_backtests(
    local_ray, synthetic_data_dir, tmp_path
):
    data_dir = shutil.copytree(synthetic_data_dir, tmp_path / "data")
    spec = SweepSpec(**SPEC)
    executor = RayExecutor()
    assert executor.workers == 2 and executor.batch_size(8) == 1
    assert executor.batch_size(480) == 60  # many configurations per task
    seen = []
    on_ray = run_sweep(data_dir, spec, executor, progress=lambda d, n: seen.append(d))
    executor.close()
    assert ray.is_initialized()  # a Ray the executor did not start is left running
    on_threads = run_sweep(data_dir, spec, ThreadExecutor(2))
    assert on_ray.timings["executor"] == "ray" and seen[-1] == 8
    assert on_ray.run_ids == on_threads.run_ids
    for a, b in zip(on_ray.rows, on_threads.rows, strict=True):
        assert a.metrics.keys() == b.metrics.keys()
        assert_same_metrics(a.metrics, b.metrics)
        np.testing.assert_array_equal(a.returns, b.returns)
        np.testing.assert_array_equal(a.return_ns, b.return_ns)
        assert a.facts == b.facts
    for i in (1, 6):  # one of each exit style
        single, _ = execute_run(data_dir, spec.configurations()[i])
        assert_same_metrics(on_ray.rows[i].metrics, single.metrics)


def test_the_command_line_on_ray_writes_what_threads_write(
    local_ray, synthetic_data_dir, tmp_path, capsys
):
    data_dir = shutil.copytree(synthetic_data_dir, tmp_path / "data")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({**SPEC, "axes": {"tp_threshold_pct": [50, 80]}}))
    results = {}
    for executor in ("threads", "ray"):
        args = ["sweep", "--data-dir", str(data_dir), "--spec", str(spec), "--json"]
        assert main([*args, "--executor", executor]) == 0
        folder = Path(json.loads(capsys.readouterr().out)["sweep_dir"])
        results[executor] = pl.read_parquet(folder / "results.parquet")
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["timings"]["executor"] == executor
    assert results["ray"].height == 2 and results["ray"].equals(results["threads"])
    assert ray.is_initialized()  # the session's Ray, not one the command started
