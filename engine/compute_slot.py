"""ComputeSlot: one heavy computation at a time in a process, whichever manager runs it.

A backtest and a sweep both keep the CPU cores busy and write under the data directory; running
them side by side would slow both and make a sweep's timings meaningless. The backtest manager
and the sweep manager share one slot: each takes it when it starts a run and gives it back when
the run ends, and a start that finds the slot held by the other is refused, naming the holder.
"""

import threading


class ComputeSlot:
    """Held by at most one named holder (``"backtest"``, ``"sweep"``) at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holder: str | None = None

    def take(self, holder: str) -> str | None:
        """Take the slot for ``holder``; None when taken, else the name of who holds it."""
        with self._lock:
            if self._holder is not None:
                return self._holder
            self._holder = holder
            return None

    def give_back(self, holder: str) -> None:
        """Free the slot if ``holder`` holds it (a second call does nothing)."""
        with self._lock:
            if self._holder == holder:
                self._holder = None

    @property
    def holder(self) -> str | None:
        """Who holds the slot now, or None."""
        with self._lock:
            return self._holder


def busy_message(holder: str | None, asking: str) -> str:
    """Why ``asking`` (``"backtest"``, ``"sweep"``) did not start while ``holder`` runs."""
    if holder is None or holder == asking:
        return f"{asking.capitalize()} already running"
    return f"a {holder} is running: the {asking} can start when it has finished"
