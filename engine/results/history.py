"""Finished runs on disk (``<data_dir>/runs/<run_id>/``): list, read, page, compare, delete.

The files :mod:`engine.results.runs` writes are the history, so it survives a restart. Run ids are
checked against a strict pattern before any path is built from them, so a request cannot reach
outside the runs folder.
"""

import json
import logging
import re
import shutil
import uuid
from datetime import datetime
from pathlib import Path

import polars as pl

from engine.results.labels import METRIC_LABELS
from engine.results.runs import runs_dir
from engine.results.schema import ASSIGNED, PREMIUM_USD, TABLES, TRADE_VIEW, assigned_expr

log = logging.getLogger(__name__)

RUN_ID_PATTERN = r"^[0-9a-f]{16}$"  # engine.config.CallSimulationConfig.digest: 16 hex digits
EXPORT_TABLES = ("trades", "equity")
CSV_DATETIME = "%Y-%m-%dT%H:%M:%S%.f%:z"  # ISO 8601 with the +00:00 offset, exact to the µs
TRADE_COLUMNS = tuple(v.column.name for v in TRADE_VIEW)  # as the API shows a trade
_RUN_ID = re.compile(RUN_ID_PATTERN)
# what the history shows of a run's data block beside its source (None where a run lacks it)
TRUST_KEYS = ("fill_model", "calibration_id", "iv_real_share", "warnings")


class RunNotFoundError(LookupError):
    """No finished run with this id under the data directory."""


def check_run_id(run_id: str) -> str:
    """Return ``run_id`` if it has the run id shape (16 lowercase hex digits), else raise."""
    if not isinstance(run_id, str) or _RUN_ID.fullmatch(run_id) is None:
        raise ValueError(f"run_id must be 16 lowercase hex digits, got {run_id!r}")
    return run_id


def run_path(data_dir: Path, run_id: str) -> Path:
    """The folder of a finished run; raise RunNotFoundError when there is none."""
    path = runs_dir(data_dir) / check_run_id(run_id)
    if not (path / "summary.json").is_file():
        raise RunNotFoundError(f"no finished run {run_id}")
    return path


def read_summary(data_dir: Path, run_id: str) -> dict:
    """A run's ``summary.json`` (config, data, metrics, timings, rows)."""
    return json.loads((run_path(data_dir, run_id) / "summary.json").read_text())


def table_path(data_dir: Path, run_id: str, table: str) -> Path:
    """The Parquet file of one of the run's tables."""
    if table not in TABLES:
        raise ValueError(f"table must be one of {', '.join(TABLES)}, got {table!r}")
    path = run_path(data_dir, run_id) / f"{table}.parquet"
    if not path.is_file():
        raise RunNotFoundError(f"run {run_id} has no {table} table")
    return path


def read_table(data_dir: Path, run_id: str, table: str) -> pl.DataFrame:
    """One of the run's tables, whole."""
    return pl.read_parquet(table_path(data_dir, run_id, table))


def table_csv(data_dir: Path, run_id: str, table: str) -> bytes:
    """A run's trades or equity as CSV (UTF-8, header row, ISO 8601 UTC times)."""
    if table not in EXPORT_TABLES:
        raise ValueError(f"table must be one of {', '.join(EXPORT_TABLES)}, got {table!r}")
    return read_table(data_dir, run_id, table).write_csv(datetime_format=CSV_DATETIME).encode()


def history_entry(summary: dict) -> dict:
    """The history line of a run: what ran, on which data, how far to trust it, its metrics."""
    cfg, data = summary["config"], summary["data"]
    return {
        "run_id": summary["run_id"],
        "finished_at": summary["finished_at"],
        "underlying": cfg["underlying"],
        "start": cfg["start"],
        "end": cfg["end"],
        "timeframe": cfg["timeframe"],
        "decision_interval_hours": cfg["decision_interval_hours"],
        "exit_style": cfg["exit_style"],
        "source": data["source"],
        "origin": data["origin"],
        "synthetic": bool(data["synthetic"]),
        **{key: data.get(key) for key in TRUST_KEYS},
        "metrics": summary["metrics"],
    }


