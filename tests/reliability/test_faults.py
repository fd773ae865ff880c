"""Faults lose nothing: kill -9 during a save or during fit, then resume, bit for bit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import lamina as lm

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs kill -9 and flock")

_SAVER = textwrap.dedent("""
    import os, sys, time
    import lamina as lm

    def stall(fd):  # the data is written, not yet synced nor renamed: die here
        print("writing", flush=True)
        time.sleep(120)

    os.fsync = stall
    lm.manual_seed(1)
    lm.save(lm.models.mlp([64, 64, 2]), sys.argv[1])
""")


def _temporaries(directory) -> list[str]:
    return sorted(n for n in os.listdir(directory) if n.endswith(".tmp"))


def _start_saver(path) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", _SAVER, str(path)], stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout.readline().strip() == "writing"
    return child


def _kill(child: subprocess.Popen) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL


def test_kill_9_during_save_keeps_the_old_file_and_the_next_save_cleans_up(tmp_path):
    path = tmp_path / "model.safetensors"
    lm.manual_seed(0)
    old = lm.models.mlp([64, 64, 2])
    lm.save(old, path)

    child = _start_saver(path)
    assert len(_temporaries(tmp_path)) == 1  # the child's, locked while it lives
    lm.save(old, path)  # a save beside a live writer leaves the writer's file alone
    assert len(_temporaries(tmp_path)) == 1
    before = path.read_bytes()
    _kill(child)
    assert path.read_bytes() == before
    assert len(_temporaries(tmp_path)) == 1  # the killed write's leftover

    lm.manual_seed(2)
    new = lm.models.mlp([64, 64, 2])
    lm.save(new, path)
    assert _temporaries(tmp_path) == []
    loaded = lm.load(path)
    assert all(np.array_equal(a, b) for a, b in zip(loaded.state_dict().values(),
                                                    new.state_dict().values(), strict=True))


def test_object_and_checkpoint_saves_clean_up_too(tmp_path):
    path = tmp_path / "state.pt"
    child = _start_saver(path)
    _kill(child)
    assert len(_temporaries(tmp_path)) == 1 and not path.exists()
    lm.save({"w": np.ones(3)}, path)
    assert _temporaries(tmp_path) == [] and np.array_equal(lm.load(path)["w"], np.ones(3))


_TRAINER = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import lamina as lm
    from lamina import nn
    from lamina.data import DataLoader, TensorDataset
    from lamina.optim.lr_scheduler import StepLR
    from lamina.train import (EarlyStopping, LearningRateScheduler, ModelCheckpoint, fit,
                              load_checkpoint)

    mode, checkpoint, out = sys.argv[1:4]
    lm.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))
    opt = lm.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = StepLR(opt, step_size=2, gamma=0.5)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, generator=123)


    class Crash:
        epoch = 0

        def on_epoch_begin(self, epoch, logs):
            self.epoch = epoch

        def on_batch_end(self, batch, logs):
            if mode == "crash" and self.epoch == 3 and batch == 2:
                os.kill(os.getpid(), signal.SIGKILL)


    callbacks = [LearningRateScheduler(scheduler),
                 EarlyStopping(monitor="loss", patience=100, restore_best_weights=True),
                 ModelCheckpoint(checkpoint, include_optimizer=True), Crash()]
    start = 0
    if mode == "resume":
        restored = load_checkpoint(checkpoint, model, opt, callbacks=callbacks, loader=loader)
        start = restored.epoch
        callbacks.append(restored.history)
    history = fit(model, nn.CrossEntropyLoss(), opt, loader, epochs=6, initial_epoch=start,
                  callbacks=callbacks)
    lm.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
             "history": history.to_dict(), "rng": lm.random.get_rng_state(),
             "start": start}, out)
""")


def _train(mode: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _TRAINER, mode, str(tmp_path / f"{mode}.ckpt"),
                           str(tmp_path / f"{mode}.out")], capture_output=True, text=True,
                          timeout=240)


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    return a == b or (a != a and b != b)


def test_kill_9_during_fit_then_resume_equals_an_uninterrupted_run(tmp_path):
    full = _train("full", tmp_path)
    assert full.returncode == 0, full.stderr
    crash = _train("crash", tmp_path)
    assert crash.returncode == -signal.SIGKILL, crash.stderr
    os.replace(tmp_path / "crash.ckpt", tmp_path / "resume.ckpt")
    resumed = _train("resume", tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    a, b = lm.load(tmp_path / "full.out"), lm.load(tmp_path / "resume.out")
    assert a["start"] == 0 and b["start"] == 3
    for key in ("model", "optimizer", "history", "rng"):
        assert _same(a[key], b[key]), key
