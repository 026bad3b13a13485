"""Deribit errors: one exception hierarchy for JSON-RPC error envelopes and transport failures.

Deribit reports failures as ``{"error": {"code": int, "message": str, "data"?: ...}}``; the HTTP
layer adds 429, 5xx, timeouts and broken connections. Callers catch by meaning:

============================  =========================================================  ========
class                         raised for                                                 retried
============================  =========================================================  ========
``RateLimitError``            10028 ``too_many_requests``, HTTP 429                      yes
``RetryableError``            10040 ``retry``, 10041 ``settlement_in_progress``,         yes
                              13028 ``temporarily_unavailable``, HTTP 5xx, timeouts,
                              connection errors
``MalformedResponseError``    a body that is not JSON or not a JSON-RPC envelope         yes
``AuthError``                 10000, 13004, 13009, 13021, 13403, missing credentials     no
``InvalidParamsError``        -32602 (``data.reason``/``data.param``), -32000, 13010     no
``MethodNotFoundError``       -32601                                                     no
``ResponseFormatError``       a ``result`` without a field we rely on, or of wrong type  no
``DeribitError``              any other code (e.g. 10009 ``not_enough_funds``)           no
============================  =========================================================  ========

13010 is Deribit's ``value_required`` (a missing parameter), so it is filed under invalid params.
"""

import copy
from collections.abc import Iterable
from typing import Any, Self

RATE_LIMIT_CODES = frozenset({10028})
RETRYABLE_CODES = frozenset({10040, 10041, 13028})
AUTH_CODES = frozenset({10000, 13004, 13009, 13021, 13403})
INVALID_PARAMS_CODES = frozenset({-32602, -32000, 13010})
METHOD_NOT_FOUND_CODE = -32601
UNAUTHORIZED_CODE = 13009  # wrong or expired token: worth one re-authentication

_BODY_SNIPPET_CHARS = 120


class DeribitError(Exception):
    """A failed Deribit call.

    Parameters
    ----------
    code : int or None
        Deribit's JSON-RPC error code; None for HTTP or transport failures without an envelope.
    message : str
        Deribit's error message (e.g. ``"too_many_requests"``) or a description of the failure.
    data : Any, optional
        The envelope's ``error.data`` (a dict with ``reason``/``param`` for invalid params).
    method : str, optional
        The API method, e.g. ``"public/get_time"``.
    http_status : int, optional
        The HTTP status of the response, when there was one.
    attempts : int
        How many times the call was sent before giving up.
    """

    def __init__(
        self,
        code: int | None,
        message: str,
        data: Any = None,
        *,
        method: str | None = None,
        http_status: int | None = None,
        attempts: int = 1,
    ) -> None:
        self.code = code
        self.message = message
        self.data = data
        self.method = method
        self.http_status = http_status
        self.attempts = attempts
        super().__init__(self._render())

    def _render(self) -> str:
        text = self.message
        if self.code is not None:
            text += f" (code {self.code})"
        if self.http_status is not None:
            text += f" [HTTP {self.http_status}]"
        if isinstance(self.data, dict) and ("reason" in self.data or "param" in self.data):
            text += f": reason={self.data.get('reason')!r}, param={self.data.get('param')!r}"
        if self.method:
            text = f"{self.method}: {text}"
        if self.attempts > 1:
            text += f"; gave up after {self.attempts} attempts"
        return text

    def __reduce__(self):
        # Rebuild from attributes: the default pickles only ``args`` (the rendered text).
        return _rebuild, (type(self), dict(self.__dict__))

    def with_context(
        self,
        *,
        method: str | None = None,
        attempts: int | None = None,
        redact: Iterable[str] = (),
    ) -> Self:
        """Return a copy (same class) naming the method and attempts, with secrets blanked."""
        clone = copy.copy(self)
        if method is not None:
            clone.method = method
        if attempts is not None:
            clone.attempts = attempts
        for secret in redact:
            clone.message = clone.message.replace(secret, "***")
        clone.args = (clone._render(),)
        return clone


def _rebuild(cls: type[DeribitError], state: dict[str, Any]) -> DeribitError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    error.args = (error._render(),)
    return error


class RetryableError(DeribitError):
    """A failure that may pass on retry.

    ``ambiguous`` is True when the request may have reached Deribit and been executed (a read
    timeout, a 5xx from a gateway, a cut-off body); order placement must not be retried then.
    """

    def __init__(self, *args: Any, ambiguous: bool = False, **kwargs: Any) -> None:
        self.ambiguous = ambiguous
        super().__init__(*args, **kwargs)


class RateLimitError(RetryableError):
    """Deribit's 10028 ``too_many_requests`` or HTTP 429: back off, then retry."""

    def __init__(self, *args: Any, retry_after_s: float | None = None, **kwargs: Any) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(*args, **kwargs)


class MalformedResponseError(RetryableError):
    """A body that is not JSON (truncated, an HTML error page) or not a JSON-RPC envelope."""


class AuthError(DeribitError):
    """Missing, invalid or expired credentials or token, or a scope that does not allow the call."""


class InvalidParamsError(DeribitError):
    """Deribit rejected a parameter; ``reason`` and ``param`` say which and why."""

    @property
    def reason(self) -> str | None:
        """Deribit's ``data.reason``, e.g. ``"invalid currency"``."""
        return self.data.get("reason") if isinstance(self.data, dict) else None

    @property
    def param(self) -> str | None:
        """Deribit's ``data.param``: the offending parameter's name."""
        return self.data.get("param") if isinstance(self.data, dict) else None


class MethodNotFoundError(DeribitError):
    """JSON-RPC -32601: the method does not exist (typo, or not available over HTTP)."""


class ResponseFormatError(DeribitError):
    """A ``result`` lacks a field we rely on or has a value of the wrong type (not retried)."""


def error_from_rpc(
    code: Any, message: Any, data: Any = None, *, http_status: int | None = None
) -> DeribitError:
    """Build the exception for a JSON-RPC ``error`` object."""
    if not isinstance(code, int) or isinstance(code, bool):
        return MalformedResponseError(
            None,
            f"error envelope without an integer code: {code!r}",
            http_status=http_status,
            ambiguous=True,
        )
    text = str(message) if message is not None else "unknown error"
    if code in RATE_LIMIT_CODES:
        return RateLimitError(code, text, data, http_status=http_status)
    if code in RETRYABLE_CODES:
        return RetryableError(code, text, data, http_status=http_status)
    if code in AUTH_CODES:
        return AuthError(code, text, data, http_status=http_status)
    if code in INVALID_PARAMS_CODES:
        return InvalidParamsError(code, text, data, http_status=http_status)
    if code == METHOD_NOT_FOUND_CODE:
        return MethodNotFoundError(code, text, data, http_status=http_status)
    return DeribitError(code, text, data, http_status=http_status)


def error_from_http(
    status: int, body: bytes, *, retry_after_s: float | None = None
) -> DeribitError:
    """Build the exception for an HTTP failure whose body is not a JSON-RPC error envelope."""
    snippet = body[:_BODY_SNIPPET_CHARS].decode("utf-8", "replace").strip()
    text = f"HTTP {status}" + (f": {snippet!r}" if snippet else "")
    if status == 429:
        return RateLimitError(None, text, http_status=status, retry_after_s=retry_after_s)
    if status >= 500:
        return RetryableError(None, text, http_status=status, ambiguous=True)
    if status == 200:
        return MalformedResponseError(
            None, f"body is not JSON: {snippet!r}", http_status=status, ambiguous=True
        )
    return DeribitError(None, text, http_status=status)
