"""``/docs`` works without the internet, and no page the app serves points anywhere else.

Swagger UI's files come from the installed ``swagger-ui-bundle-v2`` package; the browser test in
``tests/browser/test_security_pages.py`` renders the page with every other host blocked.
"""

import pkgutil
import re
from html.parser import HTMLParser
from importlib import import_module
from urllib.parse import urljoin, urlsplit

import httpx

import api.routers
from api.main import STATIC_DIR, UPLOT_DIR
from tests.security.conftest import bearer

URL = re.compile(r"""(?:https?:)?//[^\s"'<>`)]+""", re.IGNORECASE)


class Links(HTMLParser):
    """Collect every ``src`` and ``href`` of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [value for name, value in attrs if name in ("src", "href") and value]


def links(html: str) -> list[str]:
    parser = Links()
    parser.feed(html)
    return parser.found


def page_paths() -> list[str]:
    """Every GET route without path parameters in ``api/routers``, and every static HTML file."""
    paths = set()
    for info in pkgutil.iter_modules(api.routers.__path__):
        router = import_module(f"api.routers.{info.name}").router
        for route in router.routes:
            if "GET" in route.methods and "{" not in route.path:
                paths.add(route.path)
    for prefix, folder in (("/static", STATIC_DIR), ("/vendor/uplot", UPLOT_DIR)):
        paths |= {f"{prefix}/{f.relative_to(folder)}" for f in folder.rglob("*.htm*")}
    return sorted(paths)


def test_docs_loads_swagger_ui_from_this_server(loopback_server):
    url = loopback_server.url
    page = httpx.get(f"{url}/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    assets = links(page.text) + re.findall(r"""url: ?'([^']+)'""", page.text)
    assert {urlsplit(a).path for a in assets} == {
        "/vendor/swagger-ui/swagger-ui-bundle.js",
        "/vendor/swagger-ui/swagger-ui.css",
        "/vendor/swagger-ui/favicon-32x32.png",
        "/openapi.json",
    }
    types = {"js": "javascript", "css": "text/css", "png": "image/png", "json": "json"}
    for asset in assets:
        assert not urlsplit(asset).netloc, asset
        res = httpx.get(urljoin(f"{url}/docs", asset))
        assert res.status_code == 200, asset
        assert types[asset.rsplit(".", 1)[1]] in res.headers["content-type"], asset
    assert '"validatorUrl": null' in page.text  # no spec sent to an online validator
    assert httpx.get(f"{url}/redoc").status_code == 404  # ReDoc only ever came from a CDN


def test_no_page_links_to_another_host(token_server):
    """Scan every HTML page (the token server shows the login form and the log-out button too)."""
    url, here = token_server.url, urlsplit(token_server.url).netloc
    paths = page_paths()
    assert {"/", "/docs", "/login"} <= set(paths)
    scanned = []
    for path in paths:
        res = httpx.get(f"{url}{path}", headers=bearer())
        if not res.headers["content-type"].startswith("text/html"):  # JSON, assets
            continue
        scanned.append(path)
        found = URL.findall(res.text) + links(res.text)
        foreign = [u for u in found if urlsplit(u).netloc.lower() not in ("", here)]
        assert not foreign, f"{path} refers to other hosts: {foreign}"
    assert {"/", "/docs", "/login"} <= set(scanned)
