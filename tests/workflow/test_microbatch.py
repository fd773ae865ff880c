"""MicroBatcher: concurrent submissions run as batches of at most max_batch rows, in arrival
order, each caller getting its own rows (or the batch's exception)."""

from __future__ import annotations

import asyncio
import doctest

import numpy as np
import pytest

import lamina.workflow.microbatch
from lamina.workflow.microbatch import MicroBatcher

LONG = 60.0  # a window no test waits for: batches that must not wait for it would time out


class Recorder:
    """A run function that records each batch it gets and answers 10 * x + batch number."""

    def __init__(self, fail_on: int | None = None):
        self.batches: list[np.ndarray] = []
        self.fail_on = fail_on

    async def __call__(self, x: np.ndarray) -> np.ndarray:
        self.batches.append(x.copy())
        if self.fail_on is not None and len(self.batches) == self.fail_on:
            raise RuntimeError("model failed")
        return 10 * x + len(self.batches)


def _rows(first: int, n: int) -> np.ndarray:
    return np.arange(first, first + n, dtype=np.float64).reshape(n, 1)


async def _submit_all(batcher: MicroBatcher, sizes: list[int]) -> list:
    first = np.cumsum([0, *sizes])
    return await asyncio.wait_for(asyncio.gather(
        *(batcher.submit(_rows(int(f), n)) for f, n in zip(first, sizes, strict=False)),
        return_exceptions=True), timeout=LONG / 2)


def test_concurrent_requests_share_one_batch_in_arrival_order():
    run = Recorder()
    answers = asyncio.run(_submit_all(MicroBatcher(run, window_s=0.01, max_batch=32),
                                      [1, 2, 3]))
    assert len(run.batches) == 1
    np.testing.assert_array_equal(run.batches[0], _rows(0, 6))
    for answer, (first, n) in zip(answers, [(0, 1), (1, 2), (3, 3)], strict=True):
        np.testing.assert_array_equal(answer, 10 * _rows(first, n) + 1)


def test_a_full_batch_runs_at_once_and_no_batch_exceeds_max_batch():
    run = Recorder()
    batcher = MicroBatcher(run, window_s=LONG, max_batch=4)
    answers = asyncio.run(_submit_all(batcher, [1, 3, 2, 2]))  # fills 4, then 4: no waiting
    assert [len(b) for b in run.batches] == [4, 4]
    np.testing.assert_array_equal(np.concatenate(run.batches), _rows(0, 8))
    np.testing.assert_array_equal(answers[2], 10 * _rows(4, 2) + 2)
    assert batcher.batches == 2


def test_a_request_that_would_overflow_the_batch_starts_the_next_one():
    run = Recorder()
    answers = asyncio.run(_submit_all(MicroBatcher(run, window_s=0.01, max_batch=4), [3, 2]))
    assert [len(b) for b in run.batches] == [3, 2]
    np.testing.assert_array_equal(answers[1], 10 * _rows(3, 2) + 2)


def test_a_request_of_max_batch_rows_or_more_runs_alone():
    run = Recorder()
    answers = asyncio.run(_submit_all(MicroBatcher(run, window_s=LONG, max_batch=4), [6]))
    assert [len(b) for b in run.batches] == [6]
    np.testing.assert_array_equal(answers[0], 10 * _rows(0, 6) + 1)


def test_a_failing_batch_fails_its_requests_and_the_next_batch_runs():
    run = Recorder(fail_on=1)
    batcher = MicroBatcher(run, window_s=0.01, max_batch=8)

    async def scenario():
        first = await _submit_all(batcher, [1, 2])
        second = await _submit_all(batcher, [1])
        return first, second

    first, second = asyncio.run(scenario())
    assert all(isinstance(a, RuntimeError) and "model failed" in str(a) for a in first)
    np.testing.assert_array_equal(second[0], 10 * _rows(0, 1) + 2)


def test_a_cancelled_request_leaves_its_batchmates_answered():
    run = Recorder()
    batcher = MicroBatcher(run, window_s=0.01, max_batch=8)

    async def scenario():
        leaving = asyncio.ensure_future(batcher.submit(_rows(0, 1)))
        staying = asyncio.ensure_future(batcher.submit(_rows(1, 1)))
        await asyncio.sleep(0)
        leaving.cancel()
        return await asyncio.wait_for(staying, LONG / 2)

    np.testing.assert_array_equal(asyncio.run(scenario()), 10 * _rows(1, 1) + 1)
    assert len(run.batches) == 1  # the cancelled request's row still ran: no answer was owed


@pytest.mark.parametrize("window", [0, -1.0, float("nan"), float("inf"), True, "2"])
def test_bad_window_is_refused(window):
    with pytest.raises(ValueError, match=r"window_s must be a finite number of seconds > 0, "
                                         r"received"):
        MicroBatcher(Recorder(), window_s=window, max_batch=4)


@pytest.mark.parametrize("max_batch", [0, -3, 2.0, True, None])
def test_bad_max_batch_is_refused(max_batch):
    with pytest.raises(ValueError, match=r"max_batch must be an int >= 1, received"):
        MicroBatcher(Recorder(), window_s=0.01, max_batch=max_batch)


def test_docstring_example():
    assert doctest.testmod(lamina.workflow.microbatch).failed == 0
