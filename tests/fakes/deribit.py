"""A fake Deribit JSON-RPC-over-HTTP server for tests: real sockets, Deribit's envelopes.

Usage::

    with FakeDeribit() as server:
        client = DeribitClient(server.url, client_id=server.client_id,
                               client_secret=server.client_secret, sleep=lambda s: None)
        server.inject("rate_limit", method="get_time", times=2)
        client.get_time()
        assert [r.method for r in server.requests] == ["public/get_time"] * 3

It runs ``http.server.ThreadingHTTPServer`` on 127.0.0.1 (a free port) in a background thread and
answers ``GET /api/v2/<method>?<params>`` and JSON-RPC ``POST`` bodies with Deribit's envelope
(``jsonrpc``, ``id`` when the request had one, ``result`` or ``error{code, message, data?}``,
``usIn``, ``usOut``, ``usDiff``, ``testnet``). Market data is deterministic (see
tests/fakes/deribit_market.py and tests/fakes/deribit_chain.py); "now" is ``server.now_ms``.

Methods: public/get_time, public/test, public/get_tradingview_chart_data (BTC-/ETH-PERPETUAL),
public/get_volatility_index_data, public/get_delivery_prices, public/get_index_price,
public/get_book_summary_by_currency, public/get_instruments, public/ticker (options and
perpetuals), public/auth, private/buy, private/sell, private/get_positions,
private/get_open_orders_by_currency, private/get_account_summary. Anything else is -32601; bad
params are -32602 with data.reason and data.param; private methods without a live bearer token
are 13009 ``unauthorized`` (HTTP 401).

Limits, chosen because Deribit's are undocumented: a chart reply holds at most
``chart_max_candles`` candles, keeping the ones nearest ``end_timestamp`` (``chart_keep="last"``)
or ``start_timestamp`` (``"first"``); a DVOL reply holds at most ``dvol_max_points`` rows, the
latest ones, with ``continuation`` = the earliest returned timestamp (so pages overlap by one
point; ``dvol_overlap=False`` makes it that timestamp minus one). Only complete candles are
served. ``data_gaps`` are ``(start_ms, end_ms)`` ranges with no candles and no DVOL.

Faults (thread-safe): ``inject(kind, method=None, times=1, after=0)`` makes the next ``times``
matching requests, after skipping ``after`` of them, fail with ``kind``: ``rate_limit`` (10028,
HTTP 429), ``retry`` (10040), ``settlement_in_progress`` (10041), ``temporarily_unavailable``
(13028), ``error`` (any ``code``/``message``/``data``), ``http_500``, ``http_502``, ``http_429``
(plain-text bodies), ``timeout`` (sleep ``timeout_sleep_s``, then answer normally: the request
was executed), ``truncated`` (headers promise the full body, half is sent, then the connection
closes), ``malformed`` (a complete reply whose body is cut-off JSON), ``disconnect`` (closed with
no reply) and ``gap`` (chart/DVOL answer with no data). ``requests`` logs every request.
"""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes import deribit_public as public
from tests.fakes.deribit_market import utc_ms
from tests.fakes.deribit_private import FakeAccount, RpcError

