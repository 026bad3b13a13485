"""Where a sweep's tasks run: a thread pool in this process, or a Ray cluster.

Both take the same tasks (:func:`engine.sweep.task.replay_batch`) and return
:class:`concurrent.futures.Future` objects, so the runner drives them alike and the results are
identical. Threads work because the replay kernels release the GIL (``nogil=True``). On Ray,
every market and candidate set is put in the object store once (:meth:`RayExecutor.share`) and
each task carries many configurations; workers import the engine, which points numba at its
kernel cache before any kernel is defined (:mod:`cache.kernel_cache`), so they load compiled
kernels instead of compiling, and they load them when the executor starts
(:func:`engine.warmup.warm_backtest_kernels` on every worker), not in the sweep's first tasks.
"""

import math
import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from engine.config import CallSimulationConfig
from engine.fills import SpreadModel
from engine.sweep.task import RowResult, Scored, replay_batch
from engine.warmup import warm_backtest_kernels

TASKS_PER_WORKER = 4  # Ray: aim for this many tasks per worker (load balance vs overhead)


class SweepExecutor(Protocol):
    """Runs replay tasks; ``share`` makes an object available to tasks (once)."""

    name: str
    workers: int

    def batch_size(self, total: int) -> int:
        """Configurations per task for a sweep of ``total``."""
        ...

    def share(self, obj: object) -> object:
        """A handle to ``obj`` that :meth:`submit` accepts in its place."""
        ...

    def submit(
        self,
        market: object,
        prepared: object,
        configs: list[CallSimulationConfig],
        spread: SpreadModel,
        origin: str,
        scored: Scored,
    ) -> "Future[list[RowResult]]":
        """Run :func:`engine.sweep.task.replay_batch` on shared ``market`` and ``prepared``;
        ``scored`` is the group's table of instants scored on demand (tasks in this process
        share it; a task in another process fills a copy of its own)."""
        ...

    def cancel(self, futures: list[Future]) -> None:
        """Drop tasks not yet finished."""
        ...

    def close(self) -> None:
        """Release the workers."""
        ...


class ThreadExecutor:
    """Tasks of one configuration each on a thread pool (default: one thread per CPU)."""

    name = "threads"

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers ({workers}) must be at least 1")
        self.workers = workers or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="sweep")

    def batch_size(self, total: int) -> int:
        return 1  # finest progress and cancel; a task costs nothing extra on a thread

    def share(self, obj: object) -> object:
        return obj

    def submit(
        self, market, prepared, configs, spread, origin, scored
    ) -> "Future[list[RowResult]]":
        return self._pool.submit(replay_batch, market, prepared, configs, spread, origin, scored)

    def cancel(self, futures: list[Future]) -> None:
        for f in futures:
            f.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """Tasks of many configurations each on a Ray cluster.

    ``address`` None starts a local Ray (``num_cpus`` CPUs, default all) unless one is already
    initialised in this process; ``"auto"`` joins the cluster this machine belongs to;
    ``"ray://HOST:PORT"`` connects to a remote one with Ray Client. A Ray this executor started is
    shut down by :meth:`close`.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        try:
            import ray
        except ImportError as exc:
            raise ValueError("--executor ray needs Ray: pip install 'thetadesk[ray]'") from exc
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            kwargs: dict = {"address": address, "include_dashboard": False}
            if address is None:
                kwargs["num_cpus"] = num_cpus
                # local workers inherit this environment; say where the compiled kernels are
                kwargs["runtime_env"] = {"env_vars": _kernel_env()}
            try:
                ray.init(**kwargs, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ValueError(f"--address {address}: cannot reach Ray ({exc})") from exc
            self._started = True
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._remote = ray.remote(num_cpus=1)(replay_batch)
        # load the kernels on every worker now (side by side: each holds its CPU for seconds),
        # as a process warms its engine before its first backtest (engine.warmup)
        warm = ray.remote(num_cpus=1)(warm_backtest_kernels)
        ray.get([warm.remote() for _ in range(self.workers)])
        self._refs: dict[Future, object] = {}  # each task's future -> its object ref

    def batch_size(self, total: int) -> int:
        return max(1, math.ceil(total / (TASKS_PER_WORKER * self.workers)))

    def share(self, obj: object) -> object:
        return self._ray.put(obj)

    def submit(
        self, market, prepared, configs, spread, origin, scored
    ) -> "Future[list[RowResult]]":
        # another process: the task scores into a table of its own (``scored`` stays here)
        ref = self._remote.remote(market, prepared, configs, spread, origin)
        future = ref.future()
        self._refs[future] = ref
        future.add_done_callback(self._refs.pop)
        return future

    def cancel(self, futures: list[Future]) -> None:
        for f in futures:
            ref = self._refs.pop(f, None)
            if ref is not None:
                self._ray.cancel(ref)

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()


def _kernel_env() -> dict[str, str]:
    from cache.kernel_cache import ENV, use_kernel_cache_dir

    return {ENV: str(use_kernel_cache_dir())}


def make_executor(
    name: str, workers: int | None = None, address: str | None = None
) -> SweepExecutor:
    """The executor called ``name`` (``threads`` or ``ray``)."""
    if name == "threads":
        if address is not None:
            raise ValueError("--address is for --executor ray")
        return ThreadExecutor(workers)
    if name == "ray":
        return RayExecutor(address, workers)
    raise ValueError(f"executor {name!r} is not one of threads, ray")
