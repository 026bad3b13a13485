"""A real ``thetadesk serve`` subprocess on a free loopback port, for browser, fuzz and bench runs.

The server is the one a person starts (uvicorn through the command line), not an in-process
ASGI app, so what is exercised includes the socket, the worker thread and the event loop.
"""

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

READY_TIMEOUT_S = 60.0  # first run generates the synthetic market; a cold import adds a few s


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
    """

    def __init__(self, data_dir: Path, ready_timeout_s: float = READY_TIMEOUT_S) -> None:
        self.data_dir = Path(data_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready_timeout_s = ready_timeout_s
        # a file, not a pipe: a chatty server must never block on a full pipe nobody reads
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the server
            prefix="thetadesk-server-", suffix=".log", delete=False
        )
        self._proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        """The command line that starts the server (a subclass may run it under a wrapper)."""
        serve = ["serve", "--port", str(self.port), "--host", "127.0.0.1"]
        return [sys.executable, "-m", "api.cli", *serve, "--data-dir", str(self.data_dir)]

    def start(self) -> "LiveServer":
        """Launch the server and poll ``/status`` until it answers; raise with the log if not."""
        self._proc = subprocess.Popen(
            self.command(), stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"server exited with {self._proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/status", timeout=1.0).status_code == 200:
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
