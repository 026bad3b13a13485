"""A real ``thetadesk serve`` subprocess on a free loopback port, for browser, fuzz and bench runs.

The server is the one a person starts (uvicorn through the command line), not an in-process
ASGI app, so what is exercised includes the socket, the worker thread and the event loop.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import httpx

READY_TIMEOUT_S = 60.0  # first run generates the synthetic market; a cold import adds a few s
BIND_ATTEMPTS = 3  # ports found free can be taken by someone else before the server binds them


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """Start ``python -m api.cli serve`` on a free port; stop it and keep its log.

    Parameters
    ----------
    data_dir
        The server's data dir (written to: give it a private copy).
    ready_timeout_s
        How long to wait for ``GET /status`` to answer 200 before giving up.
    host
        The address to bind; requests always go to 127.0.0.1 (``url``).
    env
        ``THETADESK_*`` settings for the server (``THETADESK_AUTH_TOKEN``, ...); the caller's
        own ``THETADESK_*`` variables are left out whenever it is given.
    headers
        Headers of the readiness poll (a bearer token when the server requires one).
    """

    def __init__(
        self,
        data_dir: Path,
        ready_timeout_s: float = READY_TIMEOUT_S,
        *,
        host: str = "127.0.0.1",
        env: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.env = None
        if env is not None:
            own = {k: v for k, v in os.environ.items() if not k.startswith("THETADESK_")}
            self.env = own | env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready_timeout_s = ready_timeout_s
        self.host = host
        self.headers = headers or {}
        # a file, not a pipe: a chatty server must never block on a full pipe nobody reads
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the server
            prefix="thetadesk-server-", suffix=".log", delete=False
        )
        self._proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        """The command line that starts the server (a subclass may run it under a wrapper)."""
        serve = ["serve", "--port", str(self.port), "--host", self.host]
        return [sys.executable, "-m", "api.cli", *serve, "--data-dir", str(self.data_dir)]

    def start(self) -> "LiveServer":
        """Launch the server and poll ``/status`` until it answers; raise with the log if not.

        The free port may be taken by another process before the server binds it (the machine
        is shared): the server is then started again on another port, a few times at most.
        """
        for _ in range(BIND_ATTEMPTS - 1):
            logged = len(self.log())
            try:
                return self._start()
            except RuntimeError:
                if "address already in use" not in self.log()[logged:]:
                    raise
                self.port = free_port()
                self.url = f"http://127.0.0.1:{self.port}"
        return self._start()

    def _start(self) -> "LiveServer":
        self._proc = subprocess.Popen(
            self.command(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
        )
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"server exited with {self._proc.returncode}:\n{self.log()}")
            try:
                status = httpx.get(f"{self.url}/status", headers=self.headers, timeout=1.0)
                if status.status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server not ready after {self.ready_timeout_s} s:\n{self.log()}")

    def stop(self) -> None:
        """Terminate the server (kill it if it does not end within 10 s)."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)

    def agent_status(self) -> dict:
        """``GET /api/agent/status``."""
        return httpx.get(f"{self.url}/api/agent/status", timeout=10).json()

    def wait_for_agent(self, until: Callable[[dict], bool], what: str, timeout: float = 30) -> dict:
        """Poll the agent's status until ``until`` holds; fail saying the agent never ``what``."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.agent_status()
            if until(status):
                return status
            assert time.monotonic() < deadline, f"the agent never {what}: {status}"
            time.sleep(0.05)

    def kill(self) -> None:
        """End the server at once (SIGKILL), as a crash or the OOM killer would."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(5)

    @property
    def returncode(self) -> int | None:
        """The exit code once the server has ended, else None."""
        return None if self._proc is None else self._proc.poll()

    def log(self) -> str:
        """Everything the server printed so far (stdout and stderr interleaved)."""
        self._log.flush()
        return Path(self._log.name).read_text(errors="replace")

    def close(self) -> None:
        """Stop the server and delete its log file."""
        self.stop()
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)

    def __enter__(self) -> "LiveServer":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            print(f"--- server log ({self.url}) ---\n{self.log()}", file=sys.stderr)
        self.close()


def copy_data_dir(source: Path, parent: Path) -> Path:
    """Copy a data dir under ``parent`` so a server can write runs into it."""
    target = Path(parent) / "data"
    shutil.copytree(source, target)
    return target
