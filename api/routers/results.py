"""Finished runs: ``/api/backtests`` (history, curves, trades, export, compare, delete).

Also ``/api/backtest/live/equity``: the curves of a paced run as far as it has been published.
Reading lives in :mod:`engine.results.history` and :mod:`engine.results.curves`; this router
only wires it up. A run that is gone is 404, a run whose files cannot be read 409 (saying which
file and why), a deletion the data directory refuses 503. Files are sent from bytes read whole,
so a download racing a deletion is complete or 404.
"""

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import StringConstraints

from api.errors import error_response
from api.report import render_report
from api.schemas import (
    DeleteResponse,
    EquityCurve,
    ErrorResponse,
    RunComparison,
    RunEntry,
    RunOverlay,
    RunSummary,
    Tearsheet,
    TradesPage,
    UnreadableRun,
)
from cache.files import DataDirNotWritableError
from engine.results import history
from engine.results.curves import SERIES, equity_curve
from engine.results.history import (
    RUN_ID_PATTERN,
    TRADE_COLUMNS,
    RunNotFoundError,
    RunUnreadableError,
)
from engine.results.tearsheet import read_tearsheet

router = APIRouter(tags=["results"])

MIN_POINTS, MAX_POINTS, DEFAULT_POINTS = 50, 20_000, 2_000
MAX_PAGE = 500
MAX_OVERLAY, DEFAULT_OVERLAY_POINTS = 8, 1_000
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
NOT_FOUND = {
    404: {"model": ErrorResponse, "description": "no finished run with this id"},
    409: {"model": ErrorResponse, "description": "the run's files cannot be read (says why)"},
}

RunId = Annotated[
    str, Path(pattern=RUN_ID_PATTERN, description="a run id: 16 lowercase hex digits")
]
Points = Annotated[
    int,
    Query(ge=MIN_POINTS, le=MAX_POINTS, description="most instants returned (extremes kept)"),
]


def _data_dir(request: Request):
    return request.app.state.settings.data_dir


def _answer(read: Callable[[], object]) -> object:
    """``read()``, or the error response of a run that is gone, unreadable or not deletable."""
    try:
        return read()
    except RunNotFoundError as exc:
        return error_response(404, str(exc))
    except RunUnreadableError as exc:
        return error_response(409, str(exc), {"run_id": exc.run_id, "unreadable": exc.reason})
    except DataDirNotWritableError as exc:
        return error_response(503, str(exc))


def _download(content: bytes, media_type: str, filename: str) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(content, media_type=media_type, headers=headers)


@router.get("/api/backtests", response_model=list[RunEntry | UnreadableRun])
def list_backtests(request: Request):
    """Every run in the data directory: unreadable ones first (saying why), then newest first."""
    return history.list_runs(_data_dir(request))


@router.get("/api/backtests/compare", response_model=RunComparison, responses=NOT_FOUND)
def compare_backtests(
    request: Request,
    a: Annotated[str, Query(pattern=RUN_ID_PATTERN, description="first run id")],
    b: Annotated[str, Query(pattern=RUN_ID_PATTERN, description="second run id")],
):
    """Two runs side by side: the settings they differ in and every metric."""
    return _answer(lambda: history.compare_runs(_data_dir(request), a, b))


@router.get("/api/backtests/overlay", response_model=RunOverlay, responses=NOT_FOUND)
def overlay_backtests(
    request: Request,
    run: Annotated[
        list[Annotated[str, StringConstraints(pattern=RUN_ID_PATTERN)]],
        Query(min_length=2, max_length=MAX_OVERLAY, description="run ids, two or more"),
    ],
    points: Annotated[int, Query(ge=MIN_POINTS, le=MAX_POINTS)] = DEFAULT_OVERLAY_POINTS,
):
    """Runs side by side: USD equity over what each held at its start, settings, metrics."""
    return _answer(lambda: history.overlay_runs(_data_dir(request), run, points))


@router.get("/api/backtests/{run_id}", response_model=RunSummary, responses=NOT_FOUND)
def get_backtest(request: Request, run_id: RunId):
    """A run's summary: full config, data source, metrics, timings and table sizes."""
    return _answer(lambda: history.read_summary(_data_dir(request), run_id))


@router.get(
    "/api/backtests/{run_id}/summary.json",
    response_model=RunSummary,
    responses=NOT_FOUND,
    response_description="the run's summary.json, as a download",
)
def download_summary(request: Request, run_id: RunId):
    """Download the run's ``summary.json`` file (as it is on disk)."""
    return _answer(
        lambda: _download(
            history.read_file(_data_dir(request), run_id, "summary.json"),
            "application/json",
            f"thetadesk-{run_id}-summary.json",
        )
    )


