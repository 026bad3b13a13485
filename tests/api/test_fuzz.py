"""Property-based fuzzing of every endpoint from the app's own OpenAPI schema (schemathesis).

The target is a real ``thetadesk serve`` on a free port, so a request that hangs the server or
kills it shows as such. Schemathesis generates schema-valid (positive) and schema-violating
(negative) requests for every operation the schema lists; no response may be a 5xx, every
response must match the status codes, content type and body schema the OpenAPI document
declares, and a schema-violating request must be refused with a 4xx.

``POST /api/backtest/start`` really starts backtests (one at a time, 409 otherwise). Free-form
generated dates almost never parse, so one batch of start bodies gets a short date range the
synthetic market covers, which sends fuzzed strategy options into the engine. Each start is
followed by a status read (which must match the schema whatever state the run is in) and now and
then by a stop. Random run ids only ever find nothing, so a last batch fixes every run-id
parameter to a run the fuzzer finished and fuzzes the rest (pages, sorts, formats, points), with
deletes last.
"""

import random
import time
from collections import Counter
from datetime import date, timedelta

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from engine.results.history import RUN_ID_PATTERN
from tests.browser.live_server import LiveServer, copy_data_dir

schemathesis = pytest.importorskip("schemathesis", reason="pip install -e '.[dev]'")
requests = pytest.importorskip("requests", reason="schemathesis brings requests")

REQUEST_TIMEOUT_S = 10.0  # a request slower than this counts as a hang
MIN_GENERATED_REQUESTS = 1000
START = "POST /api/backtest/start"
STATUS = "GET /api/backtest/status"
STOP = "POST /api/backtest/stop"
# examples per batch (operations whose inputs allow fewer distinct cases yield fewer)
START_EXAMPLES = {"positive": 150, "negative": 150, "dated": 300}
OTHER_EXAMPLES_TOTAL = 900  # shared by the positive and negative batches of the other operations
MIN_EXAMPLES = 40
KNOWN_RUN_EXAMPLES = 50
SYNTHETIC_FIRST_DAY = date(2019, 1, 1)  # the embedded synthetic market covers 2019..2025
SYNTHETIC_DAYS = 7 * 365 - 70  # leaves room for the longest range drawn below
STOP_EVERY = 4  # on average, one dated start in this many is followed by a stop
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]
NEGATIVE_CHECKS = [*CHECKS, schemathesis.checks.negative_data_rejection]


def has_input(op) -> bool:
    return bool(list(op.iter_parameters())) or bool(op.body)


def run_id_parameters(op) -> list:
    """The operation's parameters that name a run (path ``run_id``, ``compare``'s ``a``/``b``)."""
    return [
        p for p in op.iter_parameters() if p.definition["schema"].get("pattern") == RUN_ID_PATTERN
    ]


