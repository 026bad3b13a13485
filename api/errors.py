"""One JSON error shape for every 4xx/5xx: ``{"error": str, "detail": ...}``."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


def error_response(status_code: int, message: str, detail: object = None) -> JSONResponse:
    """Return the app's single error shape."""
    return JSONResponse(status_code=status_code, content={"error": message, "detail": detail})


def _describe_validation(exc: RequestValidationError) -> tuple[str, list[dict]]:
    fields = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        fields.append({"field": ".".join(loc) or "body", "message": err.get("msg", "invalid")})
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return f"Invalid request: {summary}", fields


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through :func:`error_response`."""

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.detail, dict) and "error" in exc.detail:
            return JSONResponse(status_code=exc.status_code, content=exc.detail)
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, fields = _describe_validation(exc)
        return error_response(422, message, fields)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, f"Internal error: {type(exc).__name__}")