DEFAULT_NOW_MS = utc_ms(2025, 12, 10, 12)
RPC_FAULTS = {
    "rate_limit": (10028, "too_many_requests", 429),
    "retry": (10040, "retry", 400),
    "settlement_in_progress": (10041, "settlement_in_progress", 400),
    "temporarily_unavailable": (13028, "temporarily_unavailable", 400),
}
HTTP_FAULTS = {
    "http_500": (500, b"Internal Server Error"),
    "http_502": (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
    "http_429": (429, b"Too Many Requests"),
}
OTHER_FAULTS = ("error", "timeout", "truncated", "malformed", "disconnect", "gap")
FAULT_KINDS = (*RPC_FAULTS, *HTTP_FAULTS, *OTHER_FAULTS)
GAP_METHODS = ("public/get_tradingview_chart_data", "public/get_volatility_index_data")
API_PREFIX = "/api/v2/"


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the fake saw it (``client_secret`` blanked)."""

    method: str
    params: dict[str, Any]
    http_method: str
    authorization: bool  # whether an Authorization header was sent
    fault: str | None


@dataclass
class _Fault:
    kind: str
    method: str | None
    times: int
    after: int
    error: tuple[int, str, Any] | None = None

    def matches(self, method: str) -> bool:
        if self.method is None:
            return self.kind != "gap" or method in GAP_METHODS
        return method == self.method or method.endswith("/" + self.method)


@dataclass
class FakeDeribit:
    """The fake server; see the module docstring. Use it as a context manager."""

    seed: int = 7
    now_ms: int = DEFAULT_NOW_MS
    chart_max_candles: int = 1000
    chart_keep: str = "last"
    dvol_max_points: int = 1000
    dvol_overlap: bool = True
    data_gaps: tuple[tuple[int, int], ...] = ()
    client_id: str = "fake-client-id"
    client_secret: str = "fake-client-secret"
    token_ttl_s: int = 900
    balances: dict[str, float] = field(default_factory=lambda: {"BTC": 10.0, "ETH": 100.0})
    timeout_sleep_s: float = 0.5
    testnet: bool = False

    def __post_init__(self) -> None:
        if self.chart_keep not in ("last", "first"):
            raise ValueError(f"chart_keep must be 'last' or 'first': {self.chart_keep!r}")
        if self.chart_max_candles < 1 or self.dvol_max_points < 1 + self.dvol_overlap:
            raise ValueError(
                "chart_max_candles must be >= 1 and dvol_max_points >= 2 (1 if "
                "dvol_overlap is False)"
            )
        self.account = FakeAccount(
            self.seed, self.client_id, self.client_secret, self.token_ttl_s, dict(self.balances)
        )
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._log: list[LoggedRequest] = []
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "FakeDeribit":
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="fake-deribit",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; sleeping ``timeout`` faults wake up and finish at once."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = None

    def __enter__(self) -> "FakeDeribit":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The API root to give a client, e.g. ``http://127.0.0.1:54321/api/v2``."""
        if self._httpd is None:
            raise RuntimeError("the fake server is not running")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/api/v2"

    # ---- test controls -----------------------------------------------------------------------

    def agent_env(self, position_size: float = 0.5, cycle_seconds: float = 0.1) -> dict[str, str]:
        """The ``THETADESK_*`` settings of a BTC testnet agent trading on this fake."""
        return {
            "THETADESK_AGENT_FEED": "deribit",
            "THETADESK_AGENT_BROKER": "testnet",
            "THETADESK_DERIBIT_URL": self.url,
            "THETADESK_DERIBIT_CLIENT_ID": self.client_id,
            "THETADESK_DERIBIT_CLIENT_SECRET": self.client_secret,
            "THETADESK_AGENT_UNDERLYING": "BTC",
            "THETADESK_AGENT_POSITION_SIZE": str(position_size),
            "THETADESK_AGENT_CYCLE_SECONDS": str(cycle_seconds),
        }

    def inject(
        self,
        kind: str,
        *,
        method: str | None = None,
        times: int = 1,
        after: int = 0,
        code: int | None = None,
        message: str | None = None,
        data: Any = None,
    ) -> None:
        """Fail the next ``times`` requests matching ``method`` (full or short name, None =
        any) after letting ``after`` of them through; see the module docstring for kinds."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}: expected one of {FAULT_KINDS}")
        if times < 1 or after < 0:
            raise ValueError(f"need times >= 1 and after >= 0: {times}, {after}")
        error = None
        if kind == "error":
            if code is None or message is None:
                raise ValueError("an 'error' fault needs code and message")
            error = (code, message, data)
        with self._lock:
            self._faults.append(_Fault(kind, method, times, after, error))

    def pending_faults(self) -> int:
        """How many injected failures have not fired yet."""
        with self._lock:
            return sum(f.times for f in self._faults)

    @property
    def requests(self) -> list[LoggedRequest]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def methods(self) -> list[str]:
        """The methods of the request log, oldest first."""
        return [r.method for r in self.requests]

    # ---- request handling --------------------------------------------------------------------

    def _take_fault(self, method: str) -> _Fault | None:
        for fault in self._faults:
            if not fault.matches(method):
                continue
            if fault.after > 0:
                fault.after -= 1
                continue
            fault.times -= 1
            if fault.times == 0:
                self._faults.remove(fault)
            return fault
        return None

    def _handle(self, handler: "_Handler", http_method: str) -> None:
        us_in = time.time_ns() // 1000
        split = urlsplit(handler.path)
        if not split.path.startswith(API_PREFIX):
            _write(handler, 404, b"Not Found", "text/plain")
            return
        method, rpc_id = split.path[len(API_PREFIX) :], None
        try:
            if http_method == "POST":
                length = int(handler.headers.get("Content-Length", 0))
                body = json.loads(handler.rfile.read(length) or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("not an object")
                method, rpc_id = body.get("method") or method, body.get("id")
                params = dict(body.get("params") or {})
            else:
                params = {
                    k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()
                }
        except ValueError:
            self._reply(handler, RpcError(-32700, "Parse error"), None, us_in)
            return
        authorization = handler.headers.get("Authorization")
        with self._lock:
            fault = self._take_fault(method)
            logged = {k: ("***" if k == "client_secret" else v) for k, v in params.items()}
            self._log.append(
                LoggedRequest(
                    method,
                    logged,
                    http_method,
                    authorization is not None,
                    fault.kind if fault else None,
                )
            )
        kind = fault.kind if fault else None
        if kind == "disconnect":
            handler.close_connection = True
            return
        if kind in HTTP_FAULTS:
            status, text = HTTP_FAULTS[kind]
            _write(handler, status, text, "text/plain" if status != 502 else "text/html")
            return
        if kind in RPC_FAULTS or kind == "error":
            code, message, data = fault.error or (*RPC_FAULTS[kind][:2], None)
            status = RPC_FAULTS[kind][2] if kind in RPC_FAULTS else 400
            self._reply(handler, RpcError(code, message, data, status), rpc_id, us_in)
            return
        if kind == "timeout":
            self._stopping.wait(self.timeout_sleep_s)
        try:
            outcome = self._dispatch(method, params, authorization, gap=kind == "gap")
        except RpcError as exc:
            outcome = exc
        self._reply(handler, outcome, rpc_id, us_in, cut=kind)

    def _dispatch(self, method: str, params: dict, authorization: str | None, *, gap: bool):
        if method in public.HANDLERS:
            return public.HANDLERS[method](self, params, gap)
        if method == "public/auth":
            with self._lock:
                return self.account.auth(params, self.now_ms)
        if method not in PRIVATE_METHODS:
            raise RpcError(-32601, "Method not found")
        with self._lock:
            self.account.check_token(authorization, self.now_ms)
            return PRIVATE_METHODS[method](self.account, params, self.now_ms)

    def _reply(self, handler, outcome, rpc_id, us_in: int, cut: str | None = None) -> None:
        envelope: dict[str, Any] = {"jsonrpc": "2.0"}
        if rpc_id is not None:
            envelope["id"] = rpc_id
        status = 200
        if isinstance(outcome, RpcError):
            envelope["error"], status = outcome.payload(), outcome.http_status
        else:
            envelope["result"] = outcome
        us_out = time.time_ns() // 1000
        envelope.update(usIn=us_in, usOut=us_out, usDiff=us_out - us_in, testnet=self.testnet)
        body = json.dumps(envelope).encode()
        if cut == "truncated":
            _write(
                handler,
                status,
                body[: len(body) // 2],
                "application/json",
                declared_length=len(body),
            )
        elif cut == "malformed":
            _write(handler, status, body[: len(body) // 2], "application/json")
        else:
            _write(handler, status, body, "application/json")


PRIVATE_METHODS = {
    "private/buy": lambda account, params, now: account.place("buy", params, now),
    "private/sell": lambda account, params, now: account.place("sell", params, now),
    "private/get_positions": lambda account, params, now: _positions(account, params, now),
    "private/get_open_orders_by_currency": lambda account, params, now: _open_orders(
        account, params
    ),
    "private/get_account_summary": lambda account, params, now: account.summary(
        public.currency_asset(params).name, now
    ),
}


def _positions(account: FakeAccount, params: dict, now_ms: int) -> list[dict]:
    asset = public.currency_asset(params)
    kind = public.get_str(params, "kind", "option", public.KINDS)
    return account.position_rows(asset.name, now_ms) if kind == "option" else []


def _open_orders(account: FakeAccount, params: dict) -> list[dict]:
    """The orders resting on the book (``open``); every order of the fake is an option's."""
    asset = public.currency_asset(params)
    kind = public.get_str(params, "kind", "option", (*public.KINDS, "any"))
    return [
        dict(order)
        for order in account.orders
        if order["order_state"] == "open"
        and order["instrument_name"].startswith(asset.name + "-")
        and kind in ("option", "any")
    ]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Deribit's front end allows
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall
    fake: FakeDeribit

    def do_GET(self) -> None:
        self.fake._handle(self, "GET")

    def do_POST(self) -> None:
        self.fake._handle(self, "POST")

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


def _write(handler, status: int, body: bytes, content_type: str, declared_length=None) -> None:
    """Send a reply; a client that gave up (timeout fault) is not an error of the server."""
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(declared_length or len(body)))
        if declared_length is not None:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        handler.close_connection = True
