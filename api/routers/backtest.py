"""``/api/backtest/{start,status,stop}``: drive the BacktestManager."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from api.errors import error_response, validation_fields
from api.schemas import (
    BacktestStartRequest,
    BacktestStatus,
    ErrorResponse,
    StartResponse,
    StopResponse,
)
from cache.datasource import DataNotCoveredError
from cache.files import DataDirNotWritableError
from cache.store import SourceNotFoundError
from engine.config import CallSimulationConfig, FieldValueError

router = APIRouter(prefix="/api/backtest", tags=["backtest"])

ALREADY_RUNNING = "Backtest already running"


def _refuse(status_code: int, message: str, detail: object = None) -> JSONResponse:
    """The app's error shape plus the seed's ``started: false``."""
    return error_response(status_code, message, detail, started=False)


@router.post(
    "/start",
    response_model=StartResponse,
    responses={
        409: {"model": ErrorResponse, "description": ALREADY_RUNNING},
        400: {"model": ErrorResponse, "description": "the cache does not cover the range"},
        404: {"model": ErrorResponse, "description": "unknown data source"},
        503: {"model": ErrorResponse, "description": "the data directory refuses writes"},
    },
)
def start_backtest(body: BacktestStartRequest, request: Request):
    """Validate the request, build the config and start the run."""
    manager = request.app.state.backtest_manager
    fields = body.model_dump(exclude_none=True, exclude={"pace"})
    try:
        cfg = CallSimulationConfig(**fields)
    except ValidationError as exc:
        message, detail = validation_fields(exc)
        return _refuse(422, message, detail)
    try:
        manager.validate(cfg)
    except DataDirNotWritableError as exc:
        return _refuse(503, str(exc))
    except SourceNotFoundError as exc:
        return _refuse(404, str(exc), [{"field": "source", "message": str(exc)}])
    except DataNotCoveredError as exc:
        return _refuse(400, str(exc), [{"field": "start", "message": str(exc)}])
    except FieldValueError as exc:
        return _refuse(400, str(exc), [{"field": exc.field, "message": str(exc)}])
    except ValueError as exc:
        return _refuse(400, str(exc), [{"field": "config", "message": str(exc)}])
    if not manager.start(cfg, pace=body.pace):
        return _refuse(409, ALREADY_RUNNING)
    return StartResponse(started=True)


@router.get("/status", response_model=BacktestStatus)
def backtest_status(request: Request):
    """The status of the current (or last) run."""
    return request.app.state.backtest_manager.get_status()


@router.post("/stop", response_model=StopResponse)
def stop_backtest(request: Request) -> StopResponse:
    """Ask the running backtest to stop."""
    request.app.state.backtest_manager.stop()
    return StopResponse(stopping=True)
