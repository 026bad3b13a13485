"""Walk-forward analysis: folds of train and test windows, the choice per fold, the stitched curve.

For each fold the sweep picks the best configuration on the training window only
(:func:`choose_best`), runs it on the test window that follows, and the test windows' equity
curves are chained into one out-of-sample curve (:func:`stitch_equity`). A fold's choice can
therefore never see data after its training window. Windows are half-open, ``[start, end)``, in
UTC.
"""

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, PositiveInt, ValidationError, model_validator

_UNIT_DAYS = {"d": 1, "w": 7}
_DURATION = re.compile(r"(\d+)([dw])")
_KEYS = {"train": "train_days", "test": "test_days", "step": "step_days"}


class WalkForwardSpec(BaseModel):
    """Walk-forward windows in whole days.

    Rolling (default): the training window keeps its length and moves by ``step_days``. Anchored:
    it always starts at the sweep's start and grows by ``step_days``. Each test window of
    ``test_days`` starts where its training window ends; ``step_days`` must be at least
    ``test_days`` so test windows never overlap (the stitched curve needs disjoint windows).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    train_days: PositiveInt
    test_days: PositiveInt
    step_days: PositiveInt
    anchored: bool = False

    @model_validator(mode="after")
    def _test_windows_disjoint(self) -> "WalkForwardSpec":
        if self.step_days < self.test_days:
            raise ValueError(
                f"step_days ({self.step_days}) is shorter than test_days ({self.test_days}): "
                "test windows would overlap"
            )
        return self

    def text(self) -> str:
        """The spec as ``parse_walk_forward`` reads it, e.g. ``train=365d,test=90d,step=90d``."""
        base = f"train={self.train_days}d,test={self.test_days}d,step={self.step_days}d"
        return base + (",anchored" if self.anchored else "")


def parse_walk_forward(text: str) -> WalkForwardSpec:
    """Read ``train=365d,test=90d,step=90d[,anchored]`` (``w`` = weeks also accepted).

    Raises ``ValueError`` naming the part at fault: an unknown key, a duration that is not a
    whole number of days or weeks, a key given twice or missing, or windows that do not fit.
    """
    values: dict[str, object] = {}
    for raw in text.split(","):
        part = raw.strip()
        if part == "anchored":
            if "anchored" in values:
                raise ValueError(f"walk-forward {text!r}: 'anchored' is given twice")
            values["anchored"] = True
            continue
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in _KEYS:
            raise ValueError(
                f"walk-forward {text!r}: part {part!r} is not train=…, test=…, step=… or anchored"
            )
        match = _DURATION.fullmatch(value.strip())
        if match is None:
            raise ValueError(
                f"walk-forward {text!r}: {key}={value.strip()!r} must be a whole number of days "
                "or weeks, like 90d or 13w"
            )
        if _KEYS[key] in values:
            raise ValueError(f"walk-forward {text!r}: {key} is given twice")
        values[_KEYS[key]] = int(match.group(1)) * _UNIT_DAYS[match.group(2)]
    missing = [key for key, field in _KEYS.items() if field not in values]
    if missing:
        raise ValueError(f"walk-forward {text!r}: {', '.join(missing)} missing")
    try:
        return WalkForwardSpec(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        raise ValueError(
            f"walk-forward {text!r}: {where + ': ' if where else ''}{message}"
        ) from None


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: train on ``[train_start, train_end)``, test on ``[test_start,
    test_end)`` (UTC); ``index`` counts from 0 in time order."""

    index: int
    train_start: datetime
    train_end: datetime
    test_start: datetime
    test_end: datetime


def _utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a UTC-aware datetime; got {value!r}")
    return value.astimezone(UTC)


def make_folds(spec: WalkForwardSpec, start: datetime, end: datetime) -> list[Fold]:
    """Cut ``[start, end)`` into walk-forward folds; every test window ends at or before ``end``.

    Fold ``k`` trains on ``[start + k·step, start + k·step + train)`` (rolling) or on
    ``[start, start + train + k·step)`` (anchored) and tests on the ``test_days`` after it.
    Raises ``ValueError`` naming the spec when not even one fold fits.
    """
    start, end = _utc(start, "start"), _utc(end, "end")
    train, test, step = (
        timedelta(days=d) for d in (spec.train_days, spec.test_days, spec.step_days)
    )
    folds: list[Fold] = []
    while True:
        k = len(folds)
        train_start = start if spec.anchored else start + k * step
        train_end = start + train + k * step
        if train_end + test > end:
            break
        folds.append(Fold(k, train_start, train_end, train_end, train_end + test))
    if not folds:
        raise ValueError(
            f"walk-forward {spec.text()}: no fold fits in {start:%Y-%m-%d %H:%M} to "
            f"{end:%Y-%m-%d %H:%M} UTC ({(end - start) / timedelta(days=1):g} days; one fold "
            f"needs {spec.train_days + spec.test_days})"
        )
    return folds


