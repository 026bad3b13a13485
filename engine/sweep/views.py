"""Views of a sweep's results table for the dashboard: a sorted page of rows, and a heatmap.

Both read ``results.parquet`` as written by :mod:`engine.sweep.store` (``row``, one column per
axis, every run metric, ``run_id``). The heatmap puts one axis on x and one (optionally) on y;
the configurations that share a cell differ in the other axes and are reduced to one value by
``max``, ``min`` or ``median`` of the metric. Every cell also names the configuration (``row``)
that shows that value (for the median, the one nearest to it), so a click on a cell can open it.
:func:`row_configuration` rebuilds the configuration of a row from the stored spec, so its full
run can be computed as an ordinary backtest. :func:`walk_forward_curve` thins the stitched
out-of-sample equity of a walk-forward for a chart.
"""

import math
from pathlib import Path
from typing import Literal, get_args, get_origin

import polars as pl
from pydantic import BaseModel, ValidationError

from cache.datasource import DeribitDataSource
from engine.chains import data_fingerprint
from engine.config import CallSimulationConfig
from engine.fills import SpreadModel
from engine.results.curves import downsample_indices
from engine.simulator import finite_or_none, run_digest
from engine.sweep.spec import AXIS_FIELDS, SweepSpec, describe_errors
from engine.sweep.store import (
    SweepNotFoundError,
    SweepUnreadableError,
    load_sweep,
    read_summary,
    read_table,
)

Reduce = Literal["max", "min", "median"]
REDUCERS: tuple[Reduce, ...] = ("max", "min", "median")


