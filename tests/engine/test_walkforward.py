"""Walk-forward: fold arithmetic, spec parsing, the choice per fold, the stitched curve."""

import itertools
import math
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from engine.sweep.walkforward import (
    Fold,
    WalkForwardSpec,
    choose_best,
    make_folds,
    parse_walk_forward,
    stitch_equity,
)

START = datetime(2022, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)

# --- parsing -------------------------------------------------------------------------------


def test_parse_rolling_and_anchored():
    spec = parse_walk_forward("train=365d,test=90d,step=90d")
    assert spec == WalkForwardSpec(train_days=365, test_days=90, step_days=90)
    assert not spec.anchored
    anchored = parse_walk_forward(" train=52w , test=13w, step=13w, anchored ")
    assert (anchored.train_days, anchored.test_days, anchored.step_days) == (364, 91, 91)
    assert anchored.anchored
    assert parse_walk_forward(anchored.text()) == anchored


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "part '' is not"),
        ("train=365d,test=90d", "step missing"),
        ("train=365d,test=90d,step=90d,rolling", "part 'rolling' is not"),
        ("train=365,test=90d,step=90d", "train='365' must be a whole number of days"),
        ("train=365d,test=1.5d,step=90d", "test='1.5d' must be"),
        ("train=365d,test=90d,step=3m", "step='3m' must be"),
        ("train=365d,test=90d,step=90d,train=30d", "train is given twice"),
        ("train=365d,test=90d,step=90d,anchored,anchored", "'anchored' is given twice"),
        ("train=0d,test=90d,step=90d", "train_days: Input should be greater than 0"),
        ("train=365d,test=90d,step=30d", r"step_days \(30\) is shorter than test_days \(90\)"),
    ],
)
def test_parse_errors_name_the_bad_part(text, message):
    with pytest.raises(ValueError, match=message):
        parse_walk_forward(text)