def choose_best(results: pl.DataFrame, objective: str, maximize: bool = True) -> int:
    """Row index of the configuration with the best ``objective`` (ties: the lowest row).

    Rows whose objective is null, NaN or infinite are never chosen. Raises ``ValueError`` when the
    column is missing or not numeric, or when no row has a finite value.
    """
    if objective not in results.columns:
        raise ValueError(
            f"objective {objective!r} is not a results column "
            f"(columns: {', '.join(results.columns)})"
        )
    column = results.get_column(objective)
    if not column.dtype.is_numeric():
        raise ValueError(f"objective {objective!r} is not numeric (dtype {column.dtype})")
    values = column.cast(pl.Float64).fill_null(math.nan).to_numpy()
    finite = np.isfinite(values)
    if not finite.any():
        raise ValueError(f"objective {objective!r}: no row has a finite value")
    score = np.where(finite, values if maximize else -values, -np.inf)
    return int(np.argmax(score))  # the first of equal maxima


_SEGMENT_COLUMNS = ("time", "equity_usd", "hodl_usd")


def _checked_segment(segment: pl.DataFrame, i: int) -> pl.DataFrame:
    missing = [c for c in _SEGMENT_COLUMNS if c not in segment.columns]
    if missing:
        raise ValueError(f"segment {i} lacks column(s) {', '.join(missing)}")
    if segment.height == 0:
        raise ValueError(f"segment {i} is empty")
    dtype = segment.schema["time"]
    if not isinstance(dtype, pl.Datetime) or dtype.time_zone != "UTC":
        raise ValueError(f"segment {i}: time must be a UTC Datetime column; got {dtype}")
    seg = segment.select(
        pl.col("time").cast(pl.Datetime("us", "UTC")),
        pl.col("equity_usd").cast(pl.Float64),
        pl.col("hodl_usd").cast(pl.Float64),
    )
    times = seg.get_column("time")
    if times.null_count() or not (times.to_physical().diff().drop_nulls() > 0).all():
        raise ValueError(f"segment {i}: times must be strictly increasing, without nulls")
    for name in ("equity_usd", "hodl_usd"):
        values = seg.get_column(name).fill_null(math.nan).to_numpy()
        bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
        if len(bad):
            raise ValueError(f"segment {i}: {name} at row {bad[0]} is {values[bad[0]]}, not > 0")
    return seg


def stitch_equity(segments: list[pl.DataFrame]) -> pl.DataFrame:
    """Chain the test windows' equity curves into one out-of-sample growth curve.

    Each segment (one fold's test window: ``time`` UTC, ``equity_usd``, ``hodl_usd``) is rescaled
    to start where the previous one ended, the first at 1.0, so the returns within a segment are
    kept and the curve compounds across folds. The strategy and HODL are chained the same way.
    Returns columns ``time``, ``strategy_growth``, ``hodl_growth`` and ``fold`` (the segment's
    position in the list). Raises ``ValueError`` when there is no segment, a segment is malformed,
    or a segment starts at or before the previous one's last time (overlap or out of order).
    """
    if not segments:
        raise ValueError("no segment to stitch")
    parts = []
    strategy_level = hodl_level = 1.0
    previous_last = None
    for i, segment in enumerate(segments):
        seg = _checked_segment(segment, i)
        first = seg.get_column("time")[0]
        if previous_last is not None and first <= previous_last:
            raise ValueError(
                f"segment {i} starts at {first:%Y-%m-%d %H:%M} UTC, not after segment {i - 1} "
                f"ends ({previous_last:%Y-%m-%d %H:%M} UTC): test windows overlap or are out of "
                "order"
            )
        equity = seg.get_column("equity_usd").to_numpy()
        hodl = seg.get_column("hodl_usd").to_numpy()
        strategy_growth = strategy_level * (equity / equity[0])  # a segment starts exactly at level
        hodl_growth = hodl_level * (hodl / hodl[0])
        parts.append(
            pl.DataFrame(
                {
                    "time": seg.get_column("time"),
                    "strategy_growth": strategy_growth,
                    "hodl_growth": hodl_growth,
                    "fold": pl.Series([i] * seg.height, dtype=pl.Int64),
                }
            )
        )
        strategy_level, hodl_level = strategy_growth[-1], hodl_growth[-1]
        previous_last = seg.get_column("time")[-1]
    return pl.concat(parts)
