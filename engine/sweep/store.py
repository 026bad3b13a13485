"""Sweep outputs on disk, ``<data_dir>/sweeps/<sweep_id>/``: write, list, load, delete.

- ``results.parquet``: one row per configuration, in the sweep's order: ``row`` (0, 1, …), one
  column per axis named as the config field (nested ones dotted, ``scoring.w_delta``), every run
  metric under its name in a run's ``summary.json`` (units in the names), and ``run_id``, the id
  a single backtest of that configuration has (so its full run can be computed and found);
- ``returns.parquet``: ``time`` (the 00:00 UTC instant a day ends at) and one column per
  configuration, named by its ``run_id``, in row order: the daily simple returns of the USD
  equity that the run's Sharpe ratio reads (a fraction, 0.01 = 1 %); null where a configuration
  has no such day;
- ``summary.json``: the spec, the counts (grid, excluded, dropped with reasons), the data block
  (provenance with the SYNTHETIC flag, fingerprint, what was recorded and what modelled, warnings),
  the calibration id, timings, the objective and the best rows.

The sweep id hashes the canonical spec, the data fingerprint and the calibration id
(:func:`engine.sweep.runner.sweep_digest`): the same spec on the same data replaces its earlier
result. A folder appears whole: it is written beside its place and renamed into it.
"""

import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from cache.files import (
    DataDirNotWritableError,
    discard_path,
    first_line,
    remove_path,
    replace_dir,
    sibling,
    writable_problem,
)
from cache.store import write_parquet_atomic
from engine.simulator import finite_or_none
from engine.sweep.runner import SweepRun
from engine.sweep.spec import DROPPED_SHOWN, METRIC_NAMES, SweepSpec, objective_maximized

SWEEP_ID_PATTERN = r"^[0-9a-f]{16}$"
_SWEEP_ID = re.compile(SWEEP_ID_PATTERN)
BEST_SHOWN = 5
TABLES = ("results", "returns")
SUMMARY_MAX_BYTES = 4 << 20


class SweepNotFoundError(LookupError):
    """No sweep with this id under the data directory."""


class SweepUnreadableError(Exception):
    """The sweep exists but a file of it cannot be read; the message says which and why."""


@dataclass(frozen=True)
class StoredSweep:
    """A sweep read back: its summary and its results table."""

    sweep_id: str
    summary: dict
    results: pl.DataFrame


def sweeps_dir(data_dir: Path) -> Path:
    """Where sweeps live under a data directory."""
    return Path(data_dir) / "sweeps"


def check_can_write(data_dir: Path) -> None:
    """Raise DataDirNotWritableError, saying why, when sweeps cannot be written now."""
    problem = writable_problem(sweeps_dir(data_dir))
    if problem is not None:
        raise DataDirNotWritableError(f"the data directory is not writable: {problem}")


def check_sweep_id(sweep_id: str) -> str:
    """Return ``sweep_id`` if it has the shape of one (16 lowercase hex digits), else raise."""
    if not isinstance(sweep_id, str) or _SWEEP_ID.fullmatch(sweep_id) is None:
        raise ValueError(f"sweep_id must be 16 lowercase hex digits, got {sweep_id!r}")
    return sweep_id


def sweep_path(data_dir: Path, sweep_id: str) -> Path:
    """The folder of a sweep; raise SweepNotFoundError when there is none."""
    path = sweeps_dir(data_dir) / check_sweep_id(sweep_id)
    if not path.is_dir():
        raise SweepNotFoundError(f"no sweep {sweep_id} in {sweeps_dir(data_dir)}")
    return path


def results_frame(spec: SweepSpec, run: SweepRun) -> pl.DataFrame:
    """``results.parquet``: row, axis values, every run metric, run id (see the module doc)."""
    points = [spec.axis_point(cfg) for cfg in run.configs]
    columns: dict[str, pl.Series] = {"row": pl.Series(range(len(run.configs)), dtype=pl.Int64)}
    for name in spec.axes:
        columns[name] = pl.Series(name, [p[name] for p in points])
    for name in METRIC_NAMES:
        values = [r.metrics[name] for r in run.rows]
        kind = pl.Int64 if all(isinstance(v, int) for v in values) else pl.Float64
        columns[name] = pl.Series(name, values, dtype=kind)
    columns["run_id"] = pl.Series("run_id", run.run_ids, dtype=pl.String)
    return pl.DataFrame(columns)


def returns_frame(run: SweepRun) -> pl.DataFrame:
    """``returns.parquet``: the daily returns, one column per configuration (its run id)."""
    days = np.unique(np.concatenate([r.return_ns for r in run.rows]))
    columns = {"time": pl.Series("time", days).cast(pl.Datetime("ns", "UTC"))}
    for run_id, row in zip(run.run_ids, run.rows, strict=True):
        column = np.full(len(days), np.nan)
        column[np.searchsorted(days, row.return_ns)] = row.returns
        columns[run_id] = pl.Series(run_id, column).fill_nan(None)
    return pl.DataFrame(columns).with_columns(pl.col("time").cast(pl.Datetime("us", "UTC")))


def best_rows(results: pl.DataFrame, objective: str, most: int = BEST_SHOWN) -> list[dict]:
    """The ``most`` best rows by ``objective`` (larger is better unless
    :func:`~engine.sweep.spec.objective_maximized` says smaller), rows without a value last."""
    ranked = results.filter(pl.col(objective).is_not_null() & pl.col(objective).is_not_nan())
    ranked = ranked.sort(
        [objective, "row"], descending=[objective_maximized(objective), False]
    ).head(most)
    return [{k: finite_or_none(v) for k, v in row.items()} for row in ranked.iter_rows(named=True)]


