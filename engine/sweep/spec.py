"""SweepSpec: a base configuration, axes over its fields, and the configurations they make.

A spec names a base :class:`~engine.config.CallSimulationConfig` (fields not given take their
defaults; ``underlying``, ``start`` and ``end`` are required, ``underlying`` may be an axis
instead) and axes: a config field -> a list of values, or an inclusive range
``{"start": 0.15, "stop": 0.35, "step": 0.05}``. Any numeric, boolean or choice field may be an
axis, nested ones dotted (``scoring.w_delta``, ``vol_surface.skew``, ``fees.option_fee_rate``);
the data window (``start``, ``end``) and the ``source`` may not: a sweep runs on one data set.

The configurations are the axes' cartesian product, in axis order (the last axis varies
fastest), filtered by the ``constraints`` (:mod:`engine.sweep.constraints`), then validated as
configs. A combination the config refuses as a whole (a target delta outside its delta band, a
decision interval that is not a multiple of the bar) is *dropped and counted*, with its reason
(:attr:`SweepSpec.dropped`), so a grid over a band and its target needs no constraint to run; a
spec none of whose combinations is valid is refused with the first reason. A value a field
refuses on its own (a wrong type, a delta of 1.5) is a spec error naming the axis and the value.
Equal configurations are run once. ``sample`` keeps a random subset of that many (``seed``).
"""

import itertools
import json
import math
from functools import cached_property
from typing import Any, Literal, Union, get_args, get_origin

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from engine.config import CallSimulationConfig
from engine.results.labels import METRIC_LABELS
from engine.sweep.constraints import Constraint
from engine.sweep.walkforward import make_folds, parse_walk_forward

MAX_GRID = 100_000  # combinations before constraints: beyond this a spec is refused
NOT_AXES = frozenset({"start", "end", "source"})  # a sweep runs on one data set
REQUIRED = ("underlying", "start", "end")
METRIC_NAMES = tuple(METRIC_LABELS)  # every metric of a run's summary.json
DROPPED_SHOWN = 5  # dropped combinations a summary shows with their reasons
# objectives where smaller is better; every other metric is maximised
MINIMISED = frozenset({"max_drawdown_pct", "fees_paid_coin", "fees_paid_usd", "assignments"})

Value = StrictBool | StrictInt | StrictFloat | StrictStr
_PLACEHOLDER = {"underlying": "BTC", "start": "2020-01-01", "end": "2020-02-01"}


class AxisRange(BaseModel):
    """Values ``start, start + step, …`` up to ``stop`` inclusive, rounded to 10 decimals so
    ``0.15 + 2 * 0.05`` is 0.25; all integers give integers."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    start: int | float
    stop: int | float
    step: int | float = Field(gt=0)

    @model_validator(mode="after")
    def _check(self) -> "AxisRange":
        if self.stop < self.start:
            raise ValueError(f"stop ({self.stop}) must not be below start ({self.start})")
        if (self.stop - self.start) / self.step + 1 > MAX_GRID:
            raise ValueError(f"the range holds more than {MAX_GRID:,} values")
        return self

    def values(self) -> list[int | float]:
        """The range's values."""
        n = math.floor((self.stop - self.start) / self.step + 1e-9) + 1
        if all(isinstance(v, int) for v in (self.start, self.stop, self.step)):
            return [self.start + i * self.step for i in range(n)]
        return [round(self.start + i * self.step, 10) for i in range(n)]


def objective_maximized(metric: str) -> bool:
    """Whether a larger ``metric`` is better (all but drawdown, fees and assignments)."""
    return metric not in MINIMISED


def _is_axis_type(annotation: object) -> bool:
    """Numbers, booleans and choices (``Literal``), optionally ``None``."""
    if get_origin(annotation) in (Union, type(int | None)):
        return all(_is_axis_type(a) for a in get_args(annotation) if a is not type(None))
    return annotation in (int, float, bool) or get_origin(annotation) is Literal


def _field_types() -> dict[str, bool]:
    """Every config field (nested ones dotted) -> whether it may be an axis."""
    out = {}
    for name, info in CallSimulationConfig.model_fields.items():
        nested = info.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            for sub, sub_info in nested.model_fields.items():
                out[f"{name}.{sub}"] = _is_axis_type(sub_info.annotation)
        else:
            out[name] = name not in NOT_AXES and _is_axis_type(info.annotation)
    return out


