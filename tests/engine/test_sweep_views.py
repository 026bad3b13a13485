"""Views of a sweep's results table: sorted pages and heatmaps, edge cases included."""

import math

import polars as pl
import pytest

from engine.sweep.views import ViewError, axis_fields, heatmap, results_page

AXES = ["tp_threshold_pct", "exit_style", "flag"]
TABLE = pl.DataFrame(
    {
        "row": [0, 1, 2, 3, 4, 5],
        "tp_threshold_pct": [50.0, 50.0, 80.0, 80.0, 50.0, 80.0],
        "exit_style": ["tp_and_roll", "hold_to_expiry"] * 3,
        "flag": [True, True, True, False, False, False],
        "sharpe": [1.0, float("nan"), 3.0, None, 2.0, -1.0],
        "num_trades": [4, 5, 6, 7, 8, 9],
        "run_id": [f"{i:016x}" for i in range(6)],
    }
)


def test_pages_sort_with_missing_values_last_both_ways():
    up = results_page(TABLE, "sharpe", descending=False)
    assert [r["row"] for r in up] == [5, 0, 4, 2, 1, 3]  # NaN and null last, by row
    down = results_page(TABLE, "sharpe", descending=True)
    assert [r["row"] for r in down] == [2, 4, 0, 5, 1, 3]
    assert down[4]["sharpe"] is None  # NaN comes back as None (JSON has no NaN)
    assert [r["row"] for r in results_page(TABLE, offset=4, limit=10)] == [4, 5]
    assert results_page(TABLE, offset=6) == []
    with pytest.raises(ViewError) as err:
        results_page(TABLE, "nope")
    assert err.value.field == "sort"


def test_heatmap_cells_reduce_and_name_the_row_shown():
    grid = heatmap(TABLE, AXES, "sharpe", "tp_threshold_pct", "exit_style", "max")
    assert grid["x_values"] == [50.0, 80.0]
    assert grid["y_values"] == ["hold_to_expiry", "tp_and_roll"]
    # hold_to_expiry: 50 -> rows 1 (NaN); 80 -> rows 3 (null), 5 (-1)
    assert grid["values"] == [[None, -1.0], [2.0, 3.0]]
    assert grid["rows"] == [[None, 5], [4, 2]]
    assert grid["counts"] == [[1, 2], [2, 1]]
    assert (grid["min"], grid["max"]) == (-1.0, 3.0)
    low = heatmap(TABLE, AXES, "sharpe", "tp_threshold_pct", "exit_style", "min")
    assert low["values"][1] == [1.0, 3.0] and low["rows"][1] == [0, 2]
    median = heatmap(TABLE, AXES, "num_trades", "exit_style", None, "median")
    assert median["y_values"] == [] and median["values"] == [[7.0, 6.0]]
    assert median["rows"] == [[3, 2]]  # the row nearest the median, the lowest on a tie


def test_heatmap_orders_booleans_and_refuses_what_the_sweep_lacks():
    grid = heatmap(TABLE, AXES, "num_trades", "flag", None, "max")
    assert grid["x_values"] == [False, True] and grid["values"] == [[9.0, 6.0]]
    for args, field in [
        (("sharpe", "target_delta", None), "x"),
        (("sharpe", "flag", "flag"), "y"),
        (("sharpe", "flag", "nope"), "y"),
        (("exit_style", "flag", None), "metric"),
        (("run_id", "flag", None), "metric"),
    ]:
        with pytest.raises(ViewError) as err:
            heatmap(TABLE, AXES, *args)
        assert err.value.field == field


def test_a_metric_without_any_finite_value_gives_an_empty_map():
    empty = TABLE.with_columns(pl.lit(float("nan")).alias("sharpe"))
    grid = heatmap(empty, AXES, "sharpe", "flag", "exit_style")
    assert grid["min"] is None and grid["max"] is None
    assert all(v is None for line in grid["values"] for v in line)
    assert all(r is None for line in grid["rows"] for r in line)


def test_axis_fields_list_defaults_and_choices():
    fields = {f["name"]: f for f in axis_fields()}
    assert fields["exit_style"]["choices"] == ["hold_to_expiry", "tp_and_roll"]
    assert fields["tp_threshold_pct"]["default"] == 80.0
    assert fields["underlying"]["default"] is None
    assert "scoring.w_delta" in fields and "start" not in fields and "source" not in fields
    assert all(
        not isinstance(f["default"], float) or math.isfinite(f["default"]) for f in fields.values()
    )
