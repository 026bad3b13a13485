"""History and cache robustness, probed against a real ``thetadesk serve`` subprocess.

What a careless user or a crash leaves behind must cost one run or one file, never the app:
damaged ``summary.json`` files and tables, a run deleted while it is being downloaded, a run
folder that is a symbolic link, a truncated prepared-cache entry, a truncated candles file and a
read-only data directory. Each probe counts what the server answered; none may be a 500.
"""

import json
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.browser.live_server import LiveServer

HALF_YEAR = {"underlying": "BTC", "start": "2022-01-01", "end": "2022-07-01", "timeframe": "1h"}
ERROR_KEYS = {"error", "detail"}
RUN_TIMEOUT_S = 120.0


@pytest.fixture(autouse=True)
def _no_live_agent(monkeypatch):
    """The servers here need no agent (and the machine's two cores are shared)."""
    monkeypatch.setenv("THETADESK_AGENT_ENABLED", "false")


@pytest.fixture
def data_dir(runs_source, tmp_path) -> Path:
    """A private copy of the synthetic cache with two finished runs."""
    return Path(shutil.copytree(runs_source[0], tmp_path / "data"))


@pytest.fixture
def ids(runs_source) -> tuple[str, str]:
    """The ids of the two runs: hold to expiry (older), take profit and roll (newer)."""
    hold, tp = runs_source[1]
    return hold, tp


@pytest.fixture
def server(data_dir):
    with LiveServer(data_dir) as live:
        yield live


def _run_ids(data_dir: Path) -> list[str]:
    return sorted(p.name for p in (data_dir / "runs").iterdir())


def _error(res: httpx.Response, status: int, words: str = "") -> dict:
    assert res.status_code == status, res.text
    body = res.json()
    assert set(body) >= ERROR_KEYS and words in body["error"], body
    return body


def _wait_finished(url: str) -> dict:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        status = httpx.get(f"{url}/api/backtest/status").json()
        if not status["running"]:
            return status
        time.sleep(0.1)
    raise AssertionError(f"run did not end: {status}")


def _backtest(url: str, exit_style: str = "hold_to_expiry") -> dict:
    res = httpx.post(f"{url}/api/backtest/start", json=HALF_YEAR | {"exit_style": exit_style})
    assert res.status_code == 200 and res.json()["started"] is True, res.text
    return _wait_finished(url)


# ---- damaged runs ------------------------------------------------------------------------------

