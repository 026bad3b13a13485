"""The model-check page behind the security middleware: a token server over a chain source.

Like every page it asks for the token (a redirect to the login form, 401 for its JSON twin),
answers only to this server's Host names, forbids framing and points at no other host.
"""

from collections.abc import Iterator
from urllib.parse import quote, urlsplit

import httpx
import pytest

from tests.browser.live_server import LiveServer, copy_data_dir
from tests.security.conftest import TOKEN, assert_error, bearer
from tests.security.test_docs_offline import URL, links
from tests.security.test_headers import assert_unframeable

PAGE = "/model-check?source=real&underlying=ETH"
JSON = "/api/model-check?source=real&underlying=ETH"


@pytest.fixture(scope="module")
def server(chain_data_dir, tmp_path_factory) -> Iterator[LiveServer]:
    """``thetadesk serve --host 0.0.0.0`` with a token, over the chain source ``real``."""
    data_dir = copy_data_dir(chain_data_dir, tmp_path_factory.mktemp("mc-token"))
    env = {"THETADESK_AUTH_TOKEN": TOKEN}
    with LiveServer(data_dir, host="0.0.0.0", env=env, headers=bearer()) as live:
        yield live


def test_without_the_token_the_page_redirects_and_the_json_is_401(server):
    res = httpx.get(f"{server.url}{PAGE}")
    assert res.status_code == 303
    assert res.headers["location"] == f"/login?next={quote(PAGE, safe='')}"
    assert_error(httpx.get(f"{server.url}{JSON}"), 401, "authentication required")


def test_with_the_token_the_page_is_served_framed_by_no_one_linking_nowhere(server):
    res = httpx.get(f"{server.url}{PAGE}", headers=bearer(), timeout=120)
    assert res.status_code == 200 and 'data-testid="mc-iv_error-ETH"' in res.text
    assert_unframeable(res)
    here = urlsplit(server.url).netloc
    found = URL.findall(res.text) + links(res.text)
    foreign = [u for u in found if urlsplit(u).netloc not in ("", here)]
    assert not foreign, foreign
    assert httpx.get(f"{server.url}{JSON}", headers=bearer()).json()["source"] == "real"


def test_another_host_name_is_refused(server):
    res = httpx.get(f"{server.url}{PAGE}", headers={**bearer(), "Host": "evil.example"})
    assert_error(res, 400, "is not one this server answers to")
