"""Out-of-sample errors: leave one UTC day out, and the numbers a calibration document keeps.

Every fit of a calibration is measured the same way: for each UTC day of the snapshots, fit on
the other days and predict that day; the errors of all held-out days are pooled and summarised by
their median and 90th percentile. Numbers are rounded to a few significant digits so that the
document, and the id hashed from it, do not move with floating-point noise.
"""

from collections.abc import Callable, Sequence
from datetime import date
from typing import TypeVar

import numpy as np
import polars as pl

Fit = TypeVar("Fit")


def sig(x: float, digits: int = 6) -> float:
    """``x`` rounded to ``digits`` significant digits."""
    return float(f"{float(x):.{digits}g}")


def summary(err: np.ndarray, digits: int = 4) -> dict[str, float]:
    """Median and 90th percentile of absolute errors (``nan`` when there are none)."""
    err = np.abs(np.asarray(err, dtype=np.float64))
    if err.size == 0:
        return {"median": float("nan"), "p90": float("nan")}
    return {
        "median": sig(np.median(err), digits),
        "p90": sig(np.quantile(err, 0.9), digits),
    }


def days_of(*tables: pl.DataFrame) -> list[date]:
    """The UTC days of the tables' ``harvest_time``, sorted."""
    days: set[date] = set()
    for t in tables:
        days.update(t.get_column("harvest_time").dt.date().unique().to_list())
    return sorted(days)


def on_day(table: pl.DataFrame, day: date, keep: bool) -> pl.DataFrame:
    """The rows of ``table`` harvested on ``day`` (``keep``) or on every other day."""
    same = pl.col("harvest_time").dt.date() == day
    return table.filter(same if keep else ~same)


def leave_one_day_out(
    tables: Sequence[pl.DataFrame],
    fit: Callable[..., Fit],
    errors: Callable[..., dict[str, np.ndarray]],
) -> tuple[dict[str, np.ndarray], int]:
    """Pooled held-out errors per kind, and the number of days held out.

    ``fit(*train_tables)`` returns a fitted model; ``errors(model, *test_tables)`` returns arrays
    of errors by kind. A day is skipped when its training or test rows are empty in any table.
    """
    pooled: dict[str, list[np.ndarray]] = {}
    held_out = 0
    for day in days_of(*tables):
        train = [on_day(t, day, keep=False) for t in tables]
        test = [on_day(t, day, keep=True) for t in tables]
        if any(t.is_empty() for t in (*train, *test)):
            continue
        held_out += 1
        for kind, err in errors(fit(*train), *test).items():
            pooled.setdefault(kind, []).append(np.asarray(err, dtype=np.float64))
    return {k: np.concatenate(v) for k, v in pooled.items()}, held_out
