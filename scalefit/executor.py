"""Where independent jobs run, and how replicates are split so results never depend on it.

``make_executor(workers, scheduler)`` returns a standard ``concurrent.futures.Executor``:

- ``scheduler="tcp://host:8786"``: the executor of a Dask ``distributed.Client`` connected to that
  scheduler (Dask is imported only then; it is an optional dependency,
  ``pip install 'dask[distributed]'``);
- ``workers=1``: an ``InlineExecutor`` that runs each job in the calling process when it is
  submitted (no process start-up; the right choice for tests and small jobs);
- otherwise a ``ProcessPoolExecutor`` with ``workers`` processes (default: the CPU count), started
  with the "spawn" method (safe with threads in the parent, e.g. progress bars).

Use it as a context manager (``with make_executor(...) as ex:``); leaving the block shuts the
pool down, or closes the Dask client. Process pools use the "spawn" start method, which
re-imports the main module in each worker: a script that makes one needs the usual
``if __name__ == "__main__":`` guard (notebooks and the CLI need nothing).

Seeding. A study of ``R`` replicates draws replicate ``r``'s random numbers from its own stream,
``replicate_rng(seed, stream, r)`` (a ``numpy.random.SeedSequence`` keyed by the seed, a stream
label, and the replicate index), never from a generator shared along a chunk. Chunks
(``chunk_ranges``) are only a unit of work: any split across any number of workers gives
bit-identical replicates, so results do not depend on ``workers`` or on the scheduler.
"""

from __future__ import annotations

import os
import zlib
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Callable, Iterable, Sequence

import numpy as np

from scalefit.errors import ScalefitError
from scalefit.progress import progress


class InlineExecutor(Executor):
    """Runs each submitted call at once in this process; returns a completed ``Future``."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:  # noqa: BLE001 - delivered through the future, as a pool does
            future.set_exception(err)
        return future


class _DaskExecutor(Executor):
    """A Dask client's executor that also closes the client on shutdown."""

    def __init__(self, client):
        self._client = client
        self._executor = client.get_executor(pure=False)

    def submit(self, fn, /, *args, **kwargs) -> Future:
        return self._executor.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._executor.shutdown(wait=wait)
        self._client.close()


def default_workers() -> int:
    """The CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def make_executor(workers: int | None = None, scheduler: str | None = None) -> Executor:
    """A local process pool (default), an inline executor (``workers=1``) or a Dask cluster's
    executor (``scheduler`` address). See the module docstring."""
    if scheduler:
        try:
            from distributed import Client
        except ImportError as err:
            raise ScalefitError("a Dask scheduler address needs dask[distributed] "
                                "(pip install 'dask[distributed]')") from err
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as err:
            raise ScalefitError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
        return _DaskExecutor(client)
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ScalefitError(f"workers must be >= 1, got {workers}")
    if workers == 1:
        return InlineExecutor()
    import multiprocessing

    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def describe_executor(executor: Executor | None) -> str:
    """"inline", "process pool (N workers)" or "dask <scheduler>" for reports."""
    if executor is None or isinstance(executor, InlineExecutor):
        return "inline"
    if isinstance(executor, ProcessPoolExecutor):
        return f"process pool ({executor._max_workers} workers)"
    if isinstance(executor, _DaskExecutor):
        return f"dask {executor._client.scheduler.address}"
    return type(executor).__name__


def stream_key(label: str) -> int:
    """A stable integer for a text label (a regime, a candidate): CRC-32, not Python's hash."""
    return zlib.crc32(label.encode("utf-8"))


def replicate_rng(seed: int | None, *keys: int) -> np.random.Generator:
    """The generator of one replicate: ``SeedSequence(seed, spawn_key=keys)``.

    The same (seed, keys) always gives the same stream, whichever chunk or worker draws it.
    ``seed=None`` draws fresh entropy (not reproducible).
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=tuple(int(k) for k in keys)))


def chunk_ranges(n: int, chunk: int) -> list[tuple[int, int]]:
    """``[(0, chunk), (chunk, 2 chunk), ...]`` covering ``range(n)``."""
    chunk = max(1, int(chunk))
    return [(start, min(n, start + chunk)) for start in range(0, n, chunk)]


def run_jobs(fn: Callable, jobs: Sequence[tuple], *, executor: Executor | None = None,
             desc: str = "", quiet: bool = False, unit: str = "job",
             weights: Iterable[int] | None = None) -> list:
    """``[fn(*job) for job in jobs]``, through ``executor`` when given, in the order of ``jobs``.

    A progress bar advances as jobs finish, by ``weights`` (e.g. replicates per job) if given.
    ``fn`` must be a module-level function (it is pickled for process pools and Dask).
    """
    weights = [1] * len(jobs) if weights is None else list(weights)
    bar = progress(total=sum(weights), desc=desc, quiet=quiet, unit=unit)
    try:
        if executor is None:
            results = []
            for job, w in zip(jobs, weights):
                results.append(fn(*job))
                bar.update(w)
            return results
        futures = [executor.submit(fn, *job) for job in jobs]
        index = {id(f): i for i, f in enumerate(futures)}
        from concurrent.futures import as_completed

        for f in as_completed(futures):
            bar.update(weights[index[id(f)]])
        return [f.result() for f in futures]
    finally:
        bar.close()
