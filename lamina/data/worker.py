"""DataLoader worker processes (PyTorch: ``num_workers > 0``): batches are loaded in parallel.

The main process hands batch requests to the workers in turn (request ``i`` goes to worker
``i mod num_workers`` for a map-style dataset) and gives the batches back in request order, so a
map-style dataset yields the same batches in the same order as with ``num_workers=0``. Each worker
is seeded as in torch: ``seed = base_seed + worker_id`` seeds lamina's generator, Python's
``random`` and NumPy's legacy global generator (``seed mod 2**32``), then ``worker_init_fn(id)``
runs. ``base_seed`` is drawn afresh every epoch (once for persistent workers).
"""

from __future__ import annotations

import multiprocessing
import queue
import random
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["WorkerInfo", "get_worker_info"]

_POLL_S = 2.0


@dataclass(frozen=True)
class WorkerInfo:
    """What a worker process knows about itself (``torch.utils.data.get_worker_info()``)."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """The calling worker's :class:`WorkerInfo`, or None in the main process."""
    return _info


class _Exhausted:
    """A worker's answer when its copy of an iterable dataset has no batch left."""


class _Failure:
    def __init__(self, worker_id: int, error: BaseException):
        self.worker_id = worker_id
        self.kind = type(error)
        self.text = "".join(traceback.format_exception(error))

    def reraise(self) -> None:
        message = f"Caught {self.kind.__name__} in DataLoader worker {self.worker_id}:\n{self.text}"
        try:
            error = self.kind(message)
        except Exception:  # an exception type whose constructor wants other arguments
            error = RuntimeError(message)
        raise error


def _worker_loop(loader: Any, worker_id: int, num_workers: int, seed: int,
                 tasks: Any, results: Any) -> None:
    global _info
    import lamina.random

    _info = WorkerInfo(worker_id, num_workers, seed, loader.dataset)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    lamina.random.manual_seed(seed)
    batches, epoch = None, None
    try:
        if loader.worker_init_fn is not None:
            loader.worker_init_fn(worker_id)
    except Exception as error:  # reported with the first request
        init_failure: _Failure | None = _Failure(worker_id, error)
    else:
        init_failure = None
    while True:
        task = tasks.get()
        if task is None:
            return
        task_epoch, index, indices = task
        if init_failure is not None:
            results.put((task_epoch, index, init_failure))
            continue
        try:
            if indices is None:  # iterable-style: the next batch of this worker's own stream
                if task_epoch != epoch:
                    batches, epoch = loader._iterable_batches(), task_epoch
                data = next(batches, _Exhausted)
            else:
                data = loader._fetch(indices)
        except Exception as error:
            data = _Failure(worker_id, error)
        results.put((task_epoch, index, data))


class _WorkerPool:
    """``num_workers`` processes, each with its own task queue, and one shared result queue."""

    def __init__(self, loader: Any, base_seed: int):
        context = loader.multiprocessing_context
        if context is None:
            methods = multiprocessing.get_all_start_methods()
            context = "fork" if "fork" in methods else methods[0]
        if isinstance(context, str):
            context = multiprocessing.get_context(context)
        n = loader.num_workers
        self.results = context.Queue()
        self.tasks = [context.Queue() for _ in range(n)]
        self.processes = [
            context.Process(target=_worker_loop,
                            args=(loader, i, n, base_seed + i, self.tasks[i], self.results),
                            daemon=True)
            for i in range(n)]
        for process in self.processes:
            process.start()
        self.epoch = 0

    def get(self, timeout: float) -> tuple[int, int, Any]:
        waited = 0.0
        while True:
            wait = _POLL_S if timeout <= 0 else min(_POLL_S, timeout - waited)
            try:
                return self.results.get(timeout=wait)
            except queue.Empty:
                waited += wait
                dead = [p for p in self.processes if not p.is_alive()]
                if dead:
                    self.shutdown()
                    raise RuntimeError(f"DataLoader worker (pid {dead[0].pid}) exited "
                                       f"unexpectedly with exit code {dead[0].exitcode}") from None
                if 0 < timeout <= waited:
                    self.shutdown()
                    raise RuntimeError(f"DataLoader timed out after {timeout} seconds waiting "
                                       f"for a batch from its workers") from None

    def shutdown(self) -> None:
        for tasks, process in zip(self.tasks, self.processes, strict=True):
            if process.is_alive():
                try:
                    tasks.put(None)
                except (OSError, ValueError):
                    pass
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
        self.processes = []
        for q in (self.results, *self.tasks):
            q.cancel_join_thread()
            q.close()


class _MultiProcessIterator:
    """One epoch's batches from a worker pool, in request order."""

    def __init__(self, loader: Any, pool: _WorkerPool, index_batches: Any | None):
        self.loader, self.pool = loader, pool
        pool.epoch += 1
        self.epoch = pool.epoch
        self.index_batches = index_batches  # None: an iterable-style dataset
        self.workers_left = list(range(loader.num_workers))
        self.turn = 0
        self.sent = self.received = 0
        self.owner: dict[int, int] = {}
        self.ready: dict[int, Any] = {}
        self.done_sending = False
        for _ in range(loader.prefetch_factor * loader.num_workers):
            self._send()

    def _send(self) -> None:
        if self.done_sending or not self.workers_left:
            return
        if self.index_batches is None:
            indices = None
        else:
            indices = next(self.index_batches, None)
            if indices is None:
                self.done_sending = True
                return
        worker = self.workers_left[self.turn % len(self.workers_left)]
        self.turn += 1
        self.owner[self.sent] = worker
        self.pool.tasks[worker].put((self.epoch, self.sent, indices))
        self.sent += 1

    def __iter__(self) -> _MultiProcessIterator:
        return self

    def __next__(self) -> Any:
        while True:
            if self.received == self.sent:
                self._finish()
                raise StopIteration
            while self.received not in self.ready:
                epoch, index, data = self.pool.get(self.loader.timeout)
                if epoch == self.epoch:  # results of an abandoned epoch are dropped
                    self.ready[index] = data
            data = self.ready.pop(self.received)
            worker = self.owner.pop(self.received)
            self.received += 1
            if isinstance(data, _Failure):
                self._finish()
                data.reraise()
            if data is _Exhausted:
                if worker in self.workers_left:
                    self.workers_left.remove(worker)
                self._send()
                continue
            self._send()
            return data

    def _finish(self) -> None:
        self.done_sending = True
        if not self.loader.persistent_workers:
            self.pool.shutdown()

    def __del__(self) -> None:
        if not self.loader.persistent_workers and self.pool.processes:
            self.pool.shutdown()
