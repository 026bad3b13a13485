"""One JSON error shape for every 4xx/5xx: ``{"error": str, "detail": ...}``."""

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


def error_response(
    status_code: int, message: str, detail: object = None, **extra: object
) -> JSONResponse:
    """Return the app's single error shape (``extra`` keys ride along, e.g. ``started``)."""
    content = extra | {"error": message, "detail": detail}
    return JSONResponse(status_code=status_code, content=content)


def validation_fields(exc: RequestValidationError | ValidationError) -> tuple[str, list[dict]]:
    """A one-line message naming every bad field, and the per-field list."""
    fields = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        field = ".".join(loc) or _field_named_first(message)
        fields.append({"field": field, "message": message})
    summary = "; ".join(
        f["message"] if f["field"] == "body" else f"{f['field']}: {f['message']}" for f in fields
    )
    return f"Invalid request: {summary}", fields


def _field_named_first(message: str) -> str:
    """Model-level checks start their message with the field at fault ("end (…) must be …")."""
    match = re.match(r"([a-z_]+)(?: \(|: )", message)
    return match.group(1) if match else "body"


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through :func:`error_response`."""

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.detail, dict) and "error" in exc.detail:
            return JSONResponse(status_code=exc.status_code, content=exc.detail)
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, fields = validation_fields(exc)
        return error_response(422, message, fields)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, f"Internal error: {type(exc).__name__}")
