"""SweepSpec: axes, ranges, constraints, sampling and the errors that name what is wrong."""

import pytest
from pydantic import ValidationError

from engine.config import CallSimulationConfig
from engine.sweep.constraints import Constraint
from engine.sweep.spec import AXIS_FIELDS, AxisRange, SweepSpec

BASE = {"underlying": "BTC", "start": "2022-01-01", "end": "2023-01-01",
        "decision_interval_hours": 24}  # fmt: skip


def _error(**kwargs) -> str:
    with pytest.raises(ValidationError) as info:
        SweepSpec(**{"base": BASE, **kwargs})
    return str(info.value)


def test_the_grid_is_the_product_in_axis_order_with_defaults_for_the_rest():
    spec = SweepSpec(
        base=BASE,
        axes={"tp_threshold_pct": [50, 80], "exit_style": ["hold_to_expiry", "tp_and_roll"]},
    )
    configs = spec.configurations()
    assert spec.count() == 4 == len(configs)
    assert [(c.tp_threshold_pct, c.exit_style) for c in configs] == [
        (50, "hold_to_expiry"), (50, "tp_and_roll"), (80, "hold_to_expiry"), (80, "tp_and_roll"),
    ]  # fmt: skip
    default = CallSimulationConfig(**BASE)
    assert all(c.target_delta == default.target_delta for c in configs)
    assert all(c.decision_interval_hours == 24 for c in configs)
    assert spec.axis_point(configs[1]) == {"tp_threshold_pct": 50.0, "exit_style": "tp_and_roll"}


def test_a_range_is_inclusive_and_float_safe():
    assert AxisRange(start=0.15, stop=0.35, step=0.05).values() == [0.15, 0.2, 0.25, 0.3, 0.35]
    assert AxisRange(start=1, stop=7, step=3).values() == [1, 4, 7]
    assert AxisRange(start=0.1, stop=0.1, step=0.3).values() == [0.1]
    spec = SweepSpec(base=BASE, axes={"max_rolls_per_chain": {"start": 0, "stop": 4, "step": 2}})
    assert [c.max_rolls_per_chain for c in spec.configurations()] == [0, 2, 4]


def test_nested_fields_are_axes_by_dotted_name():
    assert "scoring.w_delta" in AXIS_FIELDS and "start" not in AXIS_FIELDS
    spec = SweepSpec(base=BASE | {"scoring": {"w_dte": 1.0}}, axes={"scoring.w_delta": [1, 2]})
    assert [c.scoring.w_delta for c in spec.configurations()] == [1, 2]
    assert all(c.scoring.w_dte == 1.0 for c in spec.configurations())


def test_combinations_the_config_refuses_are_dropped_and_counted():
    spec = SweepSpec(base=BASE, axes={"target_delta": [0.2, 0.3], "delta_max": [0.25, 0.4]})
    assert [(c.target_delta, c.delta_max) for c in spec.configurations()] == [
        (0.2, 0.25), (0.2, 0.4), (0.3, 0.4),
    ]  # fmt: skip
    assert spec.counts() == {"grid": 4, "excluded_by_constraints": 0, "dropped_invalid": 1,
                             "configurations": 3}  # fmt: skip
    point, reason = spec.dropped[0]
    assert point == {"target_delta": 0.3, "delta_max": 0.25}
    assert "target_delta (0.3) must lie within delta_min (0.1) and delta_max (0.25)" in reason


def test_constraints_exclude_combinations():
    spec = SweepSpec(
        base=BASE,
        axes={"target_dte": [2, 7, 14], "max_dte": [10, 30]},
        constraints=["max_dte >= 2 * target_dte", "exit_style == 'hold_to_expiry'"],
    )
    assert [(c.target_dte, c.max_dte) for c in spec.configurations()] == [
        (2, 10), (2, 30), (7, 30), (14, 30),
    ]  # fmt: skip
    assert spec.counts()["excluded_by_constraints"] == 2


@pytest.mark.parametrize(
    "text",
    ["__import__('os').system('true')", "open('x') == 1", "target_delta", "[1] < [2]",
     "(lambda: 1)() < 2", "target_delta.real < 1", "x < 1"],
)  # fmt: skip
def test_constraints_never_run_code(text):
    with pytest.raises(ValueError):
        Constraint(text, set(AXIS_FIELDS))
    assert "constraints" in _error(axes={"target_delta": [0.2]}, constraints=[text])


