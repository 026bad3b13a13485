"""Finished runs on disk (``<data_dir>/runs/<run_id>/``): list, read, page, compare, delete.

The files :mod:`engine.results.runs` writes are the history, so it survives a restart. Run ids are
checked against a strict pattern before any path is built from them, so a request cannot reach
outside the runs folder. Each run is read on its own: a run whose files cannot be read is listed
as unreadable, with the reason (:class:`RunUnreadableError` when it is asked for), and can still
be deleted. Every file is read whole before it is used, and a deletion renames the folder away
first, so a reader racing a deletion gets the whole file or :class:`RunNotFoundError`.
"""

import io
import logging
import re
from pathlib import Path

import polars as pl

from cache.files import DataDirNotWritableError, discard_path, first_line, is_not_writable
from engine.results.curves import downsample_indices
from engine.results.labels import METRIC_LABELS
from engine.results.runs import runs_dir
from engine.results.schema import (
    ASSIGNED,
    PREMIUM_USD,
    TABLES,
    TRADE_VIEW,
    assigned_expr,
    check_table,
)
from engine.results.summary import (
    RUN_ID_PATTERN,
    SUMMARY_MAX_BYTES,
    RunSummary,
    SummaryError,
    UnreadableRun,
    history_entry,
    parse_summary,
)

log = logging.getLogger(__name__)

EXPORT_TABLES = ("trades", "equity")
CSV_DATETIME = "%Y-%m-%dT%H:%M:%S%.f%:z"  # ISO 8601 with the +00:00 offset, exact to the µs
TRADE_COLUMNS = tuple(v.column.name for v in TRADE_VIEW)  # as the API shows a trade
_RUN_ID = re.compile(RUN_ID_PATTERN)


class RunNotFoundError(LookupError):
    """No finished run with this id under the data directory."""


class RunUnreadableError(Exception):
    """The run exists but a file of it cannot be read; the message says which and why."""

    def __init__(self, run_id: str, reason: str) -> None:
        self.run_id, self.reason = run_id, reason
        super().__init__(f"run {run_id} cannot be read: {reason}")


def check_run_id(run_id: str) -> str:
    """Return ``run_id`` if it has the run id shape (16 lowercase hex digits), else raise."""
    if not isinstance(run_id, str) or _RUN_ID.fullmatch(run_id) is None:
        raise ValueError(f"run_id must be 16 lowercase hex digits, got {run_id!r}")
    return run_id


def _is_run(path: Path) -> bool:
    """A run folder: a run id named folder, or a link named so (even one that leads nowhere)."""
    return _RUN_ID.fullmatch(path.name) is not None and (path.is_dir() or path.is_symlink())


def run_path(data_dir: Path, run_id: str) -> Path:
    """The folder of a run; raise RunNotFoundError when there is none."""
    path = runs_dir(data_dir) / check_run_id(run_id)
    if not _is_run(path):
        raise RunNotFoundError(f"no finished run {run_id}")
    return path


def read_file(data_dir: Path, run_id: str, name: str, most: int = -1) -> bytes:
    """The bytes of one file of a run, whole (or its first ``most`` bytes).

    RunNotFoundError once the run is gone, RunUnreadableError when the file is.
    """
    path = run_path(data_dir, run_id) / name
    try:
        with path.open("rb") as handle:
            return handle.read(most)
    except (FileNotFoundError, NotADirectoryError) as exc:
        if not _is_run(path.parent):  # deleted meanwhile
            raise RunNotFoundError(f"no finished run {run_id}") from exc
        raise RunUnreadableError(run_id, f"{name} is missing") from exc
    except OSError as exc:
        raise RunUnreadableError(run_id, f"{name}: {exc.strerror or exc}") from exc


def _summary(data_dir: Path, run_id: str) -> RunSummary:
    raw = read_file(data_dir, run_id, "summary.json", most=SUMMARY_MAX_BYTES + 1)
    try:
        return parse_summary(raw, run_id)
    except SummaryError as exc:
        raise RunUnreadableError(run_id, str(exc)) from exc


def read_summary(data_dir: Path, run_id: str) -> dict:
    """A run's ``summary.json`` (config, data, metrics, timings, rows), checked."""
    return _summary(data_dir, run_id).model_dump(mode="json")


def table_path(data_dir: Path, run_id: str, table: str) -> Path:
    """The Parquet file of one of the run's tables."""
    if table not in TABLES:
        raise ValueError(f"table must be one of {', '.join(TABLES)}, got {table!r}")
    return run_path(data_dir, run_id) / f"{table}.parquet"


def read_table_bytes(data_dir: Path, run_id: str, table: str) -> bytes:
    """The bytes of one of the run's Parquet tables, whole (a download)."""
    return read_file(data_dir, run_id, table_path(data_dir, run_id, table).name)


def read_table(data_dir: Path, run_id: str, table: str) -> pl.DataFrame:
    """One of the run's tables, whole, checked against its contract."""
    raw = read_table_bytes(data_dir, run_id, table)
    try:
        frame = pl.read_parquet(io.BytesIO(raw))
        check_table(table, frame)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise RunUnreadableError(run_id, f"{table}.parquet: {first_line(exc)}") from exc
    return frame


def table_csv(data_dir: Path, run_id: str, table: str) -> bytes:
    """A run's trades or equity as CSV (UTF-8, header row, ISO 8601 UTC times)."""
    if table not in EXPORT_TABLES:
        raise ValueError(f"table must be one of {', '.join(EXPORT_TABLES)}, got {table!r}")
    return read_table(data_dir, run_id, table).write_csv(datetime_format=CSV_DATETIME).encode()