def list_runs(data_dir: Path) -> list[dict]:
    """Every finished run's history entry, newest first.

    Folders that are not finished runs (a run being written, a run being deleted, anything
    without a readable ``summary.json``) are skipped; unreadable summaries are logged.
    """
    root = runs_dir(data_dir)
    entries = []
    for path in root.iterdir() if root.is_dir() else ():
        if _RUN_ID.fullmatch(path.name) is None or not (path / "summary.json").is_file():
            continue
        try:
            entries.append(history_entry(json.loads((path / "summary.json").read_text())))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("skipping run %s: unreadable summary.json (%s)", path.name, exc)
    entries.sort(key=lambda e: (datetime.fromisoformat(e["finished_at"]), e["run_id"]))
    return entries[::-1]


def delete_run(data_dir: Path, run_id: str) -> None:
    """Remove a run's folder; it leaves the history at once (renamed away before deleting)."""
    path = run_path(data_dir, run_id)
    doomed = path.with_name(f".{run_id}.deleting-{uuid.uuid4().hex[:8]}")
    try:
        path.rename(doomed)
    except FileNotFoundError as exc:  # deleted by a concurrent request
        raise RunNotFoundError(f"no finished run {run_id}") from exc
    shutil.rmtree(doomed)


def _trades_view(trades: pl.LazyFrame) -> pl.LazyFrame:
    return trades.with_columns(
        (pl.col("premium_coin") * pl.col("spot_at_open")).alias(PREMIUM_USD.name),
        assigned_expr().alias(ASSIGNED.name),
    ).select(TRADE_COLUMNS)


def trades_page(
    data_dir: Path,
    run_id: str,
    *,
    offset: int = 0,
    limit: int = 50,
    sort: str | None = None,
    descending: bool = False,
) -> tuple[int, pl.DataFrame]:
    """One page of a run's trades (columns :data:`TRADE_COLUMNS`) and the number of trades.

    ``premium_usd`` is ``premium_coin × spot_at_open`` (per contract, like ``premium_coin``);
    ``assigned`` marks calls that expired in the money. Without ``sort`` the trades come in
    the order they were opened; sorting is stable and puts nulls last.
    """
    if offset < 0 or limit < 1:
        raise ValueError(f"offset must be ≥ 0 and limit ≥ 1, got offset={offset}, limit={limit}")
    if sort is not None and sort not in TRADE_COLUMNS:
        raise ValueError(f"sort must be one of {', '.join(TRADE_COLUMNS)}, got {sort!r}")
    scan = pl.scan_parquet(table_path(data_dir, run_id, "trades"))
    total = scan.select(pl.len()).collect().item()
    view = _trades_view(scan)
    if sort is not None:
        view = view.sort(sort, descending=descending, nulls_last=True, maintain_order=True)
    return total, view.slice(offset, limit).collect()


def _flatten(config: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_diff(a: dict, b: dict) -> list[dict]:
    """The settings two configs disagree on, as ``{"key", "a", "b"}`` with dotted keys.

    A key only one config has shows ``None`` on the other side.
    """
    flat_a, flat_b = _flatten(a), _flatten(b)
    keys = sorted(flat_a.keys() | flat_b.keys())
    return [
        {"key": k, "a": flat_a.get(k), "b": flat_b.get(k)}
        for k in keys
        if flat_a.get(k) != flat_b.get(k)
    ]


def compare_runs(data_dir: Path, run_a: str, run_b: str) -> dict:
    """Two runs side by side: their history entries, config differences and every metric."""
    a, b = read_summary(data_dir, run_a), read_summary(data_dir, run_b)
    unlabelled = (a["metrics"].keys() | b["metrics"].keys()) - METRIC_LABELS.keys()
    keys = list(METRIC_LABELS) + sorted(unlabelled)
    metrics = [
        {
            "key": k,
            "label": METRIC_LABELS[k][0] if k in METRIC_LABELS else k,
            "a": a["metrics"].get(k),
            "b": b["metrics"].get(k),
        }
        for k in keys
    ]
    return {
        "a": history_entry(a),
        "b": history_entry(b),
        "config_diff": config_diff(a["config"], b["config"]),
        "data_diff": config_diff(a["data"], b["data"]),
        "metrics": metrics,
    }