def test_constraint_language():
    fields = {"a", "b", "scoring.w_delta", "s"}
    values = {"a": 1.0, "b": 2.0, "scoring.w_delta": 3.0, "s": "x"}
    assert Constraint("a < b < scoring.w_delta", fields).holds(values)
    assert not Constraint("a < b > scoring.w_delta", fields).holds(values)
    assert Constraint("not a > b and (s == 'x' or a == 7)", fields).holds(values)
    assert Constraint("-a + b * 2 / 4 == 0", fields).holds(values)
    assert not Constraint("s < 3", fields).holds(values)  # cannot compare: does not hold
    assert not Constraint("a / (b - 2) > 0", fields).holds(values)


def test_sample_is_a_seeded_subset_in_grid_order():
    axes = {"tp_threshold_pct": [50, 60, 70, 80, 90], "min_score_to_trade": [3, 5, 7]}
    full = SweepSpec(base=BASE, axes=axes).configurations()
    a = SweepSpec(base=BASE, axes=axes, sample=4, seed=1).configurations()
    assert a == SweepSpec(base=BASE, axes=axes, sample=4, seed=1).configurations()
    assert len(a) == 4 and all(c in full for c in a)
    assert [full.index(c) for c in a] == sorted(full.index(c) for c in a)
    assert SweepSpec(base=BASE, axes=axes, sample=40).count() == 15


def test_equal_configurations_run_once():
    spec = SweepSpec(base=BASE, axes={"target_dte": [7, 7.0], "min_dte": [1]})
    assert spec.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"axes": {"target_delta": [1.5]}}, ["axes", "target_delta[0] = 1.5", "less than 1"]),
        ({"axes": {"max_rolls_per_chain": [1, 2.5]}}, ["axes", "max_rolls_per_chain[1]"]),
        ({"axes": {"exit_style": ["hold", "tp_and_roll"]}}, ["axes", "exit_style[0] = 'hold'"]),
        ({"axes": {"target_delta": "0.2"}}, ["axes.target_delta"]),
        ({"axes": {"target_delta": []}}, ["axes", "target_delta: empty"]),
        ({"axes": {"tp_threshold": [50]}}, ["axes", "tp_threshold: unknown config field"]),
        ({"axes": {"start": ["2022-02-01"]}}, ["axes", "start: not a numeric or choice field"]),
        ({"axes": {"source": ["other"]}}, ["axes", "source: not a numeric or choice field"]),
        ({"axes": {}}, ["axes", "at least one field"]),
        ({"axes": {"target_delta": {"start": 0.3, "stop": 0.2, "step": 0.05}}},
         ["axes.target_delta", "stop (0.2) must not be below start (0.3)"]),
        ({"axes": {"target_delta": {"start": 0.1, "stop": 0.2, "step": 0}}},
         ["axes.target_delta", "step"]),
        ({"axes": {"target_delta": [0.5]}}, ["no valid configuration among 1", "target_delta"]),
        ({"axes": {"target_delta": [0.2]}, "objective": "profit"},
         ["objective", "'profit' is not a run metric"]),
        ({"axes": {"target_delta": [0.2]}, "sample": 0}, ["sample"]),
        ({"axes": {"target_delta": [0.2]}, "colour": "red"}, ["colour", "Extra inputs"]),
        ({"axes": {"target_delta": [0.2]}, "base": BASE | {"target_dleta": 0.2}},
         ["base", "unknown config field 'target_dleta'"]),
        ({"axes": {"target_delta": [0.2]}, "base": BASE | {"timeframe": "2h"}},
         ["base", "timeframe"]),
        ({"axes": {"target_delta": [0.2]}, "base": {"underlying": "BTC", "start": "2022-01-01"}},
         ["base", "end: required"]),
        ({"axes": {"target_delta": [0.2]}, "base": {"start": "2022-01-01", "end": "2022-02-01"}},
         ["base.underlying: required"]),
        ({"axes": {"target_delta": [0.2]}, "walk_forward": "train=30d,test=10d"},
         ["walk_forward", "step missing"]),
        ({"axes": {"target_delta": [0.2]}, "walk_forward": "train=400d,test=30d,step=30d"},
         ["walk_forward", "no fold fits in 2022-01-01 00:00 to 2023-01-01 00:00 UTC"]),
        ({"axes": {"target_dte": [1, 2, 3]} | {f"scoring.w_{k}": list(range(60)) for k in
          ("yield", "delta", "dte")}}, ["axes", "more than 100,000 combinations"]),
    ],
)  # fmt: skip
def test_bad_specs_name_the_field(kwargs, names):
    message = _error(**kwargs)
    for name in names:
        assert name in message, message
