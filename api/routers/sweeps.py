"""``/api/sweeps``: count, start, watch and stop a sweep; list, read, chart and delete sweeps.

The work lives in :mod:`engine.sweep` (the manager, the store and the views of a results table);
this router only wires it up. A spec is checked by ``SweepSpec`` here, in the endpoint's thread
rather than on the event loop, since a large grid takes a moment to build. A sweep that is gone
is 404, one whose files cannot be read 409 (saying which file and why), never a 500. A sweep and
a backtest never run at the same time: starting one while the other runs is 409 naming it.
"""

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from api.errors import error_response, field_error, validation_fields
from api.schemas import (
    ErrorResponse,
    StopResponse,
    SweepCount,
    SweepDeleted,
    SweepFields,
    SweepHeatmap,
    SweepRequest,
    SweepRowRun,
    SweepRowsPage,
    SweepStartResponse,
    SweepStatus,
    SweepWalkForwardCurve,
)
from cache.datasource import DataNotCoveredError
from cache.files import DataDirNotWritableError
from cache.store import SourceNotFoundError
from engine.compute_slot import busy_message
from engine.config import FieldValueError
from engine.results import history
from engine.results.history import RunNotFoundError, RunUnreadableError
from engine.sweep import store
from engine.sweep.spec import DROPPED_SHOWN, METRIC_NAMES, SweepSpec, objective_maximized
from engine.sweep.store import SWEEP_ID_PATTERN, SweepNotFoundError, SweepUnreadableError
from engine.sweep.views import (
    Reduce,
    ViewError,
    axis_fields,
    heatmap,
    results_page,
    row_configuration,
    walk_forward_curve,
)

router = APIRouter(prefix="/api/sweeps", tags=["sweeps"])

MAX_PAGE = 1000
MIN_POINTS, MAX_POINTS = 50, 20_000
NOT_FOUND = {
    404: {"model": ErrorResponse, "description": "no sweep with this id"},
    409: {"model": ErrorResponse, "description": "the sweep's files cannot be read (says why)"},
}
BAD_SPEC = {422: {"model": ErrorResponse, "description": "the spec is invalid (names the field)"}}
STARTS = {
    400: {"model": ErrorResponse, "description": "the data cannot run a configuration"},
    404: {"model": ErrorResponse, "description": "unknown data source"},
    409: {"model": ErrorResponse, "description": "a sweep or a backtest is running (says which)"},
    503: {"model": ErrorResponse, "description": "the data directory refuses writes"},
}

SweepId = Annotated[
    str, Path(pattern=SWEEP_ID_PATTERN, description="a sweep id: 16 lowercase hex digits")
]


def _data_dir(request: Request):
    return request.app.state.settings.data_dir


def _spec(body: SweepRequest) -> SweepSpec | JSONResponse:
    """The body's spec, or the 422 naming the field at fault."""
    try:
        return SweepSpec(**body.model_dump(exclude={"executor"}, exclude_unset=True))
    except ValidationError as exc:
        message, detail = validation_fields(exc)
        return error_response(422, message, detail)


def _answer(read: Callable[[], object]) -> object:
    """``read()``, or the error response of a sweep that is gone, unreadable or asked wrongly."""
    try:
        return read()
    except (SweepNotFoundError, RunNotFoundError) as exc:
        return error_response(404, str(exc))
    except (SweepUnreadableError, RunUnreadableError) as exc:
        return error_response(409, str(exc))
    except ViewError as exc:
        return field_error(404 if exc.field == "row" else 422, exc.field, str(exc))
    except DataDirNotWritableError as exc:
        return error_response(503, str(exc))


def _refused(check: Callable[[], object]) -> object:
    """``check()``, or the error response of a run the data cannot make."""
    try:
        return check()
    except DataDirNotWritableError as exc:
        return error_response(503, str(exc))
    except SourceNotFoundError as exc:
        return field_error(404, "base.source", str(exc))
    except (DataNotCoveredError, FieldValueError) as exc:
        fields = [{"field": f"base.{f}", "message": str(exc)} for f in exc.fields]
        return error_response(400, str(exc), fields)
    except ValueError as exc:
        return field_error(400, "base", str(exc))


@router.get("/fields", response_model=SweepFields)
def sweep_fields() -> SweepFields:
    """What a spec may name: the fields an axis may vary and the metrics (objective, heatmap)."""
    metrics = [{"name": m, "maximize": objective_maximized(m)} for m in METRIC_NAMES]
    return SweepFields(axes=axis_fields(), metrics=metrics)


@router.post("/count", response_model=SweepCount, responses=BAD_SPEC)
def count_sweep(body: SweepRequest):
    """How many configurations a spec makes (the form shows it before starting)."""
    spec = _spec(body)
    if isinstance(spec, JSONResponse):
        return spec
    dropped = [{"axes": point, "reason": why} for point, why in spec.dropped[:DROPPED_SHOWN]]
    return SweepCount(**spec.counts(), dropped=dropped)


@router.post("/start", response_model=SweepStartResponse, responses={**BAD_SPEC, **STARTS})
def start_sweep(body: SweepRequest, request: Request):
    """Check the spec and its data, then start the sweep on the worker thread."""
    spec = _spec(body)
    if isinstance(spec, JSONResponse):
        return spec
    manager = request.app.state.sweep_manager
    plan = _refused(lambda: manager.check(spec))
    if isinstance(plan, JSONResponse):
        return plan
    if not manager.start(spec, plan):
        return error_response(409, busy_message(manager.slot.holder, "sweep"))
    return SweepStartResponse(
        started=True, sweep_id=plan.sweep_id, configurations=plan.configurations
    )