FIELDS = _field_types()
AXIS_FIELDS = tuple(name for name, ok in FIELDS.items() if ok)


def _merge(base: dict, values: dict[str, object]) -> dict:
    """``base`` with ``values`` set, dotted names into their nested block."""
    out = dict(base)
    for name, value in values.items():
        block, _, sub = name.partition(".")
        if sub:
            inner = out.get(block, {})
            out[block] = {**(inner if isinstance(inner, dict) else {}), sub: value}
        else:
            out[name] = value
    return out


def _flat(data: dict) -> dict[str, object]:
    """A config's values under their (dotted) field names."""
    out = {}
    for name, value in data.items():
        if isinstance(value, dict):
            out |= {f"{name}.{k}": v for k, v in value.items()}
        else:
            out[name] = value
    return out


def _defaults() -> dict[str, object]:
    """Every config field's default under its (dotted) name (required fields have none)."""
    out: dict[str, object] = {}
    for name, info in CallSimulationConfig.model_fields.items():
        if info.is_required():
            continue
        default = info.get_default(call_default_factory=True)
        out |= _flat({name: default.model_dump() if isinstance(default, BaseModel) else default})
    return out


def describe_errors(exc: ValidationError) -> str:
    """A validation error in one line: ``field: why; …``."""
    parts = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        parts.append(f"{field}: {message}" if field else message)
    return "; ".join(parts)


def _field_errors(data: dict, names: set[str]) -> list[str]:
    """Errors of building a config from ``data`` that fall on the (dotted) fields ``names``."""
    try:
        CallSimulationConfig(**data)
    except ValidationError as exc:
        out = []
        for err in exc.errors(include_url=False):
            loc = ".".join(str(p) for p in err["loc"])
            if loc and any(loc == n or loc.startswith(f"{n}.") for n in names):
                out.append(f"{loc}: {err['msg'].removeprefix('Value error, ')}")
        return out
    return []


