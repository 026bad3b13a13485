"""Run outputs for notebooks and the dashboard: ``<data_dir>/runs/<run_id>/``.

``summary.json`` (config, data source and fingerprint, metrics, timings) and the Parquet tables
``trades``, ``equity``, ``steps``, ``candidates`` (the top-K scored candidates of every prepared
time). Columns and units are documented in ``docs/data.md``. A run directory appears whole: it is
written beside its final place and renamed into it.
"""

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from cache.store import write_parquet_atomic
from engine.simulator import SimulationResult, finite_or_none

TABLES = ("trades", "equity", "steps", "candidates")


def runs_dir(data_dir: Path) -> Path:
    """Where runs live under a data directory."""
    return Path(data_dir) / "runs"


def summary_of(result: SimulationResult, finished_at: datetime | None = None) -> dict:
    """The JSON summary of a run."""
    return {
        "run_id": result.run_id,
        "finished_at": (finished_at or datetime.now(UTC)).isoformat(),
        "config": result.config.model_dump(mode="json"),
        "quantity_coin": result.quantity_coin,
        "data": result.data,
        "metrics": {k: finite_or_none(v) for k, v in result.metrics.items()},
        "timings": {k: finite_or_none(v) for k, v in result.timings.items()},
        "rows": {name: getattr(result, name).height for name in TABLES},
    }


def write_run(result: SimulationResult, data_dir: Path) -> Path:
    """Write a run's outputs; replaces an earlier run with the same id (same inputs)."""
    final = runs_dir(data_dir) / result.run_id
    tmp = final.with_name(f".{result.run_id}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in TABLES:
        write_parquet_atomic(getattr(result, name), tmp / f"{name}.parquet")
    (tmp / "summary.json").write_text(json.dumps(summary_of(result), indent=2))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final