class ViewError(ValueError):
    """A view asked for a column the sweep does not have; ``field`` names the query field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _clean(value: object) -> object:
    return finite_or_none(value) if isinstance(value, float) else value


def results_page(
    results: pl.DataFrame,
    sort: str | None = None,
    descending: bool = False,
    offset: int = 0,
    limit: int = 100,
) -> list[dict]:
    """Rows ``offset .. offset + limit`` ordered by ``sort`` (default: ``row``), values missing
    (null or NaN) last in either direction; NaN and infinities come back as None."""
    if sort is None:
        sort = "row"
    if sort not in results.columns:
        raise ViewError("sort", f"{sort!r} is not a column of this sweep's results")
    key = pl.col(sort)
    if results.schema[sort].is_float():
        key = pl.when(key.is_nan()).then(None).otherwise(key)
    ordered = results.sort([key, pl.col("row")], descending=[descending, False], nulls_last=True)
    page = ordered.slice(offset, limit)
    return [{k: _clean(v) for k, v in r.items()} for r in page.iter_rows(named=True)]


def _axis(axes: list[str], name: str | None, field: str) -> None:
    if name is not None and name not in axes:
        raise ViewError(field, f"{name!r} is not an axis of this sweep (axes: {', '.join(axes)})")


def _pick(values: list[float], rows: list[int], reduce: Reduce) -> tuple[float, int] | None:
    """The reduced value of a cell and the row that shows it (ties: the lowest row)."""
    pairs = [
        (v, r) for v, r in zip(values, rows, strict=True) if v is not None and math.isfinite(v)
    ]
    if not pairs:
        return None
    if reduce == "max":
        value = max(v for v, _ in pairs)
    elif reduce == "min":
        value = min(v for v, _ in pairs)
    else:
        value = float(pl.Series([v for v, _ in pairs]).median())
    row = min(pairs, key=lambda p: (abs(p[0] - value), p[1]))[1]
    return value, row


def heatmap(
    results: pl.DataFrame,
    axes: list[str],
    metric: str,
    x: str,
    y: str | None = None,
    reduce: Reduce = "max",
) -> dict:
    """``metric`` over axes ``x`` (columns) and ``y`` (rows; None: one row), the other axes
    reduced by ``reduce``.

    Returns ``x_values``, ``y_values`` (sorted), ``values[i][j]`` (y index i, x index j; None
    where no configuration of the cell has a finite value), ``rows[i][j]`` (the configuration
    showing it), ``counts[i][j]`` (configurations in the cell), and ``min`` and ``max`` of the
    values.
    """
    _axis(axes, x, "x")
    _axis(axes, y, "y")
    if y == x:
        raise ViewError("y", "x and y must be two different axes")
    if metric not in results.columns or metric in axes or metric in ("row", "run_id"):
        raise ViewError("metric", f"{metric!r} is not a metric of this sweep's results")
    keys = [x] if y is None else [x, y]
    frame = results.select([*keys, pl.col(metric).cast(pl.Float64).alias("value"), "row"])
    cells = frame.group_by(keys).agg(pl.col("value"), pl.col("row"))
    x_values = sorted(frame[x].unique().to_list(), key=_order)
    y_values = [None] if y is None else sorted(frame[y].unique().to_list(), key=_order)
    values = [[None] * len(x_values) for _ in y_values]
    rows = [[None] * len(x_values) for _ in y_values]
    counts = [[0] * len(x_values) for _ in y_values]
    for cell in cells.iter_rows(named=True):
        i = 0 if y is None else y_values.index(cell[y])
        j = x_values.index(cell[x])
        counts[i][j] = len(cell["row"])
        picked = _pick(cell["value"], cell["row"], reduce)
        if picked is not None:
            values[i][j], rows[i][j] = picked
    finite = [v for line in values for v in line if v is not None]
    return {
        "metric": metric,
        "x": x,
        "y": y,
        "reduce": reduce,
        "x_values": x_values,
        "y_values": [] if y is None else y_values,
        "values": values,
        "rows": rows,
        "counts": counts,
        "min": min(finite) if finite else None,
        "max": max(finite) if finite else None,
    }


def _order(value: object) -> tuple:
    """Numbers in numeric order, then text (choices) in alphabetical order; None last."""
    if value is None:
        return (2, "")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


def row_configuration(data_dir: Path, sweep_id: str, row: int) -> tuple[CallSimulationConfig, str]:
    """The configuration of row ``row`` of a sweep and the id its single backtest has now.

    The configuration is rebuilt from the stored spec (the same grid, constraints and sample)
    and checked against the row's axis values. The run id is computed on the data as it is now:
    it equals the row's ``run_id`` unless the data changed since the sweep. Raises ViewError
    (field ``row``) for a row the sweep does not have, SweepNotFoundError, SweepUnreadableError.
    """
    stored = load_sweep(data_dir, sweep_id)
    if not 0 <= row < stored.results.height:
        raise ViewError(
            "row", f"sweep {sweep_id} has no row {row} (rows 0..{stored.results.height - 1})"
        )
    try:
        spec = SweepSpec(**stored.summary["spec"])
    except (ValidationError, TypeError) as exc:
        why = describe_errors(exc) if isinstance(exc, ValidationError) else str(exc)
        raise SweepUnreadableError(
            f"sweep {sweep_id}: its spec no longer validates ({why})"
        ) from exc
    configs = spec.configurations()
    line = stored.results.row(row, named=True)
    cfg = configs[line["row"]] if line["row"] < len(configs) else None
    if cfg is None or spec.axis_point(cfg) != {name: line[name] for name in spec.axes}:
        raise SweepUnreadableError(f"sweep {sweep_id}: row {row} does not match its spec")
    ds = DeribitDataSource(data_dir, cfg.source)
    return cfg, run_digest(cfg, data_fingerprint(ds, cfg), SpreadModel.default().calibration_id)


def _choices(annotation: object) -> list | None:
    """The values of a choice field (``Literal``, optionally ``None``), else None."""
    if get_origin(annotation) is Literal:
        return list(get_args(annotation))
    for arg in get_args(annotation):
        if get_origin(arg) is Literal:
            return list(get_args(arg))
    return None


def axis_fields() -> list[dict]:
    """Every config field a sweep may vary (nested ones dotted), with its default (None when
    required) and, for a choice field, its choices: what the dashboard's axis picker offers."""
    out = []
    for name in AXIS_FIELDS:
        block, _, sub = name.partition(".")
        info = CallSimulationConfig.model_fields[block]
        if sub:
            nested = info.annotation
            assert isinstance(nested, type) and issubclass(nested, BaseModel)
            info = nested.model_fields[sub]
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        out.append({"name": name, "default": default, "choices": _choices(info.annotation)})
    return out


def walk_forward_curve(data_dir: Path, sweep_id: str, points: int) -> dict:
    """The stitched out-of-sample curve of a sweep's walk-forward against HODL, as returns in
    percent of USD (growth of 1.0 - 1, times 100) on at most ``points`` instants (each curve's
    extremes kept), with the fold of each instant; SweepNotFoundError when the sweep has no
    walk-forward."""
    if "walk_forward" not in read_summary(data_dir, sweep_id):
        raise SweepNotFoundError(f"sweep {sweep_id} has no walk-forward (its spec asked none)")
    equity = read_table(data_dir, sweep_id, "walk_forward_equity")
    try:
        strategy = equity.get_column("strategy_growth").to_numpy()
        hodl = equity.get_column("hodl_growth").to_numpy()
        keep = downsample_indices([strategy, hodl], points)
        times = equity.get_column("time").dt.epoch("s").to_numpy()[keep]
        folds = equity.get_column("fold").to_numpy()[keep]
    except pl.exceptions.PolarsError as exc:
        raise SweepUnreadableError(f"sweep {sweep_id}: walk_forward_equity.parquet: {exc}") from exc

    def pct(growth):
        return [finite_or_none(float(v)) for v in (growth[keep] - 1.0) * 100.0]

    return {
        "rows": equity.height,
        "points": len(keep),
        "time_s": times.tolist(),
        "strategy_return_pct_usd": pct(strategy),
        "hodl_return_pct_usd": pct(hodl),
        "fold": folds.tolist(),
    }