@router.get("/status", response_model=SweepStatus)
def sweep_status(request: Request):
    """The status of the current (or last) sweep."""
    return request.app.state.sweep_manager.get_status()


@router.post("/stop", response_model=StopResponse)
def stop_sweep(request: Request) -> StopResponse:
    """Ask the running sweep to stop (between configurations)."""
    request.app.state.sweep_manager.stop()
    return StopResponse(stopping=True)


@router.get("", response_model=list[dict])
def list_sweeps(request: Request):
    """Every sweep: unreadable ones first (saying why, so they can be deleted), then newest
    first, each with its base, axes, size, data source (SYNTHETIC flag) and best row."""
    return store.list_sweeps(_data_dir(request))


@router.get("/{sweep_id}", response_model=dict, responses=NOT_FOUND)
def get_sweep(request: Request, sweep_id: SweepId):
    """A sweep's ``summary.json``: spec, counts, data block, timings, best rows, statistics."""
    return _answer(lambda: store.read_summary(_data_dir(request), sweep_id))


@router.get("/{sweep_id}/results", response_model=SweepRowsPage, responses=NOT_FOUND)
def get_results(
    request: Request,
    sweep_id: SweepId,
    sort: Annotated[str | None, Query(description="a column: an axis, a metric or row")] = None,
    desc: bool = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
):
    """A page of the results table (one row per configuration), sorted by one column."""

    def page() -> SweepRowsPage:
        stored = store.load_sweep(_data_dir(request), sweep_id)
        rows = results_page(stored.results, sort, desc, offset, limit)
        return SweepRowsPage(
            sweep_id=sweep_id,
            total=stored.results.height,
            offset=offset,
            limit=limit,
            sort=sort,
            desc=desc,
            axes=list(stored.summary["spec"]["axes"]),
            rows=rows,
        )

    return _answer(page)


@router.get("/{sweep_id}/heatmap", response_model=SweepHeatmap, responses=NOT_FOUND)
def get_heatmap(
    request: Request,
    sweep_id: SweepId,
    metric: Annotated[str, Query(description="a run metric, e.g. sharpe")],
    x: Annotated[str, Query(description="the axis along the columns")],
    y: Annotated[str | None, Query(description="the axis along the rows; none: one row")] = None,
    reduce: Annotated[Reduce, Query(description="how the other axes are reduced")] = "max",
):
    """``metric`` over two axes; each cell reduces the configurations that share it."""

    def grid() -> SweepHeatmap:
        stored = store.load_sweep(_data_dir(request), sweep_id)
        axes = list(stored.summary["spec"]["axes"])
        cells = heatmap(stored.results, axes, metric, x, y or None, reduce)
        return SweepHeatmap(sweep_id=sweep_id, maximize=objective_maximized(metric), **cells)

    return _answer(grid)


@router.get(
    "/{sweep_id}/walk-forward",
    response_model=SweepWalkForwardCurve,
    responses={
        **NOT_FOUND,
        404: {"model": ErrorResponse, "description": "no such sweep, or it has no walk-forward"},
    },
)
def get_walk_forward(
    request: Request,
    sweep_id: SweepId,
    points: Annotated[int, Query(ge=MIN_POINTS, le=MAX_POINTS, description="most instants")] = 2000,
):
    """The walk-forward's out-of-sample equity against HODL (the folds are in the summary)."""
    return _answer(
        lambda: SweepWalkForwardCurve(
            sweep_id=sweep_id, **walk_forward_curve(_data_dir(request), sweep_id, points)
        )
    )


@router.post(
    "/{sweep_id}/rows/{row}/backtest",
    response_model=SweepRowRun,
    responses={**NOT_FOUND, **STARTS},
)
def run_row(request: Request, sweep_id: SweepId, row: Annotated[int, Path(ge=0)]):
    """Open one configuration's full run: from the run history when it is there, else start it
    as an ordinary backtest (kept in the history like any run)."""
    data_dir = _data_dir(request)
    found = _answer(lambda: row_configuration(data_dir, sweep_id, row))
    if isinstance(found, JSONResponse):
        return found
    cfg, run_id = found
    try:
        history.read_summary(data_dir, run_id)
        return SweepRowRun(sweep_id=sweep_id, row=row, run_id=run_id, started=False)
    except (RunNotFoundError, RunUnreadableError):
        pass  # computed (again) below
    manager = request.app.state.backtest_manager
    checked = _refused(lambda: manager.validate(cfg))
    if isinstance(checked, JSONResponse):
        return checked
    if not manager.start(cfg):
        return error_response(409, busy_message(manager.slot.holder, "backtest"))
    return SweepRowRun(sweep_id=sweep_id, row=row, run_id=run_id, started=True)


@router.delete(
    "/{sweep_id}",
    response_model=SweepDeleted,
    responses={**NOT_FOUND, 503: STARTS[503]},
)
def delete_sweep(request: Request, sweep_id: SweepId):
    """Delete a sweep's folder (readable or not); the runs opened from it stay in the history."""

    def delete() -> SweepDeleted:
        store.delete_sweep(_data_dir(request), sweep_id)
        return SweepDeleted(deleted=sweep_id)

    return _answer(delete)
