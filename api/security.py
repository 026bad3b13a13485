"""Who may drive the app: the Host allow-list, same-origin writes, the token and the limits.

The dashboard can pause a live agent, start backtests and delete runs, so a request is served only
when it comes from someone entitled to. :class:`SecurityMiddleware` (plain ASGI, ahead of every
route) checks, in this order:

1. the ``Host`` header names this server (loopback, the bound host or ``allowed_hosts``), else 400:
   a DNS-rebinding page reaches the socket under its own name and is refused;
2. an unsafe method (anything but GET, HEAD, OPTIONS) sent by a page of another origin (``Origin``
   is not this host, or ``Sec-Fetch-Site`` says ``cross-site`` or ``same-site``) gets 403;
3. with ``auth_token`` set, a request with neither the token (``Authorization: Bearer``) nor the
   login cookie gets 401, or, for a page, a redirect to the login form;
4. a body above ``max_body_bytes`` gets 413, whether it declared its length or came in chunks.

Every response, refusals included, forbids framing by other pages (clickjacking).
"""

import hashlib
import hmac
import ipaddress
from collections import deque
from urllib.parse import quote, urlsplit

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response
from api.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
CROSS_SITE = frozenset({"cross-site", "same-site"})  # "same-site" is another port or subdomain
DEFAULT_PORTS = {"http": "80", "https": "443"}
FRAME_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
]
SESSION_COOKIE = "thetadesk_session"
LOGIN_PATH = "/login"
PUBLIC_PREFIXES = ("/static/",)  # the login page's stylesheet: served without the token
JSON_PATHS = ("/api/", "/status", "/openapi.json")  # answered with JSON, never redirected
# after refusing an oversized body, read (and drop) up to this many times the limit so the client
# gets the 413 instead of a connection reset; past it the connection is simply closed
DRAIN_FACTOR = 8


def is_loopback(host: str) -> bool:
    """Say whether a bind address only accepts connections from this machine."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def require_token_beyond_loopback(settings: Settings) -> None:
    """Raise ``ValueError`` when the app would serve other hosts without a token."""
    if settings.auth_token is None and not is_loopback(settings.host):
        raise ValueError(
            f"--host {settings.host} serves beyond this machine, so a token is required: set "
            "THETADESK_AUTH_TOKEN to a long random secret, or bind 127.0.0.1 (docs/security.md)"
        )


def allowed_host_names(settings: Settings) -> frozenset[str]:
    """The names a request's ``Host`` header may carry: loopback, the bound host, the extra ones."""
    names = [*LOOPBACK_NAMES, settings.host, *settings.allowed_hosts]
    return frozenset(name.strip().strip("[]").lower() for name in names)


def split_authority(authority: str, scheme: str = "http") -> tuple[str, str]:
    """Split ``host[:port]`` (IPv6 in brackets) into a lower-case name and a port string."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        name, _, rest = authority[1:].partition("]")
        port = rest.removeprefix(":")
    elif authority.count(":") == 1:
        name, port = authority.split(":")
    else:
        name, port = authority, ""
    return name, port or DEFAULT_PORTS.get(scheme, "")


def cross_site_reason(headers: Headers, host: str) -> str | None:
    """Why a request comes from a page of another origin, or None when nothing says so.

    Requests without ``Origin`` and ``Sec-Fetch-*`` (curl, scripts) are not from a web page. The
    scheme is not compared: behind a TLS proxy the page is https and the app sees http, and no
    other page can be served from this host and port.
    """
    site = headers.get("sec-fetch-site")
    if site in CROSS_SITE:
        return f"Sec-Fetch-Site is {site}"
    origin = headers.get("origin")
    if origin is None:
        return None
    parts = urlsplit(origin)
    if not parts.netloc or split_authority(parts.netloc, parts.scheme) != split_authority(host):
        return f"Origin {origin} is not this server"
    return None


def session_value(token: str) -> str:
    """The login cookie's value: derived from the token, so the browser never holds the token."""
    return hmac.new(token.encode(), b"thetadesk login session", hashlib.sha256).hexdigest()


def token_matches(given: str, token: str) -> bool:
    """Compare in constant time, so response timing tells nothing about the token."""
    return hmac.compare_digest(given.encode(), token.encode())


def has_credentials(conn: HTTPConnection, token: str) -> bool:
    """Say whether the request carries the bearer token or the login cookie."""
    scheme, _, given = conn.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token_matches(given.strip(), token):
        return True
    cookie = conn.cookies.get(SESSION_COOKIE)
    return cookie is not None and token_matches(cookie, session_value(token))


def safe_next(path: str) -> str:
    """A local path to return to after logging in (never another site: no open redirect)."""
    if not path.startswith("/") or path.startswith(("//", "/\\")):
        return "/"
    return path


class SecurityMiddleware:
    """Apply the checks of this module to every HTTP request (see the module docstring)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.hosts = allowed_host_names(settings)
        self.token = settings.auth_token.get_secret_value() if settings.auth_token else None
        self.max_body = settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_framed(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *FRAME_HEADERS]
            await send(message)

        conn = HTTPConnection(scope)
        refusal = self.refusal(conn)
        if refusal is None:
            body = await self.read_body(conn, receive)
            if body is None:
                refusal = error_response(
                    413, f"Request body too large: the limit is {self.max_body} bytes"
                )
            else:
                receive = replay(body, receive)
        if refusal is not None:
            await refusal(scope, receive, send_framed)
            return
        await self.app(scope, receive, send_framed)

    def refusal(self, conn: HTTPConnection) -> Response | None:
        """The response that refuses this request before its body is read, if any."""
        host = conn.headers.get("host", "")
        if split_authority(host)[0] not in self.hosts:
            return error_response(
                400,
                f"Host {host!r} is not one this server answers to",
                "add the name to THETADESK_ALLOWED_HOSTS if it is yours (docs/security.md)",
            )
        if conn.scope["method"] not in SAFE_METHODS:
            reason = cross_site_reason(conn.headers, host)
            if reason is not None:
                return error_response(403, f"Cross-site request refused: {reason}")
        if self.token is None or has_credentials(conn, self.token):
            return None
        path = conn.url.path
        if path == LOGIN_PATH or path.startswith(PUBLIC_PREFIXES):
            return None
        if conn.scope["method"] in ("GET", "HEAD") and not path.startswith(JSON_PATHS):
            target = path + (f"?{conn.url.query}" if conn.url.query else "")
            return RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='')}", 303)
        response = error_response(
            401, "Authentication required: send Authorization: Bearer <token> or log in at /login"
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="thetadesk"'
        return response

    async def read_body(self, conn: HTTPConnection, receive: Receive) -> list[Message] | None:
        """Read the whole body (at most the limit); None when it is larger."""
        declared = conn.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            await drain(receive, DRAIN_FACTOR * self.max_body)
            return None
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
            if size > self.max_body:
                if more:
                    await drain(receive, DRAIN_FACTOR * self.max_body)
                return None
            if not more:
                return messages


async def drain(receive: Receive, budget: int) -> None:
    """Read and drop the rest of a body, up to ``budget`` bytes."""
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
        budget -= len(message.get("body", b""))


def replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that hands out the body already read, then listens for a disconnect."""
    pending = deque(messages)

    async def receive_again() -> Message:
        return pending.popleft() if pending else await receive()

    return receive_again
