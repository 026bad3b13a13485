"""The login form for a server bound beyond loopback: the token in, an HttpOnly cookie out.

Scripts send ``Authorization: Bearer <token>`` instead. The token is never logged, echoed or put
in the cookie (the cookie holds a value derived from it); see ``api/security.py``.
"""

import logging
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.security import LOGIN_PATH, SESSION_COOKIE, safe_next, session_value, token_matches
from engine import __version__

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
FORM_FIELD_LIMIT = 4096  # a token field longer than this is not a token


def _login_page(request: Request, next_path: str, error: str | None = None) -> HTMLResponse:
    context = {"version": __version__, "next_path": next_path, "error": error}
    status = 401 if error else 200
    return request.app.state.templates.TemplateResponse(
        request, "login.html", context, status_code=status
    )


@router.get(LOGIN_PATH, response_class=HTMLResponse)
def login_form(request: Request, next_path: str = Query("/", alias="next")) -> Response:
    """Show the login form (a server without a token sends the visitor on)."""
    if request.app.state.settings.auth_token is None:
        return RedirectResponse(safe_next(next_path), 303)
    return _login_page(request, safe_next(next_path))


@router.post(LOGIN_PATH)
async def login(request: Request) -> Response:
    """Check the token from the form; set the session cookie and go on, or show the form again."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=4)
    given = form.get("token", [""])[0][:FORM_FIELD_LIMIT]
    next_path = safe_next(form.get("next", ["/"])[0])
    token = request.app.state.settings.auth_token
    if token is None:
        return RedirectResponse(next_path, 303)
    if not token_matches(given, token.get_secret_value()):
        log.warning("login refused: wrong token from %s", request.client and request.client.host)
        return _login_page(request, next_path, "That is not the token the server was started with.")
    response = RedirectResponse(next_path, 303)
    response.set_cookie(
        SESSION_COOKIE,
        session_value(token.get_secret_value()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    """Forget the session cookie and show the login form."""
    response = RedirectResponse(LOGIN_PATH, 303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
    return response