DAMAGED_SUMMARIES = {
    "a1a1a1a1a1a1a1a1": lambda doc, _: json.dumps(doc | {"finished_at": "yesterday"}),
    "a2a2a2a2a2a2a2a2": lambda doc, _: json.dumps(doc | {"finished_at": "2024-05-01T00:00:00"}),
    "a3a3a3a3a3a3a3a3": lambda doc, _: json.dumps(doc | {"metrics": [1, 2]}),
    "a4a4a4a4a4a4a4a4": lambda doc, _: json.dumps(doc | {"run_id": 5}),
    "a5a5a5a5a5a5a5a5": lambda _, text: text[: len(text) // 2],
    "a6a6a6a6a6a6a6a6": lambda _, text: "[1, 2, 3]",
    "a7a7a7a7a7a7a7a7": lambda _, text: "",
}


def test_damaged_runs_are_listed_as_unreadable_never_a_500(server, data_dir, ids):
    hold, tp = ids
    runs = data_dir / "runs"
    text = (runs / hold / "summary.json").read_text()
    for run_id, damage in DAMAGED_SUMMARIES.items():
        shutil.copytree(runs / hold, runs / run_id)
        doc = json.loads(text) | {"run_id": run_id}
        (runs / run_id / "summary.json").write_text(damage(doc, json.dumps(doc)))
    cut = runs / "b1b1b1b1b1b1b1b1"
    shutil.copytree(runs / hold, cut)  # a sound summary, a truncated table
    (cut / "summary.json").write_text(text.replace(hold, cut.name))
    (cut / "trades.parquet").write_bytes((cut / "trades.parquet").read_bytes()[:-100])

    listed = httpx.get(f"{server.url}/api/backtests")
    assert listed.status_code == 200, listed.text
    entries = listed.json()
    unreadable = {e["run_id"]: e["unreadable"] for e in entries if "unreadable" in e}
    assert set(unreadable) == set(DAMAGED_SUMMARIES)  # listed first, each with its reason
    assert [e["run_id"] for e in entries[: len(unreadable)]] == sorted(DAMAGED_SUMMARIES)
    assert unreadable["a5a5a5a5a5a5a5a5"].startswith("summary.json is not valid JSON")
    assert unreadable["a6a6a6a6a6a6a6a6"] == "summary.json holds a JSON list, not an object"
    assert {e["run_id"] for e in entries} - set(unreadable) == {hold, tp, cut.name}

    statuses = Counter()
    for run_id in DAMAGED_SUMMARIES:
        for path in (f"/api/backtests/{run_id}", f"/api/backtests/compare?a={tp}&b={run_id}"):
            res = httpx.get(server.url + path)
            statuses[res.status_code] += 1
            body = _error(res, 409, f"run {run_id} cannot be read: summary.json")
            assert body["detail"] == {"run_id": run_id, "unreadable": unreadable[run_id]}
    for query in ("trades", "equity", "export?what=trades&format=csv"):
        _error(httpx.get(f"{server.url}/api/backtests/{cut.name}/{query}"), 409, "trades.parquet")
    assert statuses == {409: 2 * len(DAMAGED_SUMMARIES)}

    for run_id in [*DAMAGED_SUMMARIES, cut.name]:
        assert httpx.delete(f"{server.url}/api/backtests/{run_id}").json() == {"deleted": run_id}
    assert [e["run_id"] for e in httpx.get(f"{server.url}/api/backtests").json()] == [tp, hold]
    assert _run_ids(data_dir) == sorted(ids)
    assert "Traceback" not in server.log()


# ---- DELETE while downloads are in flight -----------------------------------------------------

CYCLES = 12
READERS_PER_PATH = 2


def test_delete_while_downloading_gives_whole_files_or_404(server, data_dir, tmp_path):
    run_id = _run_ids(data_dir)[0]
    pristine = Path(shutil.copytree(data_dir / "runs" / run_id, tmp_path / "pristine"))
    base = f"{server.url}/api/backtests/{run_id}"
    expected = {
        f"{base}/export?what=trades&format=parquet": (pristine / "trades.parquet").read_bytes(),
        f"{base}/export?what=equity&format=parquet": (pristine / "equity.parquet").read_bytes(),
        f"{base}/summary.json": (pristine / "summary.json").read_bytes(),
    }
    for derived in (f"{base}/export?what=equity&format=csv", f"{base}/trades?limit=500"):
        expected[derived] = httpx.get(derived).content  # the whole answer, before any race
    statuses: Counter = Counter()
    short = []
    lock = threading.Lock()

    def hammer(url: str, stop: threading.Event) -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                try:
                    res = client.get(url)
                    status, body = res.status_code, res.content
                except httpx.HTTPError as exc:  # a cut-off body or a reset connection
                    status, body = type(exc).__name__, b""
                with lock:
                    statuses[status] += 1
                    if status == 200 and body != expected[url]:
                        short.append((url, len(body), len(expected[url])))

    deletes = Counter()
    for _ in range(CYCLES):
        shutil.copytree(pristine, data_dir / "runs" / run_id, dirs_exist_ok=True)
        stop = threading.Event()
        readers = [
            threading.Thread(target=hammer, args=(url, stop))
            for url in expected
            for _ in range(READERS_PER_PATH)
        ]
        for reader in readers:
            reader.start()
        time.sleep(0.2)
        deletes[httpx.delete(base).status_code] += 1
        time.sleep(0.1)
        stop.set()
        for reader in readers:
            reader.join()
    report = f"{sum(statuses.values())} reads: {dict(statuses)}; deletes {dict(deletes)}"
    print(report)
    assert deletes == {200: CYCLES}, report
    assert set(statuses) == {200, 404}, report  # no 500, no cut-off body, no reset
    assert not short, f"{len(short)} incomplete 200 bodies, e.g. {short[:3]}; {report}"
    assert not [p for p in (data_dir / "runs").iterdir() if p.name.startswith(".")]


def test_a_symlinked_run_is_served_and_deleted_as_the_link_only(server, data_dir, tmp_path):
    run_id, other = _run_ids(data_dir)
    target = tmp_path / "archive" / run_id
    shutil.move(data_dir / "runs" / run_id, target)
    (data_dir / "runs" / run_id).symlink_to(target, target_is_directory=True)
    summary = httpx.get(f"{server.url}/api/backtests/{run_id}/summary.json")
    assert summary.content == (target / "summary.json").read_bytes()
    assert httpx.delete(f"{server.url}/api/backtests/{run_id}").json() == {"deleted": run_id}
    assert _run_ids(data_dir) == [other]  # the link is gone, and no .deleting debris
    assert sorted(p.name for p in target.iterdir()) == sorted(
        ["summary.json", "trades.parquet", "equity.parquet", "steps.parquet", "candidates.parquet"]
    )
    _error(httpx.get(f"{server.url}/api/backtests/{run_id}"), 404, f"no finished run {run_id}")


# ---- damaged cache files ----------------------------------------------------------------------


def test_a_truncated_prepared_cache_entry_is_rebuilt_with_a_warning(server, data_dir):
    first = _backtest(server.url, "tp_and_roll")
    assert first["state"] == "finished", first
    run_id = first["run_id"]
    trades = httpx.get(f"{server.url}/api/backtests/{run_id}/export?what=trades&format=parquet")
    timings = httpx.get(f"{server.url}/api/backtests/{run_id}").json()["timings"]
    assert timings["prepare_cached"]  # the session's runs prepared this configuration already
    for entry in (data_dir / "prepared").iterdir():
        path = entry / "candidates.parquet"
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    second = _backtest(server.url, "tp_and_roll")
    assert second["state"] == "finished" and second["run_id"] == run_id, second
    timings = httpx.get(f"{server.url}/api/backtests/{run_id}").json()["timings"]
    assert timings["prepare_cache_rebuilt"] and not timings["prepare_cached"]
    again = httpx.get(f"{server.url}/api/backtests/{run_id}/export?what=trades&format=parquet")
    assert again.content == trades.content  # the same trades as from the sound entry
    assert "is damaged (candidates.parquet is" in server.log()
    third = _backtest(server.url, "tp_and_roll")
    timings = httpx.get(f"{server.url}/api/backtests/{third['run_id']}").json()["timings"]
    assert timings["prepare_cached"] and not timings["prepare_cache_rebuilt"]


def _cli(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    cmd = [*prefix, sys.executable, "-m", "api.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


def test_a_truncated_candles_file_is_named_verified_and_repaired(server, data_dir):
    candles = data_dir / "sources" / "synthetic" / "candles" / "BTC_1h.parquet"
    sound = candles.read_bytes()
    candles.write_bytes(sound[: len(sound) // 2])
    failed = _backtest(server.url)
    assert failed["state"] == "error" and failed["error"].startswith(f"{candles}: cannot be read")
    assert "thetadesk cache --verify" in failed["error"] and "Traceback" not in server.log()

    verify = _cli("cache", "--verify", "--data-dir", str(data_dir))
    assert verify.returncode == 1, verify.stderr
    assert "synthetic: 1 damaged file(s)\n  candles/BTC_1h.parquet: not readable" in verify.stdout
    repair = _cli("cache", "--repair", "--data-dir", str(data_dir))
    assert repair.returncode == 0, repair.stdout + repair.stderr
    assert "repair candles/BTC_1h.parquet: repaired, generated again from seed" in repair.stdout
    assert candles.read_bytes() == sound
    assert _backtest(server.url)["state"] == "finished"


# ---- a read-only data directory ---------------------------------------------------------------

# Permission bits do not stop root (CI runs the tests as root), so the data directory is made
# read-only the way a real read-only mount is: bound onto itself with ``ro`` in a private mount
# namespace (a user namespace makes that possible without privileges where the kernel allows it).
MOUNT_RO = 'mount --bind -o ro "$0" "$0" && exec "$@"'
UNSHARE = (("unshare", "--user", "--map-root-user", "--mount"), ("unshare", "--mount"))


def read_only_prefix(folder: Path) -> tuple[str, ...] | None:
    """A command prefix running a program with ``folder`` mounted read-only; None if impossible.

    The prefix is only returned once a write under it has been seen to fail.
    """
    if shutil.which("unshare") is None:
        return None
    for unshare in UNSHARE:
        prefix = (*unshare, "sh", "-c", MOUNT_RO, str(folder))
        probe = [*prefix, "sh", "-c", 'touch "$0/.ro-probe" 2>/dev/null', str(folder)]
        ran = subprocess.run(probe, capture_output=True, check=False)
        wrote = (folder / ".ro-probe").exists()
        (folder / ".ro-probe").unlink(missing_ok=True)
        if ran.returncode != 0 and not wrote and _mounts(prefix):
            return prefix
    return None


def _mounts(prefix: tuple[str, ...]) -> bool:
    return subprocess.run([*prefix, "true"], capture_output=True, check=False).returncode == 0


class ReadOnlyServer(LiveServer):
    """``thetadesk serve`` with its data directory mounted read-only."""

    def __init__(self, data_dir: Path, prefix: tuple[str, ...]) -> None:
        super().__init__(data_dir)
        self.prefix = prefix

    def command(self) -> list[str]:
        return [*self.prefix, *super().command()]


@pytest.fixture
def read_only(data_dir) -> tuple[str, ...]:
    prefix = read_only_prefix(data_dir)
    if prefix is None:
        pytest.skip(
            "cannot make a read-only mount here (unshare with user or mount namespaces is not "
            "permitted) and permission bits do not stop root"
        )
    return prefix


def test_a_read_only_data_dir_is_unhealthy_and_writes_fail_clearly(data_dir, ids, read_only):
    before = {p: p.stat().st_mtime_ns for p in data_dir.rglob("*")}
    hold, tp = ids
    with ReadOnlyServer(data_dir, read_only) as server:
        status = httpx.get(f"{server.url}/status").json()
        assert status["healthy"] is False
        assert status["problems"] == [f"cannot write to {data_dir / 'runs'}: Read-only file system"]
        start = httpx.post(
            f"{server.url}/api/backtest/start", json=HALF_YEAR | {"exit_style": "tp_and_roll"}
        )
        body = _error(start, 503, "the data directory is not writable: cannot write to")
        assert body["started"] is False
        _error(httpx.delete(f"{server.url}/api/backtests/{hold}"), 503, f"cannot delete run {hold}")
        listed = httpx.get(f"{server.url}/api/backtests")  # reading still works
        assert [e["run_id"] for e in listed.json()] == [tp, hold]
        assert httpx.get(f"{server.url}/api/backtests/{hold}/equity").status_code == 200
        assert "Traceback" not in server.log()
    cli = _cli(
        "backtest", "--data-dir", str(data_dir), "--underlying", "BTC", "--start", "2022-01-01",
        "--end", "2022-02-01", "--exit-style", "hold_to_expiry", prefix=read_only,
    )  # fmt: skip
    assert cli.returncode == 2 and "Traceback" not in cli.stderr
    assert cli.stderr.strip().splitlines()[-1] == (
        f"error: the data directory is not writable: cannot write to {data_dir / 'runs'}: "
        "Read-only file system"
    )
    assert {p: p.stat().st_mtime_ns for p in data_dir.rglob("*")} == before  # nothing written


def test_the_read_only_probe_really_fails_writes(data_dir, read_only):
    """The mount the test above relies on refuses every write, root's too (EROFS, not EACCES)."""
    done = subprocess.run(
        [*read_only, "sh", "-c", 'echo x > "$0/runs/x"', str(data_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0 and "Read-only file system" in done.stderr
    assert not (data_dir / "runs" / "x").exists()
