"""Dynamic micro-batching: the samples of concurrent requests run as one forward pass.

A :class:`MicroBatcher` lives on an asyncio event loop (the server's). Each request awaits
``submit(x)`` with its model inputs ``x`` of shape ``(n, ...)``. The first request to arrive
opens a window of ``window_s`` seconds; the requests arriving within it join its batch, which
runs (one ``await run(inputs)`` on the rows of all of them, in arrival order) when the window
closes or as soon as it holds ``max_batch`` samples, whichever comes first. A request that would
overflow the batch closes it and opens the next one; a request of ``max_batch`` samples or more
runs alone, at once. Each request gets back its own rows of the result, or the exception that
the batch's run raised.

Batching trades latency for throughput: a request waits up to ``window_s`` for company, and in
exchange the model's per-call costs (Python dispatch, small matrix products that use the CPU
badly) are paid once per batch. In eval mode the rows of a batch are independent (no batch
statistics, no dropout), so each request's answer is the one it gets alone, up to the rounding
of matrix products that BLAS may sum in another order for another batch size.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable

import numpy as np

__all__ = ["MicroBatcher"]


class MicroBatcher:
    """Collects concurrent requests' inputs into batches (see the module doc).

    Args:
        run: ``await run(inputs)`` -> outputs with one row per input row (the model call).
        window_s: how long the first request of a batch waits for others, seconds (> 0).
        max_batch: the most samples one batch holds (>= 1); a full batch runs at once.

    Raises:
        ValueError: ``window_s`` not a finite number > 0, or ``max_batch`` not an int >= 1.

    Example:
        >>> async def double(x):
        ...     return 2 * x
        >>> async def main():
        ...     batcher = MicroBatcher(double, window_s=0.001, max_batch=8)
        ...     return await asyncio.gather(*(batcher.submit(np.full((1, 2), i)) for i in range(3)))
        >>> [a.tolist() for a in asyncio.run(main())]
        [[[0, 0]], [[2, 2]], [[4, 4]]]
    """

    def __init__(self, run: Callable[[np.ndarray], Awaitable[np.ndarray]], window_s: float,
                 max_batch: int) -> None:
        if isinstance(window_s, bool) or not isinstance(window_s, (int, float)) or \
                not math.isfinite(window_s) or window_s <= 0:
            raise ValueError(f"MicroBatcher: window_s must be a finite number of seconds > 0, "
                             f"received {window_s!r}")
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"MicroBatcher: max_batch must be an int >= 1, received "
                             f"{max_batch!r}")
        self.run = run
        self.window_s = float(window_s)
        self.max_batch = max_batch
        self.batches = 0  # batches run so far (requests that ran alone included)
        self._pending: list[tuple[np.ndarray, asyncio.Future]] = []
        self._samples = 0
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Task] = set()

    async def submit(self, x: np.ndarray) -> np.ndarray:
        """The rows of ``run``'s result that belong to ``x`` (``len(x)`` of them)."""
        n = len(x)
        if n >= self.max_batch:
            self.batches += 1
            return await self.run(x)
        if self._samples + n > self.max_batch:
            self._close()
        future = asyncio.get_running_loop().create_future()
        self._pending.append((x, future))
        self._samples += n
        if self._samples >= self.max_batch:
            self._close()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.window_s, self._close)
        return await future

    def _close(self) -> None:
        """Run the open batch (in a task of its own) and start an empty one."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending, self._samples = self._pending, [], 0
        if batch:
            self.batches += 1
            task = asyncio.ensure_future(self._run(batch))
            self._running.add(task)  # (the loop keeps only weak references to tasks)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[tuple[np.ndarray, asyncio.Future]]) -> None:
        try:
            inputs = batch[0][0] if len(batch) == 1 else np.concatenate([x for x, _ in batch])
            outputs = await self.run(inputs)
        except Exception as exc:
            for _, future in batch:
                if not future.done():  # (a request cancelled meanwhile is done)
                    future.set_exception(exc)
            return
        start = 0
        for x, future in batch:
            if not future.done():
                future.set_result(outputs[start:start + len(x)])
            start += len(x)
