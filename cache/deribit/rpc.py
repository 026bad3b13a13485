"""Synchronous Deribit JSON-RPC-over-HTTP client with retries, backoff and token handling.

Public methods are ``GET {base_url}/{method}?{params}``; private ones add
``Authorization: Bearer <token>``. ``public/auth`` is sent as a JSON-RPC POST so that the client
secret travels in the body, never in a URL that a proxy or an HTTP logger might record.

Retries: ``RetryableError`` (rate limits, 10040/10041/13028, HTTP 5xx, timeouts, broken
connections, cut-off or non-JSON bodies) is retried up to ``max_retries`` times with exponential
backoff and equal jitter (half the step fixed, half random: never zero, never above the cap).
Order placement (``private/buy``, ``private/sell``) is not idempotent: it is retried only when
Deribit surely did not act on it (an error envelope, HTTP 429, a refused connection), never after a
read timeout, a 5xx or a cut-off body, where the order may have been placed; tag orders with
``label`` to reconcile then.
"""

import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx

from cache.deribit.errors import (
    UNAUTHORIZED_CODE,
    AuthError,
    DeribitError,
    RateLimitError,
    RetryableError,
    error_from_http,
)
from cache.deribit.parse import parse_auth, parse_envelope

logger = logging.getLogger(__name__)

MAINNET_URL = "https://www.deribit.com/api/v2"
TESTNET_URL = "https://test.deribit.com/api/v2"
NON_IDEMPOTENT_METHODS = frozenset({"private/buy", "private/sell"})
_POST_METHODS = frozenset({"public/auth"})
_REFRESH_MARGIN_S = 60.0  # refresh this long before expiry (or 10% of the lifetime if shorter)


