"""inference_mode and set_grad_enabled (lamina/grad_mode.py): act on the calling thread."""

from __future__ import annotations

import threading

import lamina as lm


def _records() -> bool:
    return (lm.ones(1, requires_grad=True) * 2).requires_grad


def test_inference_mode_context_and_decorators():
    with lm.inference_mode():
        assert not _records() and lm.is_inference_mode_enabled()
    assert _records()
    with lm.no_grad(), lm.inference_mode(False):
        assert not _records()  # inference_mode(False) leaves grad mode as it is

    @lm.inference_mode()
    def predict():
        return _records()

    @lm.inference_mode
    def predict_bare():
        return _records()

    assert predict() is False and predict_bare() is False and _records()


def test_set_grad_enabled_as_call_and_context():
    with lm.set_grad_enabled(False):
        assert not _records() and not lm.is_grad_enabled()
    assert _records()
    lm.set_grad_enabled(False)
    try:
        assert not lm.is_grad_enabled()
    finally:
        lm.set_grad_enabled(True)
    assert lm.is_grad_enabled()
    with lm.no_grad():
        with lm.set_grad_enabled(True):
            assert _records()
        assert not _records()


def test_modes_are_per_thread():
    seen = {}
    inside, release = threading.Event(), threading.Event()

    def other():
        with lm.inference_mode():
            inside.set()
            release.wait(5)
            seen["other"] = lm.is_grad_enabled()

    thread = threading.Thread(target=other)
    thread.start()
    inside.wait(5)
    seen["main"] = lm.is_grad_enabled()
    release.set()
    thread.join()
    assert seen == {"main": True, "other": False}
