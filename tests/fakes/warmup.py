"""A stand-in for the engine warm-up's work that holds its first stage until released."""

import threading
from collections.abc import Callable


class HeldWarmup:
    """Pass to :class:`engine.warmup.EngineWarmup`: backtests stay waiting until ``release``."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def __call__(
        self, progress: Callable[[str], None], backtests_ready: Callable[[], None]
    ) -> None:
        self.release.wait(60)
        backtests_ready()