def test_spec_is_frozen_and_strict():
    spec = WalkForwardSpec(train_days=10, test_days=5, step_days=5)
    with pytest.raises(ValidationError):
        spec.train_days = 3  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        WalkForwardSpec(train_days=10, test_days=5, step_days=5, purge_days=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        WalkForwardSpec(train_days="10", test_days=5, step_days=5)  # type: ignore[arg-type]


# --- folds ---------------------------------------------------------------------------------


def test_rolling_folds_by_hand():
    spec = WalkForwardSpec(train_days=10, test_days=5, step_days=5)
    folds = make_folds(spec, START, START + 25 * DAY)
    assert folds == [
        Fold(0, START, START + 10 * DAY, START + 10 * DAY, START + 15 * DAY),
        Fold(1, START + 5 * DAY, START + 15 * DAY, START + 15 * DAY, START + 20 * DAY),
        Fold(2, START + 10 * DAY, START + 20 * DAY, START + 20 * DAY, START + 25 * DAY),
    ]


def test_anchored_folds_grow_from_the_start():
    spec = WalkForwardSpec(train_days=10, test_days=5, step_days=7, anchored=True)
    folds = make_folds(spec, START, START + 30 * DAY)
    assert [(f.train_start, f.train_end, f.test_end) for f in folds] == [
        (START, START + 10 * DAY, START + 15 * DAY),
        (START, START + 17 * DAY, START + 22 * DAY),
        (START, START + 24 * DAY, START + 29 * DAY),
    ]


def test_a_test_window_that_would_end_after_end_is_not_made():
    spec = WalkForwardSpec(train_days=10, test_days=5, step_days=5)
    assert len(make_folds(spec, START, START + 24 * DAY)) == 2  # the third would end on day 25
    assert len(make_folds(spec, START, START + 15 * DAY)) == 1  # exactly one fold


def test_no_fold_fits_names_the_spec():
    spec = WalkForwardSpec(train_days=365, test_days=90, step_days=90, anchored=True)
    with pytest.raises(ValueError, match=r"train=365d,test=90d,step=90d,anchored: no fold fits"):
        make_folds(spec, START, START + 400 * DAY)


def test_folds_need_utc_aware_bounds():
    spec = WalkForwardSpec(train_days=1, test_days=1, step_days=1)
    with pytest.raises(ValueError, match="start must be a UTC-aware datetime"):
        make_folds(spec, datetime(2022, 1, 1), START + 10 * DAY)
    east = timezone(timedelta(hours=2))
    folds = make_folds(spec, datetime(2022, 1, 1, 2, tzinfo=east), START + 2 * DAY)
    assert folds[0].train_start == START and folds[0].train_start.tzinfo == UTC


@given(
    train=st.integers(1, 60),
    test=st.integers(1, 30),
    extra_step=st.integers(0, 30),
    span=st.integers(1, 400),
    anchored=st.booleans(),
)
def test_fold_invariants(train, test, extra_step, span, anchored):
    spec = WalkForwardSpec(
        train_days=train, test_days=test, step_days=test + extra_step, anchored=anchored
    )
    end = START + span * DAY
    if span < train + test:
        with pytest.raises(ValueError, match="no fold fits"):
            make_folds(spec, START, end)
        return
    folds = make_folds(spec, START, end)
    for k, fold in enumerate(folds):
        assert fold.index == k
        assert fold.train_start == (START if anchored else START + k * spec.step_days * DAY)
        assert fold.train_end == fold.test_start < fold.test_end <= end
        assert fold.test_end - fold.test_start == test * DAY
        if not anchored:
            assert fold.train_end - fold.train_start == train * DAY
    for a, b in itertools.pairwise(folds):
        assert b.test_start - a.test_start == spec.step_days * DAY
        assert a.test_end <= b.test_start  # disjoint test windows
    # as many folds as fit: one more would end after end
    assert folds[-1].test_end + spec.step_days * DAY > end


# --- choose_best ---------------------------------------------------------------------------


def test_choose_best_maximises_and_minimises():
    results = pl.DataFrame({"sharpe": [0.5, 1.2, -0.3, 0.9], "max_dd_pct": [10.0, 30.0, 5.0, 8.0]})
    assert choose_best(results, "sharpe") == 1
    assert choose_best(results, "max_dd_pct", maximize=False) == 2


def test_choose_best_ties_go_to_the_lowest_row():
    results = pl.DataFrame({"x": [1.0, 3.0, 2.0, 3.0, 3.0]})
    assert choose_best(results, "x") == 1
    assert choose_best(pl.DataFrame({"x": [2, 1, 1]}), "x", maximize=False) == 1


def test_choose_best_never_picks_nan_null_or_inf():
    results = pl.DataFrame({"x": [None, math.nan, 0.2, math.inf, 0.1]})
    assert choose_best(results, "x") == 2
    assert choose_best(results, "x", maximize=False) == 4
    results = pl.DataFrame({"x": [-math.inf, -1.0]})
    assert choose_best(results, "x", maximize=False) == 1


@pytest.mark.parametrize(
    ("results", "message"),
    [
        (pl.DataFrame({"sharpe": [1.0]}), r"objective 'sortino' is not a results column.*sharpe"),
        (pl.DataFrame({"sortino": ["a"]}), "not numeric"),
        (pl.DataFrame({"sortino": [None, math.nan]}), "no row has a finite value"),
        (pl.DataFrame({"sortino": []}, schema={"sortino": pl.Float64}), "no row has a finite"),
    ],
)
def test_choose_best_errors_name_the_problem(results, message):
    with pytest.raises(ValueError, match=message):
        choose_best(results, "sortino")


# --- stitch_equity -------------------------------------------------------------------------


def _segment(first_day: int, equity: list[float], hodl: list[float]) -> pl.DataFrame:
    times = [START + (first_day + i) * DAY for i in range(len(equity))]
    return pl.DataFrame(
        {"time": times, "equity_usd": equity, "hodl_usd": hodl},
        schema={"time": pl.Datetime("us", "UTC"), "equity_usd": pl.Float64, "hodl_usd": pl.Float64},
    )


def test_stitch_by_hand():
    out = stitch_equity(
        [_segment(0, [100.0, 110.0], [100.0, 120.0]), _segment(5, [50.0, 40.0, 60.0], [10, 9, 12])]
    )
    assert out.columns == ["time", "strategy_growth", "hodl_growth", "fold"]
    assert out.schema["time"] == pl.Datetime("us", "UTC")
    assert out.get_column("strategy_growth").to_list() == pytest.approx([1.0, 1.1, 1.1, 0.88, 1.32])
    assert out.get_column("hodl_growth").to_list() == pytest.approx([1.0, 1.2, 1.2, 1.08, 1.44])
    assert out.get_column("fold").to_list() == [0, 0, 1, 1, 1]


@given(
    seed=st.integers(0, 2**32 - 1),
    lengths=st.lists(st.integers(1, 12), min_size=1, max_size=6),
)
def test_stitch_preserves_every_segments_returns(seed, lengths):
    rng = np.random.default_rng(seed)
    segments, day = [], 0
    for n in lengths:
        equity = (1000 * rng.uniform(0.1, 10) * np.cumprod(rng.uniform(0.8, 1.25, n))).tolist()
        hodl = (50 * np.cumprod(rng.uniform(0.7, 1.4, n))).tolist()
        segments.append(_segment(day, equity, hodl))
        day += n + int(rng.integers(0, 5))  # gaps between test windows are allowed
    out = stitch_equity(segments)
    assert out.height == sum(lengths)
    growth = out.get_column("strategy_growth").to_numpy()
    assert growth[0] == 1.0 and out.get_column("hodl_growth")[0] == 1.0
    for i, seg in enumerate(segments):
        part = out.filter(pl.col("fold") == i)
        assert part.get_column("time").to_list() == seg.get_column("time").to_list()
        for got, given_col in (("strategy_growth", "equity_usd"), ("hodl_growth", "hodl_usd")):
            expected = seg.get_column(given_col).to_numpy()
            np.testing.assert_allclose(
                part.get_column(got).to_numpy() / part.get_column(got)[0],
                expected / expected[0],
                rtol=1e-12,
            )
    # each segment starts where the previous ended
    for i in range(1, len(segments)):
        for col in ("strategy_growth", "hodl_growth"):
            now, before = (out.filter(pl.col("fold") == k).get_column(col) for k in (i, i - 1))
            assert now[0] == before[-1]


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        ([], "no segment"),
        ([_segment(0, [1.0, 2.0], [1.0, 1.0]), _segment(1, [1.0], [1.0])], "segment 1 starts"),
        ([_segment(5, [1.0], [1.0]), _segment(0, [1.0], [1.0])], "overlap or are out of order"),
        ([_segment(0, [1.0, 0.0], [1.0, 1.0])], r"equity_usd at row 1 is 0.0"),
        ([_segment(0, [1.0, 1.0], [1.0, math.nan])], r"hodl_usd at row 1 is nan"),
        ([_segment(0, [], [])], "segment 0 is empty"),
        ([_segment(0, [1.0], [1.0]).drop("hodl_usd")], "lacks column"),
        ([_segment(3, [1.0], [1.0]).vstack(_segment(0, [1.0], [1.0]))], "increasing"),
        (
            [_segment(0, [1.0], [1.0]).with_columns(pl.col("time").dt.replace_time_zone(None))],
            "UTC Datetime",
        ),
    ],
)
def test_stitch_errors_name_the_segment(segments, message):
    with pytest.raises(ValueError, match=message):
        stitch_equity(segments)
