"""An LSTM that predicts the next value of noisy sine waves (sequence regression).

Each sample is 40 steps of sin(w t + phase) + noise with a random frequency and phase; the
model (LSTM(1, 32) + Linear(32, 1), batch_first) reads the sequence and predicts the value
at step 41 from its last hidden state. Compared with two baselines on held-out waves: "repeat
the last value" and "zero".

    python examples/sine_lstm.py [--steps 300]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import lamina as lm
from lamina import nn

STEPS_IN = 40


def make_waves(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(inputs (n, 40, 1), targets (n, 1)) of noisy sine waves."""
    freq = rng.uniform(0.1, 0.4, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    t = np.arange(STEPS_IN + 1)
    waves = np.sin(freq * t + phase) + 0.05 * rng.standard_normal((n, STEPS_IN + 1))
    waves = waves.astype(np.float32)
    return waves[:, :STEPS_IN, None], waves[:, STEPS_IN:]


class SineLSTM(nn.Module):
    def __init__(self, hidden: int = 32):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    lm.manual_seed(0)
    rng = np.random.default_rng(0)
    x_train, y_train = make_waves(4096, rng)
    x_test, y_test = make_waves(1024, rng)
    model = SineLSTM()
    optimizer = lm.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.MSELoss()
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        idx = rng.integers(0, len(x_train), args.batch_size)
        optimizer.zero_grad()
        loss = loss_fn(model(lm.tensor(x_train[idx])), lm.tensor(y_train[idx]))
        loss.backward()
        optimizer.step()
        if step % 50 == 0 or step == 1:
            print(f"step {step:4d}  train MSE {loss.item():.5f}")
    elapsed = time.perf_counter() - start
    model.eval()
    with lm.no_grad():
        test = float(np.mean((model(lm.tensor(x_test)).numpy() - y_test) ** 2))
    last = float(np.mean((x_test[:, -1] - y_test) ** 2))
    zero = float(np.mean(y_test ** 2))
    print(f"test MSE {test:.5f} (repeat-last baseline {last:.5f}, zero baseline {zero:.5f}); "
          f"{args.steps} steps in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