class Fuzzer:
    """Send generated cases to the live server, check each response, count what happened."""

    def __init__(self, server: LiveServer, operations: dict) -> None:
        self.server = server
        self.operations = operations
        self.session = requests.Session()
        self.rng = random.Random(0)
        self.sent: Counter[str] = Counter()  # per batch; "follow-up" is not generated
        self.codes: Counter[tuple[str, int]] = Counter()
        self.run_states: Counter[str] = Counter()
        self.run_errors: set[str] = set()  # one entry per failed run, however often it is read

    def send(self, case, batch: str, checks: list) -> requests.Response:
        response = case.call(
            base_url=self.server.url, session=self.session, timeout=REQUEST_TIMEOUT_S
        )
        self.sent[batch] += 1
        self.codes[(case.operation.label, response.status_code)] += 1
        case.validate_response(response, checks=checks)
        return response

    def follow_up(self, stop: bool) -> None:
        if stop:
            self.send(self.operations[STOP].Case(), "follow-up", CHECKS)
        status = self.send(self.operations[STATUS].Case(), "follow-up", CHECKS).json()
        self.run_states[status["state"]] += 1
        if status["state"] == "error":
            self.run_errors.add(f"{status['error']} for {status['config']}")

    def with_covered_dates(self, case) -> None:
        """Give a generated start body a short date range the synthetic market covers."""
        if isinstance(case.body, dict):
            first = SYNTHETIC_FIRST_DAY + timedelta(days=self.rng.randrange(SYNTHETIC_DAYS))
            case.body["start"] = first.isoformat()
            case.body["end"] = (first + timedelta(days=self.rng.randint(1, 60))).isoformat()

    def run(self, label: str, batch: str, max_examples: int, **fixed: dict) -> None:
        """Fuzz one operation with one batch; ``fixed`` pins parameters (``as_strategy``)."""
        op = self.operations[label]
        negative = batch == "negative"
        mode = schemathesis.GenerationMode("negative" if negative else "positive")
        checks = NEGATIVE_CHECKS if negative else CHECKS

        @settings(
            max_examples=max_examples,
            deadline=None,  # the per-request timeout is the hang check
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=op.as_strategy(generation_mode=mode, **fixed))
        def fuzz(case) -> None:
            if batch == "dated":
                self.with_covered_dates(case)
            self.send(case, batch, checks)
            if label == START:
                self.follow_up(stop=batch == "dated" and self.rng.randrange(STOP_EVERY) == 0)

        fuzz()

    def stop_runs(self) -> None:
        """Stop whatever the fuzzer left running and wait until nothing runs."""
        client = httpx.Client(base_url=self.server.url, timeout=REQUEST_TIMEOUT_S)
        assert client.post("/api/backtest/stop").is_success
        deadline = time.monotonic() + 10
        while client.get("/api/backtest/status").json()["running"]:
            assert time.monotonic() < deadline, "a fuzzer-started backtest did not stop"
            time.sleep(0.05)

    def run_known_runs(self) -> None:
        """Fuzz every operation that takes run ids with the ids of runs that exist."""
        runs = httpx.get(f"{self.server.url}/api/backtests", timeout=REQUEST_TIMEOUT_S).json()
        assert len(runs) >= 2, f"the fuzzer finished fewer than two runs: {runs}"
        ids = [run["run_id"] for run in runs[:2]]
        with_ids = [op for op in self.operations.values() if run_id_parameters(op)]
        for op in sorted(with_ids, key=lambda op: op.method.upper() == "DELETE"):
            fixed: dict[str, dict] = {"path_parameters": {}, "query": {}}
            for i, param in enumerate(run_id_parameters(op)):
                where = "path_parameters" if param.location.value == "path" else "query"
                fixed[where][param.name] = ids[i % 2]
            self.run(op.label, "known-run", KNOWN_RUN_EXAMPLES, **fixed)


def test_every_endpoint_survives_fuzzing(synthetic_data_dir, tmp_path):
    # a with block, not a fixture: a failure passes through it, which prints the server log
    with LiveServer(copy_data_dir(synthetic_data_dir, tmp_path)) as server:
        fuzz_then_check_health(server)


def fuzz_then_check_health(server: LiveServer) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = {op.label: op for op in (r.ok() for r in schema.get_all_operations())}
    assert {"GET /status", "GET /api/sources", START, STATUS, STOP} <= set(operations)
    fuzzer = Fuzzer(server, operations)
    others = [op for label, op in operations.items() if label != START and has_input(op)]
    per_batch = max(MIN_EXAMPLES, OTHER_EXAMPLES_TOTAL // (2 * max(len(others), 1)))
    for label, op in operations.items():
        if label == START:
            continue
        fuzzer.run(label, "positive", per_batch)
        if has_input(op):  # an operation without inputs has nothing to get wrong
            fuzzer.run(label, "negative", per_batch)
    for batch, n in START_EXAMPLES.items():
        fuzzer.run(START, batch, n)
    fuzzer.stop_runs()
    fuzzer.run_known_runs()

    report = f"sent {dict(fuzzer.sent)}; codes {dict(fuzzer.codes)}; runs {dict(fuzzer.run_states)}"
    print(report)
    generated = sum(n for batch, n in fuzzer.sent.items() if batch != "follow-up")
    assert generated >= MIN_GENERATED_REQUESTS, report
    assert fuzzer.codes[(START, 200)] > 0, f"no fuzzed backtest reached the engine: {report}"
    assert not fuzzer.run_errors, f"accepted configs that crashed the engine: {fuzzer.run_errors}"

    fuzzer.stop_runs()
    health = httpx.get(f"{server.url}/status", timeout=REQUEST_TIMEOUT_S)
    assert health.status_code == 200 and health.json()["healthy"] is True
    assert server.returncode is None, server.log()
