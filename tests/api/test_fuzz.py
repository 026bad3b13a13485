"""Property-based fuzzing of every endpoint from the app's own OpenAPI schema (schemathesis).

The target is a real ``thetadesk serve`` on a free port, so a request that hangs the server or
kills it is seen as such. Schemathesis generates schema-valid (positive) and schema-violating
(negative) requests for every operation; each response must not be a 5xx and must conform to the
schema. ``POST /api/backtest/start`` really starts backtests (one at a time, 409 otherwise), so
part of the start bodies are given a short covered date range to reach the engine, and each start
is followed by a status read that must conform to the schema whatever state the run is in.
"""

import random
import time
from collections import Counter
from datetime import date, timedelta

import httpx
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.browser.live_server import LiveServer, copy_data_dir

schemathesis = pytest.importorskip("schemathesis", reason="pip install -e '.[dev]'")
checks = schemathesis.checks

REQUEST_TIMEOUT_S = 10.0  # a request slower than this counts as a hang
MIN_GENERATED_REQUESTS = 1000
EXAMPLES = {"positive": 350, "negative": 350, "dated": 350}  # per operation with inputs
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
# a schema-violating request must be refused with a 4xx, never accepted
NEGATIVE_CHECKS = [*CHECKS, checks.negative_data_rejection]
SYNTHETIC_START = date(2019, 1, 1)  # the embedded synthetic market covers 2019..2025
SYNTHETIC_DAYS = 7 * 365 - 90


@pytest.fixture(scope="module")
def server(synthetic_data_dir, tmp_path_factory):
    with LiveServer(copy_data_dir(synthetic_data_dir, tmp_path_factory.mktemp("fuzz"))) as live:
        yield live


def covered_range(case, rng: random.Random) -> None:
    """Give a generated start body a short date range the synthetic market covers."""
    if isinstance(case.body, dict):
        start = SYNTHETIC_START + timedelta(days=rng.randrange(SYNTHETIC_DAYS))
        case.body["start"] = start.isoformat()
        case.body["end"] = (start + timedelta(days=rng.randint(1, 60))).isoformat()


def run_mode(op, mode, n, send, status_op, rng):
    generation = "negative" if mode == "negative" else "positive"

    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(generation_mode=schemathesis.GenerationMode(generation)))
    def fuzz(case) -> None:
        if mode == "dated":
            covered_range(case, rng)
        send(case, mode, NEGATIVE_CHECKS if mode == "negative" else CHECKS)
        if op.label == "POST /api/backtest/start":
            send(status_op.Case(), "follow-up", CHECKS)

    fuzz()


def test_every_endpoint_survives_fuzzing(server):
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = {op.label: op for op in (r.ok() for r in schema.get_all_operations())}
    assert set(operations) >= {
        "GET /status",
        "GET /api/sources",
        "POST /api/backtest/start",
        "GET /api/backtest/status",
        "POST /api/backtest/stop",
    }
    status_op = operations["GET /api/backtest/status"]
    session = requests.Session()
    sent: Counter[str] = Counter()
    codes: Counter[tuple[str, int]] = Counter()
    run_states: Counter[str] = Counter()
    rng = random.Random(0)

    def send(case, mode: str, check_list: list) -> None:
        response = case.call(base_url=server.url, session=session, timeout=REQUEST_TIMEOUT_S)
        sent[mode] += 1
        codes[(case.operation.label, response.status_code)] += 1
        case.validate_response(response, checks=check_list)
        if mode == "follow-up":
            st_ = response.json()
            run_states[st_["state"]] += 1
            if st_["state"] == "error":
                print("ERROR RUN", st_["error"], st_["config"])

    for label, op in operations.items():
        has_input = bool(list(op.iter_parameters())) or op.body
        for mode, n in EXAMPLES.items():
            if mode == "dated" and label != "POST /api/backtest/start":
                continue
            if mode == "negative" and not has_input:
                continue
            run_mode(op, mode, n if has_input else 5, send, status_op, rng)

    print(sent, codes, run_states)
    stop = httpx.post(f"{server.url}/api/backtest/stop", timeout=REQUEST_TIMEOUT_S)
    assert stop.status_code == 200
    deadline = time.monotonic() + 15
    while (status := httpx.get(f"{server.url}/api/backtest/status").json())["running"]:
        assert time.monotonic() < deadline, "a fuzzer-started backtest did not stop"
        time.sleep(0.05)
    health = httpx.get(f"{server.url}/status", timeout=REQUEST_TIMEOUT_S)
    assert health.status_code == 200 and health.json()["healthy"] is True
    assert server.returncode is None
    generated = sum(n for mode, n in sent.items() if mode != "follow-up")
    assert generated >= MIN_GENERATED_REQUESTS, sent
    _ = st, run_states, status