class RpcClient:
    """The transport under :class:`~cache.deribit.client.DeribitClient`: see the module docstring.

    Parameters
    ----------
    base_url : str, optional
        API root, e.g. ``http://127.0.0.1:8123/api/v2`` for a fake server; overrides ``testnet``.
    testnet : bool
        Use ``https://test.deribit.com/api/v2`` when ``base_url`` is not given.
    timeout_s : float
        Per-request timeout (connect, read, write, pool), seconds.
    max_retries : int
        Retries after the first attempt for retryable failures.
    backoff_base_s, backoff_max_s : float
        Backoff before retry ``n`` is ``min(backoff_max_s, backoff_base_s * 2**(n-1))``,
        half of it jittered.
    sleep : callable
        Called with the backoff in seconds; inject a no-op or a recorder in tests.
    client_id, client_secret : str, optional
        API key for private methods (the app reads them from the environment).
    transport : httpx.BaseTransport, optional
        Passed to ``httpx.Client``.
    rng : random.Random, optional
        Jitter source; pass ``random.Random(seed)`` for reproducible delays.
    clock : callable
        Monotonic seconds, used for token expiry.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        testnet: bool = False,
        timeout_s: float = 10.0,
        max_retries: int = 6,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        client_id: str | None = None,
        client_secret: str | None = None,
        transport: httpx.BaseTransport | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be positive: {timeout_s!r}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0: {max_retries!r}")
        if not 0 <= backoff_base_s <= backoff_max_s:
            raise ValueError(
                f"need 0 <= backoff_base_s <= backoff_max_s: {backoff_base_s!r}, {backoff_max_s!r}"
            )
        self.base_url = (base_url or (TESTNET_URL if testnet else MAINNET_URL)).rstrip("/")
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.backoff_base_s = float(backoff_base_s)
        self.backoff_max_s = float(backoff_max_s)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._clock = clock
        self._client_id = client_id
        self._client_secret = client_secret
        self._http = httpx.Client(
            timeout=httpx.Timeout(self.timeout_s),
            transport=transport,
            headers={"User-Agent": "thetadesk", "Accept": "application/json"},
        )
        self._auth_lock = threading.RLock()
        self._access_token: str | None = None
        self._refresh_token: str | None = None
        self._expires_at = 0.0
        self._refresh_at = 0.0
        self._rpc_id = 0

    def __repr__(self) -> str:
        credentials = "set" if self._client_id and self._client_secret else "none"
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, credentials={credentials}, "
            f"max_retries={self.max_retries})"
        )

    def __enter__(self) -> "RpcClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying HTTP connections."""
        self._http.close()

    # ---- generic call ----------------------------------------------------------------------

    def call(self, method: str, **params: Any) -> Any:
        """Call ``method`` (e.g. ``"public/get_time"``) and return its raw ``result``.

        ``None`` params are left out; booleans are sent as ``"true"``/``"false"``.

        Raises
        ------
        DeribitError
            A subclass from :mod:`cache.deribit.errors`, naming the method and, after retries,
            the number of attempts.
        """
        method = method.strip("/")
        private = method.startswith("private/")
        retry_unsafe = method in NON_IDEMPOTENT_METHODS
        reauthenticated = False
        attempt = 0
        while True:
            attempt += 1
            token = self._ensure_token() if private else None
            try:
                return self._send_once(method, params, token)
            except AuthError as exc:
                if private and exc.code == UNAUTHORIZED_CODE and not reauthenticated:
                    # The token was revoked or expired early: one fresh token, then give up.
                    reauthenticated = True
                    attempt -= 1
                    self._forget_token()
                    continue
                raise self._contextual(exc, method, attempt) from None
            except RetryableError as exc:
                if (retry_unsafe and exc.ambiguous) or attempt > self.max_retries:
                    # Chain the transport error (if any), not the unredacted first wrapper.
                    raise self._contextual(exc, method, attempt) from exc.__cause__
                delay = self._backoff_s(attempt, exc)
                logger.warning(
                    "Deribit %s failed: %s (code %s, HTTP %s); attempt %d of %d, retrying in "
                    "%.2f s",
                    method,
                    self._redact(exc.message),
                    exc.code,
                    exc.http_status,
                    attempt,
                    self.max_retries + 1,
                    delay,
                )
                self._sleep(delay)
            except DeribitError as exc:
                raise self._contextual(exc, method, attempt) from None

    def _send_once(self, method: str, params: dict[str, Any], token: str | None) -> Any:
        url = f"{self.base_url}/{method}"
        headers = {"Authorization": f"Bearer {token}"} if token else None
        try:
            if method in _POST_METHODS:
                self._rpc_id += 1
                body = {
                    "jsonrpc": "2.0",
                    "id": self._rpc_id,
                    "method": method,
                    "params": {k: v for k, v in params.items() if v is not None},
                }
                response = self._http.post(url, json=body, headers=headers)
            else:
                response = self._http.get(url, params=_query(params), headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise RetryableError(None, f"connection failed: {type(exc).__name__}: {exc}") from exc
        except httpx.TimeoutException as exc:
            raise RetryableError(
                None,
                f"no response within {self.timeout_s:g} s ({type(exc).__name__})",
                ambiguous=True,
            ) from exc
        except httpx.TransportError as exc:
            raise RetryableError(
                None, f"connection broken: {type(exc).__name__}: {exc}", ambiguous=True
            ) from exc
        return _decode(response)

    def _backoff_s(self, attempt: int, exc: RetryableError) -> float:
        step = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
        delay = step / 2 + self._rng.uniform(0, step / 2)
        if isinstance(exc, RateLimitError) and exc.retry_after_s:
            delay = max(delay, min(exc.retry_after_s, self.backoff_max_s))
        return delay

    def _contextual(self, exc: DeribitError, method: str, attempts: int) -> DeribitError:
        return exc.with_context(method=method, attempts=attempts, redact=self._secrets())

    def _secrets(self) -> list[str]:
        return [s for s in (self._client_secret, self._access_token, self._refresh_token) if s]

    def _redact(self, text: str) -> str:
        for secret in self._secrets():
            text = text.replace(secret, "***")
        return text

    # ---- authentication --------------------------------------------------------------------

    def auth(self) -> dict[str, Any]:
        """Authenticate with the constructor's client credentials and cache the token.

        Returns ``{"expires_in": s, "scope": str, "token_type": "bearer"}``; the tokens
        themselves stay inside the client.
        """
        with self._auth_lock:
            info = self._authenticate("client_credentials")
        return {key: info[key] for key in ("expires_in", "scope", "token_type")}

    def _ensure_token(self) -> str:
        with self._auth_lock:
            now = self._clock()
            if self._access_token and now < self._refresh_at:
                return self._access_token
            if self._refresh_token and now < self._expires_at:
                try:
                    self._authenticate("refresh_token")
                    return self._access_token
                except AuthError as exc:
                    logger.info(
                        "Deribit token refresh rejected (code %s); logging in again", exc.code
                    )
            self._authenticate("client_credentials")
            return self._access_token

    def _authenticate(self, grant_type: str) -> dict[str, Any]:
        if grant_type == "client_credentials":
            if not (self._client_id and self._client_secret):
                raise AuthError(None, "private methods need client_id and client_secret")
            params = {
                "grant_type": grant_type,
                "client_id": self._client_id,
                "client_secret": self._client_secret,
            }
        else:
            params = {"grant_type": grant_type, "refresh_token": self._refresh_token}
        issued_at = self._clock()
        info = parse_auth(self.call("public/auth", **params))
        lifetime = float(info["expires_in"])
        self._access_token = info["access_token"]
        self._refresh_token = info["refresh_token"]
        self._expires_at = issued_at + lifetime
        self._refresh_at = self._expires_at - min(_REFRESH_MARGIN_S, 0.1 * lifetime)
        logger.info("Deribit %s authentication done; token valid for %.0f s", grant_type, lifetime)
        return info

    def _forget_token(self) -> None:
        with self._auth_lock:
            self._access_token = None
            self._refresh_at = 0.0


def _decode(response: httpx.Response) -> Any:
    """Turn an HTTP response into a ``result`` or the matching exception."""
    status = response.status_code
    retry_after = _retry_after_s(response)
    try:
        payload = json.loads(response.content)
    except ValueError:
        raise error_from_http(status, response.content, retry_after_s=retry_after) from None
    is_envelope = isinstance(payload, dict) and ("result" in payload or "error" in payload)
    if not is_envelope and status != 200:
        raise error_from_http(status, response.content, retry_after_s=retry_after)
    try:
        return parse_envelope(payload, http_status=status)
    except RateLimitError as exc:
        exc.retry_after_s = retry_after
        raise


def _retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _query(params: dict[str, Any]) -> dict[str, str]:
    """Render params as Deribit expects them in a query string."""
    out = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, int):
            out[key] = str(value)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError(f"parameter {key} is not finite: {value!r}")
            # Positional notation: never send exponent forms such as 1e-05.
            out[key] = format(Decimal(repr(value)), "f")
        elif isinstance(value, str):
            out[key] = value
        else:
            raise ValueError(f"parameter {key} has unsupported type {type(value).__name__}")
    return out
