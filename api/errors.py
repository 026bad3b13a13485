"""One JSON error shape for every 4xx/5xx: ``{"error": str, "detail": ...}``.

A refused request says which field was at fault and why: ``detail`` is a list of
``{"field", "message"}``; a body that is not a JSON object is field ``body``, and malformed JSON
says where it breaks (line, column and character). An endpoint marked with :func:`error_extra`
adds its keys to every error it answers (``/api/backtest/start``: ``"started": false``).
"""

import logging
import re
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)
NOT_AN_OBJECT = ("model_attributes_type", "dict_type", "model_type")
NUMBER_TYPES = ("int_type", "float_type")


def error_response(
    status_code: int, message: str, detail: object = None, **extra: object
) -> JSONResponse:
    """Return the app's single error shape (``extra`` keys ride along, e.g. ``started``)."""
    content = extra | {"error": message, "detail": detail}
    return JSONResponse(status_code=status_code, content=content)


def field_error(status_code: int, field: str, message: str, **extra: object) -> JSONResponse:
    """The error shape for one bad ``field``: ``message`` is the error and the field's reason."""
    return error_response(status_code, message, [{"field": field, "message": message}], **extra)


def error_extra(**extra: object) -> Callable:
    """Mark an endpoint so that every error it answers carries ``extra`` (e.g. ``started``)."""

    def mark(endpoint: Callable) -> Callable:
        endpoint.error_extra = extra
        return endpoint

    return mark


def _extra_of(request: Request) -> dict:
    return getattr(request.scope.get("endpoint"), "error_extra", {})


def validation_fields(
    exc: RequestValidationError | ValidationError, prefix: str = ""
) -> tuple[str, list[dict]]:
    """A one-line message naming every bad field, and the per-field list.

    ``prefix`` is where the validated object sits in the request (``"config."``).
    """
    body = getattr(exc, "body", None)
    fields = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "json_invalid":
            fields.append({"field": "body", "message": _json_error(err, body)})
            continue
        if loc == ("body",):
            message = _body_message(err, message)
        elif isinstance(err.get("input"), bool) and err.get("type") in NUMBER_TYPES:
            message += ", not a boolean"
        path = [str(p) for p in loc if p not in ("body", "query", "path")]
        field = ".".join(path) or _field_named_first(message)
        message = message.removeprefix(f"{field}: ")
        if prefix:  # "body" stands for the whole object checked, here the prefix itself
            field = prefix.removesuffix(".") if field == "body" else prefix + field
        fields.append({"field": field, "message": message})
    summary = "; ".join(
        f["message"] if f["field"] == "body" else f"{f['field']}: {f['message']}" for f in fields
    )
    return f"Invalid request: {summary}", fields


def _json_error(err: dict, doc: object) -> str:
    """Where malformed JSON breaks, as a person finds it in an editor: line and column."""
    reason = (err.get("ctx") or {}).get("error", "malformed JSON")
    pos = err["loc"][1] if len(err["loc"]) > 1 and isinstance(err["loc"][1], int) else None
    if pos is None or not isinstance(doc, str):
        return f"the body is not valid JSON: {reason}"
    line = doc.count("\n", 0, pos) + 1
    column = pos - (doc.rfind("\n", 0, pos) + 1) + 1
    return f"the body is not valid JSON: {reason} at line {line}, column {column} (char {pos})"


def _body_message(err: dict, message: str) -> str:
    """Say what the body must be when it is missing or is not a JSON object."""
    if err.get("type") == "missing":
        return "the body is missing: send a JSON object (Content-Type: application/json)"
    if err.get("type") in NOT_AN_OBJECT:
        sent = err.get("input")
        if isinstance(sent, bytes | bytearray):
            return "the body must be a JSON object sent as Content-Type: application/json"
        return f"the body must be a JSON object, not {_json_kind(sent)}"
    return message


def _json_kind(value: object) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number" if isinstance(value, int | float) else "that")


def _field_named_first(message: str) -> str:
    """Model-level checks start their message with the field at fault ("end (…) must be …")."""
    match = re.match(r"([a-z_]+)(?: \(|: )", message)
    return match.group(1) if match else "body"


def _unparsable_body(cause: BaseException) -> str:
    """Why a body could not be read as JSON at all (FastAPI's 400 keeps only the cause)."""
    if isinstance(cause, UnicodeDecodeError):
        return f"the body is not UTF-8: byte {cause.object[cause.start]:#04x} at {cause.start}"
    if isinstance(cause, RecursionError):
        return "the body's JSON nests too deeply"
    return f"the body could not be read as JSON ({type(cause).__name__})"


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through :func:`error_response`."""

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        extra = _extra_of(request)
        if isinstance(exc.detail, dict) and "error" in exc.detail:
            return JSONResponse(status_code=exc.status_code, content=extra | exc.detail)
        if exc.status_code == 400 and exc.__cause__ is not None:  # the body is not JSON at all
            return field_error(400, "body", _unparsable_body(exc.__cause__), **extra)
        return error_response(exc.status_code, str(exc.detail), **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, fields = validation_fields(exc)
        return error_response(422, message, fields, **_extra_of(request))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, f"Internal error: {type(exc).__name__}", **_extra_of(request))
