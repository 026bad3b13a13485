"""``/api/backtest/{start,status,stop}``: drive the BacktestManager."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from api.errors import error_extra, error_response, validation_fields
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
from engine.compute_slot import busy_message
from engine.config import CallSimulationConfig, FieldValueError

router = APIRouter(prefix="/api/backtest", tags=["backtest"])

ALREADY_RUNNING = "Backtest already running"
NOT_STARTED = {"started": False}  # every error of a start says so, as the seed's API did


def _refuse(status_code: int, message: str, fields: tuple[str, ...] = ()) -> JSONResponse:
    """The app's error shape, ``started: false``, and ``message`` as the reason of each field."""
    detail = [{"field": f, "message": message} for f in fields] or None
    return error_response(status_code, message, detail, **NOT_STARTED)


@router.post(
    "/start",
    response_model=StartResponse,
    responses={
        409: {"model": ErrorResponse, "description": f"{ALREADY_RUNNING}, or a sweep is"},
        400: {
            "model": ErrorResponse,
            "description": "the body is not JSON, or the data cannot run the config",
        },
        404: {"model": ErrorResponse, "description": "unknown data source"},
        503: {"model": ErrorResponse, "description": "the data directory refuses writes"},
    },
)
@error_extra(**NOT_STARTED)
def start_backtest(body: BacktestStartRequest, request: Request):
    """Validate the request, build the config and start the run."""
    manager = request.app.state.backtest_manager
    fields = body.model_dump(exclude_none=True, exclude={"pace"})
    try:
        cfg = CallSimulationConfig(**fields)
    except ValidationError as exc:
        message, detail = validation_fields(exc)
        return error_response(422, message, detail, **NOT_STARTED)
    try:
        manager.validate(cfg)
    except DataDirNotWritableError as exc:
        return _refuse(503, str(exc))
    except SourceNotFoundError as exc:
        return _refuse(404, str(exc), ("source",))
    except (DataNotCoveredError, FieldValueError) as exc:
        return _refuse(400, str(exc), exc.fields)
    except ValueError as exc:
        return _refuse(400, str(exc), ("config",))
    if not manager.start(cfg, pace=body.pace):
        return _refuse(409, busy_message(manager.slot.holder, "backtest"))
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