def summary_of(
    sweep_id: str, spec: SweepSpec, run: SweepRun, results: pl.DataFrame, extra: dict | None = None
) -> dict:
    """The JSON summary of a sweep (see the module doc); ``extra`` blocks are added as given."""
    return {
        "sweep_id": sweep_id,
        "finished_at": datetime.now(UTC).isoformat(),
        "spec": spec.model_dump(mode="json"),
        "counts": spec.counts(),
        "dropped": [
            {"axes": point, "reason": reason} for point, reason in spec.dropped[:DROPPED_SHOWN]
        ],
        "data": run.data,
        "calibration_id": run.calibration_id,
        "timings": {k: finite_or_none(v) for k, v in run.timings.items()},
        "objective": spec.objective,
        "maximize": objective_maximized(spec.objective),
        "best": best_rows(results, spec.objective),
        **(extra or {}),
    }


def write_sweep(
    data_dir: Path,
    sweep_id: str,
    spec: SweepSpec,
    run: SweepRun,
    extra: dict | None = None,
    tables: dict[str, pl.DataFrame] | None = None,
) -> Path:
    """Write a sweep's outputs (replacing an earlier sweep with the same id); return its folder.

    ``extra`` adds blocks to ``summary.json``, ``tables`` more Parquet tables (name -> frame).
    """
    results = results_frame(spec, run)
    frames = {"results": results, "returns": returns_frame(run), **(tables or {})}
    summary = summary_of(check_sweep_id(sweep_id), spec, run, results, extra)
    final = sweeps_dir(data_dir) / sweep_id
    tmp = sibling(final, "tmp")
    tmp.mkdir(parents=True)
    try:
        for name, frame in frames.items():
            write_parquet_atomic(frame, tmp / f"{name}.parquet", compression="lz4")
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False))
        replace_dir(tmp, final)
    except BaseException:
        remove_path(tmp)
        raise
    return final


def _read(data_dir: Path, sweep_id: str, name: str, most: int = -1) -> bytes:
    path = sweep_path(data_dir, sweep_id) / name
    try:
        with path.open("rb") as handle:
            return handle.read(most)
    except FileNotFoundError as exc:
        raise SweepUnreadableError(f"sweep {sweep_id}: {name} is missing") from exc
    except OSError as exc:
        raise SweepUnreadableError(f"sweep {sweep_id}: {name}: {exc.strerror or exc}") from exc


def read_summary(data_dir: Path, sweep_id: str) -> dict:
    """A sweep's ``summary.json``; SweepNotFoundError or SweepUnreadableError saying why."""
    raw = _read(data_dir, sweep_id, "summary.json", SUMMARY_MAX_BYTES + 1)
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise SweepUnreadableError(f"sweep {sweep_id}: summary.json is not JSON ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("sweep_id") != sweep_id:
        raise SweepUnreadableError(f"sweep {sweep_id}: summary.json does not name this sweep")
    return doc


def read_table(data_dir: Path, sweep_id: str, name: str) -> pl.DataFrame:
    """One of the sweep's Parquet tables (``results``, ``returns``, or another it wrote)."""
    if not re.fullmatch(r"[a-z_]+", name):
        raise ValueError(f"table name {name!r} is not one of a sweep's tables")
    raw = _read(data_dir, sweep_id, f"{name}.parquet")
    try:
        return pl.read_parquet(io.BytesIO(raw))
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SweepUnreadableError(f"sweep {sweep_id}: {name}.parquet: {first_line(exc)}") from exc


def load_sweep(data_dir: Path, sweep_id: str) -> StoredSweep:
    """A sweep's summary and results table."""
    return StoredSweep(
        sweep_id, read_summary(data_dir, sweep_id), read_table(data_dir, sweep_id, "results")
    )


def list_sweeps(data_dir: Path) -> list[dict]:
    """Every sweep, newest first: id, when, what it swept, on which data, its best row; a sweep
    whose summary cannot be read is listed with ``unreadable`` (the reason), so it can be
    deleted."""
    folder = sweeps_dir(data_dir)
    if not folder.is_dir():
        return []
    entries, broken = [], []
    for path in sorted(folder.iterdir()):
        if not (_SWEEP_ID.fullmatch(path.name) and path.is_dir()):
            continue
        try:
            s = read_summary(data_dir, path.name)
            entries.append(
                {
                    "sweep_id": s["sweep_id"],
                    "finished_at": s["finished_at"],
                    "base": s["spec"]["base"],
                    "axes": list(s["spec"]["axes"]),
                    "configurations": s["counts"]["configurations"],
                    "source": s["data"]["source"],
                    "synthetic": s["data"]["synthetic"],
                    "objective": s["objective"],
                    "best": s["best"][0] if s["best"] else None,
                }
            )
        except (SweepUnreadableError, KeyError, TypeError, IndexError) as exc:
            broken.append({"sweep_id": path.name, "unreadable": first_line(exc)})
    return broken + sorted(entries, key=lambda e: e["finished_at"], reverse=True)


def delete_sweep(data_dir: Path, sweep_id: str) -> None:
    """Remove a sweep's folder; SweepNotFoundError when there is none."""
    if not discard_path(sweep_path(data_dir, sweep_id)):
        raise SweepNotFoundError(f"no sweep {sweep_id} in {sweeps_dir(data_dir)}")
