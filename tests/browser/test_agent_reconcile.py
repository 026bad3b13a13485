"""The Live Agent tab when the Deribit account differs from the agent's journal.

A testnet agent on the fake Deribit starts on an account that already holds a short call it did
not sell: it is held back before its first order, and the tab says so, says what differs, and
answers the user's "check again" with why the agent is still paused.
"""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cache.deribit import DeribitClient
from tests.browser.live_server import LiveServer
from tests.fakes.deribit import FakeDeribit

ORDER_METHODS = ("private/sell", "private/buy")


@pytest.fixture(scope="module")
def foreign_call() -> Iterator[tuple[FakeDeribit, str]]:
    """The fake Deribit (its market at now, as the agent's feed reads the wall clock) and the
    call its account holds, sold by the owner outside the agent."""
    with FakeDeribit(now_ms=int(time.time() * 1000)) as fake:
        owner = DeribitClient(fake.url, client_id=fake.client_id, client_secret=fake.client_secret)
        rows = owner.get_book_summary_by_currency("BTC")
        name = next(r["instrument_name"] for r in rows if r["instrument_name"].endswith("-C"))
        owner.sell(name, 0.3, type="market")
        owner.close()
        yield fake, name


@pytest.fixture(scope="module")
def held_back(foreign_call, tmp_path_factory) -> Iterator[LiveServer]:
    fake, _ = foreign_call
    data_dir: Path = tmp_path_factory.mktemp("reconcile") / "data"
    with LiveServer(data_dir, env=fake.agent_env()) as server:
        server.wait_for_agent(lambda s: s["reconcile_error"] is not None, "was held back", 60)
        yield server


def test_the_tab_says_the_agent_is_held_back_and_why(browser, foreign_call, held_back):
    fake, name = foreign_call
    page = browser.new_page()
    try:
        page.goto(held_back.url)
        text = page.get_by_test_id("agent-reconcile-text")
        text.wait_for(state="visible", timeout=10_000)
        assert f"the account holds {name} (-0.3), which the agent did not open" in text.inner_text()
        assert page.get_by_test_id("agent-state").inner_text() == "PAUSED"
        assert page.get_by_test_id("agent-toggle").is_disabled()
        page.get_by_test_id("agent-recheck").click()
        result = page.get_by_test_id("agent-reconcile-result")
        page.wait_for_function(
            "el => el.textContent.includes('still differs')", arg=result.element_handle()
        )
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_test_id("agent-adopt").click()  # a call of another size cannot be adopted
        page.wait_for_function(
            "el => el.textContent.includes('cannot adopt the account')",
            arg=result.element_handle(),
        )
    finally:
        page.close()
    assert held_back.agent_status()["state"] == "paused"
    assert not [r for r in fake.requests if r.method in ORDER_METHODS and r.params.get("label")]