class SweepSpec(BaseModel):
    """What a sweep runs: see the module doc. ``objective`` is the run metric (a key of a run's
    ``summary.json`` metrics) the best configuration is chosen by; ``walk_forward`` asks for
    walk-forward folds over the base window (``train=365d,test=90d,step=90d[,anchored]``;
    :mod:`engine.sweep.walkforward`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    base: dict[str, Any]
    axes: dict[str, list[Value] | AxisRange]
    constraints: list[StrictStr] = []
    sample: int | None = Field(None, ge=1)
    seed: int = 0
    objective: str = "sharpe"
    walk_forward: str | None = None

    _configs: list[CallSimulationConfig] = PrivateAttr(default_factory=list)
    _dropped: list[tuple[dict, str]] = PrivateAttr(default_factory=list)
    _excluded: int = PrivateAttr(0)
    _grid: int = PrivateAttr(0)

    @field_validator("base")
    @classmethod
    def _check_base(cls, base: dict[str, Any]) -> dict[str, Any]:
        unknown = [k for k in base if k not in CallSimulationConfig.model_fields]
        if unknown:
            raise ValueError(f"unknown config field {unknown[0]!r}")
        missing = [k for k in REQUIRED if k not in base and k != "underlying"]
        if missing:
            raise ValueError(f"{missing[0]}: required (the sweep's data window)")
        errors = _field_errors({**_PLACEHOLDER, **base}, set(base))
        if errors:
            raise ValueError(errors[0])
        return base

    @field_validator("axes")
    @classmethod
    def _check_axes(cls, axes: dict, info) -> dict:
        if not axes:
            raise ValueError("give at least one field to vary")
        base = {**_PLACEHOLDER, **info.data.get("base", {})}
        grid = 1
        for name, spec in axes.items():
            if name not in FIELDS:
                raise ValueError(f"{name}: unknown config field")
            if not FIELDS[name]:
                raise ValueError(
                    f"{name}: not a numeric or choice field that a sweep can vary "
                    "(start, end and source are the sweep's data)"
                )
            values = spec.values() if isinstance(spec, AxisRange) else spec
            if not values:
                raise ValueError(f"{name}: empty, give at least one value")
            for i, value in enumerate(values):
                errors = _field_errors(_merge(base, {name: value}), {name})
                if errors:
                    raise ValueError(f"{name}[{i}] = {value!r}: {errors[0].split(': ', 1)[1]}")
            grid *= len(values)
            if grid > MAX_GRID:
                raise ValueError(f"more than {MAX_GRID:,} combinations; sample or narrow the axes")
        return axes

    @field_validator("constraints")
    @classmethod
    def _check_constraints(cls, constraints: list[str]) -> list[str]:
        for i, text in enumerate(constraints):
            try:
                Constraint(text, set(FIELDS))
            except ValueError as exc:
                raise ValueError(f"[{i}] {exc}") from exc
        return constraints

    @field_validator("objective")
    @classmethod
    def _check_objective(cls, objective: str) -> str:
        if objective not in METRIC_NAMES:
            raise ValueError(
                f"{objective!r} is not a run metric (one of {', '.join(METRIC_NAMES)})"
            )
        return objective

    @field_validator("walk_forward")
    @classmethod
    def _check_walk_forward(cls, text: str | None) -> str | None:
        if text is not None:
            parse_walk_forward(text)  # a ValueError naming the part at fault
        return text

    @model_validator(mode="after")
    def _build(self) -> "SweepSpec":
        if "underlying" not in self.base and "underlying" not in self.axes:
            raise ValueError("base.underlying: required (or an underlying axis)")
        constraints = [Constraint(text, set(FIELDS)) for text in self.constraints]
        defaults = _defaults()
        names = list(self.axes)
        seen: set[str] = set()
        for combo in itertools.product(*(self.axis_values(n) for n in names)):
            point = dict(zip(names, combo, strict=True))
            data = _merge(self.base, point)
            if not all(c.holds(defaults | _flat(data)) for c in constraints):
                self._excluded += 1
                continue
            try:
                cfg = CallSimulationConfig(**data)
            except ValidationError as exc:
                self._dropped.append((point, describe_errors(exc)))
                continue
            key = cfg.canonical_json()
            if key not in seen:
                seen.add(key)
                self._configs.append(cfg)
        self._grid = math.prod(len(self.axis_values(n)) for n in names)
        if not self._configs:
            why = self._dropped[0][1] if self._dropped else "the constraints exclude every one"
            raise ValueError(f"no valid configuration among {self._grid:,} ({why})")
        if self.walk_forward is not None:
            first = self._configs[0]
            try:
                make_folds(parse_walk_forward(self.walk_forward), first.start, first.end)
            except ValueError as exc:
                raise ValueError(f"walk_forward: {exc}") from exc
        if self.sample is not None and self.sample < len(self._configs):
            rng = np.random.default_rng(self.seed)
            keep = np.sort(rng.choice(len(self._configs), self.sample, replace=False))
            self._configs = [self._configs[i] for i in keep]
        return self

    def axis_values(self, name: str) -> list:
        """The values of axis ``name``."""
        spec = self.axes[name]
        return spec.values() if isinstance(spec, AxisRange) else list(spec)

    def configurations(self) -> list[CallSimulationConfig]:
        """The configurations the sweep runs, in grid order."""
        return list(self._configs)

    def count(self) -> int:
        """How many configurations the sweep runs."""
        return len(self._configs)

    @property
    def dropped(self) -> list[tuple[dict, str]]:
        """Combinations the config refused as a whole: ``(axis values, reason)``."""
        return list(self._dropped)

    def counts(self) -> dict[str, int]:
        """Combinations in the grid, excluded by constraints, dropped as invalid, and run."""
        return {
            "grid": self._grid,
            "excluded_by_constraints": self._excluded,
            "dropped_invalid": len(self._dropped),
            "configurations": len(self._configs),
        }

    def axis_point(self, cfg: CallSimulationConfig) -> dict[str, object]:
        """The axis values of ``cfg`` under the axes' (dotted) names."""
        data = _flat(cfg.model_dump(mode="json"))
        return {name: data[name] for name in self.axes}

    @cached_property
    def canonical_json(self) -> str:
        """Stable JSON of the spec: the input to the sweep id."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
