"""Where chunks of people run: in this process, on a local Dask cluster, or on an existing scheduler.

All three share one small interface, ``map_chunks(fn, chunks)``, which yields results as chunks
finish (in any order). Chunks are submitted lazily with a bounded number in flight, so a cohort of
millions never has all its samples in memory at once. ``fn`` must be a picklable top-level function;
it writes its own output (Parquet part files), so only small reports travel back.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

__all__ = [
    "DEFAULT_MALLOC_TRIM_THRESHOLD",
    "DaskExecutor",
    "Executor",
    "ExecutorError",
    "SerialExecutor",
    "default_workers",
    "make_executor",
]

T = TypeVar("T")
R = TypeVar("R")

#: glibc's trim threshold for nanny-spawned workers. Dask lowers it to 64 KiB so idle workers give
#: memory back; setting it at all also freezes glibc's adaptive mmap threshold, so every large NumPy
#: temporary is mmap'ed and page-faulted afresh. 64 MiB keeps the engine's per-chunk arrays on the
#: heap (they are reused chunk after chunk) while memory still goes back between runs.
DEFAULT_MALLOC_TRIM_THRESHOLD = 64 * 1024 * 1024


class ExecutorError(RuntimeError):
    """The cluster could not be started or reached."""


class Executor(Protocol):
    """Runs ``fn`` over chunks and yields each result as soon as its chunk is done."""

    @property
    def workers(self) -> int: ...

    def describe(self) -> str: ...

    def map_chunks(self, fn: Callable[[T], R], chunks: Iterable[T]) -> Iterator[R]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class SerialExecutor:
    """Everything in this process, one chunk after another (tests, debugging, one-core machines)."""

    @property
    def workers(self) -> int:
        return 1

    def describe(self) -> str:
        return "serial (this process)"

    def map_chunks(self, fn: Callable[[T], R], chunks: Iterable[T]) -> Iterator[R]:
        for chunk in chunks:
            yield fn(chunk)

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def default_workers() -> int:
    """CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class DaskExecutor:
    """Dask distributed: a local cluster started in-process (one single-threaded worker process per
    core), or a client of an existing scheduler such as ``tcp://HOST:8786`` (dask-jobqueue, SLURM).

    ``max_in_flight`` bounds the chunks submitted at once (default: twice the worker threads);
    ``timeout_s`` bounds connecting and each whole ``map_chunks`` (a TimeoutError past it).
    """

    def __init__(
        self,
        n_workers: int | None = None,
        scheduler: str | None = None,
        *,
        max_in_flight: int | None = None,
        timeout_s: float | None = None,
        malloc_trim_threshold: int = DEFAULT_MALLOC_TRIM_THRESHOLD,
        dashboard: bool = False,
    ) -> None:
        import dask
        import distributed

        client_cls: Any = distributed.Client
        cluster_cls: Any = distributed.LocalCluster

        self._cluster: Any = None
        self._max_in_flight = max_in_flight
        self._timeout_s = timeout_s
        self._scheduler = scheduler
        try:
            if scheduler is not None:
                self._client: Any = client_cls(scheduler, timeout=timeout_s or 30)
            else:
                n = n_workers if n_workers is not None else default_workers()
                env = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {})
                env.update(
                    {
                        "MALLOC_TRIM_THRESHOLD_": str(malloc_trim_threshold),
                        "OMP_NUM_THREADS": "1",
                        "MKL_NUM_THREADS": "1",
                        "OPENBLAS_NUM_THREADS": "1",
                    }
                )
                # the nanny reads this when it is created and reuses it when a worker restarts
                with dask.config.set({"distributed.nanny.pre-spawn-environ": env}):
                    self._cluster = cluster_cls(
                        n_workers=n,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=":0" if dashboard else None,
                        silence_logs=logging.ERROR,
                    )
                self._client = client_cls(self._cluster)
        except OSError as exc:
            self.close()
            where = scheduler or "a local cluster"
            raise ExecutorError(f"cannot start or reach {where}: {exc}") from None

    @property
    def client(self) -> Any:
        """The distributed Client (for callers that need more than map_chunks)."""
        return self._client

    @property
    def workers(self) -> int:
        threads: dict[str, int] = self._client.nthreads()
        return len(threads)

    def describe(self) -> str:
        where = self._scheduler or "local cluster"
        return f"dask ({where}, {self.workers} workers)"

    def _target_in_flight(self) -> int:
        if self._max_in_flight is not None:
            return max(1, self._max_in_flight)
        threads: dict[str, int] = self._client.nthreads()
        return max(4, 2 * sum(threads.values()))

    def map_chunks(self, fn: Callable[[T], R], chunks: Iterable[T]) -> Iterator[R]:
        import distributed

        as_completed: Any = distributed.as_completed
        pending = iter(chunks)
        futures: Any = as_completed(timeout=self._timeout_s)
        live: set[Any] = set()

        def submit(n: int) -> None:
            for _ in range(n):
                item = next(pending, _END)
                if item is _END:
                    return
                fut = self._client.submit(fn, item, pure=False)
                live.add(fut)
                futures.add(fut)

        try:
            submit(self._target_in_flight())
            for fut in futures:
                live.discard(fut)
                result: R = fut.result()
                submit(self._target_in_flight() - len(live))
                yield result
        finally:
            if live:
                self._client.cancel(list(live))

    def close(self) -> None:
        """Close the client, and the local cluster if this executor started one."""
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


_END: Any = object()


def make_executor(
    workers: int | None = None, scheduler: str | None = None, *, timeout_s: float | None = None
) -> SerialExecutor | DaskExecutor:
    """The executor the CLI options ask for: ``workers=0`` runs serially in this process, a
    ``scheduler`` address joins an existing cluster, anything else starts a local cluster."""
    if scheduler is not None:
        return DaskExecutor(scheduler=scheduler, timeout_s=timeout_s)
    if workers == 0:
        return SerialExecutor()
    return DaskExecutor(n_workers=workers, timeout_s=timeout_s)