@router.get("/api/backtests/{run_id}/equity", response_model=EquityCurve, responses=NOT_FOUND)
def get_equity(request: Request, run_id: RunId, points: Points = DEFAULT_POINTS):
    """Equity (USD, coin) vs HODL, drawdowns and spot, thinned; with the trade markers."""
    data_dir = _data_dir(request)

    def curve() -> dict:
        equity = history.read_table(data_dir, run_id, "equity")
        trades = history.read_table(data_dir, run_id, "trades")
        return {"run_id": run_id, "live": False} | equity_curve(equity, trades, points)

    return _answer(curve)


@router.get("/api/backtests/{run_id}/tearsheet", response_model=Tearsheet, responses=NOT_FOUND)
def get_tearsheet(request: Request, run_id: RunId, points: Points = DEFAULT_POINTS):
    """The run's tearsheet as data: month and year returns, drawdowns, rolling risk, daily
    return histogram, trade breakdowns, premium yield, metrics, config and data source."""
    return _answer(lambda: read_tearsheet(_data_dir(request), run_id, points=points))


@router.get(
    "/api/backtests/{run_id}/tearsheet.html",
    response_class=Response,
    responses={
        200: {"description": "one self-contained HTML file", "content": {"text/html": {}}},
        **NOT_FOUND,
    },
)
def download_report(request: Request, run_id: RunId):
    """The run's one-file report (tearsheet, configuration, data source) as a download."""
    return _answer(
        lambda: _download(
            render_report(_data_dir(request), run_id).encode(),
            "text/html; charset=utf-8",
            f"thetadesk-{run_id}-report.html",
        )
    )


@router.get("/api/backtest/live/equity", response_model=EquityCurve)
def get_live_equity(request: Request, points: Points = DEFAULT_POINTS):
    """The curves of the run being published at a pace, up to the step shown last.

    Empty (``live: false``) when no paced run is publishing: an unpaced run is computed in
    seconds and read from ``/api/backtests/{run_id}/equity`` once written.
    """
    published = request.app.state.backtest_manager.published_run()
    if published is None:
        empty = {key: [] for key in ("time_s", *SERIES)}
        return {"run_id": None, "live": False, "rows": 0, "points": 0, "markers": []} | empty
    result, until = published
    curve = equity_curve(result.equity, result.trades, points, until=until)
    return {"run_id": result.run_id, "live": True, "until": until} | curve


@router.get("/api/backtests/{run_id}/trades", response_model=TradesPage, responses=NOT_FOUND)
def get_trades(
    request: Request,
    run_id: RunId,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    sort: Annotated[
        Literal[TRADE_COLUMNS] | None, Query(description="column to sort by; default: open order")
    ] = None,
    desc: bool = False,
):
    """A page of the run's trades, optionally sorted by one column."""

    def page() -> dict:
        total, trades = history.trades_page(
            _data_dir(request), run_id, offset=offset, limit=limit, sort=sort, descending=desc
        )
        query = {"offset": offset, "limit": limit, "sort": sort, "desc": desc}
        return {"run_id": run_id, "total": total, **query, "trades": trades.to_dicts()}

    return _answer(page)


@router.get(
    "/api/backtests/{run_id}/export",
    response_class=Response,
    responses={
        200: {
            "description": "the table as a file download",
            "content": {"text/csv": {}, "application/vnd.apache.parquet": {}},
        },
        **NOT_FOUND,
    },
)
def export_table(
    request: Request,
    run_id: RunId,
    what: Literal["trades", "equity"],
    fmt: Annotated[Literal["csv", "parquet"], Query(alias="format")],
):
    """Download the run's trades or equity as CSV or Parquet (columns: docs/data.md)."""
    data_dir = _data_dir(request)
    read = history.read_table_bytes if fmt == "parquet" else history.table_csv
    return _answer(
        lambda: _download(
            read(data_dir, run_id, what), MEDIA_TYPES[fmt], f"thetadesk-{run_id}-{what}.{fmt}"
        )
    )


@router.delete(
    "/api/backtests/{run_id}",
    response_model=DeleteResponse,
    responses={
        **NOT_FOUND,
        503: {"model": ErrorResponse, "description": "the data directory refuses writes"},
    },
)
def delete_backtest(request: Request, run_id: RunId):
    """Delete a run's folder (its outputs and summary), readable or not; a link: the link only."""

    def delete() -> DeleteResponse:
        history.delete_run(_data_dir(request), run_id)
        return DeleteResponse(deleted=run_id)

    return _answer(delete)