def list_runs(data_dir: Path) -> list[dict]:
    """Every run of the history: unreadable ones first (by id), then the others newest first.

    An unreadable run is ``{"run_id", "unreadable": why}``. Folders that are not runs (a run
    being written or deleted, anything not named by a run id) are skipped.
    """
    root = runs_dir(data_dir)
    readable, unreadable = [], []
    for path in sorted(root.iterdir()) if root.is_dir() else ():
        if not _is_run(path):
            continue
        try:
            readable.append(history_entry(_summary(data_dir, path.name)))
        except RunNotFoundError:  # deleted while listing
            continue
        except RunUnreadableError as exc:
            log.info("run %s is unreadable: %s", path.name, exc.reason)
            unreadable.append(UnreadableRun(run_id=path.name, unreadable=exc.reason))
    readable.sort(key=lambda e: (e.finished_at, e.run_id), reverse=True)
    return [e.model_dump(mode="json") for e in (*unreadable, *readable)]


def delete_run(data_dir: Path, run_id: str) -> None:
    """Remove a run (a link to a run: the link only); it leaves the history at once.

    Raises RunNotFoundError when there is no such run, DataDirNotWritableError when the runs
    folder refuses the change.
    """
    path = run_path(data_dir, run_id)
    try:
        removed = discard_path(path)
    except OSError as exc:
        if not is_not_writable(exc):
            raise
        raise DataDirNotWritableError(
            f"cannot delete run {run_id}: {path.parent} is not writable ({exc.strerror or exc})"
        ) from exc
    if not removed:  # deleted by a concurrent request
        raise RunNotFoundError(f"no finished run {run_id}")


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
    trades = read_table(data_dir, run_id, "trades")
    total = trades.height
    view = _trades_view(trades.lazy())
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


def settings_diff(configs: list[dict]) -> list[dict]:
    """The settings some of ``configs`` disagree on, as ``{"key", "values"}`` with dotted keys.

    ``values`` holds each config's value in order; a key a config lacks shows ``None`` there.
    """
    flat = [_flatten(c) for c in configs]
    keys = sorted(set().union(*flat))
    rows = [{"key": k, "values": [f.get(k) for f in flat]} for k in keys]
    return [r for r in rows if any(v != r["values"][0] for v in r["values"])]


def config_diff(a: dict, b: dict) -> list[dict]:
    """The settings two configs disagree on, as ``{"key", "a", "b"}`` with dotted keys.

    A key only one config has shows ``None`` on the other side.
    """
    return [
        {"key": d["key"], "a": d["values"][0], "b": d["values"][1]} for d in settings_diff([a, b])
    ]


def _metric_keys(metrics: list[dict]) -> list[str]:
    """Every metric of some run: the labelled ones in label order, then the others sorted."""
    unlabelled = set().union(*(m.keys() for m in metrics)) - METRIC_LABELS.keys()
    return list(METRIC_LABELS) + sorted(unlabelled)


def _label(key: str) -> str:
    return METRIC_LABELS[key][0] if key in METRIC_LABELS else key


def overlay_runs(data_dir: Path, run_ids: list[str], points: int) -> dict:
    """Runs side by side: USD equity over what each held at its start, settings and metrics.

    ``curves``: per run ``run_id``, ``label``, ``time_s`` (UTC epoch s) and ``equity_norm``
    (``equity_usd / initial_capital_usd``: 1 is what the run held before its first sale),
    thinned to ``points`` keeping extremes; ``config_diff`` and ``data_diff`` as
    :func:`settings_diff`; ``metrics``: ``{"key", "label", "values"}`` in the runs' order.
    """
    summaries = [_summary(data_dir, run_id) for run_id in run_ids]
    docs = [s.model_dump(mode="json") for s in summaries]
    curves = []
    for summary in summaries:
        equity = read_table(data_dir, summary.run_id, "equity")
        equity = equity.filter(pl.col("equity_usd").is_finite())
        norm = equity.get_column("equity_usd").to_numpy() / summary.metrics["initial_capital_usd"]
        keep = downsample_indices([norm], points)
        cfg = summary.config
        curves.append(
            {
                "run_id": summary.run_id,
                "label": f"{cfg.underlying} {cfg.exit_style} {cfg.start:%Y-%m-%d}→"
                f"{cfg.end:%Y-%m-%d} ({summary.run_id[:6]})",
                "time_s": (
                    equity.get_column("time").dt.epoch("ms").to_numpy()[keep] / 1e3
                ).tolist(),
                "equity_norm": norm[keep].tolist(),
            }
        )
    keys = _metric_keys([d["metrics"] for d in docs])
    return {
        "runs": [history_entry(s).model_dump(mode="json") for s in summaries],
        "curves": curves,
        "config_diff": settings_diff([d["config"] for d in docs]),
        "data_diff": settings_diff([d["data"] for d in docs]),
        "metrics": [
            {"key": k, "label": _label(k), "values": [d["metrics"].get(k) for d in docs]}
            for k in keys
        ],
    }


def compare_runs(data_dir: Path, run_a: str, run_b: str) -> dict:
    """Two runs side by side: their history entries, config differences and every metric."""
    summary_a, summary_b = _summary(data_dir, run_a), _summary(data_dir, run_b)
    a, b = summary_a.model_dump(mode="json"), summary_b.model_dump(mode="json")
    metrics = [
        {"key": k, "label": _label(k), "a": a["metrics"].get(k), "b": b["metrics"].get(k)}
        for k in _metric_keys([a["metrics"], b["metrics"]])
    ]
    return {
        "a": history_entry(summary_a).model_dump(mode="json"),
        "b": history_entry(summary_b).model_dump(mode="json"),
        "config_diff": config_diff(a["config"], b["config"]),
        "data_diff": config_diff(a["data"], b["data"]),
        "metrics": metrics,
    }
